"""`AsyncpgADKStore`: the record-level API over one asyncpg pool.

Every method runs one statement from `sql.py` (the bare-session-id conveniences of the
seed add one look-up first). Keys are `(app_name, user_id, session_id)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from google.adk.events.event import Event

from ._json import dumps_event, dumps_state, loads, loads_events
from .config import AsyncpgConfig
from .errors import (
    AlreadyExistsError,
    AmbiguousSessionError,
    ConfigurationError,
    EventTooLargeError,
    InvalidValueError,
    SchemaMissingError,
    SessionNotFoundError,
    StaleSessionError,
    StoreUnavailableError,
)
from .models import EventRecord, SessionRecord, construct_trusted
from .sql import SCHEMA_VERSION, Statements, TableNames, build_statements

__all__ = ["AsyncpgADKStore", "PoolStats", "SessionCursor", "StateDeltas"]

_FIRST_PAGE = float("-inf")

# Errors that mean "the database is not reachable right now", not "the request is bad".
_UNAVAILABLE = (
    OSError,  # refused or reset connections, and TimeoutError (command/connect timeout)
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, PgBouncer's "cannot connect" too
    asyncpg.OperatorInterventionError,  # class 57: shutdown, starting up, statement_timeout
    asyncpg.LockNotAvailableError,  # lock_timeout
    asyncpg.TooManyConnectionsError,
)
# What a transaction-pooling PgBouncer does to asyncpg's prepared-statement cache.
_PREPARED_STATEMENT_LOST = (
    asyncpg.InvalidSQLStatementNameError,
    asyncpg.DuplicatePreparedStatementError,
)


def _unavailable_message(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return (
            "PostgreSQL did not answer in time "
            "(ADK_STORE_COMMAND_TIMEOUT / ADK_STORE_CONNECT_TIMEOUT)"
        )
    if isinstance(error, asyncpg.QueryCanceledError | asyncpg.LockNotAvailableError):
        return f"PostgreSQL cancelled the statement (statement_timeout or lock_timeout): {error}"
    return f"PostgreSQL is unavailable: {error}"


@dataclass(frozen=True)
class PoolStats:
    """A snapshot of the pool: connections open, idle among them, and the bounds."""

    size: int
    idle: int
    min_size: int
    max_size: int

    @property
    def in_use(self) -> int:
        return self.size - self.idle


@dataclass(frozen=True)
class SessionCursor:
    """Keyset position in a session listing: the last row of the previous page."""

    update_time: float
    user_id: str
    session_id: str

    @classmethod
    def after(cls, record: SessionRecord) -> SessionCursor:
        """The cursor for the page that follows `record`."""
        return cls(record.last_update_time, record.user_id, record.id)


@dataclass(frozen=True)
class StateDeltas:
    """An event's state delta split by scope, `app:`/`user:` prefixes removed."""

    session: Mapping[str, Any]
    app: Mapping[str, Any]
    user: Mapping[str, Any]


def _session_record(row: asyncpg.Record) -> SessionRecord:
    app_state = row.get("app_state")
    user_state = row.get("user_state")
    return construct_trusted(
        SessionRecord,
        {
            "id": row["id"],
            "app_name": row["app_name"],
            "user_id": row["user_id"],
            "state": loads(row["state"]),
            "create_time": row["create_time"],
            "update_time": datetime.fromtimestamp(row["update_time"], UTC),
            "last_update_time": row["update_time"],
            "revision": row["revision"],
            "owner_id": row.get("owner_id"),
            "app_state": loads(app_state) if app_state is not None else {},
            "user_state": loads(user_state) if user_state is not None else {},
        },
    )


def _event_record(row: asyncpg.Record) -> EventRecord:
    return construct_trusted(
        EventRecord,
        {
            "id": row["id"],
            "app_name": row["app_name"],
            "user_id": row["user_id"],
            "session_id": row["session_id"],
            "invocation_id": row["invocation_id"],
            "author": row["author"],
            "timestamp": datetime.fromtimestamp(row["timestamp"], UTC),
            "event_data": loads(row["event_data"]),
        },
    )


def _epoch(value: datetime | float | None) -> float | None:
    if value is None or isinstance(value, float | int):
        return value
    if value.tzinfo is None:
        raise ConfigurationError(f"after_timestamp {value!r} is naive; pass an aware datetime")
    return value.timestamp()


