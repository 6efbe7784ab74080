"""The statements of memory search: full-text, and semantic (pgvector) when the service
has an embedder: the embedding column's migrations, vector and hybrid search.

Templates take the quoted names of `sql.build_statements` (`{memories}`, `{config}`...);
the semantic ones also the embedding column's type and the distance operator, known
once the column exists (`vector_statements`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..db.identifiers import quote_identifier
from ..db.migrations import Migrator, load_migrations
from ..db.statements import Statement

__all__ = ["SearchStatements", "VectorStatements", "build_search_statements"]

# OR over the words (websearch_to_tsquery of `a or b`) and over the n-gram patterns;
# ranked by how many of them a memory matches, then ts_rank, then the newest. The
# fragments are shared by the full-text search and the text half of the hybrid one.
# MATERIALIZED: a prepared statement's generic plan would otherwise inline the CTEs and
# parse the query text again for every row of the user (measured: 5x slower).
_TEXT_QUERIES: Final = """
q AS MATERIALIZED (
    SELECT websearch_to_tsquery({config}::regconfig, :websearch) AS q
), w AS MATERIALIZED (
    SELECT plainto_tsquery({config}::regconfig, word) AS q FROM unnest(:words::text[]) word
)"""
_TEXT_SCORES: Final = """
       (SELECT count(*) FROM w WHERE m.search_vector @@ w.q)
     + (SELECT count(*) FROM unnest(:patterns::text[]) p WHERE m.search_text ILIKE p)
       AS matched,
       ts_rank(m.search_vector, q.q, 1) AS rank
FROM {memories} m, q
WHERE m.app_name = :app_name AND m.user_id = :user_id
  AND (m.search_vector @@ q.q OR m.search_text ILIKE ANY (:patterns::text[]))"""
_RESULT_COLUMNS: Final = """m.session_id, m.memory_id, m.kind, m.author, m.event_time,
       m.timestamp_text, m.content::text AS content, m.custom_metadata::text AS custom_metadata"""

_SEARCH: Final = (
    "WITH"
    + _TEXT_QUERIES
    + "\nSELECT "
    + _RESULT_COLUMNS
    + ","
    + _TEXT_SCORES
    + """
ORDER BY matched DESC, rank DESC, m.event_time DESC, m.session_id, m.memory_id
LIMIT :limit
"""
)

# --- semantic search (pgvector): only when the service has an embedder --------------------

_GET_VECTOR_SCHEMA_VERSION: Final = """
SELECT max(version) FROM {vector_schema_versions}
WHERE EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('{memories}')
              AND attname = 'embedding' AND NOT attisdropped)
"""
_RECORD_VECTOR_SCHEMA_VERSION: Final = (
    "INSERT INTO {vector_schema_versions} (version) VALUES (:version) "
    "ON CONFLICT (version) DO NOTHING"
)

# Whether pgvector is installed in this database, installable on this server, and
# whether this role may create it (a superuser, or a trusted extension and CREATE on
# the database): read before migrating, so a missing extension is a clear error.
_VECTOR_EXTENSION: Final = """
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') AS installed,
       EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') AS available,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       OR (EXISTS (SELECT 1 FROM pg_available_extension_versions
                   WHERE name = 'vector' AND trusted)
           AND has_database_privilege(current_database(), 'CREATE')) AS may_create,
       current_database() AS database
"""

# The embedding column's type as this connection must write it (schema-qualified when
# the extension's schema is not on the search_path), its dimensions, and that schema.
_VECTOR_COLUMN: Final = """
SELECT format_type(a.atttypid, a.atttypmod) AS vector_type, a.atttypmod AS dimensions,
       n.nspname AS vector_schema
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE a.attrelid = to_regclass('{memories}') AND a.attname = 'embedding'
  AND NOT a.attisdropped
"""

# Which of these memories lack an embedding of their current text (so adding a session
# again embeds only what is new or changed).
_UNEMBEDDED: Final = """
SELECT r.memory_id
FROM unnest(:memory_ids::text[], :search_texts::text[]) AS r(memory_id, search_text)
WHERE NOT EXISTS (SELECT 1 FROM {memories} m
                  WHERE m.app_name = :app_name AND m.user_id = :user_id
                    AND m.session_id = :session_id AND m.memory_id = r.memory_id
                    AND m.search_text = r.search_text AND m.embedding IS NOT NULL)
  AND NOT EXISTS (SELECT 1 FROM {tombstones} d WHERE d.app_name = :app_name
                  AND d.user_id = :user_id AND d.memory_id = r.memory_id)
"""

_SET_EMBEDDINGS: Final = """
UPDATE {memories} m SET embedding = v.embedding::{vector_type}
FROM unnest(:memory_ids::text[], :embeddings::text[]) AS v(memory_id, embedding)
WHERE m.app_name = :app_name AND m.user_id = :user_id AND m.session_id = :session_id
  AND m.memory_id = v.memory_id
"""

# Nearest first by cosine distance. With a user's filter the planner picks the btree
# (few memories: exact) or the HNSW index (most of the table: approximate). The query
# vector is a sub-select: parsed once (not per row in a generic plan), and still a
# constant to the index's ORDER BY.
_VECTOR_HITS: Final = """
SELECT m.session_id, m.memory_id, m.event_time,
       m.embedding {distance} (SELECT :embedding::text::{vector_type}) AS distance
