"""Every SQL statement of the memory store, and the migrations its schema comes from.

Table names are checked and quoted once, in `build_statements`; values travel as
parameters (`:name`, sent as `$n`). The text-search configuration is checked as an
identifier and written into the schema (the generated tsvector column) and into the
search statement, so both read text the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Final

from ..db.identifiers import TableNames, quote_identifier, unqualified
from ..db.migrations import Migrator, latest_version, load_migrations
from ..db.statements import Statement
from ..defaults import (
    MEMORY_SCHEMA_TABLE,
    MEMORY_TABLE,
    MEMORY_TEXT_SEARCH_CONFIG,
    MEMORY_TOMBSTONE_TABLE,
)
from ..errors import ConfigurationError

__all__ = [
    "MEMORY_SCHEMA_VERSION",
    "MemoryStatements",
    "MemoryTables",
    "build_statements",
]

MEMORY_SCHEMA_VERSION: Final = latest_version("memory")
"""The schema version this release's memory migrations bring the tables to."""

_CONFIG = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?")


@dataclass(frozen=True)
class MemoryTables(TableNames):
    """Names of the memory store's tables (unquoted, as configured)."""

    memories: str = MEMORY_TABLE
    tombstones: str = MEMORY_TOMBSTONE_TABLE
    schema_versions: str = MEMORY_SCHEMA_TABLE

    def quoted(self) -> dict[str, str]:
        """Each name quoted, by field.

        Raises:
            ConfigurationError: a name is not an identifier, or two names are equal.
        """
        quoted = {f.name: quote_identifier(getattr(self, f.name)) for f in fields(self)}
        if len(set(quoted.values())) != len(quoted):
            raise ConfigurationError(f"memory table names must be distinct, got {self!r}")
        return quoted


def config_literal(config: str) -> str:
    """The text-search configuration as a SQL literal.

    Raises:
        ConfigurationError: not an identifier (optionally schema-qualified).
    """
    if not isinstance(config, str) or not _CONFIG.fullmatch(config):
        raise ConfigurationError(
            f"invalid memory_text_search_config {config!r}: expected a text-search "
            "configuration name such as 'simple' or 'english'"
        )
    return f"'{config}'"


_RECORD_SCHEMA_VERSION: Final = (
    "INSERT INTO {schema_versions} (version) VALUES (:version) ON CONFLICT (version) DO NOTHING"
)
_GET_SCHEMA_VERSION: Final = """
SELECT max(version) FROM {schema_versions}
WHERE num_nulls(to_regclass('{memories}'), to_regclass('{tombstones}')) = 0
"""

# Writers of one user share this lock; a delete takes it alone, so an add that starts
# after a delete sees its tombstone.
_USER_LOCK_ARGS: Final = "hashtext({lock_key}), hashtext(:app_name || chr(31) || :user_id)"
_LOCK_USER_SHARED: Final = "SELECT pg_advisory_xact_lock_shared(" + _USER_LOCK_ARGS + ")"
_LOCK_USER: Final = "SELECT pg_advisory_xact_lock(" + _USER_LOCK_ARGS + ")"

_UPSERT: Final = """
INSERT INTO {memories} AS m (app_name, user_id, session_id, memory_id, kind, author,
                             event_time, timestamp_text, content, custom_metadata, search_text)
SELECT :app_name, :user_id, :session_id, r.memory_id, :kind, r.author, r.event_time,
       r.timestamp_text, r.content::jsonb, r.custom_metadata::jsonb, r.search_text
FROM unnest(:memory_ids::text[], :authors::text[], :event_times::float8[],
            :timestamp_texts::text[], :contents::text[], :metadata::text[],
            :search_texts::text[])
     AS r(memory_id, author, event_time, timestamp_text, content, custom_metadata, search_text)
WHERE NOT EXISTS (SELECT 1 FROM {tombstones} d WHERE d.app_name = :app_name
                  AND d.user_id = :user_id AND d.memory_id = r.memory_id)
ORDER BY r.memory_id
ON CONFLICT (app_name, user_id, session_id, memory_id) DO UPDATE SET
    author = EXCLUDED.author, event_time = EXCLUDED.event_time,
    timestamp_text = EXCLUDED.timestamp_text, content = EXCLUDED.content,
    custom_metadata = m.custom_metadata || EXCLUDED.custom_metadata,
    search_text = EXCLUDED.search_text, update_time = now()
WHERE (m.author, m.event_time, m.timestamp_text, m.content,
       m.custom_metadata || EXCLUDED.custom_metadata, m.search_text)
      IS DISTINCT FROM (EXCLUDED.author, EXCLUDED.event_time, EXCLUDED.timestamp_text,
                        EXCLUDED.content, m.custom_metadata, EXCLUDED.search_text)
"""

