"""What metrics and traces cost on append_event, measured against the bare method in one run.

    .venv/bin/python -m bench.observability            # 9 rounds, ~1.5 minutes
    .venv/bin/python -m bench.observability --quick    # 3 rounds

One fresh database, one pool of 10, `--tasks` tasks appending to their own sessions. Each
round runs a slice of every mode, the order rotating every round; a mode's cost is the
median over rounds of its per-round throughput ratio to `bare` (the undecorated method,
`append_event.__wrapped__`), so machine drift cancels. Modes:

- bare: no instrumentation at all;
- off: `@instrumented` with metrics and traces switched off (what is left when neither
  prometheus_client nor OpenTelemetry is there);
- default: traces on through the global provider, which nothing set (google-adk brings
  the OpenTelemetry API, so this is an app without exporter), metrics off;
- metrics: Prometheus metrics only;
- metrics+traces: metrics, and spans recorded by an SDK provider with a batch processor
  (its exporter drops them: the cost measured is ours and the SDK's, not a collector's).

Writes bench/results/observability.json and the generated table of docs/observability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.adk.events.event import Event
from google.adk.sessions.session import Session
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

if not __package__:  # run as `python bench/observability.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.contenders import database_dsn
from bench.run import DEFAULT_DSN, fresh_databases
from bench.workloads import make_event
from fastapi_adk_store import AsyncpgSessionService, configure_telemetry, open_session_service

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "observability.json"
DOC = ROOT / "docs" / "observability.md"
START, END = "<!-- bench:observability:start -->", "<!-- bench:observability:end -->"
DATABASE = "bench_observability"
MODES = ("bare", "off", "default", "metrics", "metrics+traces")

Append = Callable[[AsyncpgSessionService, Session, Event], Awaitable[Event]]


class _Dropped(SpanExporter):
    """An exporter that keeps nothing: the spans are made, batched and handed over."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _mode(name: str, provider: TracerProvider) -> Append:
    """Switch telemetry for `name`; the append to call."""
    configure_telemetry(metrics=name in ("metrics", "metrics+traces"), traces=name == "default")
    if name == "metrics+traces":
        configure_telemetry(tracer_provider=provider)
    if name == "bare":
        bare: Append = AsyncpgSessionService.append_event.__wrapped__  # type: ignore[attr-defined]
        return bare
    return AsyncpgSessionService.append_event


async def _slice(
    service: AsyncpgSessionService, sessions: list[Session], append: Append, seconds: float
) -> float:
    """Appends per second of the tasks, one per session, for `seconds`."""
    deadline = time.perf_counter() + seconds
    counts = [0] * len(sessions)

    async def task(index: int) -> None:
        session = sessions[index]
        while time.perf_counter() < deadline:
            await append(service, session, make_event(counts[index]))
            counts[index] += 1

    started = time.perf_counter()
    await asyncio.gather(*(task(i) for i in range(len(sessions))))
    return sum(counts) / (time.perf_counter() - started)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    await fresh_databases(args.dsn, DATABASE)
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Dropped()))
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    async with open_session_service(database_dsn(args.dsn, DATABASE), max_size=10) as service:
        sessions = [
            await service.create_session(app_name="bench", user_id=f"u{i}", session_id=f"s{i}")
            for i in range(args.tasks)
        ]
        await _slice(service, sessions, _mode("bare", provider), 0.5)  # warm the pool
        for round_ in range(args.rounds):
            shift = round_ % len(MODES)
            for mode in MODES[shift:] + MODES[:shift]:
                gc.collect()
                append = _mode(mode, provider)
                rates[mode].append(await _slice(service, sessions, append, args.slice))
    configure_telemetry(metrics=True, traces=True)
    provider.shutdown()
    return _summary(args, rates)


def _summary(args: argparse.Namespace, rates: dict[str, list[float]]) -> dict[str, Any]:
    bare = rates["bare"]
    modes = {}
    for mode, values in rates.items():
        ratio = statistics.median(v / b for v, b in zip(values, bare, strict=True))
        median = statistics.median(values)
        modes[mode] = {
            "appends_per_s": round(median),
            "ratio_to_bare": round(ratio, 4),
            "cost_percent": round((1 - ratio) * 100, 1),
            "us_per_append": round((1 / median - 1 / statistics.median(bare)) * 1e6, 1),
        }
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.observability" + (" --quick" if args.quick else ""),
        "python": platform.python_version(),
        "rounds": args.rounds,
        "slice_s": args.slice,
        "tasks": args.tasks,
        "modes": modes,
    }


def render(summary: dict[str, Any]) -> str:
    """The markdown table of a run, with the command and settings behind it."""
    lines = [
        f"`{summary['command']}` ({summary['when']}, Python {summary['python']}, "
        f"{summary['rounds']} rounds of {summary['slice_s']} s slices, {summary['tasks']} "
        "tasks appending):",
        "",
        "| mode | appends/s (median) | throughput vs bare (median ratio) | cost |",
        "| --- | ---: | ---: | ---: |",
    ]
    for mode, row in summary["modes"].items():
        lines.append(
            f"| {mode} | {row['appends_per_s']} | {row['ratio_to_bare']:.3f} | "
            f"{row['cost_percent']:+.1f}% |"
        )
    return "\n".join(lines)


def write(summary: dict[str, Any]) -> None:
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    doc = DOC.read_text()
    head, _, rest = doc.partition(START)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{START}\n{render(summary)}\n{END}{tail}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.observability")
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="a server DSN (a database is made)")
    parser.add_argument("--quick", action="store_true", help="3 rounds (a smoke run)")
    parser.add_argument("--rounds", type=int, default=9, help="rounds (default 9)")
    parser.add_argument("--slice", type=float, default=1.5, help="seconds per slice")
    parser.add_argument("--tasks", type=int, default=8, help="concurrent appending tasks")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = 3
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    summary = asyncio.run(measure(args))
    print(render(summary))
    if not args.no_write:
        write(summary)


if __name__ == "__main__":
    main()
