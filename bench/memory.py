"""Memory bench: our PostgreSQL memory service vs ADK's SQLite one, in the same run.

    .venv/bin/python -m bench.memory            # 10,000 memories, a few minutes
    .venv/bin/python -m bench.memory --large    # 1,000,000 memories (long; not in CI)

Contenders: ours (`open_memory_service`: tsvector + GIN, OR semantics, ranked) on a fresh
`bench_memory` database; ADK 2.13's `SqliteMemoryService` (FTS5, bm25; the private
module `google.adk.memory._sqlite_memory_service`) on a file in a temp dir; and, at the
default size only, ADK's `InMemoryMemoryService` (word overlap over every event of the
user). Every contender gets the same synthetic corpus: pseudo-words drawn from a Zipf
distribution, `--per-user` memories per user, sessions of 20 events added with
`add_session_to_memory`; every search returns at most 10 results. Ingest is interleaved
by batches of sessions; search runs in rounds, each contender one pass over the same
queries per round, the order rotating; a ratio is the median over rounds of the
per-round ratio. Prints a table and writes
bench/results/memory.json (or memory-large.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from google.adk.events.event import Event
from google.adk.memory._sqlite_memory_service import SqliteMemoryService
from google.adk.memory.base_memory_service import BaseMemoryService
from google.adk.memory.in_memory_memory_service import InMemoryMemoryService
from google.adk.sessions.session import Session
from google.genai import types

if not __package__:  # run as `python bench/memory.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.contenders import database_dsn
from bench.run import DEFAULT_DSN
from fastapi_adk_store import open_memory_service

ROOT = Path(__file__).resolve().parent.parent
APP = "bench"
DATABASE = "bench_memory"
EVENTS_PER_SESSION = 20
INGEST_BATCH = 25
"""Sessions a contender adds per ingest slice before the next contender's turn."""
VOCABULARY = 5000
RESULTS = 10
"""Results per search, for every contender (ours: memory_search_limit's default)."""
STOP_WORDS = ("what", "did", "i", "say", "about", "the", "and", "my", "is", "a")


@dataclass(frozen=True)
class Corpus:
    """Sessions of synthetic text and the natural-language queries searched for."""

    sessions: list[Session]
    queries: list[tuple[str, str]]  # (user_id, query)

    @property
    def memories(self) -> int:
        return len(self.sessions) * EVENTS_PER_SESSION


def _words(rng: random.Random) -> list[str]:
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    found: dict[str, None] = {}
    while len(found) < VOCABULARY:
        found["".join(rng.choices(syllables, k=rng.randint(2, 4)))] = None
    return list(found)


