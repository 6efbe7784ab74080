"""AsyncpgADKStore beyond the seed: validation, errors, paging, limits."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.platform import time as platform_time

from fastapi_adk_store import (
    SCHEMA_VERSION,
    AlreadyExistsError,
    AsyncpgADKStore,
    AsyncpgConfig,
    AsyncpgSessionService,
    ConfigurationError,
    EventTooLargeError,
    SchemaMissingError,
    SessionCursor,
    SessionNotFoundError,
    StaleSessionError,
    StoreSettings,
    StoreUnavailableError,
    open_session_service,
)
from fastapi_adk_store.defaults import MAX_EVENT_BYTES

from ._helpers import PoolOptions, free_port


@pytest.mark.parametrize(
    "name",
    [
        "adk sessions",
        "sessions;drop table x",
        '"quoted"',
        "1starts_with_digit",
        "a.b.c",
        "x" * 64,
        "",
    ],
    ids=["space", "semicolon", "quotes", "digit", "three-parts", "too-long", "empty"],
)
def test_invalid_table_name_is_rejected_before_any_sql(name: str) -> None:
    """Table names that are not plain identifiers raise ConfigurationError, naming the value."""
    with pytest.raises(ConfigurationError, match="invalid table name"):
        AsyncpgADKStore(AsyncpgConfig(pool_config={}), session_table=name)


def test_schema_qualified_table_name_is_accepted() -> None:
    """schema.table is a valid table name."""
    store = AsyncpgADKStore(AsyncpgConfig(pool_config={}), session_table="agents.sessions")
    assert store.session_table == "agents.sessions"


@pytest.mark.parametrize(
    "ddl",
    ["tenant_id", "tenant_id INTEGER; DROP TABLE x", "tenant-id INTEGER", "t INT -- c"],
    ids=["no-type", "semicolon", "bad-name", "comment"],
)
def test_invalid_owner_id_column_is_rejected(ddl: str) -> None:
    """The owner-id column must be `name TYPE ...` with no statement separators."""
    with pytest.raises(ConfigurationError, match="owner_id_column"):
        AsyncpgADKStore(AsyncpgConfig(pool_config={}), owner_id_column=ddl)


def test_pool_options_are_checked_up_front() -> None:
    """Unknown pool keys and min_size > max_size fail at construction, naming the values."""
    with pytest.raises(ConfigurationError, match=r"unknown pool option.*max_pool"):
        AsyncpgConfig(pool_config={"max_pool": 3})
    with pytest.raises(ConfigurationError, match=r"min_size \(5\) is greater than max_size \(2\)"):
        AsyncpgConfig(pool_config={"min_size": 5, "max_size": 2})


async def test_missing_tables_raise_schema_missing_not_empty(pool_options: PoolOptions) -> None:
    """Before create_tables(), reads raise SchemaMissingError instead of returning nothing."""
    store = AsyncpgADKStore(AsyncpgConfig(pool_config=pool_options))
    try:
        with pytest.raises(SchemaMissingError, match="create_tables"):
            await store.get_user_state("app", "user")
    finally:
        await store.close()


async def test_create_tables_twice_is_harmless(store: AsyncpgADKStore) -> None:
    """create_tables() on an existing schema keeps data and the version."""
    await store.create_session("s", "app", "user", {"k": 1})
    await store.create_tables()
    record = await store.get_session("s", app_name="app", user_id="user")
    assert record is not None and record.state == {"k": 1}
    assert await store.schema_version() == SCHEMA_VERSION


async def test_unreachable_server_raises_store_unavailable() -> None:
    """A closed port gives StoreUnavailableError, not a raw OSError."""
    store = AsyncpgADKStore(
        AsyncpgConfig(
            pool_config={"dsn": f"postgresql://postgres@127.0.0.1:{free_port()}/x", "min_size": 1}
        )
    )
    with pytest.raises(StoreUnavailableError, match="unavailable"):
        await store.get_user_state("app", "user")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"command_timeout": 0.2}, "did not answer in time"),
        ({"server_settings": {"statement_timeout": "200ms"}}, "statement_timeout"),
        ({"server_settings": {"lock_timeout": "200ms"}}, "lock_timeout"),
    ],
    ids=["command_timeout", "statement_timeout", "lock_timeout"],
)
async def test_timeouts_behind_a_held_lock_are_store_unavailable(
    store: AsyncpgADKStore, pool_options: PoolOptions, options: PoolOptions, message: str
) -> None:
    """A statement stuck behind a lock and cut off by a timeout is a 503, with a clear reason."""
    await store.create_session("s", "app", "user")
    settings = {**pool_options["server_settings"], **options.pop("server_settings", {})}
    waiting = AsyncpgADKStore(
        AsyncpgConfig(pool_config={**pool_options, **options, "server_settings": settings})
    )
    pool = await store.get_pool()
    try:
        async with pool.acquire() as holder, holder.transaction():
            await holder.execute(f"SELECT 1 FROM {store.session_table} FOR UPDATE")
            with pytest.raises(StoreUnavailableError, match=message):
                await waiting.update_session_state("s", {"k": 1}, app_name="app", user_id="user")
    finally:
        await waiting.close()
    record = await store.get_session("s", app_name="app", user_id="user")
    assert record is not None and record.state == {}


async def test_create_tables_on_a_migrated_schema_needs_no_create_privilege(
    store: AsyncpgADKStore, pool_options: PoolOptions
) -> None:
    """A role that may only read and write the tables can still start with create_tables()."""
    role = f"adk_rw_{uuid.uuid4().hex[:12]}"
    schema = pool_options["server_settings"]["search_path"]
    pool = await store.get_pool()
    await pool.execute(f"CREATE ROLE {role} LOGIN")
    await pool.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
    await pool.execute(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"
    )
    limited = AsyncpgADKStore(AsyncpgConfig(pool_config={**pool_options, "user": role}))
    try:
        await limited.create_tables()
        await limited.create_session("s", "app", "user", {"k": 1})
        await pool.execute(f"DROP TABLE {store.events_table}")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await limited.create_tables()
    finally:
        await limited.close()
        await pool.execute(f"DROP OWNED BY {role}")
        await pool.execute(f"DROP ROLE {role}")


async def test_close_closes_the_pool(store: AsyncpgADKStore) -> None:
    """After close(), the pool the store made is closed."""
    pool = await store.get_pool()
    await store.close()
    assert pool.is_closing()


async def test_event_over_the_byte_limit_is_refused(pool_options: PoolOptions) -> None:
    """max_event_bytes rejects a larger event with EventTooLargeError and stores nothing."""
    store = AsyncpgADKStore(AsyncpgConfig(pool_config=pool_options), max_event_bytes=1000)
    try:
        await store.create_tables()
        service = AsyncpgSessionService(store)
        session = await service.create_session(app_name="a", user_id="u")
        with pytest.raises(EventTooLargeError, match="over the limit of 1000 bytes"):
            await service.append_event(session, Event(author="a", error_message="x" * 2000))
        stored = await service.get_session(app_name="a", user_id="u", session_id=session.id)
        assert stored is not None and stored.events == []
    finally:
        await store.close()


async def test_keyset_pages_cover_every_session_once(store: AsyncpgADKStore) -> None:
    """Paging with SessionCursor.after() visits every session once, in list order."""
    for index in range(25):
        await store.create_session(f"s{index:02d}", "app", "user", {})
    await store.create_session("other", "app", "someone_else", {})
    seen: list[str] = []
    cursor = None
    while page := await store.list_sessions("app", "user", limit=7, after=cursor):
        seen.extend(record.id for record in page)
        cursor = SessionCursor.after(page[-1])
    assert seen == [record.id for record in await store.list_sessions("app", "user")]
    assert sorted(seen) == [f"s{index:02d}" for index in range(25)]


async def test_app_wide_listing_pages_across_users(store: AsyncpgADKStore) -> None:
    """user_id=None lists every user's sessions, pageable too."""
    for user in ("u1", "u2", "u3"):
        for index in range(3):
            await store.create_session(f"{user}-{index}", "app", user, {})
    seen: list[str] = []
    cursor = None
    while page := await store.list_sessions("app", limit=4, after=cursor):
        seen.extend(record.id for record in page)
        cursor = SessionCursor.after(page[-1])
    assert sorted(seen) == sorted(f"{u}-{i}" for u in ("u1", "u2", "u3") for i in range(3))


