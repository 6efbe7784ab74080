"""One-command benchmark: ours vs ADK's DatabaseSessionService vs sqlspec vs a raw floor.

    .venv/bin/python -m bench.run            # full run, ~5 minutes on 2 cores
    .venv/bin/python -m bench.run --quick    # smoke run, ~1 minute
    .venv/bin/python -m bench.run --private-server   # + server CPU, exec time, WAL per call


Each contender gets its own fresh database on one PostgreSQL server (dropped and
re-created per run) and a pool of 10. Contenders run in short slices, interleaved within
each round (the order rotates every round); a ratio is the median over rounds of the
per-round ratio, so drift on a shared machine cancels. Writes bench/results/latest.json,
bench/results/latest.md, docs/performance.png and the generated part of
docs/performance.md, and prints the tables.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

if not __package__:  # run as `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import costs, report
from bench.contenders import CONTENDERS, Contender, database_dsn, open_contender, seed_sql
from bench.server import ServerProbe, SliceCost, private_server, probe_or_reason, reasons
from bench.wire import WireCounts, counting_proxy
from bench.workloads import (
    APP,
    BIG_USER,
    GET_EVENTS,
    PAGE,
    RECENT,
    SMALL_USER,
    TURN_HISTORY,
    WORKLOADS,
    Workload,
    make_event,
)

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parent.parent
ORDER = list(CONTENDERS)
COUNT_USER = "count"


@dataclass
class Samples:
    """One contender's slices of one workload."""

    ops_per_s: list[float] = field(default_factory=list)
    rounds: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    ops: list[int] = field(default_factory=list)
    client_cpu_us: list[float] = field(default_factory=list)
    costs: list[SliceCost | None] = field(default_factory=list)


# --- databases ------------------------------------------------------------------------------


async def fresh_databases(server_dsn: str, *databases: str) -> None:
    """Drop and re-create these databases (each contender starts empty)."""
    connection = await asyncpg.connect(server_dsn)
    try:
        for database in databases:
            await connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await connection.execute(f'CREATE DATABASE "{database}"')
    finally:
        await connection.close()


async def vacuum_databases(server_dsn: str, databases: list[str]) -> None:
    """VACUUM (ANALYZE) each database, so every workload starts on settled tables: an
    autovacuum run set off by the previous workload's writes lands at random in one
    contender's slices otherwise (docs/performance.md, "Server cost per call")."""
    for database in databases:
        connection = await asyncpg.connect(database_dsn(server_dsn, database))
        try:
            await connection.execute("VACUUM (ANALYZE)")
        finally:
            await connection.close()


async def seed_list_users(c: Contender, server_dsn: str, big: int) -> None:
    """Seed the 100- and the big user's sessions with one INSERT ... SELECT each."""
    connection = await asyncpg.connect(database_dsn(server_dsn, CONTENDERS[c.name]))
    try:
        sql = await seed_sql(connection, c.seed_sql)
        await connection.execute(sql, APP, SMALL_USER, 100)
        await connection.execute(sql, APP, BIG_USER, big)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


# --- statements per call --------------------------------------------------------------------


def _proxied(server_dsn: str, port: int) -> str:
    parts = urlsplit(server_dsn)
    user = parts.netloc.rpartition("@")[0]
    netloc = f"{user}@127.0.0.1:{port}" if user else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


async def _per_call(counts: WireCounts, calls: int, run: Any) -> dict[str, float]:
    counts.reset()
    for n in range(calls):
        await run(n)
    return {
        "statements": counts.statements / calls,
        "round_trips": counts.round_trips / calls,
        "parses": counts.parses / calls,
    }


async def count_statements(
    server_dsn: str, calls: int, names: list[str]
) -> dict[str, dict[str, Any]]:
    """Statements and round trips per call, counted on the wire after a warm-up."""
    host = urlsplit(server_dsn).hostname or "127.0.0.1"
    port = urlsplit(server_dsn).port or 5432
    results: dict[str, dict[str, Any]] = {}
    async with counting_proxy(host, port) as (proxy_port, counts):
        for name in names:
            async with open_contender(name, _proxied(server_dsn, proxy_port)) as c:
                svc = c.service
                warm = await svc.create_session(app_name=APP, user_id=COUNT_USER, state={"k": 1})
                for k in range(3):
                    await svc.append_event(warm, make_event(k))
                await svc.get_session(app_name=APP, user_id=COUNT_USER, session_id=warm.id)
                await svc.get_session(
                    app_name=APP, user_id=COUNT_USER, session_id=warm.id, config=RECENT
                )
                await c.list_page(APP, COUNT_USER, PAGE)
                session = await svc.create_session(app_name=APP, user_id=COUNT_USER)

                async def create(n: int, svc: Any = svc) -> None:
                    await svc.create_session(app_name=APP, user_id=COUNT_USER, state={"k": n})

                async def append(n: int, svc: Any = svc, session: Any = session) -> None:
                    await svc.append_event(session, make_event(n))

                async def get_full(n: int, svc: Any = svc, sid: str = session.id) -> None:
                    await svc.get_session(app_name=APP, user_id=COUNT_USER, session_id=sid)

                async def get_recent(n: int, svc: Any = svc, sid: str = session.id) -> None:
                    await svc.get_session(
                        app_name=APP, user_id=COUNT_USER, session_id=sid, config=RECENT
                    )

                async def list_page(n: int, c: Contender = c) -> None:
                    await c.list_page(APP, COUNT_USER, PAGE)

                async def turn(n: int, svc: Any = svc, sid: str = session.id) -> None:
                    loaded = await svc.get_session(
                        app_name=APP, user_id=COUNT_USER, session_id=sid, config=RECENT
                    )
                    await svc.append_event(loaded, make_event(1000 + 2 * n))
                    await svc.append_event(loaded, make_event(1001 + 2 * n))

                results[name] = {
                    "create": await _per_call(counts, calls, create),
                    "append": await _per_call(counts, calls, append),
                    "get_full": await _per_call(counts, calls, get_full),
                    "get_recent20": await _per_call(counts, calls, get_recent),
                    "list": await _per_call(counts, calls, list_page),
                    "turn": await _per_call(counts, calls, turn),
                }
    return results