FROM {memories} m
WHERE m.app_name = :app_name AND m.user_id = :user_id AND m.embedding IS NOT NULL
ORDER BY m.embedding {distance} (SELECT :embedding::text::{vector_type}), m.event_time DESC,
         m.session_id, m.memory_id
LIMIT :candidates"""

_VECTOR_SEARCH: Final = (
    "WITH v AS ("
    + _VECTOR_HITS
    + """
)
SELECT """
    + _RESULT_COLUMNS
    + """, 0::bigint AS matched, (1 - v.distance)::real AS rank
FROM v JOIN {memories} m ON (m.app_name, m.user_id, m.session_id, m.memory_id)
                          = (:app_name, :user_id, v.session_id, v.memory_id)
ORDER BY v.distance, m.event_time DESC, m.session_id, m.memory_id
LIMIT :limit
"""
)

# Reciprocal rank fusion: each list (full-text, vector) gives a memory 1 / (k + its
# position there); the sum ranks, newer breaks ties.
_HYBRID_SEARCH: Final = (
    "WITH"
    + _TEXT_QUERIES
    + """, text_hits AS (
    SELECT session_id, memory_id, matched, row_number() OVER (
               ORDER BY matched DESC, rank DESC, event_time DESC, session_id, memory_id)
           AS position
    FROM (SELECT m.session_id, m.memory_id, m.event_time,"""
    + _TEXT_SCORES
    + """) t
    ORDER BY position
    LIMIT :candidates
), vector_hits AS (
    SELECT session_id, memory_id, 0::bigint AS matched, row_number() OVER (
               ORDER BY distance, event_time DESC, session_id, memory_id) AS position
    FROM ("""
    + _VECTOR_HITS
    + """) v
), fused AS (
    SELECT session_id, memory_id, max(matched) AS matched,
           sum(1.0 / (:rrf_k + position)) AS score
    FROM (SELECT * FROM text_hits UNION ALL SELECT * FROM vector_hits) hits
    GROUP BY session_id, memory_id
)
SELECT """
    + _RESULT_COLUMNS
    + """, f.matched, f.score::real AS rank
FROM fused f JOIN {memories} m ON (m.app_name, m.user_id, m.session_id, m.memory_id)
                               = (:app_name, :user_id, f.session_id, f.memory_id)
ORDER BY f.score DESC, m.event_time DESC, m.session_id, m.memory_id
LIMIT :limit
"""
)


@dataclass(frozen=True)
class VectorStatements:
    """The statements of semantic search, for one embedding column's type."""

    unembedded: Statement
    set_embeddings: Statement
    vector_search: Statement
    hybrid_search: Statement


def _statement(template: str, names: dict[str, str]) -> Statement:
    return Statement.parse(template.format(**names))


def vector_statements(
    parts: dict[str, str], vector_type: str, vector_schema: str
) -> VectorStatements:
    """Semantic search's statements for the column's type, as `format_type` gives it,
    and the extension's schema (which qualifies the distance operator)."""
    names = {
        **parts,
        "vector_type": vector_type,
        "distance": f"OPERATOR({quote_identifier(vector_schema, what='schema name')}.<=>)",
    }
    return VectorStatements(
        unembedded=_statement(_UNEMBEDDED, names),
        set_embeddings=_statement(_SET_EMBEDDINGS, names),
        vector_search=_statement(_VECTOR_SEARCH, names),
        hybrid_search=_statement(_HYBRID_SEARCH, names),
    )


def _vector_migrator(parts: dict[str, str], memories: str, dimensions: int) -> Migrator:
    """The migrations of the embedding column, with their own version table."""
    names = {
        **parts,
        "vector_schema_versions": quote_identifier(f"{memories}_vector_schema"),
        "embedding_dimensions": str(dimensions),
    }
    return Migrator(
        load_migrations("memory_vectors", names),
        version_sql=_GET_VECTOR_SCHEMA_VERSION.format(**names),
        record_sql=Statement.parse(_RECORD_VECTOR_SCHEMA_VERSION.format(**names)).text,
        lock_key=f"fastapi_adk_store:memory_vectors:{memories}",
    )


@dataclass(frozen=True)
class SearchStatements:
    """Full-text search, and what semantic search needs before its column is known."""

    search: Statement
    vector_extension: Statement
    vector_column: Statement
    vector_migrator: Migrator | None
    """Adds the embedding column and its index (only with an embedder's dimensions)."""
    parts: dict[str, str]

    def vector_statements(self, vector_type: str, vector_schema: str) -> VectorStatements:
        """Semantic search's statements for the embedding column's type and schema."""
        return vector_statements(self.parts, vector_type, vector_schema)


def build_search_statements(
    parts: dict[str, str], memories: str, embedding_dimensions: int | None
) -> SearchStatements:
    """The search statements for `sql.build_statements`' quoted names (`parts`); with
    `embedding_dimensions`, the migrations of the embedding column too."""
    return SearchStatements(
        search=_statement(_SEARCH, parts),
        vector_extension=_statement(_VECTOR_EXTENSION, parts),
        vector_column=_statement(_VECTOR_COLUMN, parts),
        vector_migrator=(
            None
            if embedding_dimensions is None
            else _vector_migrator(parts, memories, embedding_dimensions)
        ),
        parts=parts,
    )
