"""Artifact save and load: ours on PostgreSQL against ADK's FileArtifactService on disk.

    .venv/bin/python -m bench.artifacts [--dsn DSN] [--quick]

1. `save_artifact` and `load_artifact` (ADK's Part API) of 1 KB, 1 MB and 50 MB of
   random (incompressible) bytes: ours through `open_artifact_service` on a fresh
   database `bench_artifacts` (dropped at the end), ADK's `FileArtifactService` in a
   temporary directory on local disk. Every save carries new bytes (ours would
   otherwise only add a version row to the blob it already holds). The two contenders
   alternate slice by slice, their order reversed every round; figures are medians
   over rounds, the ratio the median of the per-round ratios.
2. Peak Python memory (tracemalloc) of a 100 MB artifact: our streaming save and load
   (`save_artifact_stream`, `open_artifact_stream`) against the Part API of both.

About 30 seconds on 2 cores (`--quick`: 3 rounds a size, about 15).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from google.adk.artifacts.base_artifact_service import BaseArtifactService
from google.adk.artifacts.file_artifact_service import FileArtifactService
from google.genai import types

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import DEFAULT_DSN
from fastapi_adk_store import AsyncpgArtifactService, open_artifact_service

DATABASE = "bench_artifacts"
KB, MB = 1024, 1024 * 1024
# label -> (bytes, calls per slice, rounds)
SIZES: dict[str, tuple[int, int, int]] = {
    "1 KB": (KB, 50, 15),
    "1 MB": (MB, 10, 15),
    "50 MB": (50 * MB, 2, 9),
}
STREAM_BYTES = 100 * MB
SCOPE: dict[str, Any] = {"app_name": "bench", "user_id": "u", "session_id": "s"}


def _payloads(size: int, count: int, base: bytes) -> list[types.Part]:
    """`count` Parts of `size` bytes, each different (a counter in the first 8 bytes)."""
    parts = []
    for _ in range(count):
        data = bytearray(base[:size])
        data[:8] = os.urandom(8)
        parts.append(types.Part.from_bytes(data=bytes(data), mime_type="application/pdf"))
    return parts


async def _slice(call: Callable[[], Awaitable[Any]], count: int) -> float:
    """Seconds per call over `count` calls."""
    start = time.perf_counter()
    for _ in range(count):
        await call()
    return (time.perf_counter() - start) / count


async def _save_and_load(
    service: BaseArtifactService, filename: str, parts: list[types.Part]
) -> tuple[float, float]:
    """Seconds per save of `parts`, then per load of the latest."""
    pending = iter(parts)

    async def save() -> None:
        await service.save_artifact(**SCOPE, filename=filename, artifact=next(pending))

    async def load() -> None:
        loaded = await service.load_artifact(**SCOPE, filename=filename)
        assert loaded is not None and loaded.inline_data is not None

    return await _slice(save, len(parts)), await _slice(load, len(parts))


async def part_api(
    services: dict[str, BaseArtifactService], sizes: dict[str, tuple[int, int, int]]
) -> dict[str, dict[str, Any]]:
    """Per size: median ms per save and per load of each contender, and ours / ADK's."""
    base = os.urandom(max(size for size, _, _ in sizes.values()))
    results: dict[str, dict[str, Any]] = {}
    for label, (size, count, rounds) in sizes.items():
        timings: dict[tuple[str, str], list[float]] = {}
        for round_ in range(rounds + 1):  # round 0 warms up
            order = list(services) if round_ % 2 else list(reversed(services))
            for name in order:
                parts = _payloads(size, count, base)
                saved, loaded = await _save_and_load(services[name], f"f-{label}", parts)
                if round_:
                    timings.setdefault((name, "save"), []).append(saved)
                    timings.setdefault((name, "load"), []).append(loaded)
        results[label] = _summary(timings, rounds)
    return results


