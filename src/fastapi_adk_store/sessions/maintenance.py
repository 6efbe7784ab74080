"""What an operator runs on the session tables: purge, stats and health checks.

Kept apart from `store.py`, which serves the requests: nothing here is on a hot path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg

from ..db.pool import PooledStore
from ..db.statements import Statement
from ..errors import SchemaMissingError, SchemaOutdatedError
from .records import OnSessionDelete
from .sql import SCHEMA_VERSION
from .store import SessionStore

__all__ = ["Check", "PurgeCounts", "SessionMaintenance", "StoreStats", "TableStats"]

# Sessions last updated before :cutoff (epoch seconds), of one app or all (:app_name NULL).
_DOOMED: Final = """
SELECT s.app_name, s.user_id, s.id FROM {sessions} s
WHERE s.update_time < :cutoff AND (:app_name::text IS NULL OR s.app_name = :app_name)
"""
_COUNT_DOOMED: Final = """
WITH doomed AS ({doomed})
SELECT (SELECT count(*) FROM doomed) AS sessions,
       (SELECT count(*) FROM {events} e JOIN doomed d
          ON e.app_name = d.app_name AND e.user_id = d.user_id AND e.session_id = d.id)
           AS events
"""
# One batch: its events are counted, then the sessions deleted (events go by cascade);
# the keys of the deleted sessions come back, for the `on_delete` hook.
_PURGE_BATCH: Final = """
WITH doomed AS ({doomed} LIMIT :batch_size FOR UPDATE SKIP LOCKED),
counted AS (
    SELECT count(*) AS events FROM {events} e JOIN doomed d
      ON e.app_name = d.app_name AND e.user_id = d.user_id AND e.session_id = d.id
), gone AS (
    DELETE FROM {sessions} t USING doomed d
    WHERE t.app_name = d.app_name AND t.user_id = d.user_id AND t.id = d.id
    RETURNING t.app_name, t.user_id, t.id
)
SELECT (SELECT events FROM counted) AS events,
       ARRAY(SELECT ARRAY[g.app_name, g.user_id, g.id] FROM gone g) AS keys
"""
_TABLE_STATS: Final = """
SELECT t.name, (SELECT reltuples::bigint FROM pg_class WHERE oid = t.oid) AS estimated_rows,
       pg_table_size(t.oid) AS table_bytes, pg_indexes_size(t.oid) AS index_bytes
FROM (VALUES {table_values}) AS t(name, oid)
"""
_SESSION_STATS: Final = """
SELECT count(*) AS sessions, min(update_time) AS oldest, max(update_time) AS newest
FROM {sessions}
"""
_SESSIONS_PER_APP: Final = (
    "SELECT app_name, count(*) AS sessions FROM {sessions} GROUP BY app_name "
    "ORDER BY sessions DESC, app_name LIMIT 20"
)
_MIGRATE: Final = f"run `fastapi-adk-store migrate` (to version {SCHEMA_VERSION})"
_PRIVILEGES: Final = "SELECT has_table_privilege($1, 'SELECT, INSERT, UPDATE, DELETE')"


@dataclass(frozen=True)
class PurgeCounts:
    """What a purge removed (or, dry, would remove)."""

    sessions: int
    events: int


@dataclass(frozen=True)
class TableStats:
    name: str
    estimated_rows: int
    table_bytes: int
    index_bytes: int


@dataclass(frozen=True)
class StoreStats:
    """Sizes and counts of the session tables."""

    tables: list[TableStats]
    sessions: int
    oldest: datetime | None
    newest: datetime | None
    sessions_per_app: list[tuple[str, int]]


@dataclass(frozen=True)
class Check:
    """One finding of `diagnose`: `fix` says what to do when it is not ok."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def _when(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


