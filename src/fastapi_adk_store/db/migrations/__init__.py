"""Numbered SQL migrations, shipped in the package: `<service>/NNNN_name.sql`.

Each file is a template: `{sessions}`-style placeholders are filled with the configured,
quoted table names (braces meant for SQL are doubled). `Migrator` applies what is
pending, one migration per transaction, each under a PostgreSQL advisory lock and
recorded in the service's version table, so many processes starting at once on an
empty or an old database migrate it exactly once and none fails.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

import asyncpg

__all__ = ["Migration", "Migrator", "latest_version", "load_migrations"]

_FILE = re.compile(r"(\d{4})_(\w+)\.sql")


@dataclass(frozen=True)
class Migration:
    """One numbered step of a service's schema, formatted for its table names."""

    version: int
    name: str
    sql: str


def _files(service: str) -> list[tuple[int, str, str]]:
    folder = resources.files(__name__) / service
    found = sorted(
        (int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if (match := _FILE.fullmatch(entry.name))
    )
    if [version for version, _, _ in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations of {service} are not numbered 1..n: {found}")
    return found


def latest_version(service: str) -> int:
    """The schema version the package's migrations of `service` end at."""
    return len(_files(service))


def load_migrations(service: str, names: Mapping[str, str]) -> list[Migration]:
    """The service's migrations in order, formatted with `names`.

    Raises:
        RuntimeError: the numbers are not 1, 2, 3... (a packaging mistake).
    """
    return [Migration(v, name, sql.format(**names)) for v, name, sql in _files(service)]


@dataclass(frozen=True)
class Migrator:
    """Applies a service's migrations.

    Args:
        migrations: all of them, in order (`load_migrations`).
        version_sql: answers the applied version; NULL (or UndefinedTableError) when
            the schema is absent or incomplete.
        record_sql: records a version, taking it as $1; idempotent.
        lock_key: names the advisory lock (one per service and table set).
    """

    migrations: list[Migration]
    version_sql: str
    record_sql: str
    lock_key: str

    @property
    def latest(self) -> int:
        return self.migrations[-1].version

    async def applied(self, connection: asyncpg.Connection) -> int:
        """The version the database is at (0: nothing applied), without raising.

        A savepoint keeps a missing table from aborting the caller's transaction.
        """
        try:
            async with connection.transaction():
                version: int | None = await connection.fetchval(self.version_sql)
        except asyncpg.UndefinedTableError:
            return 0
        return version or 0

    def pending(self, applied: int) -> list[Migration]:
        """The migrations after `applied`, in order."""
        return [migration for migration in self.migrations if migration.version > applied]

    async def apply(self, connection: asyncpg.Connection) -> list[Migration]:
        """Apply what is pending; return what this call applied (often nothing).

        Each migration runs in its own transaction after taking the lock and reading the
        version again, so of several processes exactly one applies each step. When
        nothing is pending this only reads: a role without CREATE privilege can start.
        """
        if not self.pending(await self.applied(connection)):
            return []
        done: list[Migration] = []
        for migration in self.migrations:
            async with connection.transaction():
                await connection.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1))", self.lock_key
                )
                if await self.applied(connection) >= migration.version:
                    continue
                await connection.execute(migration.sql)
                await connection.execute(self.record_sql, migration.version)
                done.append(migration)
        return done
