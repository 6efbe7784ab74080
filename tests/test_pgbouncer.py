"""The store behind PgBouncer in transaction pooling mode, with `statement_cache_size=0`.

This module starts its own PgBouncer (the `pgbouncer` binary, e.g. Debian's package) on
a free 127.0.0.1 port, in front of the test server. Transaction pooling hands a client
a different server connection per transaction, so the per-test `search_path` of
conftest's `pool_options` cannot work here (PgBouncer refuses it as a startup
parameter): each test uses its own table names instead, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import pwd
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg
import pytest
from google.adk.errors._stale_session_error import StaleSessionError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions

from fastapi_adk_store import (
    SCHEMA_VERSION,
    AsyncpgADKStore,
    AsyncpgConfig,
    AsyncpgSessionService,
    ConfigurationError,
    StoreUnavailableError,
)
from fastapi_adk_store.sessions.maintenance import SessionMaintenance

from ._helpers import free_port
from .conftest import RaceAppends

APP = "bounced_app"
USER = "bounced_user"
# Server connections PgBouncer opens per database/user pair; the client pools below are
# bigger, so clients share server connections.
DEFAULT_POOL_SIZE = 3
ALIAS = "adk_bounced"
START_TIMEOUT = 10.0


class Tables(TypedDict):
    """The store's table-name keyword arguments."""

    session_table: str
    events_table: str
    app_state_table: str
    user_state_table: str
    schema_table: str


@dataclass(frozen=True)
class Bouncer:
    """A running PgBouncer: the DSN that reaches the test database through it."""

    dsn: str
    log: Path


def _pgbouncer_binary() -> str:
    binary = shutil.which("pgbouncer") or shutil.which(
        "pgbouncer", path="/usr/sbin:/usr/local/sbin"
    )
    if binary is None:
        pytest.skip("pgbouncer is not installed (apt-get install -y pgbouncer)")
    return binary


def _run_as() -> list[str]:
    """PgBouncer refuses to run as root: ask it to switch to an unprivileged user."""
    if os.geteuid() != 0:
        return []
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return ["-u", name]
    pytest.skip("running as root, and neither a postgres nor a nobody user exists for pgbouncer")


def _quote(value: str) -> str:
    """A PgBouncer connection-string value, single-quoted."""
    return "'" + value.replace("'", "''") + "'"


def _server_fields(dsn: str) -> dict[str, str]:
    """Host, port, dbname, user (and password) of the server `dsn` names, for PgBouncer."""
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or ""])[0]
    if not host or host.startswith("/"):
        pytest.skip(
            f"the test server listens on a unix socket ({host or 'default socket'}), as the "
            "embedded PostgreSQL does; set ADK_STORE_TEST_DSN to a TCP server to test PgBouncer"
        )
    user = unquote(parts.username) if parts.username else getpass.getuser()
    fields = {
        "host": host,
        "port": query.get("port", [str(parts.port or 5432)])[0],
        "dbname": unquote(parts.path.lstrip("/")) or user,
        "user": user,
    }
    if parts.password:
        fields["password"] = unquote(parts.password)
    return fields


