"""`AsyncpgADKStore`: the seed's (sqlspec's) record API, by bare session id.

    store = AsyncpgADKStore(AsyncpgConfig(pool_config={"dsn": "postgresql://..."}))
    await store.create_tables()
    record = await store.create_session("s1", "app", "user", {"k": 1})
    await store.append_event(event, session_id="s1")   # an ADK Event, or an EventRecord

A bare id is looked up first and must be unambiguous; pass `app_name=` and `user_id=`
to skip the look-up. With an owner-id column, `owner_id=` keeps every call to that
owner's sessions (one look-up, then the call; an owner never changes, so it holds).
Every call then runs one statement of the keyed `SessionStore`, which this class wraps
as `.sessions` (the session service uses that one directly).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
from pydantic_core import from_json

from ..db.json import json_text
from ..db.pool import FixedPool, PoolSource, PoolStats
from ..defaults import JSON_DEPTH_CEILING
from ..errors import (
    AmbiguousSessionError,
    ConfigurationError,
    SessionNotFoundError,
)
from .records import (
    EventLike,
    EventRecord,
    NewEvent,
    SessionCursor,
    SessionKey,
    SessionLimits,
    SessionRecord,
    StateDeltas,
    construct_trusted,
)
from .sql import SessionTables
from .store import SessionStore

__all__ = ["AsyncpgADKStore", "SeedConfig"]


class SeedConfig(PoolSource, Protocol):
    """What the store reads of an `AsyncpgConfig`: its pool and its settings."""

    pool_config: dict[str, Any]
    extension_config: dict[str, dict[str, Any]]


class _GivenPool(FixedPool):
    """A pool passed as `pool=`: no options of ours, no table settings."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self.pool_config: dict[str, Any] = {}
        self.extension_config: dict[str, dict[str, Any]] = {"adk": {}}


_LIMIT_KEYS = ("max_event_bytes", "max_json_depth", "min_timestamp", "max_timestamp")


def _epoch(value: datetime | float | None) -> float | None:
    if value is None or isinstance(value, float | int):
        return value
    if value.tzinfo is None:
        raise ConfigurationError(f"after_timestamp {value!r} is naive; pass an aware datetime")
    return value.timestamp()


def _record_event(record: EventRecord) -> NewEvent:
    """An `EventRecord` to store: its columns win over the same fields in `event_data`."""
    columns: dict[str, Any] = {
        "id": record.id,
        "invocation_id": record.invocation_id,
        "author": record.author,
        "timestamp": record.timestamp.timestamp(),
    }
    data = json_text(
        {**record.event_data, **columns}, what="event_data", max_depth=JSON_DEPTH_CEILING
    )
    return NewEvent(
        id=record.id,
        invocation_id=record.invocation_id,
        author=record.author,
        timestamp=columns["timestamp"],
        json=data,
    )


def _tables(adk: Mapping[str, Any], names: Mapping[str, str | None]) -> SessionTables:
    """Table names from keyword arguments, else extension_config["adk"], else defaults."""
    chosen = {
        field: argument if argument is not None else adk.get(key)
        for field, (key, argument) in zip(
            ("sessions", "events", "app_states", "user_states", "schema_versions"),
            names.items(),
            strict=True,
        )
    }
    return SessionTables(**{field: name for field, name in chosen.items() if name is not None})


