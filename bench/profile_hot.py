"""Profile one contender's hot path with pyinstrument: 16 tasks for a few seconds.

    .venv/bin/python -m bench.profile_hot --contender ours --workload append get_full

Uses its own database (`bench_profile_<contender>`, dropped and re-created). Prints the
call tree and writes bench/results/profile_<contender>_<workload>.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
from pyinstrument import Profiler

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.contenders import Contender, database_dsn, open_contender, seed_sql
from bench.run import DEFAULT_DSN, fresh_databases
from bench.workloads import APP, BIG_USER, SMALL_USER, WORKLOADS, Workload

ROOT = Path(__file__).resolve().parent.parent


async def run_for(c: Contender, w: Workload, state: dict[str, Any], seconds: float) -> int:
    deadline = time.perf_counter() + seconds

    async def worker(task: int) -> int:
        n = 0
        while time.perf_counter() < deadline:
            await w.op(c, state, task, n)
            n += 1
        return n

    return sum(await asyncio.gather(*(worker(k) for k in range(w.concurrency))))


async def main(args: argparse.Namespace) -> None:
    database = f"bench_profile_{args.contender}"
    await fresh_databases(args.dsn, database)
    async with open_contender(args.contender, args.dsn, database) as c:
        connection = await asyncpg.connect(database_dsn(args.dsn, database))
        sql = await seed_sql(connection, c.seed_sql)
        await connection.execute(sql, APP, SMALL_USER, 100)
        await connection.execute(sql, APP, BIG_USER, 100_000)
        await connection.execute("ANALYZE")
        await connection.close()
        shared: dict[str | None, dict[str, Any]] = {}
        for w in [w for w in WORKLOADS if w.name in args.workload]:
            state = shared.setdefault(w.state_key or w.name, {})
            if w.setup is not None and not state:
                await w.setup(c, state)
            await run_for(c, w, state, 1.0)  # warm-up
            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
            ops = await run_for(c, w, state, args.seconds)
            profiler.stop()
            text = profiler.output_text(unicode=True, color=False, show_all=False)
            header = f"{args.contender} {w.name}: {ops / args.seconds:,.0f} ops/s under profiler\n"
            out = ROOT / "bench" / "results" / f"profile_{args.contender}_{w.name}.txt"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(header + text)
            print(header + text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.profile_hot")
    parser.add_argument("--dsn", default=DEFAULT_DSN)
    parser.add_argument("--contender", default="ours")
    parser.add_argument("--workload", nargs="+", default=["append", "get_full"])
    parser.add_argument("--seconds", type=float, default=5.0)
    asyncio.run(main(parser.parse_args()))