def _listening(process: subprocess.Popen[bytes], port: int) -> bool:
    """True once the port accepts connections; False if PgBouncer exited or is too slow."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def _pgbouncer(directory: Path, server: dict[str, str], settings: str = "") -> Iterator[Bouncer]:
    """Run PgBouncer (transaction pooling, no auth) in front of `server` until exit."""
    binary = _pgbouncer_binary()
    run_as = _run_as()
    entry = " ".join(f"{key}={_quote(value)}" for key, value in server.items())
    config = directory / "pgbouncer.ini"
    log = directory / "pgbouncer.log"
    for _attempt in range(3):  # another process may take the free port first
        port = free_port()
        config.write_text(
            f"[databases]\n{ALIAS} = {entry}\n\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {port}\n"
            "unix_socket_dir =\n"
            "auth_type = any\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {DEFAULT_POOL_SIZE}\n"
            "reserve_pool_size = 0\n"
            "max_client_conn = 500\n"
            # LIFO reuse of server connections (the default), which the statement-cache
            # tests rely on to pin the connection a statement was prepared on.
            "server_round_robin = 0\n"
            "logfile =\n"
            "pidfile =\n"
            f"{settings}"
        )
        with log.open("ab") as output:
            process = subprocess.Popen(
                [binary, *run_as, str(config)], stdout=output, stderr=subprocess.STDOUT
            )
        if _listening(process, port):
            break
        _stop(process)
    else:
        pytest.fail(f"pgbouncer did not start:\n{log.read_text()}")
    try:
        yield Bouncer(dsn=f"postgresql://{server['user']}@127.0.0.1:{port}/{ALIAS}", log=log)
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def bouncer(database_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bouncer]:
    """PgBouncer in transaction pooling mode in front of the test server, for this module."""
    server = _server_fields(database_dsn)
    with _pgbouncer(tmp_path_factory.mktemp("pgbouncer"), server) as running:
        yield running


@pytest.fixture
def bouncer_without_server(database_dsn: str, tmp_path: Path) -> Iterator[Bouncer]:
    """PgBouncer in front of a port where no PostgreSQL listens (a server that is down)."""
    server = {**_server_fields(database_dsn), "host": "127.0.0.1", "port": str(free_port())}
    with _pgbouncer(tmp_path, server, "query_wait_timeout = 1\n") as running:
        yield running


@pytest.fixture
async def tables(database_dsn: str) -> AsyncIterator[Tables]:
    """Table names of the store's keyword arguments, unique to the test; dropped after."""
    prefix = f"pgb_{uuid.uuid4().hex[:12]}"
    names = [f"{prefix}_{kind}" for kind in ("sessions", "events", "apps", "users", "schema")]
    yield Tables(
        session_table=names[0],
        events_table=names[1],
        app_state_table=names[2],
        user_state_table=names[3],
        schema_table=names[4],
    )
    connection = await asyncpg.connect(database_dsn)
    try:
        await connection.execute(f"DROP TABLE IF EXISTS {', '.join(names)} CASCADE")
    finally:
        await connection.close()


def _store(bouncer: Bouncer, tables: Tables, **pool: Any) -> AsyncpgADKStore:
    """A store reaching the server through PgBouncer, with the cache off unless overridden."""
    options = {"dsn": bouncer.dsn, "min_size": 1, "max_size": 10, "statement_cache_size": 0}
    return AsyncpgADKStore(AsyncpgConfig(pool_config={**options, **pool}), **tables)


@pytest.fixture
async def bounced_service(bouncer: Bouncer, tables: Tables) -> AsyncIterator[AsyncpgSessionService]:
    """Our service through PgBouncer, its tables created, its pool bigger than PgBouncer's."""
    store = _store(bouncer, tables, min_size=4 * DEFAULT_POOL_SIZE, max_size=4 * DEFAULT_POOL_SIZE)
    async with store.opened():
        yield AsyncpgSessionService(store)


async def test_session_lifecycle_through_pgbouncer(bounced_service: AsyncpgSessionService) -> None:
    """Create, get, append, list, user state and delete work through transaction pooling."""
    created = await bounced_service.create_session(
        app_name=APP, user_id=USER, session_id="s1", state={"k": 1, "app:a": 1, "user:u": 1}
    )
    assert created.state == {"k": 1, "app:a": 1, "user:u": 1}
    loaded = await bounced_service.get_session(app_name=APP, user_id=USER, session_id="s1")
    assert loaded is not None
    event = Event(
        author="agent",
        invocation_id="inv",
        actions=EventActions(state_delta={"k": 2, "user:u": 2, "temp:t": 1}),
    )
    await bounced_service.append_event(loaded, event)
    stored = await bounced_service.get_session(app_name=APP, user_id=USER, session_id="s1")
    assert stored is not None
    assert stored.state == {"k": 2, "app:a": 1, "user:u": 2}
    assert [e.id for e in stored.events] == [event.id]
    assert stored.last_update_time == event.timestamp
    listed = await bounced_service.list_sessions(app_name=APP, user_id=USER)
    assert [s.id for s in listed.sessions] == ["s1"]
    assert await bounced_service.get_user_state(app_name=APP, user_id=USER) == {"u": 2}
    assert await bounced_service.store.schema_version() == SCHEMA_VERSION
    await bounced_service.delete_session(app_name=APP, user_id=USER, session_id="s1")
    assert await bounced_service.get_session(app_name=APP, user_id=USER, session_id="s1") is None
    assert (await bounced_service.list_sessions(app_name=APP, user_id=USER)).sessions == []


