"""`SessionStore`: sessions, events and shared state by key, one statement per call.

Takes and returns records (`records.py`) and JSON texts, never ADK objects: the service
builds those. Statements come from `sql.py`; driver errors leave as the package's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from ..db.json import for_jsonb, from_jsonb, loads
from ..db.pool import PooledStore, PoolSource
from ..errors import (
    ConfigurationError,
    EventAlreadyExistsError,
    SessionAlreadyExistsError,
    SessionNotFoundError,
    StaleSessionError,
)
from .listing import ListedSession, listed_sessions
from .records import (
    NO_DELTAS,
    EventCursor,
    EventRecord,
    NewEvent,
    SessionCursor,
    SessionKey,
    SessionLimits,
    SessionRecord,
    StateDeltas,
)
from .rows import LoadedSession, event_record, session_record
from .sql import SessionTables, Statements, build_statements

__all__ = ["SessionStore"]

_FIRST_PAGE = float("-inf")


class SessionStore(PooledStore):
    """ADK sessions and events in PostgreSQL by `SessionKey`, over one pool.

    Args:
        pool: where the pool comes from (`compose` opens it).
        tables: the table names.
        owner_id_column: DDL of an extra owner column on sessions, e.g.
            `'tenant_id INTEGER NOT NULL REFERENCES tenants(id)'`.
        limits: what the store accepts (event size, JSON depth, timestamps).

    Raises:
        ConfigurationError: a table name, the owner column or the limit is invalid.
    """

    def __init__(
        self,
        pool: PoolSource,
        *,
        tables: SessionTables | None = None,
        owner_id_column: str | None = None,
        limits: SessionLimits | None = None,
    ) -> None:
        self.tables = tables or SessionTables()
        """The table names."""
        self.owner_id_column_ddl = owner_id_column
        """The owner-id column definition, or None when not configured."""
        self.limits = limits or SessionLimits()
        """What the store accepts."""
        self._sql: Statements = build_statements(self.tables, owner_id_column)
        super().__init__(pool, missing_table=self.tables.sessions, migrator=self._sql.migrator)
        self.index_names = self._sql.indexes
        """The secondary indexes the migrations create (what `doctor` looks for)."""

    # --- sessions --------------------------------------------------------------------------

    def _create_args(
        self, key: SessionKey, state: StateDeltas, owner_id: Any, update_time: float | None
    ) -> list[Any]:
        if update_time is not None:
            self.limits.check_timestamp(update_time, "update_time")
        values: dict[str, Any] = {
            **key._asdict(),
            **self.limits.state_json(state, "state", session_key="state"),
            "update_time": update_time,
        }
        if self._sql.owner_column is not None:
            values["owner_id"] = owner_id
        elif owner_id is not None:
            raise ConfigurationError("owner_id given but no owner_id_column is configured")
        return self._sql.create_session.args(**values)

    async def create(
        self,
        key: SessionKey,
        state: StateDeltas = NO_DELTAS,
        *,
        owner_id: Any = None,
        update_time: float | None = None,
    ) -> SessionRecord:
        """Insert a session; its app and user parts merge into the shared state rows.

        `update_time` (epoch seconds) defaults to the database's clock.

        Raises:
            AlreadyExistsError: the key is taken.
        """
        args = self._create_args(key, state, owner_id, update_time)
        async with self._connection() as connection:
            row = await connection.fetchrow(self._sql.create_session.text, *args)
        if row is None:
            raise SessionAlreadyExistsError(key.session_id)
        return session_record(row)

    async def create_with_events(
        self,
        key: SessionKey,
        state: StateDeltas,
        events: Sequence[tuple[NewEvent, StateDeltas]],
        *,
        update_time: float | None = None,
    ) -> tuple[SessionRecord, int]:
        """Create a session and append `events` in one transaction: all or nothing.

        Returns the new record and the session's revision after the last event.

        Raises:
            AlreadyExistsError: the key is taken, or two events share an id.
            EventTooLargeError: an event is over `max_event_bytes`.
        """
        args = self._create_args(key, state, None, update_time)
        async with self._connection() as connection, connection.transaction():
            row = await connection.fetchrow(self._sql.create_session.text, *args)
            if row is None:
                raise SessionAlreadyExistsError(key.session_id)
            record = session_record(row)
            revision = record.revision
            for event, deltas in events:
                try:
                    revision = await self._append_on(connection, key, event, None, deltas)
                except asyncpg.UniqueViolationError as error:
                    raise EventAlreadyExistsError(
                        f"Event with id {event.id} appears twice among the restored events."
                    ) from error
        return record, revision

    async def load(
        self,
        key: SessionKey,
        *,
        num_recent_events: int | None = None,
        after_timestamp: float | None = None,
    ) -> LoadedSession | None:
        """The session and its events' JSON texts (oldest first) in one round trip.

        `num_recent_events` keeps the newest N (0: none); `after_timestamp` (epoch
        seconds) keeps events at or after it. None when the session does not exist.
        """
        statement = self._sql.get_session
        args = statement.args(
            **key._asdict(), after_timestamp=after_timestamp, limit=num_recent_events
        )
        async with self._connection() as connection:
            row = await connection.fetchrow(statement.text, *args)
        if row is None:
            return None
        texts = row["events"]
        return LoadedSession(session_record(row), [from_jsonb(text) for text in texts or ()])

    async def replace_state(
        self, key: SessionKey, state: Mapping[str, Any]
    ) -> SessionRecord | None:
        """Replace the session's own state (bumps its revision); None when missing."""
        statement = self._sql.update_session_state
        async with self._connection() as connection:
            row = await connection.fetchrow(
                statement.text,
                *statement.args(**key._asdict(), state=self.limits.json(state, "state")),
            )
        return session_record(row) if row is not None else None

    async def delete(self, key: SessionKey) -> None:
        """Delete the session and (by cascade) its events; a missing session is no error."""
        statement = self._sql.delete_session
        async with self._connection() as connection:
            await connection.execute(statement.text, *statement.args(**key._asdict()))

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
        rows = await self._list_rows(app_name, user_id, owner_id, limit, after, merged=False)
        return [session_record(row, app_name, user_id) for row in rows]

    async def list_merged(
        self,
        app_name: str,
        user_id: str | None = None,
        *,
        limit: int | None = None,
        after: SessionCursor | None = None,
    ) -> list[ListedSession]:
        """`list_sessions` as the service needs it: values and merged state, no records."""
        rows = await self._list_rows(app_name, user_id, None, limit, after, merged=True)
        return listed_sessions(rows, app_name, user_id)

    async def _list_rows(
        self,
        app_name: str,
        user_id: str | None,
        owner_id: Any,
        limit: int | None,
        after: SessionCursor | None,
        *,
        merged: bool,
    ) -> list[asyncpg.Record]:
        sql = self._sql
        position = {
            "after_time": after.update_time if after else _FIRST_PAGE,
            "after_session_id": after.session_id if after else "",
            "limit": limit,
            "owner_id": self._owner_param(owner_id),
        }
        if user_id is not None:
            statement = sql.list_user_merged if merged else sql.list_user_sessions
            args = statement.args(app_name=app_name, user_id=user_id, **position)
        else:
            statement = sql.list_app_merged if merged else sql.list_app_sessions
            after_user = after.user_id if after else ""
            args = statement.args(app_name=app_name, after_user_id=after_user, **position)
        async with self._connection() as connection:
            rows: list[asyncpg.Record] = await connection.fetch(statement.text, *args)
        return rows

    async def find_keys(
        self,
        session_id: str,
        app_name: str | None = None,
        user_id: str | None = None,
        *,
        owner_id: Any = None,
    ) -> list[SessionKey]:
        """Keys of the sessions with this id (under this app, user or owner when given)."""
        statement = self._sql.find_session_keys
        args = statement.args(
            session_id=session_id,
            app_name=app_name,
            user_id=user_id,
            owner_id=self._owner_param(owner_id),
        )
        async with self._connection() as connection:
            rows = await connection.fetch(statement.text, *args)
        return [SessionKey(row["app_name"], row["user_id"], session_id) for row in rows]

    def _owner_param(self, owner_id: Any) -> str | None:
        """The owner filter's argument (None: any owner); compared as text, as stored."""
        if owner_id is None:
            return None
        if self._sql.owner_column is None:
            raise ConfigurationError("owner_id given but no owner_id_column is configured")
        return str(owner_id)

    # --- events and state ------------------------------------------------------------------

    async def append(
        self,
        key: SessionKey,
        event: NewEvent,
        *,
        expected_revision: int | None = None,
        deltas: StateDeltas = NO_DELTAS,
    ) -> int | None:
        """Insert the event and merge its state deltas in one statement; return the revision.

        With `expected_revision`, the write happens only if the stored session is still
        at that revision. Re-appending an event equal to the stored one with its id is a
        no-op that returns None (a retried delivery must not apply its delta twice).

        Raises:
            StaleSessionError: the stored session moved past `expected_revision`.
            SessionNotFoundError: the session does not exist.
            EventTooLargeError: the event's JSON is over `max_event_bytes`.
            AlreadyExistsError: the session already has another event with this id.
        """
        try:
            async with self._connection() as connection:
                return await self._append_on(connection, key, event, expected_revision, deltas)
        except asyncpg.UniqueViolationError as error:
            if await self._stored_event_equals(key, event):
                return None
            raise EventAlreadyExistsError(
                f"Event with id {event.id} already exists in session {key.session_id}."
            ) from error

    async def _append_on(
        self,
        connection: asyncpg.Connection,
        key: SessionKey,
        event: NewEvent,
        expected_revision: int | None,
        deltas: StateDeltas,
    ) -> int:
        event_json = self.limits.event_json(event)
        statement = self._sql.append_event
        args = statement.args(
            **key._asdict(),
            expected_revision=expected_revision,
            **self.limits.state_json(deltas, "state_delta", session_key="session_delta"),
            event_id=event.id,
            invocation_id=event.invocation_id,
            author=event.author,
            timestamp=event.timestamp,
            event_data=event_json,
        )
        row = await connection.fetchrow(statement.text, *args)
        revision: int | None = row["revision"]
        if revision is not None:
            return revision
        if row["session_exists"]:
            raise StaleSessionError(
                "The session has been modified in storage since it was loaded. "
                "Please reload the session before appending more events."
            )
        raise SessionNotFoundError(f"Session {key.session_id} not found.")

    async def _stored_event_equals(self, key: SessionKey, event: NewEvent) -> bool:
        statement = self._sql.get_event_data
        async with self._connection() as connection:
            text = await connection.fetchval(
                statement.text, *statement.args(**key._asdict(), event_id=event.id)
            )
        return text is not None and loads(text) == loads(for_jsonb(event.json))

    async def events(
        self, key: SessionKey, *, after_timestamp: float | None = None, limit: int | None = None
    ) -> list[EventRecord]:
        """Events of a session, oldest first: the newest `limit` at or after the time."""
        statement = self._sql.get_events
        args = statement.args(**key._asdict(), after_timestamp=after_timestamp, limit=limit)
        async with self._connection() as connection:
            rows = await connection.fetch(statement.text, *args)
        return [event_record(row) for row in rows]

    async def events_page(
        self,
        key: SessionKey,
        *,
        limit: int,
        after: EventCursor | None = None,
        after_timestamp: float | None = None,
    ) -> list[EventRecord]:
        """Up to `limit` events, oldest first (timestamp, then id).

        The page starts strictly after `after` (the previous page's last event), or
        without it at `after_timestamp` (inclusive).
        """
        if after is not None:
            position = {"after_time": after.timestamp, "after_id": after.event_id}
        else:
            start = after_timestamp if after_timestamp is not None else _FIRST_PAGE
            position = {"after_time": start, "after_id": ""}
        statement = self._sql.get_events_page
        args = statement.args(**key._asdict(), limit=limit, **position)
        async with self._connection() as connection:
            rows = await connection.fetch(statement.text, *args)
        return [event_record(row) for row in rows]

    async def user_state(self, app_name: str, user_id: str) -> dict[str, Any]:
        """State shared by a user's sessions of an app (keys without `user:`), {} if none."""
        statement = self._sql.get_user_state
        async with self._connection() as connection:
            text = await connection.fetchval(
                statement.text, *statement.args(app_name=app_name, user_id=user_id)
            )
        return loads(text) if text is not None else {}

    async def app_state(self, app_name: str) -> dict[str, Any]:
        """State shared by all sessions of an app (keys without `app:`), {} if none."""
        statement = self._sql.get_app_state
        async with self._connection() as connection:
            text = await connection.fetchval(statement.text, *statement.args(app_name=app_name))
        return loads(text) if text is not None else {}
