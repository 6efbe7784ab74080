"""The listing's client cost, piece by piece, against the floor's (issue 17):

    .venv/bin/python -m bench.list_micro [--dsn DSN] [--shared-state]

One task on one connection, candidates interleaved round by round, median of 15 rounds:

1. a page of 100 sessions end to end: the seed's records (`store.list_sessions` +
   `session_from_record`), the service's `list_sessions_page`, the floor's `list_page`;
2. one row turned into an ADK `Session`, in microseconds, from rows fetched once;
3. the listing statement fetched alone, with and without `create_time`.

`--shared-state` gives the listed user app and user state (5 keys each), which every row
of a listing carries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.contenders import _SEED_FLOOR, _SEED_OURS, database_dsn, seed_sql
from bench.floor import LIST, _session, open_floor_service
from bench.run import DEFAULT_DSN, fresh_databases
from fastapi_adk_store import open_session_service
from fastapi_adk_store.sessions.listing import listed_session, listed_sessions
from fastapi_adk_store.sessions.rows import session_record
from fastapi_adk_store.sessions.service import _session_from_listed, session_from_record

APP, USER, PAGE, ROUNDS = "bench", "u100", 100, 15
SHARED = {f"k{n}": f"value {n}" for n in range(5)}


async def _timed(calls: dict[str, Callable[[], Awaitable[Any]]], repeat: int) -> list[str]:
    """Wall and client CPU µs per call, median over interleaved rounds."""
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in calls}
    for _ in range(ROUNDS):
        for name, call in calls.items():
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(repeat):
                await call()
            timings[name].append(
                ((time.perf_counter() - wall) / repeat, (time.process_time() - cpu) / repeat)
            )
    return [
        f"  {name:<34} wall {statistics.median(t[0] for t in ts) * 1e6:7.1f} µs"
        f"   client CPU {statistics.median(t[1] for t in ts) * 1e6:7.1f} µs"
        for name, ts in timings.items()
    ]


def _per_row(calls: dict[str, Callable[[], object]], rows: int) -> list[str]:
    timings: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(ROUNDS):
        for name, call in calls.items():
            start = time.perf_counter()
            for _ in range(200):
                call()
            timings[name].append((time.perf_counter() - start) / 200 / rows)
    return [
        f"  {name:<34} {statistics.median(ts) * 1e6:6.2f} µs a row" for name, ts in timings.items()
    ]


async def _seed(dsn: str, template: str, shared: bool, prefix: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(await seed_sql(connection, template), APP, USER, PAGE)
        if shared:
            state = json.dumps(SHARED)
            await connection.execute(
                f"INSERT INTO {prefix}app_states (app_name, state) VALUES ($1, $2::jsonb)",
                APP,
                state,
            )
            await connection.execute(
                f"INSERT INTO {prefix}user_states (app_name, user_id, state) "
                "VALUES ($1, $2, $3::jsonb)",
                APP,
                USER,
                state,
            )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def main(args: argparse.Namespace) -> None:
    ours_db, floor_db = "bench_list_micro_ours", "bench_list_micro_floor"
    await fresh_databases(args.dsn, ours_db, floor_db)
    async with (
        open_session_service(database_dsn(args.dsn, ours_db), min_size=1, max_size=1) as service,
        open_floor_service(database_dsn(args.dsn, floor_db), pool_size=1) as floor,
    ):
        await _seed(database_dsn(args.dsn, ours_db), _SEED_OURS, args.shared_state, "adk_")
        await _seed(database_dsn(args.dsn, floor_db), _SEED_FLOOR, args.shared_state, "floor_")
        store = service.store

        async def records() -> list[Any]:
            found = await store.list_sessions(APP, USER, limit=PAGE)
            return [session_from_record(record) for record in found]

        async def page() -> object:
            return await service.list_sessions_page(app_name=APP, user_id=USER, limit=PAGE)

        print(f"1. a page of {PAGE} (shared state: {args.shared_state})")
        pages = {"records (seed API)": records, "service.list_sessions_page": page}
        pages["floor.list_page"] = lambda: floor.list_page(APP, USER, PAGE)
        print("\n".join(await _timed(pages, 100)))

        pool = await store.get_pool()
        sql = store._sql
        position = {"after_time": float("-inf"), "after_session_id": "", "owner_id": None}
        args_of = {"app_name": APP, "user_id": USER, "limit": PAGE, **position}
        with_ct = await pool.fetch(
            sql.list_user_sessions.text, *sql.list_user_sessions.args(**args_of)
        )
        merged = await pool.fetch(sql.list_user_merged.text, *sql.list_user_merged.args(**args_of))
        floor_rows = await floor.pool.fetch(LIST, APP, USER, PAGE)
        recs = [session_record(row, APP, USER) for row in with_ct]
        listed = [listed_session(row, APP, USER) for row in merged]
        print("2. a row into an ADK Session")
        print(
            "\n".join(
                _per_row(
                    {
                        "session_record": lambda: [session_record(r, APP, USER) for r in with_ct],
                        "session_from_record": lambda: [session_from_record(r) for r in recs],
                        "listed_session (each row alone)": lambda: [
                            listed_session(r, APP, USER) for r in merged
                        ],
                        "listed_sessions (the page)": lambda: listed_sessions(merged, APP, USER),
                        "_session_from_listed": lambda: [_session_from_listed(r) for r in listed],
                        "floor _session": lambda: [
                            _session(APP, USER, r["id"], r, []) for r in floor_rows
                        ],
                    },
                    PAGE,
                )
            )
        )
        print("3. the statement alone")
        fetches = {
            "with create_time (records)": lambda: pool.fetch(
                sql.list_user_sessions.text, *sql.list_user_sessions.args(**args_of)
            ),
            "without (the service's)": lambda: pool.fetch(
                sql.list_user_merged.text, *sql.list_user_merged.args(**args_of)
            ),
            "floor": lambda: floor.pool.fetch(LIST, APP, USER, PAGE),
        }
        print("\n".join(await _timed(fetches, 100)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.list_micro")
    parser.add_argument("--dsn", default=DEFAULT_DSN)
    parser.add_argument("--shared-state", action="store_true")
    asyncio.run(main(parser.parse_args()))
