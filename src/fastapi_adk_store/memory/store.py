"""`MemoryStore`: memories by app and user, searched by words and n-grams.

Takes and returns records (`records.py`) and JSON texts, never ADK objects: the service
builds those. Statements come from `sql.py`; driver errors leave as the package's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from ..db.json import for_jsonb, from_jsonb
from ..db.migrations import Migration
from ..db.pool import PooledStore, PoolSource
from ..errors import ConfigurationError, SchemaMissingError
from .records import MemoryOptions, MemoryRecord, NewMemory, SearchMode, UserKey
from .search_sql import SearchStatements, VectorStatements, build_search_statements
from .sql import MemoryStatements, MemoryTables, build_statements
from .terms import QueryTerms, indexed_text, query_terms

__all__ = ["MEMORY_OPTION_KEYS", "RRF_K", "MemoryStore"]

_MEMORY_VALUES = ("search_limit", "text_search_config", "max_text_bytes")
MEMORY_OPTION_KEYS = frozenset(
    f"memory_{key}" for key in ("table", "tombstone_table", "schema_table", *_MEMORY_VALUES)
)
"""Options of the memory store, beside the pool's (the settings of the same names)."""

RRF_K = 60
"""Reciprocal rank fusion's constant: a memory at position p of a list scores 1/(k + p)."""
_CANDIDATES_PER_RESULT = 4
"""Each list hybrid search fuses holds this many times the result limit."""


def vector_text(vector: Sequence[float], dimensions: int) -> str:
    """A vector as pgvector reads it (`[1.0,2.5]`).

    Raises:
        ConfigurationError: not `dimensions` finite numbers (the embedder is wrong).
    """
    values = [float(x) for x in vector]
    if len(values) != dimensions or not all(math.isfinite(x) for x in values):
        raise ConfigurationError(
            f"the embedder returned a vector of {len(values)} values (finite: "
            f"{all(math.isfinite(x) for x in values)}); expected {dimensions} finite numbers"
        )
    return "[" + ",".join(map(repr, values)) + "]"


