"""Schema version 3 (issue 17): no foreign key on events, the cascade done by a trigger
after DELETE on sessions, and the primary key of sessions serving bare-id lookups."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from google.adk.events.event import Event

from fastapi_adk_store import AsyncpgSessionService, open_session_service
from fastapi_adk_store.sessions.records import SessionKey

from ._helpers import PoolOptions, restore_v1_dump

APP, USER = "app", "u"


@pytest.fixture(params=["empty", "version 1"])
async def migrated(
    request: pytest.FixtureRequest, pool_options: PoolOptions
) -> AsyncIterator[AsyncpgSessionService]:
    """A service on tables made by the migrations from nothing, or upgraded from version 1."""
    if request.param == "version 1":
        await restore_v1_dump(pool_options)
    async with open_session_service(**pool_options) as service:
        yield service


async def _pool(service: AsyncpgSessionService) -> asyncpg.Pool:
    return await service.store.get_pool()


async def _event_count(service: AsyncpgSessionService, session_id: str) -> int:
    pool = await _pool(service)
    count: int = await pool.fetchval(
        "SELECT count(*) FROM adk_events WHERE session_id = $1", session_id
    )
    return count


async def test_sessions_are_keyed_id_first_with_no_separate_id_index(
    migrated: AsyncpgSessionService,
) -> None:
    """The primary key leads with id (so it serves lookups by id alone); no other
    index of sessions covers id first, and events reference nothing."""
    pool = await _pool(migrated)
    key = await pool.fetchval(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'adk_sessions'::regclass AND contype = 'p'"
    )
    assert key == "PRIMARY KEY (id, app_name, user_id)"
    indexes = await pool.fetch(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'adk_sessions' "
        "AND schemaname = current_schema() ORDER BY 1"
    )
    assert [r["indexname"] for r in indexes] == ["adk_sessions_by_update", "adk_sessions_pkey"]
    foreign = await pool.fetchval(
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 'adk_events'::regclass "
        "AND contype = 'f'"
    )
    assert foreign == 0
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SET LOCAL enable_seqscan = off")
        plan = await connection.fetch(
            "EXPLAIN SELECT app_name, user_id FROM adk_sessions WHERE id = 'x'"
        )
    assert "adk_sessions_pkey" in "\n".join(row[0] for row in plan)


async def test_deleting_a_session_deletes_its_events_only(
    migrated: AsyncpgSessionService,
) -> None:
    """delete_session, and any DELETE on sessions, takes the events with it; other
    sessions' events stay."""
    kept = await migrated.create_session(app_name=APP, user_id=USER, session_id="kept")
    gone = await migrated.create_session(app_name=APP, user_id=USER, session_id="gone")
    for session in (kept, gone, gone):
        await migrated.append_event(session, Event(author="a"))
    await migrated.delete_session(app_name=APP, user_id=USER, session_id="gone")
    assert (await _event_count(migrated, "gone"), await _event_count(migrated, "kept")) == (0, 1)
    pool = await _pool(migrated)
    await pool.execute("DELETE FROM adk_sessions WHERE app_name = $1", APP)
    assert await _event_count(migrated, "kept") == 0


async def test_a_delete_waiting_on_an_append_also_removes_the_appended_event(
    migrated: AsyncpgSessionService,
) -> None:
    """An append holds the session's row lock; a delete started meanwhile waits, and once
    the append commits its event is deleted with the session, not left behind."""
    session = await migrated.create_session(app_name=APP, user_id=USER, session_id="raced")
    pool = await _pool(migrated)
    async with pool.acquire() as appender, pool.acquire() as deleter:
        transaction = appender.transaction()
        await transaction.start()
        # what an append writes, its row lock held until the commit
        await appender.execute(
            "UPDATE adk_sessions SET revision = revision + 1 WHERE id = $1", session.id
        )
        await appender.execute(
            "INSERT INTO adk_events (app_name, user_id, session_id, id, timestamp, event_data) "
            "VALUES ($1, $2, $3, 'e1', 1, '{}')",
            APP,
            USER,
            session.id,
        )
        pid = await deleter.fetchval("SELECT pg_backend_pid()")
        delete = asyncio.create_task(deleter.execute("DELETE FROM adk_sessions WHERE id = 'raced'"))
        for _ in range(200):
            waiting = await pool.fetchval(
                "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
            )
            if waiting:
                break
            await asyncio.sleep(0.01)
        assert waiting, "the delete did not wait for the append's row lock"
        await transaction.commit()
        assert await asyncio.wait_for(delete, 10) == "DELETE 1"
    assert await _event_count(migrated, "raced") == 0


async def test_an_owner_cascade_takes_the_sessions_events_too(pool_options: PoolOptions) -> None:
    """An owner column with ON DELETE CASCADE: deleting the owner deletes its sessions,
    and the trigger their events (the cascade used to be the events' foreign key)."""
    setup = await asyncpg.connect(
        pool_options["dsn"], server_settings=pool_options["server_settings"]
    )
    try:
        await setup.execute("CREATE TABLE tenants (id INTEGER PRIMARY KEY)")
        await setup.execute("INSERT INTO tenants VALUES (1), (2)")
        owner = "tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE"
        async with open_session_service(owner_id_column=owner, **pool_options) as service:
            for tenant, session_id in ((1, "first"), (2, "second")):
                await service.store.create(SessionKey(APP, USER, session_id), owner_id=tenant)
                session = await service.get_session(
                    app_name=APP, user_id=USER, session_id=session_id
                )
                assert session is not None
                await service.append_event(session, Event(author="a"))
            await setup.execute("DELETE FROM tenants WHERE id = 1")
            assert await _event_count(service, "first") == 0
            assert await _event_count(service, "second") == 1
    finally:
        await setup.close()
