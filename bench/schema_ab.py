"""Server cost of one append per schema variant, side by side on a private PostgreSQL.

    .venv/bin/python -m bench.schema_ab            # 7 rounds of 300 appends per variant

Each variant is our service on its own database whose schema is built step by step (the
migrations up to a version, then the variant's own SQL), plus the floor. Rounds run every
variant once, in a rotating order; one slice is `--appends` appends from one task to 8
sessions (a 300-character event with a 2-key delta, as in bench.run), so the server CPU is
the append's own, with no lock waits. Prints the median per append of server CPU, exec
time and WAL bytes, and each variant's ratio to the floor; writes
bench/results/schema_ab.json. See docs/performance.md for what the variants are and why.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.contenders import database_dsn
from bench.floor import open_floor_service
from bench.run import DEFAULT_DSN, fresh_databases
from bench.server import ServerProbe, private_server, probe_or_reason
from bench.workloads import make_event
from fastapi_adk_store import AsyncpgADKStore, AsyncpgConfig, AsyncpgSessionService

ROOT = Path(__file__).resolve().parent.parent
SESSIONS: Final = 8


@dataclass(frozen=True)
class Variant:
    """Our schema at `version`, then `extra` SQL; `eager_exists`: the pre-v3 append."""

    name: str
    version: int
    extra: str = ""
    eager_exists: bool = False


_V2_WITHOUT_FK: Final = """
ALTER TABLE adk_events DROP CONSTRAINT adk_events_app_name_user_id_session_id_fkey;
"""
VARIANTS: Final = [
    Variant("v2", 2, eager_exists=True),
    Variant("v2, no sessions(id) index", 2, "DROP INDEX adk_sessions_by_id;", True),
    Variant("v2, no events foreign key", 2, _V2_WITHOUT_FK, True),
    Variant("v3, eager existence check", 3, eager_exists=True),
    Variant("v3", 3),
    Variant("v3, sessions fillfactor 100", 3, "ALTER TABLE adk_sessions SET (fillfactor = 100);"),
]


async def _prepare(dsn: str, variant: Variant) -> AsyncpgADKStore:
    store = AsyncpgADKStore(AsyncpgConfig(pool_config={"dsn": dsn, "min_size": 2, "max_size": 2}))
    await store.get_pool()
    migrator = store.sessions._sql.migrator
    pool = await store.get_pool()
    async with pool.acquire() as connection:
        for migration in migrator.migrations[: variant.version]:
            async with connection.transaction():
                await connection.execute(migration.sql)
                await connection.execute(migrator.record_sql, migration.version)
        if variant.extra:
            await connection.execute(variant.extra)
    if variant.eager_exists:
        sql = store.sessions._sql
        # the append before schema version 3: its existence check ran on every append
        eager = re.sub(
            r"CASE WHEN NOT EXISTS \(SELECT FROM s\) THEN(.*?)END AS session_exists",
            r"\1 AS session_exists",
            sql.append_event.text,
            flags=re.DOTALL,
        )
        assert eager != sql.append_event.text
        object.__setattr__(sql, "append_event", replace(sql.append_event, text=eager))
    return store


@asynccontextmanager
async def _contender(dsn: str, variant: Variant | None) -> AsyncIterator[Any]:
    if variant is None:
        async with open_floor_service(dsn, pool_size=2) as floor:
            yield floor
        return
    store = await _prepare(dsn, variant)
    async with store.opened(create_tables=False, check_schema=False):
        yield AsyncpgSessionService(store)


async def _slice(service: Any, sessions: list[Any], appends: int, turn: int) -> None:
    for n in range(appends):
        await service.append_event(sessions[n % len(sessions)], make_event(turn + n))


async def run(args: argparse.Namespace, dsn: str) -> dict[str, Any]:
    names = ["floor", *(v.name for v in VARIANTS)]
    databases = {name: f"bench_ab_{k}" for k, name in enumerate(names)}
    await fresh_databases(dsn, *databases.values())
    results: dict[str, dict[str, list[float]]] = {
        n: {"cpu": [], "exec": [], "wal": []} for n in names
    }
    async with AsyncExitStack() as stack:
        probe = await stack.enter_async_context(probe_or_reason(dsn, "127.0.0.1"))
        assert isinstance(probe, ServerProbe), probe
        services: dict[str, Any] = {}
        sessions: dict[str, list[Any]] = {}
        for name, variant in zip(names, [None, *VARIANTS], strict=True):
            service = await stack.enter_async_context(
                _contender(database_dsn(dsn, databases[name]), variant)
            )
            services[name] = service
            sessions[name] = [
                await service.create_session(app_name="ab", user_id="u", state={"k": 1})
                for _ in range(SESSIONS)
            ]
            await _slice(service, sessions[name], 50, 0)  # warm-up: statement cache, pages
        for r in range(args.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in reversed(order) if r % 2 else order:
                await probe.start(databases[name])
                await _slice(services[name], sessions[name], args.appends, 1000 * (r + 1))
                cost = await probe.stop(databases[name])
                results[name]["cpu"].append((cost.backend_cpu_us or 0) / args.appends)
                results[name]["exec"].append((cost.exec_us or 0) / args.appends)
                results[name]["wal"].append(cost.wal_bytes / args.appends)
    medians = {n: {k: statistics.median(v) for k, v in m.items()} for n, m in results.items()}
    return {"rounds": args.rounds, "appends_per_slice": args.appends, "median": medians}


def table(data: dict[str, Any]) -> str:
    """The medians and ratios to the floor as markdown."""
    med = data["median"]
    floor = med["floor"]
    lines = [
        "| variant | server CPU µs/append | exec µs/append | WAL B/append |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, m in med.items():
        cells = [
            f"{m[k]:,.0f} ({m[k] / floor[k]:.2f}x)" if floor[k] else f"{m[k]:,.0f}"
            for k in ("cpu", "exec", "wal")
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with private_server(mirror_dsn=args.dsn) as dsn:
        return await run(args, dsn)


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.schema_ab", description=__doc__)
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="server whose settings to mirror")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--appends", type=int, default=300, help="appends per slice")
    args = parser.parse_args()
    data = asyncio.run(main(args))
    out = ROOT / "bench" / "results" / "schema_ab.json"
    out.write_text(json.dumps(data, indent=2) + "\n")
    print(table(data))


if __name__ == "__main__":
    cli()
