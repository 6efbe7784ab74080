"""Micro-measurements behind choices the store made, re-runnable:

    .venv/bin/python -m bench.micro [--dsn DSN]

1. asyncpg's pool reset on release (the store turns it off) on a single-task append.
2. JSON decoding of a state row and of a stored event: pydantic-core (what the store
   uses), orjson, msgspec and the stdlib, interleaved, median of 9 rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import orjson
from google.adk.events.event import Event
from pydantic_core import from_json

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import DEFAULT_DSN
from bench.workloads import make_event
from fastapi_adk_store import AsyncpgSessionService, open_session_service
from fastapi_adk_store.db.pool import _no_reset

ROUNDS = 9


def _median_us(timings: dict[str, list[float]]) -> dict[str, float]:
    return {name: round(statistics.median(values) * 1e6, 2) for name, values in timings.items()}


def _time_calls(calls: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Median microseconds per call, the candidates interleaved round by round."""
    timings: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(ROUNDS):
        for name, call in calls.items():
            start = time.perf_counter()
            for _ in range(repeat):
                call()
            timings[name].append((time.perf_counter() - start) / repeat)
    return _median_us(timings)


def json_decoding() -> dict[str, dict[str, float]]:
    state = json.dumps({"turn": 41, "topic": "billing", "notes": ["a" * 40] * 3, "n": 2.5})
    event = make_event(7).model_dump_json(exclude_none=True)
    results = {}
    for what, text in (("state row", state), ("event row", event)):
        results[what] = _time_calls(
            {
                "pydantic_core.from_json": partial(from_json, text),
                "orjson.loads": partial(orjson.loads, text),
                "msgspec.json.decode": partial(msgspec.json.decode, text),
                "json.loads": partial(json.loads, text),
            },
            repeat=20_000,
        )
    results["event -> Event"] = _time_calls(
        {
            "Event.model_validate_json": partial(Event.model_validate_json, event),
            "orjson.loads + model_validate": lambda: Event.model_validate(orjson.loads(event)),
        },
        repeat=2_000,
    )
    return results


async def _appends(service: AsyncpgSessionService, seconds: float) -> float:
    session = await service.create_session(app_name="micro", user_id="u")
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        await service.append_event(session, make_event(count))
        count += 1
    return (time.perf_counter() - start) / count


async def pool_reset(dsn: str) -> dict[str, float]:
    """Single-task append, microseconds per call: no reset (ours) vs asyncpg's default."""

    async def default_reset(connection: asyncpg.Connection) -> None:
        await connection.reset()

    timings: dict[str, list[float]] = {"no reset (the store)": [], "asyncpg default reset": []}
    async with open_session_service(dsn, min_size=1, max_size=1) as service:
        pool = await service.store.get_pool()
        resets: dict[str, Callable[[asyncpg.Connection], Awaitable[None]]] = {
            "no reset (the store)": _no_reset,
            "asyncpg default reset": default_reset,
        }
        for _ in range(ROUNDS):
            for name, reset in resets.items():
                pool._reset = reset
                timings[name].append(await _appends(service, 0.5))
    return _median_us(timings)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default=DEFAULT_DSN)
    args = parser.parse_args()
    print(json.dumps({"json decoding, us per call": json_decoding()}, indent=2))
    print(json.dumps({"append, 1 task, us per call": await pool_reset(args.dsn)}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
