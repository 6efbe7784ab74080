"""Import sessions, events and app/user state from another store's tables into ours.

    counts = await import_sessions(source_pool, store, kind="adk-database")

Sources: google-adk's `DatabaseSessionService` tables ("adk-database": its JSON schema,
or its older schema with pickled `actions`) and sqlspec's asyncpg ADK store ("sqlspec").
Each source event is rebuilt as the ADK `Event` its own service returns, then written as
our service writes one, so imported sessions are live: readable and appendable (revision
0, `update_time` the source's last update as epoch seconds).

App and user state go first, then sessions in batches: one target transaction per batch
of sessions with their events, read from the source by keyset pages. Rows already in the
target are kept (`ON CONFLICT DO NOTHING`; state merges keep the target's keys), so a
rerun writes nothing, and a rerun after a kill completes what the committed batches left.
Events the target's limits refuse, or that cannot be decoded, are skipped and counted.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import asyncpg

from ..db.errors import translate_errors
from ..db.statements import Statement
from ..errors import ConfigurationError
from .import_events import aware, decoded, epoch, json_event, legacy_event
from .import_sql import (
    SOURCE_TABLE_ROLES,
    SourceKind,
    SourceStatements,
    TargetStatements,
    source_statements,
    target_statements,
)
from .records import NewEvent, SessionKey, SessionLimits
from .store import SessionStore

__all__ = ["ImportCounts", "ProgressCallback", "SourceKind", "import_sessions"]

logger = logging.getLogger("fastapi_adk_store.sessions")

ProgressCallback = Callable[[int, int], None]
"""Called with (sessions done, sessions in the source) before the first batch and after
each committed one; an exception raised there stops the import after that batch."""

_EVENT_PAGE_ROWS = 100  # events read per source round trip: bounds memory for big events


@dataclass(frozen=True)
class ImportCounts:
    """Rows one import wrote (0 each on a rerun), and source rows it skipped."""

    sessions: int = 0
    events: int = 0
    app_states: int = 0
    """App state rows created, or given keys they lacked."""
    user_states: int = 0
    skipped: int = 0
    """Events (and sessions, with their events) the target's limits refused, or that
    could not be decoded (e.g. a pickle naming a type outside the allow-list)."""

    def __add__(self, other: ImportCounts) -> ImportCounts:
        return ImportCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


async def import_sessions(
    source: asyncpg.Pool,
    target: SessionStore,
    *,
    kind: SourceKind,
    source_tables: Mapping[str, str] | None = None,
    batch_size: int = 500,
    progress: ProgressCallback | None = None,
) -> ImportCounts:
    """Copy a source store's sessions, events and shared state into `target`'s tables.

    `source_tables` renames the source's tables by role (`sessions`, `events`,
    `app_states`, `user_states`; defaults in `import_sql.DEFAULT_SOURCE_TABLES`), names
    resolved by the source pool's `search_path`. Returns what was written and skipped.

    Raises:
        ConfigurationError: a source table is missing (the message names it and the
            `source_tables` key to set), or an invalid kind, name or batch size.
        SchemaMissingError: the target's tables do not exist.
    """
    if batch_size < 1:
        raise ConfigurationError(f"batch_size must be at least 1, got {batch_size}")
    reads = source_statements(kind, source_tables)
    target_pool = await target.get_pool()
    async with source.acquire() as connection:
        run = await _Run.start(connection, reads, target, target_pool, batch_size)
        counts = await run.states()
        total: int = await connection.fetchval(reads.count_sessions.text)
        done = 0
        if progress is not None:
            progress(done, total)
        after: tuple[str, str, str] | None = None
        while batch := await run.session_page(after):
            counts += await run.write_batch(batch)
            done += len(batch)
            after = batch[-1].key
            if progress is not None:
                progress(done, max(total, done))
    return counts


@dataclass
class _Session:
    key: SessionKey
    state: str | None
    """Our JSONB text of its own state; None when the target's limits refuse it."""
    create_time: datetime
    update_time: float