@pytest.mark.parametrize("shared", [[1], "one"], ids=["a-list", "a-string"])
@pytest.mark.parametrize("user_id", ["u1", None], ids=["one-user", "app-wide"])
async def test_listing_values_match_the_records(
    service: AsyncpgSessionService, user_id: str | None, shared: object
) -> None:
    """The service's listing path (no records) carries what the seed's records carry."""
    for user in ("u1", "u2"):
        for index in range(2):
            await service.create_session(
                app_name="app", user_id=user, state={"k": index, "app:a": shared, "user:u": user}
            )
    store = service.store
    records = await store.list_sessions("app", user_id, limit=3)
    listed = await store.list_merged("app", user_id, limit=3)
    assert [
        (s.id, s.app_name, s.user_id, s.state, s.last_update_time, s.revision) for s in listed
    ] == [
        (r.id, r.app_name, r.user_id, r.merged_state(), r.last_update_time, r.revision)
        for r in records
    ]
    assert listed[0].state == {"k": 0, "app:a": shared, "user:u": "u1"}


async def test_listed_sessions_share_no_mutable_state(service: AsyncpgSessionService) -> None:
    """Changing a list in one listed session's shared state leaves the others' alone."""
    for _ in range(2):
        await service.create_session(app_name="a", user_id="u", state={"user:tags": ["x"]})
    first, second = (await service.list_sessions(app_name="a", user_id="u")).sessions
    first.state["user:tags"].append("y")
    assert second.state["user:tags"] == ["x"]