class SessionMaintenance(PooledStore):
    """Purge, stats and checks over the same pool and tables as `store`."""

    def __init__(self, store: SessionStore) -> None:
        super().__init__(store.pool_source, missing_table=store.tables.sessions)
        self._store = store
        names = store.tables.quoted()
        doomed = _DOOMED.format(**names)
        self._doomed = Statement.parse(doomed)
        self._count = Statement.parse(_COUNT_DOOMED.format(doomed=doomed, **names))
        self._purge = Statement.parse(_PURGE_BATCH.format(doomed=doomed, **names))
        values = ", ".join(f"('{n}', to_regclass('{q}'))" for n, q in names.items())
        self._table_stats = _TABLE_STATS.format(table_values=values)
        self._session_stats = _SESSION_STATS.format(**names)
        self._per_app = _SESSIONS_PER_APP.format(**names)

    async def purge(
        self,
        *,
        older_than: float,
        app_name: str | None = None,
        dry_run: bool = False,
        batch_size: int = 1000,
        on_delete: OnSessionDelete | None = None,
        on_would_delete: OnSessionDelete | None = None,
    ) -> PurgeCounts:
        """Delete sessions (with their events) last updated more than `older_than`
        seconds ago, in batches of `batch_size`, each its own transaction; `on_delete`
        runs for each deleted session once its batch is committed.

        With `dry_run`, delete nothing: count, and run `on_would_delete` (e.g. counting
        its artifacts) for each session the purge would delete; `on_delete` never runs.
        """
        cutoff = datetime.now(UTC).timestamp() - older_than
        where = {"cutoff": cutoff, "app_name": app_name}
        if dry_run:
            return await self._dry_purge(where, on_would_delete)
        sessions = events = 0
        args = self._purge.args(**where, batch_size=batch_size)
        while True:
            async with self._connection() as connection:  # given back before the hooks run
                row = await connection.fetchrow(self._purge.text, *args)
            keys = row["keys"]  # [[app_name, user_id, id], ...]
            sessions, events = sessions + len(keys), events + row["events"]
            if on_delete is not None:
                for app, user, session_id in keys:
                    await on_delete(app_name=app, user_id=user, session_id=session_id)
            if len(keys) < batch_size:
                return PurgeCounts(sessions, events)

    async def _dry_purge(
        self, where: Mapping[str, Any], on_would_delete: OnSessionDelete | None
    ) -> PurgeCounts:
        """The counts, and the doomed sessions' keys for the hook, from one snapshot."""
        keys = []
        async with (
            self._connection() as connection,  # given back before the hooks run
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            row = await connection.fetchrow(self._count.text, *self._count.args(**where))
            if on_would_delete is not None:
                keys = await connection.fetch(self._doomed.text, *self._doomed.args(**where))
        if on_would_delete is not None:
            for app, user, session_id in keys:
                await on_would_delete(app_name=app, user_id=user, session_id=session_id)
        return PurgeCounts(row["sessions"], row["events"])

    async def stats(self) -> StoreStats:
        """Row estimates, sizes, the oldest and newest session, sessions per app."""
        async with self._connection() as connection:
            tables = [
                TableStats(r["name"], max(r["estimated_rows"] or 0, 0), r[2] or 0, r[3] or 0)
                for r in await connection.fetch(self._table_stats)
            ]
            row = await connection.fetchrow(self._session_stats)
            per_app = [
                (r["app_name"], r["sessions"]) for r in await connection.fetch(self._per_app)
            ]
        return StoreStats(
            tables, row["sessions"], _when(row["oldest"]), _when(row["newest"]), per_app
        )

    async def diagnose(self, *, statement_cache_size: int) -> list[Check]:
        """Connection, server version, schema version, pooling mode, privileges."""
        async with self._connection() as connection:
            checks = [await self._server_check(connection), await self._schema_check()]
            checks.append(await self._pooling_check(connection, statement_cache_size))
            checks.append(await self._index_check(connection))
            checks.append(await self._privilege_check(connection))
        return checks

    @staticmethod
    async def _server_check(connection: asyncpg.Connection) -> Check:
        shown = await connection.fetchval("SHOW server_version")
        if connection.get_server_version().major >= 12:
            return Check("server", True, f"PostgreSQL {shown}")
        return Check("server", False, f"PostgreSQL {shown}", "use PostgreSQL 12 or newer")

    async def _schema_check(self) -> Check:
        try:
            await self._store.check_schema()
        except SchemaOutdatedError as error:
            fix = "upgrade fastapi-adk-store" if error.found > error.expected else _MIGRATE
            return Check("schema", False, f"version {error.found}", fix)
        except SchemaMissingError:
            return Check("schema", False, "no tables", _MIGRATE)
        return Check("schema", True, f"version {SCHEMA_VERSION}, as this release expects")

    async def _pooling_check(self, connection: asyncpg.Connection, cache_size: int) -> Check:
        # A transaction pooler (PgBouncer) gives each transaction some server backend: pin
        # one from a second client between two reads, and the first client moves, or the
        # second got the first one's backend. Direct connections keep their own backends.
        pid = "SELECT pg_backend_pid()"
        before = await connection.fetchval(pid)
        async with self._connection() as other, other.transaction():
            pinned = await other.fetchval(pid)
            after = await connection.fetchval(pid)
        if before == after and pinned != before:
            return Check("pooling", True, "direct connections (no transaction pooler)")
        if cache_size == 0:
            return Check("pooling", True, "transaction pooling, statement cache off")
        return Check(
            "pooling",
            False,
            f"transaction pooling with statement_cache_size={cache_size}",
            "set ADK_STORE_STATEMENT_CACHE_SIZE=0 behind PgBouncer's transaction pooling",
        )

    async def _index_check(self, connection: asyncpg.Connection) -> Check:
        missing = [
            name
            for name in self._store.index_names
            if not await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", name)
        ]
        if not missing:
            return Check("indexes", True, f"{len(self._store.index_names)} secondary indexes")
        return Check("indexes", False, f"missing {', '.join(missing)}", _MIGRATE)

    async def _privilege_check(self, connection: asyncpg.Connection) -> Check:
        missing = []
        for name in self._store.tables.quoted().values():
            exists = await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", name)
            if exists and not await connection.fetchval(_PRIVILEGES, name):
                missing.append(name)
        if not missing:
            return Check("privileges", True, "SELECT, INSERT, UPDATE, DELETE on every table")
        return Check(
            "privileges",
            False,
            f"missing on {', '.join(missing)}",
            "GRANT SELECT, INSERT, UPDATE, DELETE on those tables to this role",
        )
