"""Our artifact service's storage: atomic version numbers under concurrency (tasks and OS
processes), no orphaned bytes after a failed save, deduplicated blobs, the size cap, and
streaming saves and loads of large artifacts."""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import asyncpg
import pytest
from google.genai import types

from fastapi_adk_store.artifacts.service import AsyncpgArtifactService
from fastapi_adk_store.compose import open_artifact_service
from fastapi_adk_store.defaults import MAX_ARTIFACT_BYTES
from fastapi_adk_store.errors import ArtifactTooLargeError, ConfigurationError
from fastapi_adk_store.settings import StoreSettings

from ._artifact_workers import APP, SESSION, USER, payload, save_versions
from ._helpers import PoolOptions

PROCESSES = 3


def _blob(data: bytes, mime_type: str = "application/octet-stream") -> types.Part:
    return types.Part(inline_data=types.Blob(mime_type=mime_type, data=data))


async def _count(pool_options: PoolOptions, table: str) -> int:
    connection = await asyncpg.connect(
        pool_options["dsn"], server_settings=pool_options["server_settings"]
    )
    try:
        count: int = await connection.fetchval(f"SELECT count(*) FROM {table}")
        return count
    finally:
        await connection.close()


@pytest.fixture
async def service(pool_options: PoolOptions) -> AsyncIterator[AsyncpgArtifactService]:
    """Ours, with small chunks so that modest payloads span several."""
    async with open_artifact_service(artifact_chunk_bytes=4096, **pool_options) as service:
        yield service


