"""asyncpg pools: the options the package accepts, and how a pool is made and watched."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, Self

import asyncpg

from ..defaults import POOL_MAX_SIZE, POOL_OPTIONS, pool_min_size
from ..errors import ConfigurationError, SchemaMissingError, SchemaOutdatedError
from .errors import translate_errors, translated
from .migrations import Migration, Migrator

__all__ = [
    "FixedPool",
    "PoolSource",
    "PoolStats",
    "PooledStore",
    "check_pool_options",
    "create_pool",
]


def check_pool_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """asyncpg's `create_pool` keyword arguments for the seed's pool options.

    Fills in `min_size` (see `defaults.pool_min_size`) and renames `connect_timeout`.

    Raises:
        ConfigurationError: an unknown option, or min_size above max_size.
    """
    unknown = sorted(set(options) - POOL_OPTIONS)
    if unknown:
        raise ConfigurationError(
            f"unknown pool option(s) {', '.join(unknown)}; expected some of "
            f"{', '.join(sorted(POOL_OPTIONS))}"
        )
    kwargs = dict(options)
    kwargs.setdefault("max_size", POOL_MAX_SIZE)
    kwargs.setdefault("min_size", pool_min_size(kwargs["max_size"]))
    if kwargs["min_size"] > kwargs["max_size"]:
        # asyncpg would say the same, later and without the values.
        raise ConfigurationError(
            f"min_size ({kwargs['min_size']}) is greater than max_size ({kwargs['max_size']})"
        )
    if "connect_timeout" in kwargs:
        kwargs["timeout"] = kwargs.pop("connect_timeout")
    return kwargs


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Skip asyncpg's per-release reset query: the stores leave no session state behind.

    asyncpg still rolls back a transaction left open before calling this.
    """


async def create_pool(
    options: Mapping[str, Any],
    *,
    init: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
) -> asyncpg.Pool:
    """Create an asyncpg pool from the seed's pool options (see `check_pool_options`).

    The pool skips asyncpg's reset query on release; `init` runs on each new connection.
    Only `compose` calls this: it decides which pools exist.
    """
    return await asyncpg.create_pool(reset=_no_reset, init=init, **check_pool_options(options))


class PoolSource(Protocol):
    """Where a store gets its pool: opened on first use, closed by its owner."""

    @property
    def pool(self) -> asyncpg.Pool | None:
        """The pool, or None before first use."""

    async def provide_pool(self) -> asyncpg.Pool:
        """The pool, opened on first call."""

    async def close_pool(self) -> None:
        """Close the pool if this source opened it."""


class FixedPool:
    """A `PoolSource` for a pool someone else opened and closes."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    async def provide_pool(self) -> asyncpg.Pool:
        return self._pool

    async def close_pool(self) -> None:
        """Nothing to do: the pool's owner closes it."""


@dataclass(frozen=True)
class PoolStats:
    """A snapshot of a pool: connections open, idle among them, and the bounds."""

    size: int
    idle: int
    min_size: int
    max_size: int

    @property
    def in_use(self) -> int:
        return self.size - self.idle

    @classmethod
    def of(cls, pool: asyncpg.Pool | None) -> PoolStats:
        """The pool's numbers (all zero before the pool exists)."""
        if pool is None:
            return cls(size=0, idle=0, min_size=0, max_size=0)
        return cls(
            size=pool.get_size(),
            idle=pool.get_idle_size(),
            min_size=pool.get_min_size(),
            max_size=pool.get_max_size(),
        )


