"""Every SQL statement of the artifact store, and the schema they run on.

The tables come from db/migrations/artifacts/*.sql. Table names are checked and quoted
once, in `build_statements`; values travel as parameters (`:name`, sent as `$n`).

Locks, always taken in this order so that no two transactions wait on each other:
the artifact's key lock (one advisory transaction lock per app, user, scope and
filename: it makes version numbers atomic), then the lock of a blob's sha256 (it makes
"find or store these bytes" and "collect these bytes when unreferenced" exclusive).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..db.identifiers import TableNames, quote_identifier, unqualified
from ..db.migrations import Migrator, latest_version, load_migrations
from ..db.statements import Statement
from ..defaults import (
    ARTIFACT_BLOBS_TABLE,
    ARTIFACT_CHUNKS_TABLE,
    ARTIFACT_SCHEMA_TABLE,
    ARTIFACT_VERSIONS_TABLE,
)

__all__ = ["ARTIFACT_SCHEMA_VERSION", "ArtifactStatements", "ArtifactTables", "build_statements"]

ARTIFACT_SCHEMA_VERSION: Final = latest_version("artifacts")
"""The schema version this release's artifact migrations bring the tables to."""


@dataclass(frozen=True)
class ArtifactTables(TableNames):
    """Names of the artifact store's tables (unquoted, as configured)."""

    versions: str = ARTIFACT_VERSIONS_TABLE
    blobs: str = ARTIFACT_BLOBS_TABLE
    chunks: str = ARTIFACT_CHUNKS_TABLE
    schema_versions: str = ARTIFACT_SCHEMA_TABLE


_RECORD_SCHEMA_VERSION: Final = (
    "INSERT INTO {schema_versions} (version) VALUES (:version) ON CONFLICT (version) DO NOTHING"
)
_GET_SCHEMA_VERSION: Final = """
SELECT max(version) FROM {schema_versions}
WHERE num_nulls(to_regclass('{versions}'), to_regclass('{blobs}'), to_regclass('{chunks}')) = 0
"""

_LOCK: Final = "SELECT pg_advisory_xact_lock(hashtextextended(:lock_name, 0))"

_KEY_IS: Final = (
    "app_name = :app_name AND user_id = :user_id AND session_id = :session_id "
    "AND filename = :filename"
)
_V_KEY_IS: Final = (
    "v.app_name = :app_name AND v.user_id = :user_id AND v.session_id = :session_id "
    "AND v.filename = :filename"
)
_VERSION_COLUMNS: Final = (
    "v.version, v.kind, v.mime_type, v.part, v.custom_metadata, v.blob_id, v.size, "
    "v.create_time, b.sha256"
)

# --- blobs --------------------------------------------------------------------------------

_FIND_BLOB: Final = "SELECT id FROM {blobs} WHERE sha256 = :sha256"
# sha256 NULL: a streaming save's blob, named once its last chunk is written.
_NEW_BLOB: Final = (
    "INSERT INTO {blobs} (sha256, size, chunks) VALUES (:sha256, :size, :chunks) RETURNING id"
)
_INSERT_CHUNK: Final = "INSERT INTO {chunks} (blob_id, seq, data) VALUES (:blob_id, :seq, :data)"
_SEAL_BLOB: Final = (
    "UPDATE {blobs} SET sha256 = :sha256, size = :size, chunks = :chunks WHERE id = :blob_id"
)
_DROP_BLOB: Final = "DELETE FROM {blobs} WHERE id = :blob_id"
_GET_CHUNKS: Final = "SELECT data FROM {chunks} WHERE blob_id = :blob_id ORDER BY seq"
# Deletes the blob (its chunks cascade) when no version points at it; run under its lock.
_COLLECT_BLOB: Final = """
DELETE FROM {blobs} b
WHERE b.id = :blob_id AND NOT EXISTS (SELECT 1 FROM {versions} v WHERE v.blob_id = b.id)
RETURNING b.chunks, b.size
"""
_BLOBS_BY_ID: Final = "SELECT id, sha256 FROM {blobs} WHERE id = ANY(:blob_ids) ORDER BY sha256"
_COUNT_GARBAGE: Final = """
SELECT count(*) AS blobs, COALESCE(sum(b.chunks), 0)::bigint AS chunks,
       COALESCE(sum(b.size), 0)::bigint AS bytes
FROM {blobs} b
WHERE b.sha256 IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM {versions} v WHERE v.blob_id = b.id)
"""
_UNREFERENCED_BLOBS: Final = """
SELECT b.id, b.sha256 FROM {blobs} b
WHERE b.sha256 IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM {versions} v WHERE v.blob_id = b.id)
ORDER BY b.sha256
LIMIT :limit
"""

# --- versions -----------------------------------------------------------------------------