_DELETE_MEMORY: Final = """
WITH gone AS (
    DELETE FROM {memories}
    WHERE app_name = :app_name AND user_id = :user_id AND memory_id = :memory_id
    RETURNING 1
), tombstone AS (
    INSERT INTO {tombstones} (app_name, user_id, memory_id)
    SELECT :app_name, :user_id, :memory_id WHERE EXISTS (SELECT 1 FROM gone)
    ON CONFLICT DO NOTHING
)
SELECT count(*) FROM gone
"""

_DELETE_SESSION: Final = """
WITH gone AS (
    DELETE FROM {memories}
    WHERE app_name = :app_name AND user_id = :user_id AND session_id = :session_id
    RETURNING 1
)
SELECT count(*) FROM gone
"""

# Forgets the user entirely: memories and tombstones.
_DELETE_USER: Final = """
WITH tombstones AS (
    DELETE FROM {tombstones} WHERE app_name = :app_name AND user_id = :user_id
), gone AS (
    DELETE FROM {memories} WHERE app_name = :app_name AND user_id = :user_id RETURNING 1
)
SELECT count(*) FROM gone
"""

_COUNT: Final = "SELECT count(*) FROM {memories} WHERE app_name = :app_name AND user_id = :user_id"


@dataclass(frozen=True)
class MemoryStatements:
    """The memory store's statements, formatted for one set of tables and one config."""

    migrator: Migrator
    indexes: tuple[str, ...]
    """The secondary indexes the migrations create (the trigram one only with pg_trgm)."""
    lock_user_shared: Statement
    lock_user: Statement
    upsert: Statement
    delete_memory: Statement
    delete_session: Statement
    delete_user: Statement
    count: Statement
    parts: dict[str, str]
    """The quoted names the statements were formatted with (for `search_sql`)."""


def _index(table: str, suffix: str) -> str:
    return quote_identifier(f"{unqualified(table)}_{suffix}"[:63])


def build_statements(
    tables: MemoryTables, text_search_config: str = MEMORY_TEXT_SEARCH_CONFIG
) -> MemoryStatements:
    """The statements for these tables and this text-search configuration (the search
    statements are `search_sql`'s, formatted with the same `parts`).

    Raises:
        ConfigurationError: a table name or the configuration name is invalid.
    """
    parts = {
        **tables.quoted(),
        "memories_embedding_index": _index(tables.memories, "embedding"),
        "text_search_config": config_literal(text_search_config),
        "config": config_literal(text_search_config),
        "lock_key": f"'fastapi_adk_store:memory:{tables.memories}'",
        "memories_by_time_index": _index(tables.memories, "by_time"),
        "memories_by_id_index": _index(tables.memories, "by_id"),
        "memories_vector_index": _index(tables.memories, "search_vector"),
        "memories_trigram_index": _index(tables.memories, "search_trgm"),
    }

    def statement(template: str) -> Statement:
        return Statement.parse(template.format(**parts))

    schema = tables.memories.split(".")[:-1]
    return MemoryStatements(
        migrator=Migrator(
            load_migrations("memory", parts),
            version_sql=statement(_GET_SCHEMA_VERSION).text,
            record_sql=statement(_RECORD_SCHEMA_VERSION).text,
            lock_key=f"fastapi_adk_store:memory:{tables.memories}",
        ),
        indexes=tuple(
            ".".join([*schema, parts[name]])
            for name in ("memories_by_time_index", "memories_by_id_index", "memories_vector_index")
        ),
        lock_user_shared=statement(_LOCK_USER_SHARED),
        lock_user=statement(_LOCK_USER),
        upsert=statement(_UPSERT),
        delete_memory=statement(_DELETE_MEMORY),
        delete_session=statement(_DELETE_SESSION),
        delete_user=statement(_DELETE_USER),
        count=statement(_COUNT),
        parts=parts,
    )
