"""Versioned migrations: a version-1 database upgrades in place, many processes migrate an
empty or old database exactly once, and an outdated schema fails fast with the fix."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor

import pytest
from google.adk.events.event import Event

from fastapi_adk_store import (
    SCHEMA_VERSION,
    AsyncpgADKStore,
    AsyncpgConfig,
    SchemaMissingError,
    SchemaOutdatedError,
    open_session_service,
)

from ._helpers import PoolOptions, restore_v1_dump
from ._workers import migrate_at_once
from .data.make_schema_v1 import EVENTS as V1_EVENTS

PROCESSES = 4


@pytest.fixture
async def v1_database(pool_options: PoolOptions) -> PoolOptions:
    """This test's schema holding the version-1 dump's tables and rows."""
    await restore_v1_dump(pool_options)
    return pool_options


@pytest.fixture
async def unmigrated(pool_options: PoolOptions) -> AsyncIterator[AsyncpgADKStore]:
    """A store on this test's schema, its pool open, nothing created or checked."""
    store = AsyncpgADKStore(AsyncpgConfig(pool_config=pool_options))
    async with store.opened(create_tables=False, check_schema=False):
        yield store


async def test_version_1_database_upgrades_in_place(v1_database: PoolOptions) -> None:
    """The dump of the last release before migrations migrates to the current version with
    every row kept: states merged, events equal to those written, appends work."""
    async with open_session_service(**v1_database) as service:
        assert await service.store.schema_version() == SCHEMA_VERSION
        session = await service.get_session(app_name="notes", user_id="alice", session_id="s1")
        assert session is not None
        assert session.state == {
            "topic": "milk",
            "count": 1,
            "app:theme": "dark",
            "app:total": 1,
            "user:lang": "en",
            "user:notes": 1,
        }
        # ids are made anew each time make_schema_v1 is imported; the rest is as written
        dumped = [event.model_dump(exclude={"id"}) for event in session.events]
        assert dumped == [event.model_dump(exclude={"id"}) for event in V1_EVENTS]
        await service.append_event(session, Event(author="after-upgrade"))
        listed = await service.list_sessions(app_name="notes", user_id=None)
        assert sorted(s.id for s in listed.sessions) == ["s1", "s2"]


async def test_an_old_schema_without_create_tables_fails_fast(v1_database: PoolOptions) -> None:
    """create_tables=False on a version-1 database: SchemaOutdatedError naming the command."""
    with pytest.raises(SchemaOutdatedError, match="fastapi-adk-store migrate") as raised:
        async with open_session_service(create_tables=False, **v1_database):
            pass
    assert (raised.value.found, raised.value.expected) == (1, SCHEMA_VERSION)


async def test_no_tables_without_create_tables_fails_fast(pool_options: PoolOptions) -> None:
    """create_tables=False on an empty schema: SchemaMissingError, before any request."""
    with pytest.raises(SchemaMissingError, match="fastapi-adk-store migrate"):
        async with open_session_service(create_tables=False, **pool_options):
            pass


async def test_dry_run_lists_the_pending_sql(v1_database: PoolOptions) -> None:
    """pending_migrations() on a version-1 database names what migrate would run, runs nothing."""
    store = AsyncpgADKStore(AsyncpgConfig(pool_config=v1_database))
    async with store.opened(create_tables=False, check_schema=False):
        pending = await store.sessions.pending_migrations()
        assert [m.version for m in pending] == list(range(2, SCHEMA_VERSION + 1))
        assert all(m.sql.strip() for m in pending)
        assert await store.schema_version() == 1
        assert [m.version for m in await store.sessions.migrate()] == [m.version for m in pending]
        assert await store.sessions.pending_migrations() == []


async def test_a_newer_database_asks_for_a_package_upgrade(
    unmigrated: AsyncpgADKStore, pool_options: PoolOptions
) -> None:
    """Tables migrated by a newer release: this one refuses to run on them."""
    await unmigrated.create_tables()
    pool = await unmigrated.get_pool()
    await pool.execute("INSERT INTO adk_store_schema (version) VALUES ($1)", SCHEMA_VERSION + 1)
    with pytest.raises(SchemaOutdatedError, match="upgrade fastapi-adk-store"):
        await unmigrated.sessions.check_schema()


async def test_event_data_uses_lz4_where_the_server_has_it(unmigrated: AsyncpgADKStore) -> None:
    """Migration 2 sets lz4 TOAST compression when the server offers it, else changes nothing."""
    await unmigrated.create_tables()
    pool = await unmigrated.get_pool()
    has_lz4 = await pool.fetchval(
        "SELECT 'lz4' = ANY (enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    )
    compression = await pool.fetchval(
        "SELECT attcompression FROM pg_attribute "
        "WHERE attrelid = 'adk_events'::regclass AND attname = 'event_data'"
    )
    assert compression == (b"l" if has_lz4 else b"")


@pytest.mark.parametrize("start", ["empty", "version 1"])
async def test_processes_migrating_at_once_apply_each_step_once(
    pool_options: PoolOptions, start: str
) -> None:
    """Four processes migrate at the same moment: every step applied by exactly one of
    them, none fails, and the database ends at the current version."""
    if start == "version 1":
        await restore_v1_dump(pool_options)
    first = 1 if start == "empty" else 2
    context = multiprocessing.get_context("spawn")
    loop = asyncio.get_running_loop()
    with context.Manager() as manager, ProcessPoolExecutor(PROCESSES, mp_context=context) as pool:
        barrier = manager.Barrier(PROCESSES)
        applied: list[list[int]] = await asyncio.gather(
            *(
                loop.run_in_executor(pool, migrate_at_once, pool_options, barrier)
                for _ in range(PROCESSES)
            )
        )
    assert sorted(v for versions in applied for v in versions) == list(
        range(first, SCHEMA_VERSION + 1)
    )
    async with open_session_service(create_tables=False, **pool_options) as service:
        assert await service.store.schema_version() == SCHEMA_VERSION
