"""`AsyncpgConfig`: pool options and table settings in the seed's (sqlspec's) shape."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg

from .errors import ConfigurationError

__all__ = ["ADK_EXTENSION_KEYS", "POOL_OPTIONS", "AsyncpgConfig", "create_pool"]

# The seed's pool_config keys. connect_timeout is asyncpg's `timeout`.
POOL_OPTIONS: frozenset[str] = frozenset(
    {
        "dsn",
        "host",
        "port",
        "user",
        "password",
        "database",
        "min_size",
        "max_size",
        "max_queries",
        "max_inactive_connection_lifetime",
        "command_timeout",
        "connect_timeout",
        "statement_cache_size",
        "max_cached_statement_lifetime",
        "max_cacheable_statement_size",
        "ssl",
        "server_settings",
    }
)
ADK_EXTENSION_KEYS: frozenset[str] = frozenset(
    {
        "session_table",
        "events_table",
        "app_state_table",
        "user_state_table",
        "schema_table",
        "owner_id_column",
        "max_event_bytes",
    }
)


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Skip asyncpg's per-release reset query: the store leaves no session state behind.

    asyncpg still rolls back a transaction left open before calling this.
    """


def _check_pool_options(options: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - POOL_OPTIONS)
    if unknown:
        raise ConfigurationError(
            f"unknown pool option(s) {', '.join(unknown)}; expected some of "
            f"{', '.join(sorted(POOL_OPTIONS))}"
        )
    kwargs = dict(options)
    max_size = kwargs.get("max_size", 10)
    min_size = kwargs.get("min_size", min(10, max_size))
    if min_size > max_size:
        # asyncpg would say the same, later and without the values.
        raise ConfigurationError(f"min_size ({min_size}) is greater than max_size ({max_size})")
    if "connect_timeout" in kwargs:
        kwargs["timeout"] = kwargs.pop("connect_timeout")
    return kwargs


async def create_pool(
    options: Mapping[str, Any],
    *,
    init: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
) -> asyncpg.Pool:
    """Create an asyncpg pool from the seed's pool options.

    The pool skips asyncpg's reset query on release (the store leaves no session state
    behind); `init` runs on each new connection.

    Raises:
        ConfigurationError: an unknown option, or min_size above max_size.
    """
    kwargs = _check_pool_options(options)
    kwargs.setdefault("min_size", min(10, kwargs.get("max_size", 10)))
    return await asyncpg.create_pool(reset=_no_reset, init=init, **kwargs)


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
        _check_pool_options(options)
        adk = dict((extension_config or {}).get("adk", {}))
        unknown = sorted(set(adk) - ADK_EXTENSION_KEYS)
        if unknown:
            raise ConfigurationError(
                f"unknown extension_config['adk'] key(s) {', '.join(unknown)}; expected some "
                f"of {', '.join(sorted(ADK_EXTENSION_KEYS))}"
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