class PooledStore:
    """What every store shares: its pool source, its connections, errors translated.

    `missing_table` names the table a `SchemaMissingError` reports.
    """

    def __init__(
        self, pool: PoolSource, *, missing_table: str, migrator: Migrator | None = None
    ) -> None:
        self._pool_source = pool
        self._missing_table = missing_table
        self._migrator = migrator

    @property
    def pool_source(self) -> PoolSource:
        return self._pool_source

    async def get_pool(self) -> asyncpg.Pool:
        """The asyncpg pool, opened on first use."""
        with translate_errors(self._missing_table):
            return await self._pool_source.provide_pool()

    def pool_stats(self) -> PoolStats:
        """Pool size, idle connections and bounds (all zero before the pool exists)."""
        return PoolStats.of(self._pool_source.pool)

    async def close(self) -> None:
        """Close the pool if its source opened it."""
        await self._pool_source.close_pool()

    def _migrations(self) -> Migrator:
        if self._migrator is None:
            raise NotImplementedError(f"{type(self).__name__} has no migrations")
        return self._migrator

    async def create_tables(self) -> None:
        """Bring the tables to the current version (apply the pending migrations); safe
        when many processes start at once. When nothing is pending this only reads, so a
        role without CREATE privilege can start against a database someone migrated."""
        await self.migrate()

    async def migrate(self) -> list[Migration]:
        """Apply the pending migrations (often none); return those this call applied."""
        async with self._connection() as connection:
            return await self._migrations().apply(connection)

    async def pending_migrations(self) -> list[Migration]:
        """The migrations the database still lacks, in order (their SQL for a dry run)."""
        migrator = self._migrations()
        async with self._connection() as connection:
            return migrator.pending(await migrator.applied(connection))

    async def check_schema(self) -> None:
        """Raise SchemaMissingError (no tables) or SchemaOutdatedError (another version:
        run `fastapi-adk-store migrate`) unless the tables are at the current version."""
        migrator = self._migrations()
        async with self._connection() as connection:
            applied = await migrator.applied(connection)
        if applied == 0:
            raise SchemaMissingError(self._missing_table)
        if applied != migrator.latest:
            raise SchemaOutdatedError(self._missing_table, applied, migrator.latest)

    async def schema_version(self) -> int | None:
        """The applied schema version; raises SchemaMissingError before create_tables()."""
        async with self._connection() as connection:
            version: int | None = await connection.fetchval(self._migrations().version_sql)
            return version

    @asynccontextmanager
    async def opened(
        self, *, create_tables: bool = True, check_schema: bool = True
    ) -> AsyncIterator[Self]:
        """Open the pool now and close it on exit; a wrong DSN or a down server fails here.

        `create_tables` migrates the tables to the current version; without it,
        `check_schema` fails fast on missing or outdated tables (SchemaMissingError,
        SchemaOutdatedError). With neither, only the pool opens (the CLI's way).
        """
        try:
            await self.prepare_schema(create_tables=create_tables, check_schema=check_schema)
            yield self
        finally:
            await self.close()

    async def prepare_schema(self, *, create_tables: bool, check_schema: bool) -> None:
        """Migrate the tables (`create_tables`), else check them (`check_schema`), else
        only open the pool: what a store does at start-up."""
        if create_tables:
            await self.create_tables()
        elif check_schema:
            await self.check_schema()
        else:
            await self.get_pool()

    def _connection(self) -> _Checkout:
        """`async with self._connection() as connection:` a pooled connection, driver errors
        in the block (and in acquiring and releasing it) translated (`translate_errors`)."""
        return _Checkout(self)


class _Checkout:
    """`PooledStore._connection`, by hand: a generator-based context manager around
    asyncpg's costs 8-12 µs more a call, on every statement of the package."""

    __slots__ = ("_acquire", "_store")

    def __init__(self, store: PooledStore) -> None:
        self._store = store
        self._acquire: Any = None

    async def __aenter__(self) -> asyncpg.Connection:
        store = self._store
        pool = store.pool_source.pool or await store.get_pool()
        self._acquire = pool.acquire()
        try:
            connection: asyncpg.Connection = await self._acquire.__aenter__()
        except Exception as error:
            _raise_translated(error, store)
            raise
        return connection

    async def __aexit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        try:
            await self._acquire.__aexit__(kind, error, traceback)
        except Exception as release_error:
            _raise_translated(release_error, self._store)
            raise
        if isinstance(error, Exception):
            _raise_translated(error, self._store)


def _raise_translated(error: Exception, store: PooledStore) -> None:
    better = translated(error, store._missing_table)
    if better is not None:
        raise better from error