@pytest.fixture
def processes() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(PROCESSES, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


async def _save(service: AsyncpgArtifactService, data: bytes, filename: str = "f") -> int:
    return await service.save_artifact(
        app_name=APP, user_id=USER, filename=filename, artifact=_blob(data), session_id=SESSION
    )


async def _load(
    service: AsyncpgArtifactService, version: int | None = None, filename: str = "f"
) -> types.Part | None:
    return await service.load_artifact(
        app_name=APP, user_id=USER, filename=filename, session_id=SESSION, version=version
    )


# --- concurrency ----------------------------------------------------------------------------


async def test_concurrent_saves_get_versions_zero_to_n_each_with_its_bytes(
    service: AsyncpgArtifactService,
) -> None:
    sent = [payload(0, i) for i in range(40)]
    versions = await asyncio.gather(*(_save(service, data) for data in sent))
    assert sorted(versions) == list(range(len(sent)))
    for version, data in zip(versions, sent, strict=True):
        assert await _load(service, version) == _blob(data)


async def test_saves_from_several_processes_get_versions_zero_to_n(
    service: AsyncpgArtifactService, pool_options: PoolOptions, processes: ProcessPoolExecutor
) -> None:
    loop = asyncio.get_running_loop()
    count = 12
    results = await asyncio.gather(
        *(
            loop.run_in_executor(processes, save_versions, pool_options, "shared", worker, count)
            for worker in range(PROCESSES)
        )
    )
    assigned = [version for versions in results for version in versions]
    assert sorted(assigned) == list(range(PROCESSES * count))
    for worker, versions in enumerate(results):
        assert versions == sorted(versions)  # one process's saves are ordered
        for index, version in enumerate(versions):
            loaded = await _load(service, version, filename="shared")
            assert loaded == _blob(payload(worker, index), "application/x-test")
            meta = await service.get_artifact_version(
                app_name=APP, user_id=USER, filename="shared", session_id=SESSION, version=version
            )
            assert meta is not None
            assert meta.custom_metadata == {"worker": worker, "index": index}


async def test_concurrent_saves_and_deletes_leave_consistent_numbers(
    service: AsyncpgArtifactService, pool_options: PoolOptions
) -> None:
    async def delete() -> None:
        await service.delete_artifact(app_name=APP, user_id=USER, filename="f", session_id=SESSION)

    await asyncio.gather(*(_save(service, bytes([i]) * 9000) for i in range(10)), delete())
    versions = await service.list_versions(
        app_name=APP, user_id=USER, filename="f", session_id=SESSION
    )
    assert versions == list(range(len(versions)))
    referenced = len({bytes([i]) for i in range(10)})
    assert await service.store.blob_count() <= referenced


# --- blobs ----------------------------------------------------------------------------------


async def test_same_bytes_saved_twice_store_one_blob(
    service: AsyncpgArtifactService, pool_options: PoolOptions
) -> None:
    data = b"same bytes " * 2000  # several 4 KiB chunks
    await _save(service, data, "a")
    await _save(service, data, "a")
    await _save(service, data, "b")
    await service.save_artifact_stream(
        app_name=APP, user_id=USER, filename="c", chunks=_pieces(data, 777), session_id=SESSION
    )
    assert await service.store.blob_count() == 1
    assert await _count(pool_options, "adk_artifact_chunks") == -(-len(data) // 4096)
    assert await _count(pool_options, "adk_artifact_versions") == 4
    for name in "abc":
        assert await _load(service, filename=name) == _blob(data)


async def test_delete_collects_only_unreferenced_blobs(service: AsyncpgArtifactService) -> None:
    await _save(service, b"shared", "a")
    await _save(service, b"only-a", "a")
    await _save(service, b"shared", "b")
    assert await service.store.blob_count() == 2
    await service.delete_artifact(app_name=APP, user_id=USER, filename="a", session_id=SESSION)
    assert await service.store.blob_count() == 1
    assert await _load(service, filename="b") == _blob(b"shared")
    await service.delete_artifact(app_name=APP, user_id=USER, filename="b", session_id=SESSION)
    assert await service.store.blob_count() == 0
    assert await service.store.collect_garbage() == (0, 0, 0)


async def test_failed_streaming_save_leaves_no_bytes(
    service: AsyncpgArtifactService, pool_options: PoolOptions
) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * 10_000
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError, match="client went away"):
        await service.save_artifact_stream(
            app_name=APP, user_id=USER, filename="f", chunks=broken(), session_id=SESSION
        )
    assert await service.store.blob_count() == 0
    assert await _count(pool_options, "adk_artifact_chunks") == 0
    assert await _load(service) is None
    assert await _save(service, b"ok") == 0


async def test_save_failing_in_the_database_leaves_no_bytes(
    service: AsyncpgArtifactService, pool_options: PoolOptions
) -> None:
    # custom_metadata too deep for JSONB fails after the key lock, with the blob written.
    deep: Any = "leaf"
    for _ in range(300):
        deep = [deep]
    with pytest.raises(ValueError):
        await service.save_artifact(
            app_name=APP,
            user_id=USER,
            filename="f",
            artifact=_blob(b"y" * 10_000),
            session_id=SESSION,
            custom_metadata={"deep": deep},
        )
    assert await service.store.blob_count() == 0
    assert await _count(pool_options, "adk_artifact_chunks") == 0
    assert await _save(service, b"ok") == 0


# --- size cap -------------------------------------------------------------------------------


async def test_size_cap_refuses_parts_and_streams_with_a_clear_error(
    pool_options: PoolOptions,
) -> None:
    async with open_artifact_service(max_artifact_bytes=1000, **pool_options) as service:
        assert await _save(service, b"x" * 1000) == 0
        with pytest.raises(ArtifactTooLargeError, match="over the limit of 1000 bytes"):
            await _save(service, b"x" * 1001)
        with pytest.raises(ArtifactTooLargeError):
            await service.save_artifact(
                app_name=APP,
                user_id=USER,
                filename="t",
                artifact=types.Part(text="é" * 501),
                session_id=SESSION,
            )
        with pytest.raises(ArtifactTooLargeError):
            await service.save_artifact_stream(
                app_name=APP,
                user_id=USER,
                filename="f",
                chunks=_pieces(b"y" * 5000, 300),
                session_id=SESSION,
            )
        assert await service.store.blob_count() == 1
        assert await service.list_versions(
            app_name=APP, user_id=USER, filename="f", session_id=SESSION
        ) == [0]


def test_size_cap_has_one_default_everywhere() -> None:
    assert StoreSettings(_env_file=None).max_artifact_bytes == MAX_ARTIFACT_BYTES
    assert StoreSettings(_env_file=None, max_artifact_bytes=5).max_artifact_bytes == 5


async def test_bad_artifact_options_are_refused(pool_options: PoolOptions) -> None:
    with pytest.raises(ConfigurationError):
        async with open_artifact_service(max_artifact_bytes=0, **pool_options):
            pass
    with pytest.raises(ConfigurationError):
        async with open_artifact_service(no_such_option=1, **pool_options):
            pass


# --- streaming ------------------------------------------------------------------------------


async def _pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at : at + size]


