"""Defaults and option names every entry point shares: settings, `open_session_service`,
`AsyncpgConfig`, the stores and the routers.

One place, so a limit does not depend on the way in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

__all__ = [
    "APP_STATE_TABLE",
    "ARTIFACT_BLOBS_TABLE",
    "ARTIFACT_CHUNKS_TABLE",
    "ARTIFACT_CHUNK_BYTES",
    "ARTIFACT_OPTIONS",
    "ARTIFACT_SCHEMA_TABLE",
    "ARTIFACT_VERSIONS_TABLE",
    "EARLIEST_TIMESTAMP",
    "EMBEDDED_DATA_DIR",
    "EVENTS_TABLE",
    "EXTENSION_KEYS",
    "JSON_DEPTH_CEILING",
    "MAX_ARTIFACT_BYTES",
    "MAX_EVENT_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_PAGE_SIZE",
    "MAX_TIMESTAMP",
    "MEMORY_MAX_TEXT_BYTES",
    "MEMORY_SCHEMA_TABLE",
    "MEMORY_SEARCH_LIMIT",
    "MEMORY_TABLE",
    "MEMORY_TEXT_SEARCH_CONFIG",
    "MEMORY_TOMBSTONE_TABLE",
    "MIN_TIMESTAMP",
    "POOL_MAX_SIZE",
    "POOL_OPTIONS",
    "SCHEMA_TABLE",
    "SESSION_TABLE",
    "SLOW_CALL_MS",
    "USER_STATE_TABLE",
    "pool_min_size",
]

SESSION_TABLE: Final = "adk_sessions"
EVENTS_TABLE: Final = "adk_events"
APP_STATE_TABLE: Final = "adk_app_states"
USER_STATE_TABLE: Final = "adk_user_states"
SCHEMA_TABLE: Final = "adk_store_schema"

MAX_EVENT_BYTES: Final = 8 * 1024 * 1024
"""Largest event JSON accepted, in bytes."""
MAX_JSON_DEPTH: Final = 100
"""Deepest nesting of objects and arrays accepted in a state or an event."""
JSON_DEPTH_CEILING: Final = 200
"""The most `max_json_depth` may be: the JSON reader refuses documents near 255 levels,
so deeper ones could be written but never read back."""
EARLIEST_TIMESTAMP: Final = -62135596800.0
"""0001-01-01T00:00:00Z: the earliest `min_timestamp` may be (Python's datetime)."""
MIN_TIMESTAMP: Final = 0.0
"""Earliest event timestamp accepted (epoch seconds): 1970-01-01."""
MAX_TIMESTAMP: Final = 253402300799.0
"""Latest event timestamp accepted (epoch seconds): 9999-12-31T23:59:59Z, as far as
Python's datetime goes."""
MAX_PAGE_SIZE: Final = 1000
"""Largest page (sessions or events) a router returns; also its default page size."""
POOL_MAX_SIZE: Final = 10
SLOW_CALL_MS: Final = 500.0
"""A service call slower than this many milliseconds logs a warning (0: never)."""
EMBEDDED_DATA_DIR: Final = Path(".adk_store_pgdata")
"""Where the embedded PostgreSQL keeps its data when no DSN is set."""

POOL_OPTIONS: Final = frozenset(
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
        "connect_timeout",  # asyncpg's `timeout`
        "statement_cache_size",
        "max_cached_statement_lifetime",
        "max_cacheable_statement_size",
        "ssl",
        "server_settings",
    }
)
"""The seed's `pool_config` keys."""

EXTENSION_KEYS: Final = frozenset(
    {
        "session_table",
        "events_table",
        "app_state_table",
        "user_state_table",
        "schema_table",
        "owner_id_column",
        "max_event_bytes",
        "max_json_depth",
        "min_timestamp",
        "max_timestamp",
    }
)
"""The seed's `extension_config["adk"]` keys, and the store's limits."""


def pool_min_size(max_size: int) -> int:
    """Connections a pool opens at start when `min_size` is not given."""
    return min(10, max_size)


# --- artifacts ----------------------------------------------------------------------------

ARTIFACT_VERSIONS_TABLE: Final = "adk_artifact_versions"
ARTIFACT_BLOBS_TABLE: Final = "adk_artifact_blobs"
ARTIFACT_CHUNKS_TABLE: Final = "adk_artifact_chunks"
ARTIFACT_SCHEMA_TABLE: Final = "adk_artifact_schema"
MAX_ARTIFACT_BYTES: Final = 128 * 1024 * 1024
"""Largest artifact payload accepted, in bytes (a text part: its UTF-8 bytes)."""
ARTIFACT_CHUNK_BYTES: Final = 1024 * 1024
"""Bytes per stored chunk of an artifact payload: what a streaming load holds at once."""
ARTIFACTS_DELETE_WITH_SESSION: Final = False
"""Whether deleting a session deletes its session-scoped artifacts too (not `user:` ones)."""
ARTIFACT_OPTIONS: Final = frozenset({"max_artifact_bytes", "artifact_chunk_bytes"})
"""The artifact service's options beside the pool options (`open_artifact_service`)."""

MEMORY_TABLE: Final = "adk_memories"
MEMORY_TOMBSTONE_TABLE: Final = "adk_memory_tombstones"
"""Ids of deleted memories, so re-adding their session does not bring them back."""
MEMORY_SCHEMA_TABLE: Final = "adk_memory_schema"
MEMORY_SEARCH_LIMIT: Final = 10
"""Most memories one search returns (ADK's in-memory service returns ten)."""
MEMORY_TEXT_SEARCH_CONFIG: Final = "simple"
"""PostgreSQL text-search configuration of the memory index: 'simple' neither stems nor
drops stop words, so it treats every language alike and matches whole words as ADK's
in-memory service does; 'english' stems ('colors' finds 'color') for English-only apps."""
MEMORY_MAX_TEXT_BYTES: Final = 256 * 1024
"""Most UTF-8 bytes of a memory's text that are indexed (the content is kept whole)."""
