"""The `adkstore://` session-service scheme for ADK's tooling (`adk web`, `adk api_server`).

ADK reads `services.py` (or `services.yaml`) from the agents dir; there, one call makes
the scheme known:

    from fastapi_adk_store.adk_registry import register
    register()

then:

    adk web --session_service_uri="adkstore://postgres@localhost:5432/agents?max_size=20" .
    adk api_server --session_service_uri="adkstore://" .     # ADK_STORE_* settings

The URI is a PostgreSQL DSN with the scheme `adkstore`. Query options named like
`StoreSettings` fields (`max_size`, `command_timeout`, `statement_cache_size`,
`session_table`, `create_tables`, ...) configure the store; other options stay in the DSN
(libpq's `sslmode`, or server settings such as `search_path`). Settings not in the URI
come from `ADK_STORE_*` variables as for the plugin, so `adkstore://` alone uses
`ADK_STORE_DSN`, or else starts an embedded PostgreSQL (the `embedded` extra).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from google.adk.cli.service_registry import ServiceRegistry, get_service_registry

from .compose import build_store, kept_embedded_dsn
from .errors import ConfigurationError
from .sessions.service import AsyncpgSessionService
from .settings import StoreSettings

__all__ = ["SCHEME", "register", "session_service_from_uri", "settings_from_uri"]

SCHEME: Final = "adkstore"


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


def _create_tables(settings: StoreSettings, dsn: str | None) -> None:
    """Create the schema on a loop of its own: ADK calls factories before its server loop."""

    async def create() -> None:
        one_connection = StoreSettings(**{**dict(settings), "min_size": 1, "max_size": 1})
        async with build_store(one_connection, dsn=dsn).opened(create_tables=True):
            pass

    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, create()).result()


def session_service_from_uri(uri: str, **kwargs: Any) -> AsyncpgSessionService:
    """ADK's session-service factory for `adkstore://` URIs.

    The schema is created (idempotently, unless `create_tables=false`) before this
    returns; the pool opens on first use, in the server's event loop. ADK's keyword
    arguments (`agents_dir`) are not needed and ignored.

    Raises:
        ConfigurationError: see `settings_from_uri`; or a table name is invalid.
        EmbeddedServerError: no server is configured and the embedded one cannot start.
    """
    settings = settings_from_uri(uri)
    dsn = kept_embedded_dsn(settings.embedded_data_dir) if settings.wants_embedded else None
    if settings.create_tables:
        _create_tables(settings, dsn)
    return AsyncpgSessionService(build_store(settings, dsn=dsn))


def register(registry: ServiceRegistry | None = None) -> None:
    """Make `adkstore://` URIs known to ADK's service registry (the global one by default)."""
    (registry or get_service_registry()).register_session_service(SCHEME, session_service_from_uri)
