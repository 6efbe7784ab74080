"""Bench-only A/B of proposed changes to the store, applied by monkeypatching one instance.

    .venv/bin/python -m bench.experiments

Opens the floor, an unpatched `ours` and one `ours` per variant, each on its own fresh
database (`bench_exp_*`), and runs the workloads a variant targets in interleaved slices
(as bench.run does). Prints each variant's median ratio to the unpatched store and to the
floor, and writes bench/results/experiments.json. src/ is never edited: a variant replaces
methods or statements on its own service or store instance only. Variants already applied in src/
were removed; their measured effect is recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import types
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from google.adk.events.event import Event
from google.adk.sessions.session import Session
from pydantic import TypeAdapter

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.contenders import Contender, database_dsn, open_contender, seed_sql
from bench.run import DEFAULT_DSN, Samples, fresh_databases, run_slice
from bench.workloads import APP, BIG_USER, SMALL_USER, WORKLOADS, Workload
from fastapi_adk_store import SessionKey, session_from_record
from fastapi_adk_store.db.json import loads
from fastapi_adk_store.sessions.records import construct_trusted

ROOT = Path(__file__).resolve().parent.parent

# --- variants -------------------------------------------------------------------------------


def session_from_row(row: asyncpg.Record) -> Session:
    """An ADK Session straight from a list row: no SessionRecord in between.

    Built with `construct_trusted` as `service.session_from_record` builds it, with the
    merged state computed from the row instead of from a record.
    """
    state: dict[str, Any] = loads(row["state"])
    if (app_state := row["app_state"]) is not None:
        state.update({f"app:{k}": v for k, v in loads(app_state).items()})
    if (user_state := row["user_state"]) is not None:
        state.update({f"user:{k}": v for k, v in loads(user_state).items()})
    return construct_trusted(
        Session,
        {
            "id": row["id"],
            "app_name": row["app_name"],
            "user_id": row["user_id"],
            "state": state,
            "events": [],
            "last_update_time": row["update_time"],
        },
        _storage_update_marker=str(row["revision"]),
    )


def _patch_get_bulk_decode(service: Any) -> None:
    """get_session: the events' texts joined into one JSON array, validated in one call
    (TypeAdapter(list[Event])) instead of Event.model_validate_json per event."""
    events_adapter = TypeAdapter(list[Event])

    async def get_session(
        self: Any, *, app_name: str, user_id: str, session_id: str, config: Any = None
    ) -> Session | None:
        loaded = await self.store.load(
            SessionKey(app_name, user_id, session_id),
            num_recent_events=config.num_recent_events if config else None,
            after_timestamp=config.after_timestamp if config else None,
        )
        if loaded is None:
            return None
        texts = loaded.event_texts
        events = events_adapter.validate_json("[" + ",".join(texts) + "]") if texts else []
        return session_from_record(loaded.record, events)

    service.get_session = types.MethodType(get_session, service)


def _patch_connection(service: Any) -> None:
    """One pool checkout with the pool cached on the instance: no await get_pool() per
    call, no nested context managers (errors translated by one try/except)."""
    from fastapi_adk_store.db import errors as db_errors
    from fastapi_adk_store.errors import StoreUnavailableError

    pool_holder: dict[str, asyncpg.Pool] = {}

    @asynccontextmanager
    async def _connection(self: Any) -> AsyncIterator[asyncpg.Connection]:
        pool = pool_holder.get("pool")
        if pool is None:
            pool = pool_holder["pool"] = await self.get_pool()
        try:
            async with pool.acquire() as connection:
                yield connection
        except db_errors._UNAVAILABLE as error:
            raise StoreUnavailableError(str(error)) from error

    service.store._connection = types.MethodType(_connection, service.store)


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    what: str
    workloads: tuple[str, ...]
    patch: Callable[[Any], None] | None = None
    direct_rows: bool = False


VARIANTS = [
    Variant(
        "list_direct",
        "list: Sessions built straight from the store's list rows (no SessionRecord)",
        ("list_100", "list_100k"),
        direct_rows=True,
    ),
    Variant(
        "get_bulk_decode",
        "get_session: events validated as one JSON array, not one by one",
        ("get_full", "get_recent20"),
        patch=_patch_get_bulk_decode,
    ),
    Variant(
        "lean_checkout",
        "one plain pool.acquire() per call, pool cached on the store",
        ("append", "get_recent20", "create"),
        patch=_patch_connection,
    ),
]


@asynccontextmanager
async def _variant(v: Variant, server_dsn: str, database: str) -> AsyncIterator[Contender]:
    async with open_contender("ours", server_dsn, database) as c:
        store = c.service.store  # type: ignore[attr-defined]
        if v.patch is not None:
            v.patch(c.service)
        if v.direct_rows:
            statement = store._sql.list_user_sessions
            first_page = {"after_time": float("-inf"), "after_session_id": "", "owner_id": None}

            async def list_rows(app_name: str, user_id: str, limit: int) -> int:
                # The store's own first-page statement for one user, as list_sessions runs it.
                args = statement.args(app_name=app_name, user_id=user_id, limit=limit, **first_page)
                async with store._connection() as connection:
                    rows = await connection.fetch(statement.text, *args)
                return len([session_from_row(row) for row in rows])

            c.list_page = list_rows
        c.name = v.name
        yield c


async def _seed(c: Contender, dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        sql = await seed_sql(connection, c.seed_sql)
        await connection.execute(sql, APP, SMALL_USER, 100)
        await connection.execute(sql, APP, BIG_USER, 100_000)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def compare(
    server_dsn: str, v: Variant, rounds: int, seconds: float
) -> dict[str, dict[str, float]]:
    """Interleave floor, baseline and the variant on the variant's workloads."""
    names = {"floor": "bench_exp_floor", "baseline": "bench_exp_base", v.name: "bench_exp_var"}
    for database in names.values():
        await fresh_databases(server_dsn, database)
    out: dict[str, dict[str, float]] = {}
    async with AsyncExitStack() as stack:
        cs: dict[str, Contender] = {
            "floor": await stack.enter_async_context(
                open_contender("floor", server_dsn, names["floor"])
            ),
            "baseline": await stack.enter_async_context(
                open_contender("ours", server_dsn, names["baseline"])
            ),
            v.name: await stack.enter_async_context(_variant(v, server_dsn, names[v.name])),
        }
        for name, c in cs.items():
            await _seed(c, database_dsn(server_dsn, names[name]))
        states: dict[tuple[str, str], dict[str, Any]] = {}
        for w in [w for w in WORKLOADS if w.name in v.workloads]:
            out[w.name] = await _compare_workload(w, cs, states, rounds, seconds, v.name)
    return out