# Run under the key lock: the next number is one past the committed maximum (0 first).
_INSERT_VERSION: Final = """
INSERT INTO {versions} (app_name, user_id, session_id, filename, version, kind, mime_type,
                        part, custom_metadata, blob_id, size)
SELECT :app_name, :user_id, :session_id, :filename, COALESCE(max(v.version) + 1, 0), :kind,
       :mime_type, :part::jsonb, :custom_metadata::jsonb, :blob_id, :size
FROM {versions} v
WHERE {v_key_is}
RETURNING version, create_time
"""
# :version NULL: the latest.
_GET_VERSION: Final = """
SELECT {version_columns}
FROM {versions} v LEFT JOIN {blobs} b ON b.id = v.blob_id
WHERE {v_key_is} AND (:version::integer IS NULL OR v.version = :version::integer)
ORDER BY v.version DESC
LIMIT 1
"""
_LIST_VERSIONS: Final = """
SELECT {version_columns}
FROM {versions} v LEFT JOIN {blobs} b ON b.id = v.blob_id
WHERE {v_key_is}
ORDER BY v.version
"""
_LIST_VERSION_NUMBERS: Final = "SELECT version FROM {versions} WHERE {key_is} ORDER BY version"
# Filenames of a session and of its user's scope (''), in code point order as ADK sorts.
_LIST_KEYS: Final = """
SELECT DISTINCT filename COLLATE "C" AS filename FROM {versions}
WHERE app_name = :app_name AND user_id = :user_id AND session_id IN (:session_id, '')
ORDER BY 1
"""
_DELETE_VERSIONS: Final = "DELETE FROM {versions} WHERE {key_is} RETURNING blob_id"
_SCOPE_IS: Final = "app_name = :app_name AND user_id = :user_id AND session_id = :session_id"
_SCOPE_FILENAMES: Final = (
    'SELECT DISTINCT filename COLLATE "C" AS filename FROM {versions} WHERE {scope_is} ORDER BY 1'
)
_DELETE_SCOPE: Final = "DELETE FROM {versions} WHERE {scope_is} RETURNING blob_id"
_COUNT_SCOPE: Final = "SELECT count(*) FROM {versions} WHERE {scope_is}"
_COUNT_BLOBS: Final = "SELECT count(*) FROM {blobs}"


@dataclass(frozen=True)
class ArtifactStatements:
    """The artifact store's SQL, formatted for one set of table names."""

    migrator: Migrator
    lock: Statement
    find_blob: Statement
    new_blob: Statement
    insert_chunk: Statement
    seal_blob: Statement
    drop_blob: Statement
    get_chunks: Statement
    collect_blob: Statement
    blobs_by_id: Statement
    unreferenced_blobs: Statement
    count_garbage: Statement
    insert_version: Statement
    get_version: Statement
    list_versions: Statement
    list_version_numbers: Statement
    list_keys: Statement
    delete_versions: Statement
    scope_filenames: Statement
    delete_scope: Statement
    count_scope: Statement
    count_blobs: Statement


def build_statements(tables: ArtifactTables) -> ArtifactStatements:
    """Check the names and format every statement for them.

    Raises:
        ConfigurationError: a table name is invalid or two are equal.
    """
    parts = {
        **tables.quoted(),
        "versions_by_blob_index": quote_identifier(f"{unqualified(tables.versions)}_by_blob"[:63]),
        "key_is": _KEY_IS,
        "scope_is": _SCOPE_IS,
        "v_key_is": _V_KEY_IS,
        "version_columns": _VERSION_COLUMNS,
    }

    def statement(template: str) -> Statement:
        return Statement.parse(template.format(**parts))

    return ArtifactStatements(
        migrator=Migrator(
            load_migrations("artifacts", parts),
            version_sql=statement(_GET_SCHEMA_VERSION).text,
            record_sql=statement(_RECORD_SCHEMA_VERSION).text,
            lock_key=f"fastapi_adk_store:artifacts:{tables.versions}",
        ),
        lock=statement(_LOCK),
        find_blob=statement(_FIND_BLOB),
        new_blob=statement(_NEW_BLOB),
        insert_chunk=statement(_INSERT_CHUNK),
        seal_blob=statement(_SEAL_BLOB),
        drop_blob=statement(_DROP_BLOB),
        get_chunks=statement(_GET_CHUNKS),
        collect_blob=statement(_COLLECT_BLOB),
        blobs_by_id=statement(_BLOBS_BY_ID),
        unreferenced_blobs=statement(_UNREFERENCED_BLOBS),
        count_garbage=statement(_COUNT_GARBAGE),
        insert_version=statement(_INSERT_VERSION),
        get_version=statement(_GET_VERSION),
        list_versions=statement(_LIST_VERSIONS),
        list_version_numbers=statement(_LIST_VERSION_NUMBERS),
        list_keys=statement(_LIST_KEYS),
        delete_versions=statement(_DELETE_VERSIONS),
        scope_filenames=statement(_SCOPE_FILENAMES),
        delete_scope=statement(_DELETE_SCOPE),
        count_scope=statement(_COUNT_SCOPE),
        count_blobs=statement(_COUNT_BLOBS),
    )