# --- correctness ------------------------------------------------------------------------------


async def check_reads(c: Contender, state: dict[str, Any]) -> dict[str, Any]:
    """Does get_session return all events, and the newest 20 in order? Does a page hold 100?"""
    full_ok = recent_ok = True
    for session_id, ids in zip(state["keys"], state["event_ids"], strict=True):
        full = await c.service.get_session(app_name=APP, user_id="get", session_id=session_id)
        recent = await c.service.get_session(
            app_name=APP, user_id="get", session_id=session_id, config=RECENT
        )
        assert full is not None and recent is not None
        full_ok &= [e.id for e in full.events] == ids
        recent_ok &= [e.id for e in recent.events] == ids[-TURN_HISTORY:]
    return {
        "get_full_ok": full_ok,
        "get_recent20_ok": recent_ok,
        "list_100_rows": await c.list_page(APP, SMALL_USER, PAGE),
    }


# --- slices -----------------------------------------------------------------------------------


async def run_slice(
    c: Contender,
    w: Workload,
    state: dict[str, Any],
    seconds: float,
    samples: Samples | None,
    round_: int = -1,
    probe: ServerProbe | None = None,
) -> None:
    """Run `w` for about `seconds` with its concurrency; record ops/s, latencies, costs."""
    concurrency = w.concurrency_for.get(c.name, w.concurrency)
    latencies: list[float] = []
    gc.collect()
    database = CONTENDERS[c.name]
    if probe is not None and samples is not None:
        await probe.start(database)
    cpu0 = time.process_time()
    start = time.perf_counter()
    deadline = start + seconds

    async def worker(task: int) -> int:
        n = 0
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            await w.op(c, state, task, n)
            latencies.append(time.perf_counter() - t0)
            n += 1
        return n

    ops = sum(await asyncio.gather(*(worker(k) for k in range(concurrency))))
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    if samples is not None:
        samples.ops_per_s.append(ops / elapsed)
        samples.rounds.append(round_)
        samples.latencies.extend(latencies)
        samples.ops.append(ops)
        samples.client_cpu_us.append(1e6 * cpu)
        samples.costs.append(await probe.stop(database) if probe is not None else None)


async def bench_workload(
    w: Workload,
    contenders: dict[str, Contender],
    states: dict[tuple[str, str], dict[str, Any]],
    rounds: int,
    seconds: float,
    probe: ServerProbe | None = None,
    settle: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, Samples]:
    for name, c in contenders.items():
        key = (name, w.state_key or w.name)
        if key not in states:
            states[key] = {}
            if w.setup is not None:
                await w.setup(c, states[key])
    if settle is not None:
        await settle()
    gc.collect()
    gc.freeze()  # seeded sessions and pools out of the collector's way: cheaper, steadier
    samples = {name: Samples() for name in contenders}
    seconds *= w.slice_factor
    for name, c in contenders.items():  # warm-up slice, not recorded
        if name not in w.max_rounds_for:
            await run_slice(c, w, states[(name, w.state_key or w.name)], seconds / 2, None)
    names = list(contenders)
    for r in range(rounds):
        # Rotate the order every round and reverse it every other round, so every
        # contender runs before and after every other one, early and late in a round.
        order = names[r % len(names) :] + names[: r % len(names)]
        if r % 2:
            order.reverse()
        for name in order:
            if r >= w.max_rounds_for.get(name, rounds):
                continue
            state = states[(name, w.state_key or w.name)]
            await run_slice(contenders[name], w, state, seconds, samples[name], r, probe)
    return samples


# --- main -------------------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    names = ["google-adk", "sqlspec", "sqlalchemy", "asyncpg", "pydantic", "fastapi-adk-store"]
    return {name: metadata.version(name) for name in names}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    """The run, on a private server (`--private-server`) or on `--dsn`'s."""
    if not args.private_server:
        return await _run(args, args.dsn)
    print("starting a private PostgreSQL 15 with pg_stat_statements ...", flush=True)
    async with private_server(mirror_dsn=args.dsn) as dsn:
        return await _run(args, dsn)