@dataclass
class _Run:
    """One import's connections, statements and limits."""

    source: asyncpg.Connection
    reads: SourceStatements
    events_read: Statement
    legacy: bool
    writes: TargetStatements
    target: asyncpg.Pool
    tables: str
    limits: SessionLimits
    batch_size: int
    skipped_keys: set[SessionKey] = field(default_factory=set)

    @classmethod
    async def start(
        cls,
        source: asyncpg.Connection,
        reads: SourceStatements,
        store: SessionStore,
        target: asyncpg.Pool,
        batch_size: int,
    ) -> _Run:
        """Check the source's tables are there and tell its event schema."""
        for role in SOURCE_TABLE_ROLES:
            name = reads.tables[role]
            if not await source.fetchval(reads.table_exists.text, name):
                raise ConfigurationError(
                    f"source table {name} ({reads.kind} {role}) does not exist in the source "
                    f"database's search_path: set source_tables['{role}'] to its name"
                )
        columns = await source.fetch(reads.columns.text, reads.tables["events"])
        events_read, legacy = reads.events(frozenset(row["attname"] for row in columns))
        writes = target_statements(store.tables)
        return cls(
            source, reads, events_read, legacy, writes, target, store.tables.sessions,
            store.limits, batch_size,
        )  # fmt: skip

    async def states(self) -> ImportCounts:
        """Merge every app and user state row into ours, a page per statement."""
        app_rows = user_rows = skipped = 0
        prefix = self.reads.kind == "sqlspec"  # sqlspec keeps the app:/user: prefixes
        async for rows in self._pages(self.reads.app_states, ("app_name",)):
            kept = [(row, state) for row in rows if (state := self._state(row, "app:", prefix))]
            skipped += len(rows) - len(kept)
            app_rows += await self._write(
                self.writes.merge_app_states,
                app_names=[row["app_name"] for row, _ in kept],
                states=[state for _, state in kept],
            )
        async for rows in self._pages(self.reads.user_states, ("app_name", "user_id")):
            kept = [(row, state) for row in rows if (state := self._state(row, "user:", prefix))]
            skipped += len(rows) - len(kept)
            user_rows += await self._write(
                self.writes.merge_user_states,
                app_names=[row["app_name"] for row, _ in kept],
                user_ids=[row["user_id"] for row, _ in kept],
                states=[state for _, state in kept],
            )
        return ImportCounts(app_states=app_rows, user_states=user_rows, skipped=skipped)

    async def _pages(
        self, statement: Statement, key: Sequence[str]
    ) -> AsyncIterator[list[asyncpg.Record]]:
        """Keyset pages of a state table, ordered by `key`."""
        position: dict[str, Any] = {"first": True, **dict.fromkeys(key, "")}
        while True:
            args = statement.args(limit=self.batch_size, **position)
            rows: list[asyncpg.Record] = await self.source.fetch(statement.text, *args)
            if not rows:
                return
            yield rows
            position = {"first": False, **{name: rows[-1][name] for name in key}}

    def _state(self, row: Mapping[str, Any], prefix: str, strip: bool) -> str | None:
        """A shared state row as our JSONB text (None, logged, if the limits refuse it)."""
        state = decoded(row["state"]) or {}
        if strip:
            state = {key.removeprefix(prefix): value for key, value in state.items()}
        try:
            return self.limits.json(state, f"{prefix} state", key_prefix=prefix)
        except ValueError as error:
            owner = (row["app_name"], row.get("user_id"))
            logger.warning("import: skipping %s state of %s: %s", prefix, owner, error)
            return None

    async def _write(self, statement: Statement, **values: Any) -> int:
        with translate_errors(self.tables):
            async with self.target.acquire() as connection:
                status = await connection.execute(statement.text, *statement.args(**values))
        return int(status.split()[-1])

    async def session_page(self, after: tuple[str, str, str] | None) -> list[_Session]:
        """The next page of source sessions after key `after` (None: the first)."""
        if after is None:
            statement, position = self.reads.sessions_first, {}
        elif self.reads.kind == "sqlspec":
            statement, position = self.reads.sessions_after, {"session_id": after[2]}
        else:
            statement = self.reads.sessions_after
            position = dict(zip(("app_name", "user_id", "session_id"), after, strict=True))
        args = statement.args(limit=self.batch_size, **position)
        return [self._session(row) for row in await self.source.fetch(statement.text, *args)]

    def _session(self, row: Mapping[str, Any]) -> _Session:
        key = SessionKey(row["app_name"], row["user_id"], row["id"])
        try:
            state: str | None = self.limits.json(decoded(row["state"]) or {}, "state")
            update_time = epoch(row["update_time"])
            self.limits.check_timestamp(update_time, "update_time")
        except ValueError as error:
            logger.warning("import: skipping session %s: %s", key, error)
            state, update_time = None, 0.0
        return _Session(key, state, aware(row["create_time"]), update_time)

    async def write_batch(self, batch: Sequence[_Session]) -> ImportCounts:
        """Insert a page of sessions and all their events in one target transaction."""
        kept = [session for session in batch if session.state is not None]
        skipped = len(batch) - len(kept)
        self.skipped_keys = {session.key for session in batch if session.state is None}
        with translate_errors(self.tables):
            async with self.target.acquire() as connection, connection.transaction():
                statement = self.writes.insert_sessions
                status = await connection.execute(
                    statement.text,
                    *statement.args(
                        app_names=[s.key.app_name for s in kept],
                        user_ids=[s.key.user_id for s in kept],
                        session_ids=[s.key.session_id for s in kept],
                        states=[s.state for s in kept],
                        create_times=[s.create_time for s in kept],
                        update_times=[s.update_time for s in kept],
                    ),
                )
                events = await self._copy_events(connection, [s.key for s in batch])
        sessions = int(status.split()[-1])
        return ImportCounts(sessions=sessions, skipped=skipped) + events

    async def _copy_events(
        self, connection: asyncpg.Connection, keys: Sequence[SessionKey]
    ) -> ImportCounts:
        written = skipped = 0
        position: dict[str, Any] = {"first": True, **dict.fromkeys(_EVENT_KEY, "")}
        batch_keys = {
            "app_names": [k.app_name for k in keys],
            "user_ids": [k.user_id for k in keys],
            "session_ids": [k.session_id for k in keys],
        }
        if self.reads.kind == "sqlspec":
            del batch_keys["app_names"], batch_keys["user_ids"]
        statement = self.events_read
        while True:
            args = statement.args(limit=_EVENT_PAGE_ROWS, **batch_keys, **position)
            rows = await self.source.fetch(statement.text, *args)
            if not rows:
                return ImportCounts(events=written, skipped=skipped)
            last = rows[-1]
            position = {"first": False, "event_id": last["id"], **{
                name: last[name] for name in ("app_name", "user_id", "session_id")}}  # fmt: skip
            values = [self._event(row) for row in rows]
            kept = [value for value in values if value is not None]
            skipped += len(values) - len(kept)
            if kept:
                written += await self._insert_events(connection, kept)

    def _event(self, row: Mapping[str, Any]) -> tuple[SessionKey, NewEvent, str] | None:
        key = SessionKey(row["app_name"], row["user_id"], row["session_id"])
        if key in self.skipped_keys:
            return None
        try:
            event = legacy_event(row) if self.legacy else json_event(row, self.reads.kind)
            new = NewEvent.from_event(event, self.limits)
            return key, new, self.limits.event_json(new)
        except (ValueError, pickle.UnpicklingError, AttributeError, ImportError) as error:
            logger.warning("import: skipping event %s of session %s: %s", row["id"], key, error)
            return None

    async def _insert_events(
        self, connection: asyncpg.Connection, kept: Sequence[tuple[SessionKey, NewEvent, str]]
    ) -> int:
        statement = self.writes.insert_events
        status = await connection.execute(
            statement.text,
            *statement.args(
                app_names=[key.app_name for key, _, _ in kept],
                user_ids=[key.user_id for key, _, _ in kept],
                session_ids=[key.session_id for key, _, _ in kept],
                event_ids=[event.id for _, event, _ in kept],
                invocation_ids=[event.invocation_id for _, event, _ in kept],
                authors=[event.author for _, event, _ in kept],
                timestamps=[event.timestamp for _, event, _ in kept],
                event_datas=[text for _, _, text in kept],
            ),
        )
        return int(status.split()[-1])


_EVENT_KEY = ("app_name", "user_id", "session_id", "event_id")