async def _generated(total: int, piece: int) -> AsyncIterator[bytes]:
    """`total` bytes, made as they are sent (never held whole), 64 KiB at a time."""
    block = hashlib.sha256(b"seed").digest() * (piece // 32)
    sent = 0
    while sent < total:
        out = block[: min(piece, total - sent)]
        sent += len(out)
        yield out


async def test_large_artifact_streams_in_and_out_with_bounded_memory(
    pool_options: PoolOptions,
) -> None:
    total, piece = 20 * 1024 * 1024, 64 * 1024
    expected = hashlib.sha256()
    async for out in _generated(total, piece):
        expected.update(out)
    async with open_artifact_service(**pool_options) as service:
        tracemalloc.start()
        try:
            version = await service.save_artifact_stream(
                app_name=APP,
                user_id=USER,
                filename="big.bin",
                chunks=_generated(total, piece),
                mime_type="application/x-big",
                session_id=SESSION,
            )
            saved_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
            got, size = hashlib.sha256(), 0
            async with service.open_artifact_stream(
                app_name=APP, user_id=USER, filename="big.bin", session_id=SESSION
            ) as stream:
                assert stream is not None
                assert stream.version.version == version == 0
                assert stream.version.mime_type == "application/x-big"
                async for chunk in stream.chunks:
                    got.update(chunk)
                    size += len(chunk)
            loaded_peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert size == total
    assert got.digest() == expected.digest()
    # A few 1 MiB chunks at most, never the 20 MiB payload.
    assert saved_peak < 8 * 1024 * 1024, saved_peak
    assert loaded_peak < 8 * 1024 * 1024, loaded_peak


async def test_streamed_save_loads_through_the_part_api(service: AsyncpgArtifactService) -> None:
    data = bytes(range(256)) * 100
    version = await service.save_artifact_stream(
        app_name=APP,
        user_id=USER,
        filename="f",
        chunks=_pieces(data, 1000),
        mime_type="image/png",
        display_name="pic",
        session_id=SESSION,
        custom_metadata={"k": 1},
    )
    part = await _load(service, version)
    assert part == types.Part(
        inline_data=types.Blob(mime_type="image/png", data=data, display_name="pic")
    )


async def test_stream_of_missing_or_text_artifact(service: AsyncpgArtifactService) -> None:
    async with service.open_artifact_stream(
        app_name=APP, user_id=USER, filename="none", session_id=SESSION
    ) as stream:
        assert stream is None
    await service.save_artifact(
        app_name=APP,
        user_id=USER,
        filename="t",
        artifact=types.Part(text="héllo"),
        session_id=SESSION,
    )
    async with service.open_artifact_stream(
        app_name=APP, user_id=USER, filename="t", session_id=SESSION
    ) as stream:
        assert stream is not None
        assert b"".join([chunk async for chunk in stream.chunks]).decode() == "héllo"
        assert stream.version.mime_type == "text/plain"