async def _run(args: argparse.Namespace, dsn: str) -> dict[str, Any]:
    started = time.perf_counter()
    rounds, seconds = (3, 0.25) if args.quick else (args.rounds, args.slice)
    if args.quick:
        args.big = min(args.big, 10_000)
    workloads = [w for w in WORKLOADS if not args.only or w.name in args.only]
    await fresh_databases(dsn, *CONTENDERS.values())
    connection = await asyncpg.connect(dsn)
    server_version = await connection.fetchval("SELECT version()")
    await connection.close()

    print("counting statements per call on the wire ...", flush=True)
    names = [n for n in ORDER if n == "floor" or not args.contenders or n in args.contenders]
    statements = await count_statements(dsn, 5 if args.quick else 20, names)
    print(f"  {time.perf_counter() - started:.1f}s", flush=True)

    results: dict[str, Any] = {}
    correctness: dict[str, Any] = {}
    async with AsyncExitStack() as stack:
        probe = await stack.enter_async_context(probe_or_reason(dsn, urlsplit(dsn).hostname))
        missing = [probe] if isinstance(probe, str) else list(reasons(probe))
        if not args.private_server and not isinstance(probe, str):
            missing.append("WAL per call counts the whole server's WAL: other clients add theirs")
        for reason in missing:
            print(reason, flush=True)
        contenders = {
            name: await stack.enter_async_context(open_contender(name, dsn)) for name in names
        }
        states: dict[tuple[str, str], dict[str, Any]] = {}
        print("seeding ...", flush=True)
        for c in contenders.values():
            await seed_list_users(c, dsn, args.big)
            await c.list_page(APP, SMALL_USER, PAGE)  # ADK creates its tables lazily
        print(f"  {time.perf_counter() - started:.1f}s", flush=True)
        for name, c in contenders.items():
            states[(name, "get")] = {}
            await WORKLOADS[2].setup(c, states[(name, "get")])  # type: ignore[misc]
            correctness[name] = await check_reads(c, states[(name, "get")])
            print(f"  {name} {time.perf_counter() - started:.1f}s", flush=True)

        async def settle() -> None:
            await vacuum_databases(dsn, [CONTENDERS[name] for name in contenders])

        for w in workloads:
            t0 = time.perf_counter()
            samples = await bench_workload(
                w,
                contenders,
                states,
                rounds,
                seconds,
                None if isinstance(probe, str) else probe,
                settle,
            )
            results[w.name] = samples
            line = ", ".join(
                f"{name} {statistics.median(s.ops_per_s):,.0f}" for name, s in samples.items()
            )
            print(f"{w.name:<13} {time.perf_counter() - t0:5.1f}s  ops/s: {line}", flush=True)
        for name in contenders:
            rows = states.get((name, "list_100k"), {}).get("rows")
            if rows is not None:
                correctness[name]["list_100k_rows"] = rows

    data = report.summarize(
        workloads=workloads,
        samples=results,
        statements=statements,
        correctness=correctness,
        meta={
            "command": "python -m bench.run"
            + (" --quick" if args.quick else "")
            + (" --private-server" if args.private_server else ""),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "duration_s": round(time.perf_counter() - started, 1),
            "rounds": rounds,
            "slice_s": seconds,
            "concurrency": 16,
            "pool_size": 10,
            "get_events": GET_EVENTS,
            "big_user_sessions": args.big,
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPUs",
            "postgres": server_version.split(" on ")[0],
            "versions": _versions(),
        },
    )
    data["costs"] = costs.summarize_costs(results)
    data["cost_notes"] = missing
    data["targets"] += report.cost_targets(data)
    return data


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dsn",
        default=DEFAULT_DSN,
        help="server to use (its other databases "
        "are untouched; bench_* databases are dropped and re-created)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 3 rounds of 0.25 s, big user of 10,000"
    )
    parser.add_argument("--rounds", type=int, default=9, help="rounds per workload (default 9)")
    parser.add_argument("--slice", type=float, default=0.5, help="seconds per slice (default 0.5)")
    parser.add_argument("--big", type=int, default=100_000, help="sessions of the big user")
    parser.add_argument("--only", nargs="*", help="run only these workloads")
    parser.add_argument(
        "--contenders",
        nargs="*",
        choices=list(CONTENDERS),
        help="run only these contenders (the floor always runs: ratios are to it)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only; write no files")
    parser.add_argument(
        "--private-server",
        action="store_true",
        help="run on a private PostgreSQL 15 started with pg_stat_statements (and stopped) "
        "for server CPU, exec time and WAL per call; --dsn's server lends its settings",
    )
    return parser.parse_args(argv)


def cli(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    data = asyncio.run(main(args))
    markdown = report.markdown(data)
    print()
    print(markdown)
    if not args.no_write:
        report.write(data, markdown, ROOT)
        print("wrote bench/results/latest.json, latest.md, docs/performance.{md,png}")
    print(f"total {data['meta']['duration_s']} s")


if __name__ == "__main__":
    cli()