async def test_update_session_state_makes_loaded_copies_stale(
    service: AsyncpgSessionService, store: AsyncpgADKStore
) -> None:
    """Replacing state through the store bumps the revision: older copies cannot append."""
    session = await service.create_session(app_name="a", user_id="u", state={"k": 1})
    await store.update_session_state(session.id, {"k": 2}, app_name="a", user_id="u")
    with pytest.raises(StaleSessionError):
        await service.append_event(session, Event(author="a"))


async def test_delete_cascades_to_events(store: AsyncpgADKStore) -> None:
    """Deleting a session removes its events."""
    await store.create_session("s", "app", "user", {})
    await store.append_event(Event(author="a"), session_id="s")
    await store.delete_session("s")
    pool = await store.get_pool()
    assert await pool.fetchval("SELECT count(*) FROM adk_events") == 0


async def test_store_append_to_missing_session_raises(store: AsyncpgADKStore) -> None:
    """Appending through the store to an unknown session raises SessionNotFoundError."""
    with pytest.raises(SessionNotFoundError):
        await store.append_event(Event(author="a"), session_id="nope", app_name="a", user_id="u")


async def test_distinct_event_reusing_an_id_is_refused(service: AsyncpgSessionService) -> None:
    """A different event with a stored event's id raises instead of being dropped."""
    session = await service.create_session(app_name="a", user_id="u")
    await service.append_event(session, Event(id="e1", author="a"))
    with pytest.raises(AlreadyExistsError, match="e1"):
        await service.append_event(session, Event(id="e1", author="b"))


async def test_created_session_takes_adks_clock(service: AsyncpgSessionService) -> None:
    """create_session stamps last_update_time with ADK's time provider, as ADK's services do."""
    platform_time.set_time_provider(lambda: 1_700_000_000.123456789)
    try:
        session = await service.create_session(app_name="a", user_id="u")
    finally:
        platform_time.reset_time_provider()
    assert session.last_update_time == 1_700_000_000.123456789
    stored = await service.get_session(app_name="a", user_id="u", session_id=session.id)
    assert stored is not None and stored.last_update_time == 1_700_000_000.123456789


async def test_event_limit_is_the_same_on_every_entry_point(pool_options: PoolOptions) -> None:
    """The seed's store, open_session_service and the settings share one default limit."""
    seed_store = AsyncpgADKStore(AsyncpgConfig(pool_config=pool_options))
    assert seed_store.max_event_bytes == MAX_EVENT_BYTES
    assert StoreSettings(_env_file=None).max_event_bytes == MAX_EVENT_BYTES
    async with open_session_service(**pool_options) as service:
        assert service.store.limits.max_event_bytes == MAX_EVENT_BYTES
        session = await service.create_session(app_name="a", user_id="u")
        huge = Event(author="a", error_message="x" * MAX_EVENT_BYTES)
        with pytest.raises(EventTooLargeError):
            await service.append_event(session, huge)


async def test_a_failed_append_leaves_the_callers_copy_alone(
    service: AsyncpgSessionService,
) -> None:
    """temp: keys reach the caller's session only once the append is stored (as ADK)."""
    session = await service.create_session(app_name="a", user_id="u", session_id="s")
    await service.delete_session(app_name="a", user_id="u", session_id="s")
    delta = {"temp:t": 1, "k": 2}
    with pytest.raises(SessionNotFoundError):
        await service.append_event(
            session, Event(author="a", actions=EventActions(state_delta=delta))
        )
    assert session.state == {} and session.events == []
