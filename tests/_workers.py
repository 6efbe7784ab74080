"""Work run in separate OS processes by the concurrency tests (spawned, not forked)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from google.adk.errors._stale_session_error import StaleSessionError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions.base_session_service import GetSessionConfig

from fastapi_adk_store import AsyncpgADKStore, AsyncpgConfig, open_session_service

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


def append_from_tasks(
    options: dict[str, Any],
    sessions: list[tuple[str, str]],
    worker: int,
    tasks: int,
    appends: int,
) -> tuple[list[tuple[str, str, str]], int]:
    """`tasks` tasks each append `appends` events to sessions of `sessions` (user, id),
    each event setting its own session, app: and user: key; a stale copy is reloaded and
    the same event appended again. Returns the acknowledged (session id, key, event id)
    and how many stale copies were rejected; any other error propagates."""

    async def task(service: Any, number: int) -> tuple[list[tuple[str, str, str]], int]:
        acknowledged, stale = [], 0
        for index in range(appends):
            user_id, session_id = sessions[(worker * tasks + number + index) % len(sessions)]
            key = f"p{worker}_{number}_{index}"
            event = Event(
                author=f"p{worker}",
                actions=EventActions(state_delta={key: 1, f"app:{key}": 1, f"user:{key}": 1}),
            )
            while True:
                session = await service.get_session(
                    app_name=APP,
                    user_id=user_id,
                    session_id=session_id,
                    config=GetSessionConfig(num_recent_events=0),
                )
                try:
                    await service.append_event(session, event)
                except StaleSessionError:
                    stale += 1
                    continue
                acknowledged.append((session_id, key, event.id))
                break
        return acknowledged, stale

    async def run() -> tuple[list[tuple[str, str, str]], int]:
        async with open_session_service(create_tables=False, **options) as service:
            results = await asyncio.gather(*(task(service, number) for number in range(tasks)))
        return [item for acked, _ in results for item in acked], sum(s for _, s in results)

    return asyncio.run(run())


def migrate_at_once(options: dict[str, Any], barrier: Any) -> list[int]:
    """Open the store without migrating, wait for every worker, migrate: versions applied."""

    async def run() -> list[int]:
        store = AsyncpgADKStore(AsyncpgConfig(pool_config={**options, "min_size": 1}))
        async with store.sessions.opened(create_tables=False, check_schema=False) as sessions:
            barrier.wait()
            return [migration.version for migration in await sessions.migrate()]

    return asyncio.run(run())


def append_and_count(options: dict[str, Any], session_id: str, count: int) -> int:
    """Append `count` events to one session (a process of the metrics test); its pid.

    `PROMETHEUS_MULTIPROC_DIR` comes from the parent's environment, so this process's
    metrics land in that directory.
    """

    async def run() -> None:
        async with open_session_service(create_tables=False, **options) as service:
            for _ in range(count):
                session = await service.get_session(
                    app_name=APP, user_id=USER, session_id=session_id
                )
                assert session is not None
                await service.append_event(session, Event(author="metrics"))

    asyncio.run(run())
    return os.getpid()
