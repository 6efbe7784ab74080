"""What an operator runs on the memory tables: purge by age (the CLI's `purge`).

Kept apart from `store.py`, which serves the requests: nothing here is on a hot path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from ..db.pool import PooledStore
from ..db.statements import Statement
from ..errors import SchemaMissingError
from .store import MemoryStore

__all__ = ["MemoryMaintenance"]

# Memories of events (or entries) from before :cutoff (epoch seconds), of one app or all.
_OLD: Final = """
SELECT app_name, user_id, session_id, memory_id FROM {memories}
WHERE event_time < :cutoff AND (:app_name::text IS NULL OR app_name = :app_name)
"""
_COUNT_OLD: Final = "SELECT count(*) FROM ({old}) old"
_PURGE_BATCH: Final = """
WITH doomed AS ({old} LIMIT :batch_size FOR UPDATE SKIP LOCKED),
gone AS (
    DELETE FROM {memories} m USING doomed d
    WHERE (m.app_name, m.user_id, m.session_id, m.memory_id)
        = (d.app_name, d.user_id, d.session_id, d.memory_id)
    RETURNING 1
)
SELECT count(*) FROM gone
"""


class MemoryMaintenance(PooledStore):
    """Purge over the same pool and tables as `store`."""

    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store.pool_source, missing_table=store.tables.memories)
        self._store = store
        names = store.statements.parts
        old = _OLD.format(**names)
        self._count = Statement.parse(_COUNT_OLD.format(old=old))
        self._purge = Statement.parse(_PURGE_BATCH.format(old=old, **names))

    async def tables_exist(self) -> bool:
        """Whether the memory tables are there (purge skips memory otherwise).

        Raises:
            SchemaOutdatedError: they are, at another version (run migrate).
        """
        try:
            await self._store.check_schema()
        except SchemaMissingError:
            return False
        return True

    async def purge(
        self,
        *,
        older_than: float,
        app_name: str | None = None,
        dry_run: bool = False,
        batch_size: int = 1000,
    ) -> int:
        """Delete memories of events (and entries written) more than `older_than` seconds
        ago, in batches of `batch_size`, each its own transaction; the number deleted (or,
        dry, that would be). Tombstones stay: a memory deleted by id never comes back."""
        where = {"cutoff": datetime.now(UTC).timestamp() - older_than, "app_name": app_name}
        async with self._connection() as connection:
            if dry_run:
                count: int = await connection.fetchval(self._count.text, *self._count.args(**where))
                return count
            total = 0
            args = self._purge.args(**where, batch_size=batch_size)
            while True:
                gone: int = await connection.fetchval(self._purge.text, *args)
                total += gone
                if gone < batch_size:
                    return total