def make_corpus(entries: int, per_user: int, queries: int, seed: int = 7) -> Corpus:
    """`entries` memories over `entries / per_user` users, and `queries` queries."""
    rng = random.Random(seed)
    words = _words(rng)
    weights = [1 / (rank + 1) ** 1.07 for rank in range(len(words))]
    users = max(1, entries // per_user)
    sessions: list[Session] = []
    for number in range(entries // EVENTS_PER_SESSION):
        user = f"u{number % users}"
        events = []
        for turn in range(EVENTS_PER_SESSION):
            text = " ".join(rng.choices(words, weights, k=rng.randint(6, 16)))
            content = types.Content(role="user", parts=[types.Part(text=text)])
            stamp = 1_700_000_000.0 + number * 60 + turn
            events.append(Event(author="user", timestamp=stamp, content=content))
        sessions.append(Session(app_name=APP, user_id=user, id=f"s{number}", events=events))
    asked = [
        (
            f"u{rng.randrange(users)}",
            f"{' '.join(rng.sample(STOP_WORDS, 3))} {' '.join(rng.choices(words, weights, k=2))}",
        )
        for _ in range(queries)
    ]
    return Corpus(sessions, asked)


@dataclass
class Contender:
    name: str
    service: BaseMemoryService
    ingest_seconds: float = 0.0
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    hits: int = 0


async def fresh_database(server_dsn: str) -> str:
    connection = await asyncpg.connect(server_dsn)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await connection.close()
    return database_dsn(server_dsn, DATABASE)


@asynccontextmanager
async def contenders(server_dsn: str, large: bool) -> AsyncIterator[list[Contender]]:
    """Ours, ADK's SQLite service and (not with --large) ADK's in-memory one."""
    async with AsyncExitStack() as stack:
        dsn = await fresh_database(server_dsn)
        ours = await stack.enter_async_context(open_memory_service(dsn, min_size=2, max_size=2))
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-memory-")))
        # Its default is 50 results; ours and ADK's in-memory service return 10.
        sqlite = SqliteMemoryService(db_path=folder / "memory.db", max_results=RESULTS)
        stack.push_async_callback(sqlite.close)
        found = [Contender("ours", ours), Contender("adk_sqlite", sqlite)]
        if not large:
            found.append(Contender("adk_in_memory", InMemoryMemoryService()))
        yield found


async def ingest(corpus: Corpus, everyone: list[Contender], report: Callable[[str], None]) -> None:
    """Add every session to every contender, a batch each in turn (interleaved)."""
    batches = range(0, len(corpus.sessions), INGEST_BATCH)
    for done, start in enumerate(batches, 1):
        batch = corpus.sessions[start : start + INGEST_BATCH]
        for contender in everyone:
            began = time.perf_counter()
            for session in batch:
                await contender.service.add_session_to_memory(session)
            contender.ingest_seconds += time.perf_counter() - began
        if done % max(1, len(batches) // 10) == 0:
            report(f"ingested {min(start + INGEST_BATCH, len(corpus.sessions)) * 20:,} memories")


async def search_round(corpus: Corpus, contender: Contender) -> None:
    """One pass over the queries, one at a time; the round's p50 and p99 in ms."""
    latencies = []
    for user, query in corpus.queries:
        began = time.perf_counter()
        found = await contender.service.search_memory(app_name=APP, user_id=user, query=query)
        latencies.append((time.perf_counter() - began) * 1000)
        contender.hits += len(found.memories)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    contender.p50.append(cuts[49])
    contender.p99.append(cuts[98])


async def search(corpus: Corpus, everyone: list[Contender], rounds: int) -> None:
    for contender in everyone:  # warm-up: caches, prepared statements
        await search_round(corpus, contender)
        contender.p50.clear()
        contender.p99.clear()
        contender.hits = 0
    for number in range(rounds):
        order = everyone[number % len(everyone) :] + everyone[: number % len(everyone)]
        for contender in reversed(order) if number % 2 else order:
            await search_round(corpus, contender)


def summary(corpus: Corpus, everyone: list[Contender], args: argparse.Namespace) -> dict[str, Any]:
    ours = everyone[0]
    rows = {}
    for contender in everyone:
        ratios = [theirs / mine for theirs, mine in zip(contender.p50, ours.p50, strict=True)]
        rows[contender.name] = {
            "search_p50_ms": round(statistics.median(contender.p50), 3),
            "search_p99_ms": round(statistics.median(contender.p99), 3),
            "p50_vs_ours": round(statistics.median(ratios), 2),
            "ingest_memories_per_s": round(corpus.memories / contender.ingest_seconds),
            "results_per_query": round(
                contender.hits / len(everyone[0].p50) / len(corpus.queries), 2
            ),
        }
    return {
        "command": "python -m bench.memory" + (" --large" if args.large else ""),
        "memories": corpus.memories,
        "users": len({s.user_id for s in corpus.sessions}),
        "per_user": args.per_user,
        "queries": len(corpus.queries),
        "rounds": args.rounds,
        "python": platform.python_version(),
        "contenders": rows,
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['memories']:,} memories, {result['users']:,} users "
        f"({result['per_user']:,} each), {result['queries']} queries x {result['rounds']} rounds",
        "",
        "| contender | search p50 (ms) | search p99 (ms) | p50 / ours | ingest (memories/s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in result["contenders"].items():
        lines.append(
            f"| {name} | {row['search_p50_ms']:.2f} | {row['search_p99_ms']:.2f} | "
            f"{row['p50_vs_ours']:.2f} | {row['ingest_memories_per_s']:,} |"
        )
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    entries = 1_000_000 if args.large else args.entries
    corpus = make_corpus(entries, args.per_user, args.queries)
    started = time.perf_counter()

    def report(text: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f} s] {text}", flush=True)

    async with contenders(args.dsn, args.large) as everyone:
        await ingest(corpus, everyone, report)
        report("searching")
        await search(corpus, everyone, args.rounds)
    return summary(corpus, everyone, args)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.memory", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="server (bench_memory is re-created)")
    parser.add_argument("--entries", type=int, default=10_000, help="memories (default 10,000)")
    parser.add_argument("--large", action="store_true", help="1,000,000 memories, no in-memory")
    parser.add_argument("--per-user", type=int, default=1000, help="memories per user")
    parser.add_argument("--queries", type=int, default=200, help="queries per round")
    parser.add_argument("--rounds", type=int, default=7, help="search rounds (default 7)")
    parser.add_argument("--no-write", action="store_true", help="print only; write no file")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    outcome = asyncio.run(main(arguments))
    print(table(outcome))
    if not arguments.no_write:
        name = "memory-large.json" if arguments.large else "memory.json"
        (ROOT / "bench" / "results" / name).write_text(json.dumps(outcome, indent=2) + "\n")