async def test_workers_creating_tables_at_once_through_pgbouncer(
    bouncer: Bouncer, tables: Tables
) -> None:
    """Eight stores create the same tables at once: the transaction-scoped lock holds."""
    stores = [_store(bouncer, tables, min_size=1, max_size=1) for _ in range(8)]
    try:
        await asyncio.gather(*(store.create_tables() for store in stores))
        assert [await store.schema_version() for store in stores] == [SCHEMA_VERSION] * len(stores)
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def _append_keys(
    service: AsyncpgSessionService, session_id: str, writer: int, count: int
) -> None:
    """Append `count` events setting session, user: and app: keys; reload on stale."""
    session = await service.get_session(app_name=APP, user_id=USER, session_id=session_id)
    for index in range(count):
        key = f"{session_id}_w{writer}_{index}"
        delta = {key: index, f"user:{key}": index, f"app:{key}": index}
        while True:
            assert session is not None
            try:
                await service.append_event(
                    session, Event(author=f"w{writer}", actions=EventActions(state_delta=delta))
                )
                break
            except StaleSessionError:
                session = await service.get_session(
                    app_name=APP, user_id=USER, session_id=session_id
                )


async def test_concurrent_appends_share_server_connections(
    bounced_service: AsyncpgSessionService,
) -> None:
    """Forty writers on twelve client connections over three server ones lose nothing."""
    store = bounced_service.store
    pool = await store.get_pool()
    pids = await asyncio.gather(
        *(pool.fetchval("SELECT pg_backend_pid()") for _ in range(store.pool_stats().max_size))
    )
    assert store.pool_stats().size == 4 * DEFAULT_POOL_SIZE
    assert len(set(pids)) <= DEFAULT_POOL_SIZE

    sessions, writers, count = 20, 2, 10
    for number in range(sessions):
        await bounced_service.create_session(app_name=APP, user_id=USER, session_id=f"s{number}")
    await asyncio.gather(
        *(
            _append_keys(bounced_service, f"s{number}", writer, count)
            for number in range(sessions)
            for writer in range(writers)
        )
    )
    expected: set[str] = set()
    for number in range(sessions):
        stored = await bounced_service.get_session(
            app_name=APP, user_id=USER, session_id=f"s{number}"
        )
        assert stored is not None
        keys = {f"s{number}_w{w}_{i}" for w in range(writers) for i in range(count)}
        assert len(stored.events) == writers * count
        assert {key for key in stored.state if ":" not in key} == keys
        expected |= keys
    assert set(await bounced_service.get_user_state(app_name=APP, user_id=USER)) == expected
    assert set(await store.app_state(APP)) == expected


async def test_stale_copy_is_detected_through_pgbouncer(
    bounced_service: AsyncpgSessionService, race_appends: RaceAppends
) -> None:
    """A stale copy raises; of twelve copies appending at once with one timestamp, one wins."""
    await bounced_service.create_session(app_name=APP, user_id=USER, session_id="race")
    first = await bounced_service.get_session(app_name=APP, user_id=USER, session_id="race")
    second = await bounced_service.get_session(app_name=APP, user_id=USER, session_id="race")
    assert first is not None and second is not None
    await bounced_service.append_event(first, Event(author="first"))
    with pytest.raises(StaleSessionError):
        await bounced_service.append_event(second, Event(author="second"))

    won_and_stale = await race_appends(bounced_service, APP, USER, "race", 12, time.time())
    assert won_and_stale == (1, 11)
    stored = await bounced_service.get_session(app_name=APP, user_id=USER, session_id="race")
    assert stored is not None and len(stored.events) == 2


@dataclass(frozen=True)
class PinnedReads:
    """The app state two reads returned, and the servers (backend pids) involved."""

    first: dict[str, Any]
    second: dict[str, Any]
    after_first: set[int]  # servers whose last statement was the read, after the first
    pinned: int  # the server the other client pinned in its transaction
    after_second: set[int]  # the same, after the second read


async def _servers_that_last_read(observer: asyncpg.Connection, table: str) -> set[int]:
    """Server connections (backend pids) whose last statement was a finished read of `table`."""
    rows = await observer.fetch(
        "SELECT pid FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND state = 'idle' AND query LIKE $1",
        f"%{table}%",
    )
    return {row["pid"] for row in rows}


