"""The one composition root: settings -> embedded server or DSN -> pool -> stores -> services.

Every entry point opens what it needs here: `open_session_service` (scripts and suites),
the FastAPI plugin (`web.plugin.ADKStore`) and the `adkstore://` URIs of ADK's tooling
(`adk_registry`). The same options mean the same thing on each, with the same defaults
(`defaults.py`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg

from .artifacts.records import ArtifactLimits
from .artifacts.service import AsyncpgArtifactService
from .artifacts.store import ArtifactStore
from .db.embedded import EmbeddedPostgres, embedded_dsn
from .db.errors import translate_errors
from .db.pool import PoolSource, check_pool_options, create_pool
from .defaults import ARTIFACT_CHUNK_BYTES, ARTIFACT_OPTIONS, EXTENSION_KEYS, MAX_ARTIFACT_BYTES
from .errors import ConfigurationError
from .memory.records import Embedder, SearchMode
from .memory.service import AsyncpgMemoryService
from .memory.store import MEMORY_OPTION_KEYS, MemoryStore
from .sessions.seed import AsyncpgADKStore
from .sessions.service import AsyncpgSessionService, OnSessionDelete
from .settings import StoreSettings, env_name
from .telemetry import configure as configure_telemetry

__all__ = [
    "AsyncpgConfig",
    "artifact_limits",
    "artifact_service_on",
    "build_artifact_service",
    "build_store",
    "kept_embedded_dsn",
    "memory_service_on",
    "open_artifact_service",
    "open_memory_service",
    "open_session_service",
    "open_source_pool",
    "open_store",
    "open_store_unchecked",
]


class AsyncpgConfig:
    """Pool options and ADK table settings, accepted in the seed's shape.

    Example:
        config = AsyncpgConfig(
            pool_config={"dsn": "postgresql://localhost/agentdb", "max_size": 20},
            extension_config={"adk": {"session_table": "my_sessions"}},
        )

    The pool is made on first use and reused; `close_pool()` closes it.
    `connection_config` is accepted as an alias of `pool_config`.
    """

    def __init__(
        self,
        *,
        pool_config: Mapping[str, Any] | None = None,
        connection_config: Mapping[str, Any] | None = None,
        pool_instance: asyncpg.Pool | None = None,
        extension_config: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        if pool_config is not None and connection_config is not None:
            raise ConfigurationError("pass pool_config or connection_config, not both")
        options = dict(pool_config if pool_config is not None else connection_config or {})
        check_pool_options(options)
        adk = dict((extension_config or {}).get("adk", {}))
        unknown = sorted(set(adk) - EXTENSION_KEYS)
        if unknown:
            raise ConfigurationError(
                f"unknown extension_config['adk'] key(s) {', '.join(unknown)}; expected some "
                f"of {', '.join(sorted(EXTENSION_KEYS))}"
            )
        self.pool_config: dict[str, Any] = options
        self.extension_config: dict[str, dict[str, Any]] = {"adk": adk}
        self._pool: asyncpg.Pool | None = pool_instance
        self._owns_pool = pool_instance is None
        self._pool_lock = asyncio.Lock()

    @property
    def connection_config(self) -> dict[str, Any]:
        """Alias of `pool_config` (sqlspec's newer name)."""
        return self.pool_config

    @property
    def pool(self) -> asyncpg.Pool | None:
        """The pool, or None before first use."""
        return self._pool

    async def provide_pool(self) -> asyncpg.Pool:
        """Return the pool, creating it on first call."""
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    self._pool = await create_pool(self.pool_config)
        return self._pool

    async def close_pool(self) -> None:
        """Close the pool if this config created it."""
        pool, self._pool = self._pool, None
        if pool is not None and self._owns_pool:
            await pool.close()


def _needs_embedded(options: Mapping[str, Any]) -> bool:
    """No server is named: neither a DSN nor a host."""
    return options.get("dsn") is None and options.get("host") is None


def build_store(settings: StoreSettings, *, dsn: str | None = None) -> AsyncpgADKStore:
    """A store with these settings; its pool opens on first use (in the caller's loop).

    Raises:
        ConfigurationError: no DSN and no host is set and no `dsn` is given, or a
            table name or the owner-id column is invalid.
    """
    configure_telemetry(slow_call_ms=settings.slow_call_ms)
    options = settings.pool_options(dsn=dsn)
    if _needs_embedded(options):
        raise ConfigurationError(
            f"{env_name('dsn')} and {env_name('host')} are unset: set one, pass dsn=, or "
            "use ADKStore(...).lifespan, which starts an embedded PostgreSQL"
        )
    return AsyncpgADKStore(
        AsyncpgConfig(pool_config=options, extension_config=settings.extension_config())
    )


@asynccontextmanager
async def _opened(
    pool_options: dict[str, Any],
    extension_config: dict[str, dict[str, Any]],
    *,
    create_tables: bool,
    embedded_data_dir: Path | str | None,
) -> AsyncIterator[AsyncpgADKStore]:
    """Embedded server when no server is named, then the pool, then the schema: migrated
    with `create_tables`, else checked (SchemaMissingError, SchemaOutdatedError)."""
    async with _server(pool_options, embedded_data_dir) as options:
        config = AsyncpgConfig(pool_config=options, extension_config=extension_config)
        store = AsyncpgADKStore(config)
        async with store.opened(create_tables=create_tables, check_schema=not _lazy(options)):
            yield store


@asynccontextmanager
async def _server(
    pool_options: dict[str, Any], embedded_data_dir: Path | str | None
) -> AsyncIterator[dict[str, Any]]:
    """The pool options as given when they name a server, else an embedded server's."""
    async with embedded_dsn(_needs_embedded(pool_options), embedded_data_dir) as server_dsn:
        yield pool_options if server_dsn is None else {**pool_options, "dsn": server_dsn}


def _lazy(pool_options: Mapping[str, Any]) -> bool:
    """min_size=0 asks to start without the database: the schema is not checked then."""
    return pool_options.get("min_size") == 0


@asynccontextmanager
async def open_store(settings: StoreSettings) -> AsyncIterator[AsyncpgADKStore]:
    """Open the store these settings describe: embedded server if needed, pool, tables.

    The pool opens before the yield, so a wrong DSN or a down server fails here
    (unless `min_size` is 0). The pool and any embedded server close on exit.
    """
    configure_telemetry(slow_call_ms=settings.slow_call_ms)
    async with _opened(
        settings.pool_options(),
        settings.extension_config(),
        create_tables=settings.create_tables,
        embedded_data_dir=settings.embedded_data_dir,
    ) as store:
        yield store


@asynccontextmanager
async def open_session_service(
    dsn: str | None = None,
    *,
    create_tables: bool = True,
    on_delete: OnSessionDelete | None = None,
    **options: Any,
) -> AsyncIterator[AsyncpgSessionService]:
    """Open a pool, create the tables (idempotent) and yield the session service.

    `options` are the seed's pool options (`min_size`, `max_size`, `command_timeout`,
    `statement_cache_size`, ...) and the table settings of `extension_config["adk"]`
    (`session_table`, `events_table`, `owner_id_column`, `max_event_bytes`, ...). With no
    `dsn` (and no `host`), an embedded PostgreSQL is started (the `embedded` extra). The
    pool is closed on exit. `on_delete` runs after each `delete_session`, e.g. an artifact
    service's `delete_session_artifacts`.

    Raises:
        ConfigurationError: an unknown option or a bad value.
    """
    adk = {key: options.pop(key) for key in list(options) if key in EXTENSION_KEYS}
    if dsn is not None:
        options["dsn"] = dsn
    async with _opened(
        options, {"adk": adk}, create_tables=create_tables, embedded_data_dir=None
    ) as store:
        yield AsyncpgSessionService(store, on_delete=on_delete)


@asynccontextmanager
async def open_store_unchecked(settings: StoreSettings) -> AsyncIterator[AsyncpgADKStore]:
    """The store these settings name with its pool open, the schema neither migrated nor
    checked (the CLI's way in: `migrate` and `doctor` look at it themselves). Never an
    embedded server: a CLI run names its database.

    Raises:
        ConfigurationError: no DSN and no host is set.
        StoreUnavailableError: the server cannot be reached.
    """
    store = build_store(settings)
    async with store.opened(create_tables=False, check_schema=False):
        yield store


@asynccontextmanager
async def open_source_pool(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A small pool on another database: the source of an import.

    Raises:
        StoreUnavailableError: the server cannot be reached.
    """
    with translate_errors("source"):
        pool = await create_pool({"dsn": dsn, "min_size": 1, "max_size": 2})
    try:
        yield pool
    finally:
        await pool.close()


@functools.cache
def kept_embedded_dsn(data_dir: Path) -> str:
    """The DSN of an embedded server in `data_dir`, started once and kept for the process.

    For ADK's tooling, which builds services from URIs without a lifespan to stop them
    in; pgserver stops the server when the process exits.
    """
    server = EmbeddedPostgres(data_dir)
    server.start()
    return server.dsn


def build_memory_store(
    pool: PoolSource, options: Mapping[str, Any], embedder: Embedder | None = None
) -> MemoryStore:
    """A memory store over `pool` with these `memory_*` options (`MEMORY_OPTION_KEYS`),
    with the embedding column of `embedder`'s dimensions when one is given.

    Raises:
        ConfigurationError: an unknown option, a bad table name or value.
    """
    dimensions = None if embedder is None else embedder.dimensions
    return MemoryStore.from_options(pool, options, dimensions)


@asynccontextmanager
async def open_memory_service(
    dsn: str | None = None,
    *,
    create_tables: bool = True,
    embedder: Embedder | None = None,
    search_mode: SearchMode = "hybrid",
    **options: Any,
) -> AsyncIterator[AsyncpgMemoryService]:
    """Open a pool, create the memory tables (idempotent) and yield the memory service.

    `options` are the seed's pool options (`min_size`, `max_size`, `command_timeout`, ...)
    and the memory settings (`memory_search_limit`, `memory_text_search_config`,
    `memory_table`, ...). With no `dsn` (and no `host`), an embedded PostgreSQL is
    started (the `embedded` extra). The pool is closed on exit. With an `embedder`,
    search is semantic too (pgvector; `search_mode` "hybrid" or "vector").

    Raises:
        ConfigurationError: an unknown option or a bad value; with an embedder,
            pgvector missing or not creatable.
    """
    memory = {key: options.pop(key) for key in list(options) if key in MEMORY_OPTION_KEYS}
    if dsn is not None:
        options["dsn"] = dsn
    async with _server(options, None) as server:
        store = build_memory_store(AsyncpgConfig(pool_config=server), memory, embedder)
        service = AsyncpgMemoryService(store, embedder=embedder, search_mode=search_mode)
        async with store.opened(create_tables=create_tables, check_schema=not _lazy(server)):
            yield service


async def memory_service_on(
    store: AsyncpgADKStore,
    settings: StoreSettings,
    *,
    embedder: Embedder | None = None,
    search_mode: SearchMode = "hybrid",
) -> AsyncpgMemoryService:
    """The memory service on the session store's pool (the plugin's way): its tables
    migrated when `settings.create_tables`, else checked (unless `min_size` is 0). The
    session store closes the pool.

    Raises:
        SchemaMissingError, SchemaOutdatedError: without create_tables, on a database
            whose memory tables are absent or older.
    """
    pool = store.sessions.pool_source
    memory = build_memory_store(pool, settings.memory_options(), embedder)
    service = AsyncpgMemoryService(memory, embedder=embedder, search_mode=search_mode)
    await memory.prepare_schema(
        create_tables=settings.create_tables, check_schema=settings.min_size != 0
    )
    return service


# --- artifacts ----------------------------------------------------------------------------


def artifact_limits(options: Mapping[str, Any]) -> ArtifactLimits:
    """The artifact store's limits from `max_artifact_bytes` / `artifact_chunk_bytes`."""
    return ArtifactLimits(
        max_artifact_bytes=options.get("max_artifact_bytes", MAX_ARTIFACT_BYTES),
        chunk_bytes=options.get("artifact_chunk_bytes", ARTIFACT_CHUNK_BYTES),
    )


def build_artifact_service(pool: PoolSource, **options: Any) -> AsyncpgArtifactService:
    """An artifact service on a pool someone else opened (the plugin's, the sessions').

    Raises:
        ConfigurationError: an unknown option or a bad limit.
    """
    unknown = sorted(set(options) - ARTIFACT_OPTIONS)
    if unknown:
        raise ConfigurationError(
            f"unknown artifact option(s) {', '.join(unknown)}; expected some of "
            f"{', '.join(sorted(ARTIFACT_OPTIONS))}"
        )
    return AsyncpgArtifactService(ArtifactStore(pool, limits=artifact_limits(options)))


@asynccontextmanager
async def open_artifact_service(
    dsn: str | None = None, *, create_tables: bool = True, **options: Any
) -> AsyncIterator[AsyncpgArtifactService]:
    """Open a pool, create the artifact tables (idempotent) and yield the artifact service.

    `options` are the pool options (`min_size`, `max_size`, `server_settings`, ...) and
    `max_artifact_bytes` / `artifact_chunk_bytes`. With no `dsn` (and no `host`), an
    embedded PostgreSQL is started (the `embedded` extra). Without `create_tables` the
    schema is checked (SchemaMissingError, SchemaOutdatedError). The pool is closed on exit.

    Raises:
        ConfigurationError: an unknown option or a bad value.
    """
    artifact_options = {key: options.pop(key) for key in list(options) if key in ARTIFACT_OPTIONS}
    if dsn is not None:
        options["dsn"] = dsn
    check_pool_options(options)
    async with _server(options, None) as server:
        service = build_artifact_service(AsyncpgConfig(pool_config=server), **artifact_options)
        check = not _lazy(server)
        async with service.store.opened(create_tables=create_tables, check_schema=check):
            yield service


async def artifact_service_on(
    store: AsyncpgADKStore, settings: StoreSettings
) -> AsyncpgArtifactService:
    """The artifact service on the session store's pool (the plugin's way): its tables
    migrated when `settings.create_tables`, else checked (unless `min_size` is 0). With
    `artifacts_delete_with_session`, pass it to the session service as its `on_delete`."""
    service = build_artifact_service(store.sessions.pool_source, **settings.artifact_options())
    await service.store.prepare_schema(
        create_tables=settings.create_tables, check_schema=settings.min_size != 0
    )
    return service