class AsyncpgADKStore:
    """ADK sessions and events in PostgreSQL, over an asyncpg pool.

    Example:
        store = AsyncpgADKStore(AsyncpgConfig(pool_config={"dsn": "postgresql://..."}))
        await store.create_tables()
        record = await store.create_session("s1", "app", "user", {"k": 1})

    Table names come from the keyword arguments, else from
    `config.extension_config["adk"]`, else the defaults (`adk_sessions`, ...).
    """

    def __init__(
        self,
        config: AsyncpgConfig | None = None,
        *,
        pool: asyncpg.Pool | None = None,
        session_table: str | None = None,
        events_table: str | None = None,
        app_state_table: str | None = None,
        user_state_table: str | None = None,
        schema_table: str | None = None,
        owner_id_column: str | None = None,
        max_event_bytes: int | None = None,
    ) -> None:
        if (config is None) == (pool is None):
            raise ConfigurationError("pass an AsyncpgConfig or an asyncpg pool (exactly one)")
        self._config = config if config is not None else AsyncpgConfig(pool_instance=pool)
        adk = self._config.extension_config["adk"]

        def pick(argument: str | None, key: str, default: str) -> str:
            return argument if argument is not None else adk.get(key, default)

        defaults = TableNames()
        self._tables = TableNames(
            sessions=pick(session_table, "session_table", defaults.sessions),
            events=pick(events_table, "events_table", defaults.events),
            app_states=pick(app_state_table, "app_state_table", defaults.app_states),
            user_states=pick(user_state_table, "user_state_table", defaults.user_states),
            schema_versions=pick(schema_table, "schema_table", defaults.schema_versions),
        )
        self._owner_id_column_ddl: str | None = owner_id_column or adk.get("owner_id_column")
        self._sql: Statements = build_statements(self._tables, self._owner_id_column_ddl)
        limit = max_event_bytes if max_event_bytes is not None else adk.get("max_event_bytes")
        if limit is not None and limit <= 0:
            raise ConfigurationError(f"max_event_bytes must be positive, got {limit}")
        self._max_event_bytes: int | None = limit

    # --- configuration ---------------------------------------------------------------------

    @property
    def config(self) -> AsyncpgConfig:
        return self._config

    @property
    def tables(self) -> TableNames:
        return self._tables

    @property
    def session_table(self) -> str:
        return self._tables.sessions

    @property
    def events_table(self) -> str:
        return self._tables.events

    @property
    def owner_id_column_ddl(self) -> str | None:
        """The owner-id column definition, or None when not configured."""
        return self._owner_id_column_ddl

    @property
    def owner_id_column_name(self) -> str | None:
        """The owner-id column's name, or None when not configured."""
        ddl = self._owner_id_column_ddl
        return ddl.split()[0] if ddl else None

    @property
    def max_event_bytes(self) -> int | None:
        return self._max_event_bytes

    async def get_pool(self) -> asyncpg.Pool:
        """The asyncpg pool, created on first use."""
        with self._translate_errors():
            return await self._config.provide_pool()

    def pool_stats(self) -> PoolStats:
        """Pool size, idle connections and bounds (all zero before the pool exists)."""
        pool = self._config.pool
        if pool is None:
            return PoolStats(size=0, idle=0, min_size=0, max_size=0)
        return PoolStats(
            size=pool.get_size(),
            idle=pool.get_idle_size(),
            min_size=pool.get_min_size(),
            max_size=pool.get_max_size(),
        )

    async def close(self) -> None:
        """Close the pool if the store's config created it."""
        await self._config.close_pool()

    @asynccontextmanager
    async def opened(self, *, create_tables: bool = True) -> AsyncIterator[AsyncpgADKStore]:
        """Open the pool now (creating the tables, or not), and close it on exit.

        A wrong DSN or a down server fails here rather than on the first call.
        """
        try:
            if create_tables:
                await self.create_tables()
            else:
                await self.get_pool()
            yield self
        finally:
            await self.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        pool = await self.get_pool()
        with self._translate_errors():
            async with pool.acquire() as connection:
                yield connection

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except asyncpg.UndefinedTableError as error:
            raise SchemaMissingError(self._tables.sessions) from error
        except asyncpg.DataError as error:
            raise InvalidValueError(f"PostgreSQL refused a value: {error}") from error
        except _PREPARED_STATEMENT_LOST as error:
            raise ConfigurationError(
                f"{error}: behind PgBouncer in transaction or statement pooling mode, "
                "set ADK_STORE_STATEMENT_CACHE_SIZE=0 (pool option statement_cache_size=0)"
            ) from error
        except asyncpg.ProtocolViolationError as error:
            if "unsupported startup parameter" not in str(error):
                raise StoreUnavailableError(_unavailable_message(error)) from error
            raise ConfigurationError(
                f"{error}: PgBouncer refuses this server_settings key; set it on the "
                "database or role instead (ALTER ROLE ... SET), or list it in PgBouncer's "
                "ignore_startup_parameters"
            ) from error
        except _UNAVAILABLE as error:
            raise StoreUnavailableError(_unavailable_message(error)) from error

    # --- schema ----------------------------------------------------------------------------

    async def create_tables(self) -> None:
        """Create the tables and indexes if absent; safe when many processes start at once.

        When the schema is already in place this only reads, so a role without CREATE
        privilege can start against a database someone else migrated.
        """
        async with self._connection() as connection:
            with suppress(asyncpg.UndefinedTableError):
                if await connection.fetchval(self._sql.get_schema_version) == SCHEMA_VERSION:
                    return
        async with self._connection() as connection, connection.transaction():
            await connection.execute(self._sql.lock_schema, self._sql.schema_lock_key)
            await connection.execute(self._sql.create_schema)
            await connection.execute(self._sql.record_schema_version, SCHEMA_VERSION)

    async def schema_version(self) -> int | None:
        """The applied schema version; raises SchemaMissingError before create_tables()."""
        async with self._connection() as connection:
            version: int | None = await connection.fetchval(self._sql.get_schema_version)
            return version

    # --- sessions --------------------------------------------------------------------------

    async def create_session(
        self,
        session_id: str,
        app_name: str,
        user_id: str,
        state: Mapping[str, Any] | None = None,
        owner_id: Any = None,
        *,
        app_state: Mapping[str, Any] | None = None,
        user_state: Mapping[str, Any] | None = None,
        update_time: float | None = None,
    ) -> SessionRecord:
        """Insert a session; `app_state`/`user_state` are merged into the shared state rows.

        `update_time` (epoch seconds) defaults to the database's clock.

        Raises:
            AlreadyExistsError: the (app_name, user_id, session_id) key is taken.
        """
        args: list[Any] = [
            app_name,
            user_id,
            session_id,
            dumps_state(dict(state or {})),
            dumps_state(dict(app_state)) if app_state else None,
            dumps_state(dict(user_state)) if user_state else None,
            update_time,
        ]
        if self._sql.owner_column is not None:
            args.append(owner_id)
        elif owner_id is not None:
            raise ConfigurationError("owner_id given but no owner_id_column is configured")
        async with self._connection() as connection:
            row = await connection.fetchrow(self._sql.create_session, *args)
        if row is None:
            raise AlreadyExistsError(f"Session with id {session_id} already exists.")
        return _session_record(row)

    async def get_session(
        self, session_id: str, *, app_name: str | None = None, user_id: str | None = None
    ) -> SessionRecord | None:
        """The session with its app and user state, or None.

        A bare `session_id` is looked up first and must be unambiguous.

        Raises:
            AmbiguousSessionError: the bare id exists under several apps/users.
        """
        loaded = await self._load(session_id, app_name, user_id, limit=0)
        return loaded[0] if loaded else None

    async def get_session_with_events(
        self,
        app_name: str,
        user_id: str,
        session_id: str,
        *,
        num_recent_events: int | None = None,
        after_timestamp: float | None = None,
    ) -> tuple[SessionRecord, list[Event]] | None:
        """The session and its events (oldest first) in one round trip, or None.

        `num_recent_events` keeps the newest N; `after_timestamp` (epoch seconds) keeps
        events at or after it.
        """
        return await self._load(
            session_id, app_name, user_id, limit=num_recent_events, after=after_timestamp
        )

    async def _load(
        self,
        session_id: str,
        app_name: str | None,
        user_id: str | None,
        *,
        limit: int | None,
        after: float | None = None,
    ) -> tuple[SessionRecord, list[Event]] | None:
        key = await self._resolve(session_id, app_name, user_id)
        if key is None:
            return None
        async with self._connection() as connection:
            row = await connection.fetchrow(
                self._sql.get_session, key[0], key[1], session_id, after, limit
            )
        if row is None:
            return None
        return _session_record(row), loads_events(row["events"])

    async def update_session_state(
        self,
        session_id: str,
        state: Mapping[str, Any],
        *,
        app_name: str | None = None,
        user_id: str | None = None,
    ) -> SessionRecord | None:
        """Replace the session's own state (bumps its revision); None when missing."""
        key = await self._resolve(session_id, app_name, user_id)
        if key is None:
            return None
        async with self._connection() as connection:
            row = await connection.fetchrow(
                self._sql.update_session_state,
                key[0],
                key[1],
                session_id,
                dumps_state(dict(state)),
            )
        return _session_record(row) if row is not None else None

    async def delete_session(
        self, session_id: str, *, app_name: str | None = None, user_id: str | None = None
    ) -> None:
        """Delete the session and (by cascade) its events; a missing session is no error."""
        key = await self._resolve(session_id, app_name, user_id)
        if key is None:
            return
        async with self._connection() as connection:
            await connection.execute(self._sql.delete_session, key[0], key[1], session_id)

    async def list_sessions(
        self,
        app_name: str,
        user_id: str | None = None,
        *,
        owner_id: Any = None,
        limit: int | None = None,
        after: SessionCursor | None = None,
    ) -> list[SessionRecord]:
        """Sessions of a user (or of every user of the app), oldest update first.

        Pages by keyset: pass the last row of a page as `after` (see `SessionCursor`).
        """
        if owner_id is not None and self._sql.owner_column is None:
            raise ConfigurationError("owner_id given but no owner_id_column is configured")
        owner = None if owner_id is None else str(owner_id)
        after_time = after.update_time if after else _FIRST_PAGE
        async with self._connection() as connection:
            if user_id is not None:
                rows = await connection.fetch(
                    self._sql.list_user_sessions,
                    app_name,
                    user_id,
                    after_time,
                    after.session_id if after else "",
                    limit,
                    owner,
                )
            else:
                rows = await connection.fetch(
                    self._sql.list_app_sessions,
                    app_name,
                    after_time,
                    after.user_id if after else "",
                    after.session_id if after else "",
                    limit,
                    owner,
                )
        return [_session_record(row) for row in rows]

    async def _resolve(
        self, session_id: str, app_name: str | None, user_id: str | None
    ) -> tuple[str, str] | None:
        if app_name is not None and user_id is not None:
            return app_name, user_id
        async with self._connection() as connection:
            rows = await connection.fetch(
                self._sql.find_session_keys, session_id, app_name, user_id
            )
        if len(rows) > 1:
            raise AmbiguousSessionError(session_id, [(row[0], row[1]) for row in rows])
        return (rows[0][0], rows[0][1]) if rows else None

    # --- events and state ------------------------------------------------------------------

    async def append_event(
        self,
        event: EventRecord | Event,
        *,
        session_id: str | None = None,
        app_name: str | None = None,
        user_id: str | None = None,
    ) -> EventRecord:
        """Store one event and move the session's update time to the event's.

        Takes an `EventRecord`, or an ADK `Event` plus the session it belongs to
        (`session_id`, with app_name/user_id unless the id is unambiguous).

        Raises:
            SessionNotFoundError: the session does not exist.
        """
        if isinstance(event, EventRecord):
            app_name, user_id, session_id = event.app_name, event.user_id, event.session_id
            adk_event = event.to_event()
        else:
            adk_event = event
        if session_id is None:
            raise ConfigurationError("append_event(Event) needs session_id=")
        key = await self._resolve(session_id, app_name, user_id)
        if key is None:
            raise SessionNotFoundError(f"Session {session_id} not found.")
        await self.append_event_and_update_state(
            key[0], key[1], session_id, adk_event, expected_revision=None, deltas=None
        )
        return EventRecord.model_construct(
            id=adk_event.id,
            app_name=key[0],
            user_id=key[1],
            session_id=session_id,
            invocation_id=adk_event.invocation_id,
            author=adk_event.author,
            timestamp=datetime.fromtimestamp(adk_event.timestamp, UTC),
            event_data=adk_event.model_dump(mode="json", exclude_none=True),
        )

    async def append_event_and_update_state(
        self,
        app_name: str,
        user_id: str,
        session_id: str,
        event: Event,
        *,
        expected_revision: int | None,
        deltas: StateDeltas | None,
    ) -> int | None:
        """Insert the event and merge its state deltas in one statement; return the revision.

        With `expected_revision`, the write happens only if the stored session is still
        at that revision. Re-appending an event equal to the stored one with its id is a
        no-op that returns None (a retried delivery must not apply its delta twice).

        Raises:
            StaleSessionError: the stored session moved past `expected_revision`.
            SessionNotFoundError: the session does not exist.
            EventTooLargeError: the event's JSON is over `max_event_bytes`.
            AlreadyExistsError: the session already has an event with this id.
        """
        event_json = dumps_event(event)
        if self._max_event_bytes is not None:
            size = len(event_json.encode())
            if size > self._max_event_bytes:
                raise EventTooLargeError(size, self._max_event_bytes)
        session_delta = dumps_state(dict(deltas.session)) if deltas and deltas.session else "{}"
        app_delta = dumps_state(dict(deltas.app)) if deltas and deltas.app else None
        user_delta = dumps_state(dict(deltas.user)) if deltas and deltas.user else None
        try:
            async with self._connection() as connection:
                row = await connection.fetchrow(
                    self._sql.append_event,
                    app_name,
                    user_id,
                    session_id,
                    expected_revision,
                    session_delta,
                    event.timestamp,
                    event.id,
                    event.invocation_id,
                    event.author,
                    event_json,
                    app_delta,
                    user_delta,
                )
        except asyncpg.UniqueViolationError as error:
            if await self._stored_event_equals(app_name, user_id, session_id, event):
                return None
            raise AlreadyExistsError(
                f"Event with id {event.id} already exists in session {session_id}."
            ) from error
        revision: int | None = row["revision"]
        if revision is not None:
            return revision
        if row["session_exists"]:
            raise StaleSessionError(
                "The session has been modified in storage since it was loaded. "
                "Please reload the session before appending more events."
            )
        raise SessionNotFoundError(f"Session {session_id} not found.")

    async def _stored_event_equals(
        self, app_name: str, user_id: str, session_id: str, event: Event
    ) -> bool:
        async with self._connection() as connection:
            text = await connection.fetchval(
                self._sql.get_event_data, app_name, user_id, session_id, event.id
            )
        return text is not None and loads_events([text]) == [event]

    async def get_events(
        self,
        session_id: str,
        after_timestamp: datetime | float | None = None,
        limit: int | None = None,
        *,
        app_name: str | None = None,
        user_id: str | None = None,
    ) -> list[EventRecord]:
        """Events of a session, oldest first.

        `after_timestamp` (aware datetime or epoch seconds) keeps events at or after it;
        `limit` keeps the newest N.
        """
        key = await self._resolve(session_id, app_name, user_id)
        if key is None:
            return []
        async with self._connection() as connection:
            rows = await connection.fetch(
                self._sql.get_events,
                key[0],
                key[1],
                session_id,
                _epoch(after_timestamp),
                limit,
            )
        return [_event_record(row) for row in rows]

    async def get_events_page(
        self,
        app_name: str,
        user_id: str,
        session_id: str,
        *,
        limit: int,
        after: tuple[float, str] | None = None,
        after_timestamp: float | None = None,
    ) -> list[EventRecord]:
        """Up to `limit` events, oldest first (timestamp, then id).

        `after` is the (timestamp, id) of the previous page's last event: the page starts
        strictly after it. Without it the page starts at `after_timestamp` (inclusive).
        """
        position = after if after is not None else (after_timestamp or float("-inf"), "")
        async with self._connection() as connection:
            rows = await connection.fetch(
                self._sql.get_events_page, app_name, user_id, session_id, *position, limit
            )
        return [_event_record(row) for row in rows]

    async def get_user_state(self, app_name: str, user_id: str) -> dict[str, Any]:
        """State shared by a user's sessions of an app (keys without `user:`), {} if none."""
        async with self._connection() as connection:
            text = await connection.fetchval(self._sql.get_user_state, app_name, user_id)
        return loads(text) if text is not None else {}

    async def get_app_state(self, app_name: str) -> dict[str, Any]:
        """State shared by all sessions of an app (keys without `app:`), {} if none."""
        async with self._connection() as connection:
            text = await connection.fetchval(self._sql.get_app_state, app_name)
        return loads(text) if text is not None else {}