async def _read_twice_around_a_pinned_server(
    store: AsyncpgADKStore, bouncer: Bouncer, database_dsn: str
) -> PinnedReads:
    """Read, let another client pin that server connection in a transaction, read again.

    The second read gets another server connection from PgBouncer: a statement prepared
    on the first one does not exist there. An observer connected to PostgreSQL directly
    (not through PgBouncer) sees which server ran each read.
    """
    table = store.tables.app_states
    observer = await asyncpg.connect(database_dsn)
    blocker = await asyncpg.connect(bouncer.dsn, statement_cache_size=0)
    try:
        first = await store.get_app_state(APP)
        after_first = await _servers_that_last_read(observer, table)
        async with blocker.transaction():
            pinned: int = await blocker.fetchval("SELECT pg_backend_pid()")
            if store.config.pool_config["statement_cache_size"] > 0:
                # The app-state read prepared on this server (the schema check may have too).
                prepared = await blocker.fetchval(
                    "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE $1",
                    f"SELECT state FROM %{table}% WHERE app_name = $1",
                )
                assert prepared == 1, "PgBouncer did not hand out the last used server"
            second = await store.get_app_state(APP)
            after_second = await _servers_that_last_read(observer, table)
    finally:
        await blocker.close()
        await observer.close()
    return PinnedReads(first, second, after_first, pinned, after_second)


async def test_default_statement_cache_fails_behind_transaction_pooling(
    bouncer: Bouncer, tables: Tables, database_dsn: str
) -> None:
    """With asyncpg's default cache (100), a server switch loses the prepared statement."""
    store = _store(bouncer, tables, min_size=1, max_size=1, statement_cache_size=100)
    async with store.opened():
        with pytest.raises(ConfigurationError, match="ADK_STORE_STATEMENT_CACHE_SIZE=0") as raised:
            await _read_twice_around_a_pinned_server(store, bouncer, database_dsn)
    assert isinstance(raised.value.__cause__, asyncpg.InvalidSQLStatementNameError)


async def test_statement_cache_off_survives_server_switch(
    bouncer: Bouncer, tables: Tables, database_dsn: str
) -> None:
    """With statement_cache_size=0 the same read succeeds, and is right, on another server."""
    store = _store(bouncer, tables, min_size=1, max_size=1)
    async with store.opened():
        await AsyncpgSessionService(store).create_session(
            app_name=APP, user_id=USER, state={"app:k": 1}
        )
        reads = await _read_twice_around_a_pinned_server(store, bouncer, database_dsn)
    assert reads.first == reads.second == {"k": 1}
    # The first read ran on the server the other client then pinned; the second one on
    # another server (the pinned one is idle in the other client's transaction).
    assert reads.after_first == {reads.pinned}
    assert reads.after_second, "no server connection ran the second read"
    assert reads.pinned not in reads.after_second


async def test_pgbouncer_refuses_search_path_as_server_setting(
    bouncer: Bouncer, tables: Tables
) -> None:
    """PgBouncer refuses startup parameters it does not track, such as search_path."""
    refused = _store(bouncer, tables, server_settings={"search_path": "elsewhere"})
    try:
        with pytest.raises(ConfigurationError, match="unsupported startup parameter"):
            await refused.create_tables()
    finally:
        await refused.close()
    named = _store(bouncer, tables, server_settings={"application_name": "adk-worker"})
    async with named.opened():
        pool = await named.get_pool()
        assert await pool.fetchval("SHOW application_name") == "adk-worker"


async def test_server_down_behind_pgbouncer_is_store_unavailable(
    bouncer_without_server: Bouncer, tables: Tables
) -> None:
    """PostgreSQL down behind PgBouncer is StoreUnavailableError (the router's 503)."""
    store = _store(bouncer_without_server, tables, min_size=0)
    try:
        with pytest.raises(StoreUnavailableError):
            await store.get_app_state(APP)
    finally:
        await store.close()


@pytest.mark.parametrize(("cache_size", "ok"), [(100, False), (0, True)])
async def test_doctor_sees_transaction_pooling(
    bouncer: Bouncer, tables: Tables, cache_size: int, ok: bool
) -> None:
    """doctor's pooling check: behind transaction pooling, a statement cache is a FAIL.

    The doctor's own connection has no statement cache, so its probes run behind any pooler.
    """
    store = _store(bouncer, tables, min_size=2, max_size=2, statement_cache_size=0)
    async with store.opened(create_tables=False, check_schema=False):
        checks = await SessionMaintenance(store.sessions).diagnose(statement_cache_size=cache_size)
    pooling = next(check for check in checks if check.name == "pooling")
    assert pooling.ok is ok, pooling
    assert "transaction pooling" in pooling.detail
    assert ok or "ADK_STORE_STATEMENT_CACHE_SIZE=0" in pooling.fix