def _summary(timings: dict[tuple[str, str], list[float]], rounds: int) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for op in ("save", "load"):
        ours, adk = timings[("ours", op)], timings[("adk_file", op)]
        summary[op] = {
            "ours_ms": round(statistics.median(ours) * 1e3, 2),
            "adk_file_ms": round(statistics.median(adk) * 1e3, 2),
            "ours/adk": round(statistics.median(o / a for o, a in zip(ours, adk, strict=True)), 2),
            "rounds": rounds,
        }
    return summary


async def _chunks(total: int, piece: int = 256 * KB) -> AsyncIterator[bytes]:
    block = os.urandom(piece)
    for at in range(0, total, piece):
        yield block[: min(piece, total - at)]


async def _peak_mb(work: Callable[[], Awaitable[Any]]) -> float:
    """Peak traced Python memory while `work` runs, above what was allocated before."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        await work()
        return round((tracemalloc.get_traced_memory()[1] - before) / MB, 1)
    finally:
        tracemalloc.stop()


async def streaming_memory(
    ours: AsyncpgArtifactService, adk: FileArtifactService
) -> dict[str, float]:
    """Peak MB of Python memory to save and to load a 100 MB artifact."""

    async def stream_save() -> None:
        await ours.save_artifact_stream(
            **SCOPE, filename="big-stream", chunks=_chunks(STREAM_BYTES)
        )

    async def stream_load() -> None:
        async with ours.open_artifact_stream(**SCOPE, filename="big-stream") as stream:
            assert stream is not None
            size = sum([len(chunk) async for chunk in stream.chunks])
            assert size == STREAM_BYTES

    async def part_save(service: BaseArtifactService) -> None:
        part = types.Part.from_bytes(data=os.urandom(STREAM_BYTES), mime_type="x/y")
        await service.save_artifact(**SCOPE, filename="big-part", artifact=part)

    async def part_load(service: BaseArtifactService) -> None:
        assert await service.load_artifact(**SCOPE, filename="big-part") is not None

    return {
        "ours streaming save": await _peak_mb(stream_save),
        "ours streaming load": await _peak_mb(stream_load),
        "ours Part save": await _peak_mb(lambda: part_save(ours)),
        "ours Part load": await _peak_mb(lambda: part_load(ours)),
        "adk_file Part save": await _peak_mb(lambda: part_save(adk)),
        "adk_file Part load": await _peak_mb(lambda: part_load(adk)),
    }


async def _recreate(dsn: str, *, drop_only: bool = False) -> str:
    """The DSN of a fresh `bench_artifacts` database on the server of `dsn`."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        if not drop_only:
            await connection.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await connection.close()
    return dsn.rsplit("/", 1)[0] + "/" + DATABASE


def _print(results: dict[str, Any], memory: dict[str, float]) -> None:
    print("| size | op | ours (ms) | FileArtifactService (ms) | ours / file | rounds |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for label, ops in results.items():
        for op, row in ops.items():
            print(
                f"| {label} | {op} | {row['ours_ms']} | {row['adk_file_ms']} | "
                f"{row['ours/adk']} | {row['rounds']} |"
            )
    print("\n| 100 MB artifact | peak Python memory (MB) |\n| --- | ---: |")
    for name, peak in memory.items():
        print(f"| {name} | {peak} |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="a server's DSN (any database)")
    parser.add_argument("--quick", action="store_true", help="3 rounds per size")
    args = parser.parse_args()
    sizes = {k: (s, c, 3 if args.quick else r) for k, (s, c, r) in SIZES.items()}
    dsn = await _recreate(args.dsn)
    try:
        with tempfile.TemporaryDirectory() as root:
            adk = FileArtifactService(root_dir=root)
            async with open_artifact_service(dsn, min_size=2, max_size=2) as ours:
                services: dict[str, BaseArtifactService] = {"ours": ours, "adk_file": adk}
                results = await part_api(services, sizes)
                memory = await streaming_memory(ours, adk)
    finally:
        await _recreate(args.dsn, drop_only=True)
    _print(results, memory)


if __name__ == "__main__":
    asyncio.run(main())