async def _compare_workload(
    w: Workload,
    cs: dict[str, Contender],
    states: dict[tuple[str, str], dict[str, Any]],
    rounds: int,
    seconds: float,
    variant: str,
) -> dict[str, float]:
    for name, c in cs.items():
        key = (name, w.state_key or w.name)
        if key not in states:
            states[key] = {}
            if w.setup is not None:
                await w.setup(c, states[key])
        await run_slice(c, w, states[key], seconds / 2, None)
    samples = {name: Samples() for name in cs}
    order = list(cs)
    for r in range(rounds):
        turn = order[r % 3 :] + order[: r % 3]
        for name in reversed(turn) if r % 2 else turn:
            key = (name, w.state_key or w.name)
            await run_slice(cs[name], w, states[key], seconds, samples[name], r)

    def ratio(a: str, b: str) -> float:
        return statistics.median(
            x / y for x, y in zip(samples[a].ops_per_s, samples[b].ops_per_s, strict=True)
        )

    result = {
        "variant_vs_baseline": round(ratio(variant, "baseline"), 3),
        "baseline_vs_floor": round(ratio("baseline", "floor"), 3),
        "variant_vs_floor": round(ratio(variant, "floor"), 3),
    }
    print(f"  {w.name:<13} {result}", flush=True)
    return result


async def main(args: argparse.Namespace) -> None:
    out = ROOT / "bench" / "results" / "experiments.json"
    results: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    for v in VARIANTS:
        if args.only and v.name not in args.only:
            continue
        print(f"{v.name}: {v.what}", flush=True)
        measured = await compare(args.dsn, v, args.rounds, args.slice)
        results[v.name] = {"what": v.what, "rounds": args.rounds, **measured}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.experiments")
    parser.add_argument("--dsn", default=DEFAULT_DSN)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--slice", type=float, default=0.5)
    parser.add_argument("--only", nargs="*")
    asyncio.run(main(parser.parse_args()))