class AsyncpgADKStore:
    """ADK sessions and events in PostgreSQL, in the seed's record API.

    Table names come from the keyword arguments, else from
    `config.extension_config["adk"]`, else the defaults (`adk_sessions`, ...).

    Raises:
        ConfigurationError: neither or both of `config` and `pool`, or a bad table
            name, owner column or limit.
    """

    def __init__(
        self,
        config: SeedConfig | None = None,
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
        self._config: SeedConfig = config if config is not None else _GivenPool(pool)
        adk = self._config.extension_config["adk"]
        names = {
            "session_table": session_table,
            "events_table": events_table,
            "app_state_table": app_state_table,
            "user_state_table": user_state_table,
            "schema_table": schema_table,
        }
        if max_event_bytes is not None:
            adk = {**adk, "max_event_bytes": max_event_bytes}
        limits = {key: adk[key] for key in _LIMIT_KEYS if adk.get(key) is not None}
        self.sessions = SessionStore(
            self._config,
            tables=_tables(adk, names),
            owner_id_column=owner_id_column or adk.get("owner_id_column"),
            limits=SessionLimits(**limits),
        )

    # --- configuration and pool ------------------------------------------------------------

    @property
    def config(self) -> SeedConfig:
        """The `AsyncpgConfig` the store was made with (or a holder of the given pool)."""
        return self._config

    @property
    def tables(self) -> SessionTables:
        return self.sessions.tables

    @property
    def session_table(self) -> str:
        return self.sessions.tables.sessions

    @property
    def events_table(self) -> str:
        return self.sessions.tables.events

    @property
    def owner_id_column_ddl(self) -> str | None:
        """The owner-id column definition, or None when not configured."""
        return self.sessions.owner_id_column_ddl

    @property
    def owner_id_column_name(self) -> str | None:
        """The owner-id column's name, or None when not configured."""
        ddl = self.sessions.owner_id_column_ddl
        return ddl.split()[0] if ddl else None

    @property
    def max_event_bytes(self) -> int:
        return self.sessions.limits.max_event_bytes

    async def get_pool(self) -> asyncpg.Pool:
        """The asyncpg pool, created on first use."""
        return await self.sessions.get_pool()

    def pool_stats(self) -> PoolStats:
        """Pool size, idle connections and bounds (all zero before the pool exists)."""
        return self.sessions.pool_stats()

    async def close(self) -> None:
        """Close the pool if the store's config created it."""
        await self.sessions.close()

    @asynccontextmanager
    async def opened(
        self, *, create_tables: bool = True, check_schema: bool = True
    ) -> AsyncIterator[AsyncpgADKStore]:
        """Open the pool now and close it on exit (see `SessionStore.opened`)."""
        async with self.sessions.opened(create_tables=create_tables, check_schema=check_schema):
            yield self

    async def create_tables(self) -> None:
        """Create or migrate the tables to the current version; safe when many processes
        start at once (one migrates, the others wait for it)."""
        await self.sessions.create_tables()

    async def schema_version(self) -> int | None:
        """The applied schema version; raises SchemaMissingError before create_tables()."""
        return await self.sessions.schema_version()

    # --- sessions --------------------------------------------------------------------------

    async def _resolve(
        self, session_id: str, app_name: str | None, user_id: str | None, owner_id: Any
    ) -> SessionKey | None:
        """The session's key; a bare id, or an owner to check, costs one look-up first."""
        if app_name is not None and user_id is not None and owner_id is None:
            return SessionKey(app_name, user_id, session_id)
        keys = await self.sessions.find_keys(session_id, app_name, user_id, owner_id=owner_id)
        if len(keys) > 1:
            raise AmbiguousSessionError(session_id, [(k.app_name, k.user_id) for k in keys])
        return keys[0] if keys else None

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
        deltas = StateDeltas(session=state or {}, app=app_state or {}, user=user_state or {})
        return await self.sessions.create(
            SessionKey(app_name, user_id, session_id),
            deltas,
            owner_id=owner_id,
            update_time=update_time,
        )

    async def get_session(
        self,
        session_id: str,
        *,
        app_name: str | None = None,
        user_id: str | None = None,
        owner_id: Any = None,
    ) -> SessionRecord | None:
        """The session with its app and user state, or None.

        Raises:
            AmbiguousSessionError: the bare id exists under several apps/users.
        """
        key = await self._resolve(session_id, app_name, user_id, owner_id)
        loaded = await self.sessions.load(key, num_recent_events=0) if key else None
        return loaded.record if loaded else None

    async def update_session_state(
        self,
        session_id: str,
        state: Mapping[str, Any],
        *,
        app_name: str | None = None,
        user_id: str | None = None,
        owner_id: Any = None,
    ) -> SessionRecord | None:
        """Replace the session's own state (bumps its revision); None when missing."""
        key = await self._resolve(session_id, app_name, user_id, owner_id)
        return await self.sessions.replace_state(key, state) if key else None

    async def delete_session(
        self,
        session_id: str,
        *,
        app_name: str | None = None,
        user_id: str | None = None,
        owner_id: Any = None,
    ) -> None:
        """Delete the session and (by cascade) its events; a missing session is no error."""
        key = await self._resolve(session_id, app_name, user_id, owner_id)
        if key is not None:
            await self.sessions.delete(key)

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
        return await self.sessions.list_sessions(
            app_name, user_id, owner_id=owner_id, limit=limit, after=after
        )

    # --- events and state ------------------------------------------------------------------

    async def append_event(
        self,
        event: EventRecord | EventLike,
        *,
        session_id: str | None = None,
        app_name: str | None = None,
        user_id: str | None = None,
        owner_id: Any = None,
    ) -> EventRecord:
        """Store one event and move the session's update time to the event's.

        Takes an `EventRecord`, or an ADK `Event` plus the session it belongs to
        (`session_id`, with app_name/user_id unless the id is unambiguous).

        Raises:
            SessionNotFoundError: the session does not exist.
        """
        if isinstance(event, EventRecord):
            app_name, user_id, session_id = event.app_name, event.user_id, event.session_id
            stored = _record_event(event)
        else:
            stored = NewEvent.from_event(event, self.sessions.limits)
        if session_id is None:
            raise ConfigurationError("append_event(Event) needs session_id=")
        key = await self._resolve(session_id, app_name, user_id, owner_id)
        if key is None:
            raise SessionNotFoundError(f"Session {session_id} not found.")
        await self.sessions.append(key, stored)
        return construct_trusted(
            EventRecord,
            {
                **key._asdict(),
                "id": stored.id,
                "invocation_id": stored.invocation_id,
                "author": stored.author,
                "timestamp": datetime.fromtimestamp(stored.timestamp, UTC),
                "event_data": from_json(stored.json),
            },
        )

    async def get_events(
        self,
        session_id: str,
        after_timestamp: datetime | float | None = None,
        limit: int | None = None,
        *,
        app_name: str | None = None,
        user_id: str | None = None,
        owner_id: Any = None,
    ) -> list[EventRecord]:
        """Events of a session, oldest first.

        `after_timestamp` (aware datetime or epoch seconds) keeps events at or after it;
        `limit` keeps the newest N.
        """
        key = await self._resolve(session_id, app_name, user_id, owner_id)
        if key is None:
            return []
        return await self.sessions.events(key, after_timestamp=_epoch(after_timestamp), limit=limit)

    async def get_user_state(self, app_name: str, user_id: str) -> dict[str, Any]:
        """State shared by a user's sessions of an app (keys without `user:`), {} if none."""
        return await self.sessions.user_state(app_name, user_id)

    async def get_app_state(self, app_name: str) -> dict[str, Any]:
        """State shared by all sessions of an app (keys without `app:`), {} if none."""
        return await self.sessions.app_state(app_name)
