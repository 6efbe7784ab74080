"""`MemoryStore`: memories by app and user, searched by words and n-grams.

Takes and returns records (`records.py`) and JSON texts, never ADK objects: the service
builds those. Statements come from `sql.py`; driver errors leave as the package's.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..db.json import for_jsonb, from_jsonb
from ..db.pool import PooledStore, PoolSource
from .records import MemoryOptions, MemoryRecord, NewMemory, UserKey
from .sql import MemoryStatements, MemoryTables, build_statements
from .terms import indexed_text, query_terms

__all__ = ["MemoryStore"]


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
        super().__init__(pool, missing_table=self.tables.memories, migrator=self._sql.migrator)
        self.index_names = self._sql.indexes

    # --- writes ----------------------------------------------------------------------------

    async def upsert(
        self, user: UserKey, session_id: str, kind: str, memories: Sequence[NewMemory]
    ) -> None:
        """Write these memories of one session (idempotent: by session and memory id).

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
        self, user: UserKey, query: str, *, limit: int | None = None
    ) -> list[MemoryRecord]:
        """The user's memories matching any word (or n-gram) of `query`, best first:
        most matched terms, then ts_rank, then the newest. Any text is a valid query."""
        terms = query_terms(query)
        if not terms:
            return []
        statement = self._sql.search
        args = statement.args(
            **user._asdict(),
            websearch=terms.websearch,
            words=list(terms.words),
            patterns=list(terms.patterns),
            limit=limit if limit is not None else self.options.search_limit,
        )
        async with self._connection() as connection:
            rows = await connection.fetch(statement.text, *args)
        return [
            MemoryRecord(
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
            for row in rows
        ]
