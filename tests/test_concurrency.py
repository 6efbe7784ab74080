"""Concurrency across tasks and across OS processes, on the real database."""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions

from fastapi_adk_store import SCHEMA_VERSION, AsyncpgSessionService

from ._workers import (
    APP,
    USER,
    append_from_loaded_copy,
    append_keys,
    open_and_create_tables,
)
from .conftest import RaceAppends

PROCESSES = 3


@pytest.fixture
def processes() -> Any:
    with ProcessPoolExecutor(PROCESSES, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


async def test_concurrent_duplicate_creates_exactly_one_wins(
    service: AsyncpgSessionService,
) -> None:
    """Twenty concurrent creates of one id: one session, nineteen AlreadyExistsError."""
    results = await asyncio.gather(
        *(service.create_session(app_name=APP, user_id=USER, session_id="dup") for _ in range(20)),
        return_exceptions=True,
    )
    assert sum(not isinstance(result, BaseException) for result in results) == 1
    assert all(
        isinstance(result, AlreadyExistsError)
        for result in results
        if isinstance(result, BaseException)
    )


async def test_concurrent_appends_from_one_revision_exactly_one_wins(
    service: AsyncpgSessionService, race_appends: RaceAppends
) -> None:
    """Ten copies at the same revision append at once: one event stored, nine stale."""
    await service.create_session(app_name=APP, user_id=USER, session_id="s")
    assert await race_appends(service, APP, USER, "s", 10, None) == (1, 9)
    stored = await service.get_session(app_name=APP, user_id=USER, session_id="s")
    assert stored is not None and len(stored.events) == 1


async def test_concurrent_creates_lose_no_shared_keys(service: AsyncpgSessionService) -> None:
    """Concurrent creates each adding app:/user: keys: every key is kept."""
    await asyncio.gather(
        *(
            service.create_session(
                app_name=APP, user_id=USER, state={f"app:a{i}": i, f"user:u{i}": i}
            )
            for i in range(20)
        )
    )
    assert await service.get_user_state(app_name=APP, user_id=USER) == {
        f"u{i}": i for i in range(20)
    }
    assert await service.store.app_state(APP) == {f"a{i}": i for i in range(20)}


async def test_appends_to_different_sessions_of_a_user_lose_no_user_keys(
    service: AsyncpgSessionService,
) -> None:
    """Appends to ten sessions of one user at once: all user: keys survive."""
    sessions = [
        await service.create_session(app_name=APP, user_id=USER, session_id=f"s{i}")
        for i in range(10)
    ]
    await asyncio.gather(
        *(
            service.append_event(
                session,
                Event(author="a", actions=EventActions(state_delta={f"user:k{i}": i})),
            )
            for i, session in enumerate(sessions)
        )
    )
    assert await service.get_user_state(app_name=APP, user_id=USER) == {
        f"k{i}": i for i in range(10)
    }


async def test_appends_from_several_processes_lose_no_keys(
    service: AsyncpgSessionService, pool_options: dict[str, Any], processes: ProcessPoolExecutor
) -> None:
    """Three processes append to one session, retrying on stale: no key is lost."""
    await service.create_session(app_name=APP, user_id=USER, session_id="shared")
    loop = asyncio.get_running_loop()
    count = 15
    await asyncio.gather(
        *(
            loop.run_in_executor(processes, append_keys, pool_options, "shared", worker, count)
            for worker in range(PROCESSES)
        )
    )
    stored = await service.get_session(app_name=APP, user_id=USER, session_id="shared")
    assert stored is not None
    keys = {f"w{worker}_{index}" for worker in range(PROCESSES) for index in range(count)}
    assert len(stored.events) == PROCESSES * count
    assert {key for key in stored.state if ":" not in key} == keys
    assert set(await service.get_user_state(app_name=APP, user_id=USER)) == keys
    assert set(await service.store.app_state(APP)) == keys


async def test_stale_copy_is_detected_across_processes(
    service: AsyncpgSessionService, pool_options: dict[str, Any], processes: ProcessPoolExecutor
) -> None:
    """Processes holding copies of one revision append together: exactly one succeeds."""
    await service.create_session(app_name=APP, user_id=USER, session_id="race")
    manager = multiprocessing.get_context("spawn").Manager()
    try:
        barrier = manager.Barrier(PROCESSES)
        loop = asyncio.get_running_loop()
        results = await asyncio.gather(
            *(
                loop.run_in_executor(
                    processes, append_from_loaded_copy, pool_options, "race", barrier, worker
                )
                for worker in range(PROCESSES)
            )
        )
    finally:
        manager.shutdown()
    assert sorted(results) == ["ok"] + ["stale"] * (PROCESSES - 1)
    stored = await service.get_session(app_name=APP, user_id=USER, session_id="race")
    assert stored is not None and len(stored.events) == 1


async def test_processes_creating_tables_at_once_all_succeed(
    pool_options: dict[str, Any], processes: ProcessPoolExecutor
) -> None:
    """Several processes open the service on an empty schema at once: none fails."""
    loop = asyncio.get_running_loop()
    versions = await asyncio.gather(
        *(
            loop.run_in_executor(processes, open_and_create_tables, pool_options)
            for _ in range(PROCESSES)
        )
    )
    assert versions == [SCHEMA_VERSION] * PROCESSES
