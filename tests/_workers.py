"""Work run in separate OS processes by the concurrency tests (spawned, not forked)."""

from __future__ import annotations

import asyncio
from typing import Any

from google.adk.errors._stale_session_error import StaleSessionError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions

from fastapi_adk_store import open_session_service

APP = "proc_app"
USER = "proc_user"


def append_keys(options: dict[str, Any], session_id: str, worker: int, count: int) -> int:
    """Append `count` events, each setting its own app:/user:/session key; retry on stale."""

    async def run() -> int:
        stale = 0
        async with open_session_service(create_tables=False, **options) as service:
            session = await service.get_session(app_name=APP, user_id=USER, session_id=session_id)
            assert session is not None
            for index in range(count):
                key = f"w{worker}_{index}"
                delta = {key: index, f"app:{key}": index, f"user:{key}": index}
                while True:
                    try:
                        await service.append_event(
                            session,
                            Event(author=f"w{worker}", actions=EventActions(state_delta=delta)),
                        )
                        break
                    except StaleSessionError:
                        stale += 1
                        session = await service.get_session(
                            app_name=APP, user_id=USER, session_id=session_id
                        )
                        assert session is not None
        return stale

    return asyncio.run(run())


def append_from_loaded_copy(
    options: dict[str, Any], session_id: str, barrier: Any, worker: int
) -> str:
    """Load the session, wait until every worker has loaded, append once: 'ok' or 'stale'."""

    async def run() -> str:
        async with open_session_service(create_tables=False, **options) as service:
            session = await service.get_session(app_name=APP, user_id=USER, session_id=session_id)
            assert session is not None
            barrier.wait()
            try:
                await service.append_event(session, Event(author=f"w{worker}"))
            except StaleSessionError:
                return "stale"
            return "ok"

    return asyncio.run(run())


def open_and_create_tables(options: dict[str, Any]) -> int | None:
    """Open the service on a (possibly empty) schema, creating tables; report the version."""

    async def run() -> int | None:
        async with open_session_service(**options) as service:
            return await service.store.schema_version()

    return asyncio.run(run())
