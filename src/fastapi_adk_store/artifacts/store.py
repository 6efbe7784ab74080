"""`ArtifactStore`: artifact versions by key, their bytes content-addressed and chunked.

Takes and returns records (`records.py`) and bytes, never ADK objects: the service
builds those. Every save is one transaction: the bytes (unless a blob with their sha256
exists), then the version, numbered one past the committed maximum under the key's
advisory lock. A save that fails leaves nothing behind; a delete collects the blobs no
version points at any more. Lock order: `sql.py`'s docstring.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from ..db.pool import PooledStore, PoolSource
from .records import (
    ArtifactKey,
    ArtifactLimits,
    Garbage,
    NewVersion,
    SavedVersion,
    VersionRecord,
    version_record,
)
from .sql import ArtifactStatements, ArtifactTables, build_statements

__all__ = ["ArtifactStore"]

_SEPARATOR = "\x1f"


class ArtifactStore(PooledStore):
    """ADK artifacts in PostgreSQL by `ArtifactKey`, over one pool.

    Args:
        pool: where the pool comes from (`compose` opens it).
        tables: the table names.
        limits: the payload size cap and the chunk size.

    Raises:
        ConfigurationError: a table name or a limit is invalid.
    """

    def __init__(
        self,
        pool: PoolSource,
        *,
        tables: ArtifactTables | None = None,
        limits: ArtifactLimits | None = None,
    ) -> None:
        self.tables = tables or ArtifactTables()
        """The table names."""
        self.limits = limits or ArtifactLimits()
        """What the store accepts."""
        self._sql: ArtifactStatements = build_statements(self.tables)
        super().__init__(pool, missing_table=self.tables.versions, migrator=self._sql.migrator)

    # --- locks -----------------------------------------------------------------------------

    async def _lock_key(self, connection: asyncpg.Connection, key: ArtifactKey) -> None:
        name = _SEPARATOR.join((self.tables.versions, *key))
        await connection.execute(self._sql.lock.text, name)

    async def _lock_blob(self, connection: asyncpg.Connection, sha256: bytes) -> None:
        await connection.execute(self._sql.lock.text, f"{self.tables.blobs}:{sha256.hex()}")

    # --- saves -----------------------------------------------------------------------------

    async def save(self, key: ArtifactKey, new: NewVersion, data: bytes | None) -> SavedVersion:
        """Save a version holding `data` (None: a file part, no bytes); one transaction.

        Raises:
            ArtifactTooLargeError: `data` is over `limits.max_artifact_bytes`.
        """
        if data is not None:
            self.limits.check_size(len(data))
        async with self._connection() as connection, connection.transaction():
            await self._lock_key(connection, key)
            blob_id = None if data is None else await self._store_bytes(connection, data)
            return await self._insert_version(
                connection, key, new, blob_id, 0 if data is None else len(data)
            )

    async def save_stream(
        self, key: ArtifactKey, new: NewVersion, chunks: AsyncIterable[bytes]
    ) -> SavedVersion:
        """Save a version whose bytes arrive as `chunks`, holding one chunk at a time.

        The bytes are written as they come into a blob without a name, inside the save's
        transaction; once complete they get their sha256, or are dropped for the blob
        that already has it.

        Raises:
            ArtifactTooLargeError: the chunks add up to more than the cap (nothing stays).
        """
        async with self._connection() as connection, connection.transaction():
            pending = await connection.fetchval(
                self._sql.new_blob.text, *self._sql.new_blob.args(sha256=None, size=0, chunks=0)
            )
            digest, size, count = await self._write_chunks(connection, pending, chunks)
            await self._lock_key(connection, key)
            await self._lock_blob(connection, digest)
            existing = await connection.fetchval(self._sql.find_blob.text, digest)
            if existing is not None:
                await connection.execute(self._sql.drop_blob.text, pending)
            else:
                await connection.execute(
                    self._sql.seal_blob.text,
                    *self._sql.seal_blob.args(
                        sha256=digest, size=size, chunks=count, blob_id=pending
                    ),
                )
            return await self._insert_version(
                connection, key, new, existing if existing is not None else pending, size
            )

    async def _write_chunks(
        self, connection: asyncpg.Connection, blob_id: int, chunks: AsyncIterable[bytes]
    ) -> tuple[bytes, int, int]:
        """Write `chunks` re-cut to the chunk size; return (sha256, size, chunk count)."""
        digest, size, seq = hashlib.sha256(), 0, 0
        buffer = bytearray()
        step = self.limits.chunk_bytes
        async for piece in chunks:
            size += len(piece)
            self.limits.check_size(size)
            digest.update(piece)
            buffer += piece
            while len(buffer) >= step:
                await connection.execute(
                    self._sql.insert_chunk.text, blob_id, seq, bytes(buffer[:step])
                )
                del buffer[:step]
                seq += 1
        if buffer or seq == 0:
            await connection.execute(self._sql.insert_chunk.text, blob_id, seq, bytes(buffer))
            seq += 1
        return digest.digest(), size, seq

    async def _store_bytes(self, connection: asyncpg.Connection, data: bytes) -> int:
        """The id of the blob holding `data`: found by sha256, else written now."""
        digest = hashlib.sha256(data).digest()
        await self._lock_blob(connection, digest)
        existing: int | None = await connection.fetchval(self._sql.find_blob.text, digest)
        if existing is not None:
            return existing
        step = self.limits.chunk_bytes
        # Views, not copies: a save holds the payload once (asyncpg sends any buffer).
        view = memoryview(data)
        pieces = [view[at : at + step] for at in range(0, len(data), step)] or [view]
        blob_id: int = await connection.fetchval(
            self._sql.new_blob.text,
            *self._sql.new_blob.args(sha256=digest, size=len(data), chunks=len(pieces)),
        )
        await connection.executemany(
            self._sql.insert_chunk.text, [(blob_id, seq, piece) for seq, piece in enumerate(pieces)]
        )
        return blob_id

    async def _insert_version(
        self,
        connection: asyncpg.Connection,
        key: ArtifactKey,
        new: NewVersion,
        blob_id: int | None,
        size: int,
    ) -> SavedVersion:
        row = await connection.fetchrow(
            self._sql.insert_version.text,
            *self._sql.insert_version.args(
                **key._asdict(),
                kind=new.kind,
                mime_type=new.mime_type,
                part=new.part_json(),
                custom_metadata=new.metadata_json(),
                blob_id=blob_id,
                size=size,
            ),
        )
        return SavedVersion(row["version"], row["create_time"])

    # --- reads -----------------------------------------------------------------------------

    async def get(self, key: ArtifactKey, version: int | None = None) -> VersionRecord | None:
        """One version's record (None: the latest), or None when there is no such version."""
        async with self._connection() as connection:
            return await self._get(connection, key, version)

    async def _get(
        self, connection: asyncpg.Connection, key: ArtifactKey, version: int | None
    ) -> VersionRecord | None:
        row = await connection.fetchrow(
            self._sql.get_version.text,
            *self._sql.get_version.args(**key._asdict(), version=version),
        )
        return None if row is None else version_record(row)

    async def load(
        self, key: ArtifactKey, version: int | None = None
    ) -> tuple[VersionRecord, bytes | None] | None:
        """A version's record and its bytes (None for a file part), from one snapshot."""
        async with (
            self._connection() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            record = await self._get(connection, key, version)
            if record is None:
                return None
            if record.blob_id is None:
                return record, None
            rows = await connection.fetch(self._sql.get_chunks.text, record.blob_id)
            return record, b"".join(row["data"] for row in rows)

    @asynccontextmanager
    async def open_stream(
        self, key: ArtifactKey, version: int | None = None
    ) -> AsyncIterator[tuple[VersionRecord, AsyncIterator[bytes]] | None]:
        """A version's record and an iterator of its chunks, read one at a time from one
        snapshot while the context is open; None when there is no such version."""
        async with (
            self._connection() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            record = await self._get(connection, key, version)
            if record is None:
                yield None
                return
            yield record, self._chunks(connection, record.blob_id)

    async def _chunks(
        self, connection: asyncpg.Connection, blob_id: int | None
    ) -> AsyncIterator[bytes]:
        if blob_id is None:
            return
        async for row in connection.cursor(self._sql.get_chunks.text, blob_id, prefetch=1):
            yield row["data"]

    async def list_versions(self, key: ArtifactKey) -> list[VersionRecord]:
        """Every version's record, oldest first ([] when none)."""
        async with self._connection() as connection:
            rows = await connection.fetch(
                self._sql.list_versions.text, *self._sql.list_versions.args(**key._asdict())
            )
        return [version_record(row) for row in rows]

    async def list_version_numbers(self, key: ArtifactKey) -> list[int]:
        """The version numbers, ascending ([] when none)."""
        statement = self._sql.list_version_numbers
        async with self._connection() as connection:
            rows = await connection.fetch(statement.text, *statement.args(**key._asdict()))
        return [row["version"] for row in rows]

    async def list_keys(self, app_name: str, user_id: str, session_id: str) -> list[str]:
        """Filenames in the session and in the user's scope, in code point order."""
        statement = self._sql.list_keys
        async with self._connection() as connection:
            rows = await connection.fetch(
                statement.text,
                *statement.args(app_name=app_name, user_id=user_id, session_id=session_id),
            )
        return [row["filename"] for row in rows]

    # --- deletes and garbage -----------------------------------------------------------------

    async def delete(self, key: ArtifactKey) -> int:
        """Delete every version and collect the blobs left unreferenced; the count deleted."""
        statement = self._sql.delete_versions
        async with self._connection() as connection, connection.transaction():
            await self._lock_key(connection, key)
            rows = await connection.fetch(statement.text, *statement.args(**key._asdict()))
            await self._collect_all(connection, [row["blob_id"] for row in rows])
            return len(rows)

    async def delete_scope(self, app_name: str, user_id: str, session_id: str) -> int:
        """Delete every version of every filename in one scope (a session's), and the
        blobs left unreferenced, in one transaction; how many versions went."""
        scope = {"app_name": app_name, "user_id": user_id, "session_id": session_id}
        filenames, delete = self._sql.scope_filenames, self._sql.delete_scope
        async with self._connection() as connection, connection.transaction():
            names = await connection.fetch(filenames.text, *filenames.args(**scope))
            for row in names:  # in filename order: two scope deletes lock alike
                await self._lock_key(connection, ArtifactKey(**scope, filename=row["filename"]))
            rows = await connection.fetch(delete.text, *delete.args(**scope))
            await self._collect_all(connection, [row["blob_id"] for row in rows])
            return len(rows)

    async def count_scope(self, app_name: str, user_id: str, session_id: str) -> int:
        """How many versions `delete_scope` would delete now (`purge --dry-run`)."""
        statement = self._sql.count_scope
        scope = {"app_name": app_name, "user_id": user_id, "session_id": session_id}
        async with self._connection() as connection:
            count: int = await connection.fetchval(statement.text, *statement.args(**scope))
            return count

    async def _collect_all(self, connection: asyncpg.Connection, ids: list[int | None]) -> None:
        """Collect these blobs where unreferenced now, in sha256 order (the lock order)."""
        blob_ids = sorted({blob_id for blob_id in ids if blob_id is not None})
        if blob_ids:
            for blob in await connection.fetch(self._sql.blobs_by_id.text, blob_ids):
                await self._collect(connection, blob["id"], blob["sha256"])

    async def _collect(
        self, connection: asyncpg.Connection, blob_id: int, sha256: bytes
    ) -> Garbage:
        """Delete the blob if no version references it (under its lock); what went."""
        await self._lock_blob(connection, sha256)
        row = await connection.fetchrow(self._sql.collect_blob.text, blob_id)
        return Garbage() if row is None else Garbage(1, row["chunks"], row["size"])

    async def garbage(self) -> Garbage:
        """What `collect_garbage` would delete now (`purge --dry-run`)."""
        async with self._connection() as connection:
            row = await connection.fetchrow(self._sql.count_garbage.text)
        return Garbage(row["blobs"], row["chunks"], row["bytes"])

    async def collect_garbage(self, batch: int = 100) -> Garbage:
        """Delete the blobs no version references (left by an interrupted delete, or by
        deleted sessions' rows); what was deleted. A batch per transaction."""
        collected = Garbage()
        while True:
            done = Garbage()
            async with self._connection() as connection, connection.transaction():
                blobs = await connection.fetch(self._sql.unreferenced_blobs.text, batch)
                for blob in blobs:
                    done = done.plus(await self._collect(connection, blob["id"], blob["sha256"]))
            collected = collected.plus(done)
            if len(blobs) < batch or done.blobs == 0:  # 0: all re-referenced meanwhile
                return collected

    async def blob_count(self) -> int:
        """How many blobs (distinct payloads) are stored."""
        async with self._connection() as connection:
            count: int = await connection.fetchval(self._sql.count_blobs.text)
            return count
