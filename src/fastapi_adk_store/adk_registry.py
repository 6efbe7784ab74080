"""The `adkstore://` scheme for ADK's tooling (`adk web`, `adk api_server`): sessions,
artifacts and memory.

ADK reads `services.py` (or `services.yaml`) from the agents dir; there, one call makes
the scheme known:

    from fastapi_adk_store.adk_registry import register
    register()

then:

    adk web --session_service_uri="adkstore://postgres@localhost:5432/agents?max_size=20" .
    adk api_server --session_service_uri="adkstore://" .     # ADK_STORE_* settings
    adk web --session_service_uri=adkstore://db/agents \
            --artifact_service_uri=adkstore://db/agents \
            --memory_service_uri=adkstore://db/agents .

URIs naming the same server with the same pool options share one pool in the process.

The URI is a PostgreSQL DSN with the scheme `adkstore`. Query options named like
`StoreSettings` fields (`max_size`, `command_timeout`, `statement_cache_size`,
`session_table`, `create_tables`, ...) configure the store; other options stay in the DSN
(libpq's `sslmode`, or server settings such as `search_path`). Settings not in the URI
come from `ADK_STORE_*` variables as for the plugin, so `adkstore://` alone uses
`ADK_STORE_DSN`, or else starts an embedded PostgreSQL (the `embedded` extra).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from google.adk.cli.service_registry import ServiceRegistry, get_service_registry

from .artifacts.service import AsyncpgArtifactService
from .compose import (
    AsyncpgConfig,
    build_artifact_service,
    build_memory_store,
    kept_embedded_dsn,
)
from .errors import ConfigurationError
from .memory.service import AsyncpgMemoryService
from .sessions.seed import AsyncpgADKStore
from .sessions.service import AsyncpgSessionService
from .settings import StoreSettings

__all__ = [
    "SCHEME",
    "artifact_service_from_uri",
    "memory_service_from_uri",
    "register",
    "session_service_from_uri",
    "settings_from_uri",
]

SCHEME: Final = "adkstore"

# One lazily opened pool per server and pool options, shared by the three services ADK
# builds from URIs (its factories have no lifespan to pass a pool through).
_pools: dict[str, AsyncpgConfig] = {}


class _SharedPool:
    """The process's pool for a server, with one URI's table settings (the seed's shape)."""

    def __init__(self, settings: StoreSettings, dsn: str | None) -> None:
        options = settings.pool_options(dsn=dsn)
        key = json.dumps(options, sort_keys=True, default=str)
        self._shared = _pools.setdefault(key, AsyncpgConfig(pool_config=options))
        self.pool_config = self._shared.pool_config
        self.extension_config = settings.extension_config()

    @property
    def pool(self) -> asyncpg.Pool | None:
        return self._shared.pool

    async def provide_pool(self) -> asyncpg.Pool:
        return await self._shared.provide_pool()

    async def close_pool(self) -> None:
        await self._shared.close_pool()


def settings_from_uri(uri: str) -> StoreSettings:
    """`StoreSettings` from an `adkstore://` URI, the environment filling in the rest.

    Raises:
        ConfigurationError: another scheme, or DSN options without a host to go with.
        pydantic.ValidationError: a settings option is malformed.
    """
    parts = urlsplit(uri)
    if parts.scheme != SCHEME:
        raise ConfigurationError(f"expected an {SCHEME}:// URI, got scheme {parts.scheme!r}")
    fields = StoreSettings.model_fields.keys() - {"dsn"}
    overrides: dict[str, Any] = {}
    kept: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in fields:
            overrides[key] = value
        else:
            kept.append((key, value))
    if parts.netloc or parts.path.strip("/"):
        query = urlencode(kept)
        overrides["dsn"] = urlunsplit(("postgresql", parts.netloc, parts.path, query, ""))
    elif kept:
        names = ", ".join(key for key, _ in kept)
        raise ConfigurationError(
            f"{SCHEME}:// option(s) {names} are DSN options: give a server, e.g. "
            f"{SCHEME}://user@host:5432/db?{urlencode(kept)}"
        )
    return StoreSettings(**overrides)


# Builds a service's store for `_prepared` to create its tables: (settings, pool options).
StoreFor = Callable[[StoreSettings, dict[str, Any]], Any]


def _prepared(uri: str, store_for: StoreFor) -> tuple[StoreSettings, _SharedPool]:
    """The URI's settings and shared pool, the service's tables created first (unless
    `create_tables=false`) over one connection on a loop of their own: ADK calls the
    factories before its server loop runs."""
    settings = settings_from_uri(uri)
    dsn = kept_embedded_dsn(settings.embedded_data_dir) if settings.wants_embedded else None
    if settings.create_tables:
        one = {**settings.pool_options(dsn=dsn), "min_size": 1, "max_size": 1}

        async def migrate() -> None:
            async with store_for(settings, one).opened(create_tables=True):
                pass

        with ThreadPoolExecutor(max_workers=1) as thread:
            thread.submit(asyncio.run, migrate()).result()
    return settings, _SharedPool(settings, dsn)


def session_service_from_uri(uri: str, **kwargs: Any) -> AsyncpgSessionService:
    """ADK's session-service factory for `adkstore://` URIs.

    The schema is created (idempotently, unless `create_tables=false`) before this
    returns; the pool opens on first use, in the server's event loop. ADK's keyword
    arguments (`agents_dir`) are not needed and ignored. With
    `artifacts_delete_with_session` (setting or URI option), deleting a session deletes
    its artifacts (their tables created too).

    Raises:
        ConfigurationError: see `settings_from_uri`; or a table name is invalid.
        EmbeddedServerError: no server is configured and the embedded one cannot start.
    """

    def store_for(settings: StoreSettings, options: dict[str, Any]) -> AsyncpgADKStore:
        config = AsyncpgConfig(pool_config=options, extension_config=settings.extension_config())
        return AsyncpgADKStore(config)

    settings, pool = _prepared(uri, store_for)
    on_delete = None
    if settings.artifacts_delete_with_session:  # the artifacts on the same shared pool
        on_delete = artifact_service_from_uri(uri).delete_session_artifacts
    return AsyncpgSessionService(AsyncpgADKStore(pool), on_delete=on_delete)


def artifact_service_from_uri(uri: str, **kwargs: Any) -> AsyncpgArtifactService:
    """ADK's artifact-service factory for `adkstore://` URIs (as `session_service_from_uri`)."""

    def service_for(
        settings: StoreSettings, pool: AsyncpgConfig | _SharedPool
    ) -> AsyncpgArtifactService:
        return build_artifact_service(pool, **settings.artifact_options())

    settings, pool = _prepared(
        uri, lambda s, options: service_for(s, AsyncpgConfig(pool_config=options)).store
    )
    return service_for(settings, pool)


def memory_service_from_uri(uri: str, **kwargs: Any) -> AsyncpgMemoryService:
    """ADK's memory-service factory for `adkstore://` URIs (as `session_service_from_uri`)."""
    settings, pool = _prepared(
        uri,
        lambda s, options: build_memory_store(
            AsyncpgConfig(pool_config=options), s.memory_options()
        ),
    )
    return AsyncpgMemoryService(build_memory_store(pool, settings.memory_options()))


def register(registry: ServiceRegistry | None = None) -> None:
    """Make `adkstore://` URIs known to ADK's service registry (the global one by default)
    for sessions, artifacts and memory."""
    target = registry or get_service_registry()
    target.register_session_service(SCHEME, session_service_from_uri)
    target.register_artifact_service(SCHEME, artifact_service_from_uri)
    target.register_memory_service(SCHEME, memory_service_from_uri)