class MemoryStore(PooledStore):
    """A user's memories in PostgreSQL, over one pool.

    Args:
        pool: where the pool comes from (`compose` opens it).
        tables: the table names.
        options: the search limit, text-search configuration and indexed-text cap.

    Raises:
        ConfigurationError: a table name or an option is invalid.
    """

    def __init__(
        self,
        pool: PoolSource,
        *,
        tables: MemoryTables | None = None,
        options: MemoryOptions | None = None,
    ) -> None:
        self.tables = tables or MemoryTables()
        self.options = (options or MemoryOptions()).checked()
        self._sql: MemoryStatements = build_statements(self.tables, self.options.text_search_config)
        self._search: SearchStatements = build_search_statements(
            self._sql.parts, self.tables.memories, self.options.embedding_dimensions
        )
        super().__init__(pool, missing_table=self.tables.memories, migrator=self._sql.migrator)
        self.index_names = self._sql.indexes
        self._vector_sql: VectorStatements | None = None

    @classmethod
    def from_options(
        cls, pool: PoolSource, options: Mapping[str, Any], embedding_dimensions: int | None
    ) -> MemoryStore:
        """A store with these `memory_*` options (`MEMORY_OPTION_KEYS`; defaults for the
        rest) and, with `embedding_dimensions`, semantic search.

        Raises:
            ConfigurationError: an unknown option, a bad table name or value.
        """
        unknown = sorted(set(options) - MEMORY_OPTION_KEYS)
        if unknown:
            raise ConfigurationError(f"unknown memory option(s) {', '.join(unknown)}")
        defaults = MemoryTables()
        tables = MemoryTables(
            memories=options.get("memory_table", defaults.memories),
            tombstones=options.get("memory_tombstone_table", defaults.tombstones),
            schema_versions=options.get("memory_schema_table", defaults.schema_versions),
        )
        given = {k: options[f"memory_{k}"] for k in _MEMORY_VALUES if f"memory_{k}" in options}
        memory = MemoryOptions(**given, embedding_dimensions=embedding_dimensions)
        return cls(pool, tables=tables, options=memory)

    @property
    def statements(self) -> MemoryStatements:
        """The statements and quoted names this store runs (for its maintenance)."""
        return self._sql

    @property
    def embedding_dimensions(self) -> int | None:
        """The embedding column's size, or None: this store does no semantic search."""
        return self.options.embedding_dimensions

    # --- schema: the embedding column's migrations follow the memory ones ---------------------

    async def migrate(self) -> list[Migration]:
        """Apply the pending migrations, the embedding column's too with an embedder.

        Raises:
            ConfigurationError: pgvector is missing or cannot be created, or the
                column holds vectors of other dimensions.
        """
        done = await super().migrate()
        vectors = self._search.vector_migrator
        if vectors is None:
            return done
        async with self._connection() as connection:
            if vectors.pending(await vectors.applied(connection)):
                await self._check_extension(connection)
                done += await vectors.apply(connection)
            await self._bind_vectors(connection)
        return done

    async def pending_migrations(self) -> list[Migration]:
        pending = await super().pending_migrations()
        vectors = self._search.vector_migrator
        if vectors is None:
            return pending
        async with self._connection() as connection:
            return pending + vectors.pending(await vectors.applied(connection))

    async def check_schema(self) -> None:
        await super().check_schema()
        if self._search.vector_migrator is not None:
            async with self._connection() as connection:
                await self._bind_vectors(connection)

    async def _check_extension(self, connection: asyncpg.Connection) -> None:
        row = await connection.fetchrow(self._search.vector_extension.text)
        if row["installed"]:
            return
        if not row["available"]:
            raise ConfigurationError(
                "semantic memory search needs the pgvector extension ('vector'), which "
                "this PostgreSQL server does not have: install it on the server (e.g. "
                "the postgresql-<version>-pgvector package; the embedded server ships "
                "it), or open the memory service without an embedder"
            )
        if not row["may_create"]:
            raise ConfigurationError(
                "semantic memory search needs the pgvector extension, and this role may "
                f"not create it: ask a superuser to run CREATE EXTENSION vector in "
                f"database {row['database']}, or open the memory service without an embedder"
            )

    async def _bind_vectors(self, connection: asyncpg.Connection) -> VectorStatements:
        """Semantic search's statements for the column as it is; checks its size."""
        row = await connection.fetchrow(self._search.vector_column.text)
        if row is None:
            raise SchemaMissingError(f"{self.tables.memories} (its embedding column)")
        if row["dimensions"] != self.embedding_dimensions:
            raise ConfigurationError(
                f"{self.tables.memories}.embedding holds vectors of {row['dimensions']} "
                f"dimensions; this embedder makes {self.embedding_dimensions}: use an "
                "embedder of that size, or drop the column (and its version table "
                f"{self.tables.memories}_vector_schema) to embed anew"
            )
        self._vector_sql = self._search.vector_statements(row["vector_type"], row["vector_schema"])
        return self._vector_sql

    async def _vectors(self, connection: asyncpg.Connection) -> VectorStatements:
        if self.embedding_dimensions is None:
            raise ConfigurationError("this memory store has no embedder: no semantic search")
        return self._vector_sql or await self._bind_vectors(connection)

    # --- writes ----------------------------------------------------------------------------

    async def upsert(
        self,
        user: UserKey,
        session_id: str,
        kind: str,
        memories: Sequence[NewMemory],
        embeddings: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        """Write these memories of one session (idempotent: by session and memory id),
        with the `embeddings` given (by memory id) in the same transaction.

        Memories deleted by id (tombstoned) are skipped; the last of duplicate ids wins;
        metadata merges into what is stored.
        """
        rows = {memory.memory_id: memory for memory in memories}
        if not rows:
            return
        chosen = sorted(rows.values())
        cap = self.options.max_text_bytes
        args = self._sql.upsert.args(
            **user._asdict(),
            session_id=session_id,
            kind=kind,
            memory_ids=[m.memory_id for m in chosen],
            authors=[m.author for m in chosen],
            event_times=[m.event_time for m in chosen],
            timestamp_texts=[m.timestamp_text for m in chosen],
            contents=[for_jsonb(m.content_json) for m in chosen],
            metadata=[for_jsonb(m.metadata_json) for m in chosen],
            search_texts=[indexed_text(m.text, cap) for m in chosen],
        )
        lock = self._sql.lock_user_shared
        async with self._connection() as connection, connection.transaction():
            await connection.execute(lock.text, *lock.args(**user._asdict()))
            await connection.execute(self._sql.upsert.text, *args)
            if embeddings:
                await self._set_embeddings(connection, user, session_id, embeddings)

    async def _set_embeddings(
        self,
        connection: asyncpg.Connection,
        user: UserKey,
        session_id: str,
        embeddings: Mapping[str, Sequence[float]],
    ) -> None:
        dimensions = self.embedding_dimensions or 0
        statement = (await self._vectors(connection)).set_embeddings
        ids = sorted(embeddings)
        await connection.execute(
            statement.text,
            *statement.args(
                **user._asdict(),
                session_id=session_id,
                memory_ids=ids,
                embeddings=[vector_text(embeddings[i], dimensions) for i in ids],
            ),
        )

    async def unembedded(
        self, user: UserKey, session_id: str, memories: Sequence[NewMemory]
    ) -> list[NewMemory]:
        """The memories to embed: new, or whose text changed (not deleted by id)."""
        rows = {memory.memory_id: memory for memory in memories}
        if not rows:
            return []
        cap = self.options.max_text_bytes
        async with self._connection() as connection:
            statement = (await self._vectors(connection)).unembedded
            found = await connection.fetch(
                statement.text,
                *statement.args(
                    **user._asdict(),
                    session_id=session_id,
                    memory_ids=list(rows),
                    search_texts=[indexed_text(m.text, cap) for m in rows.values()],
                ),
            )
        return [rows[row["memory_id"]] for row in found]

    async def delete_memory(self, user: UserKey, memory_id: str) -> int:
        """Delete a memory by id (in every session of the user) and tombstone it, so
        writing its session again does not bring it back; the number of rows deleted."""
        lock, delete = self._sql.lock_user, self._sql.delete_memory
        async with self._connection() as connection, connection.transaction():
            await connection.execute(lock.text, *lock.args(**user._asdict()))
            count: int = await connection.fetchval(
                delete.text, *delete.args(**user._asdict(), memory_id=memory_id)
            )
            return count

    async def delete_session(self, user: UserKey, session_id: str) -> int:
        """Delete the memories of one session (writing it again brings them back)."""
        delete = self._sql.delete_session
        async with self._connection() as connection:
            count: int = await connection.fetchval(
                delete.text, *delete.args(**user._asdict(), session_id=session_id)
            )
            return count

    async def delete_user(self, user: UserKey) -> int:
        """Forget the user: every memory and every tombstone of theirs in this app."""
        lock, delete = self._sql.lock_user, self._sql.delete_user
        async with self._connection() as connection, connection.transaction():
            await connection.execute(lock.text, *lock.args(**user._asdict()))
            count: int = await connection.fetchval(delete.text, *delete.args(**user._asdict()))
            return count

    # --- reads -----------------------------------------------------------------------------

    async def count(self, user: UserKey) -> int:
        """How many memories the user has."""
        statement = self._sql.count
        async with self._connection() as connection:
            count: int = await connection.fetchval(
                statement.text, *statement.args(**user._asdict())
            )
            return count

    async def search(
        self,
        user: UserKey,
        query: str,
        *,
        limit: int | None = None,
        embedding: Sequence[float] | None = None,
        mode: SearchMode = "hybrid",
    ) -> list[MemoryRecord]:
        """The user's memories for `query`, best first. Any text is a valid query.

        Without `embedding`: those matching any word (or n-gram), by most matched terms,
        then ts_rank, then the newest. With the query's `embedding`: the nearest by
        cosine distance (`mode="vector"`), or the full-text and nearest lists fused by
        reciprocal rank (`"hybrid"`, k = `RRF_K`).
        """
        terms = query_terms(query)
        limit = limit if limit is not None else self.options.search_limit
        if embedding is None and not terms:
            return []
        async with self._connection() as connection:
            if embedding is None:
                statement, args = self._search.search, self._text_args(terms)
            else:
                vectors = await self._vectors(connection)
                vector = vector_text(embedding, self.embedding_dimensions or 0)
                args = {"embedding": vector, "candidates": limit * _CANDIDATES_PER_RESULT}
                if mode == "vector":
                    statement = vectors.vector_search
                else:
                    statement = vectors.hybrid_search
                    args |= {**self._text_args(terms), "rrf_k": RRF_K}
            rows = await connection.fetch(
                statement.text, *statement.args(**user._asdict(), limit=limit, **args)
            )
        return [_record(row) for row in rows]

    @staticmethod
    def _text_args(terms: QueryTerms) -> dict[str, Any]:
        return {
            "websearch": terms.websearch,
            "words": list(terms.words),
            "patterns": list(terms.patterns),
        }


def _record(row: asyncpg.Record) -> MemoryRecord:
    return MemoryRecord(
        session_id=row["session_id"],
        memory_id=row["memory_id"],
        kind=row["kind"],
        author=row["author"],
        event_time=row["event_time"],
        timestamp_text=row["timestamp_text"],
        content_json=from_jsonb(row["content"]),
        metadata_json=from_jsonb(row["custom_metadata"]),
        matched=row["matched"],
        rank=row["rank"],
    )
