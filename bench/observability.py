"""What metrics and traces cost on append_event, measured against the bare method in one run.

    .venv/bin/python -m bench.observability            # 25 rounds, ~1 minute
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
  (its exporter drops them: the cost measured is ours and the SDK's, not a collector's);
- metrics+traces 10%: the same provider sampling one trace in ten;
- span only: the bare method inside one SDK span started by the caller, no metrics:
  what any span around an append costs, whoever starts it.

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
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.trace import SpanKind

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
MODES = (
    "bare", "off", "default", "metrics", "metrics+traces", "metrics+traces 10%", "span only",
)  # fmt: skip

Append = Callable[[AsyncpgSessionService, Session, Event], Awaitable[Event]]


class _Dropped(SpanExporter):
    """An exporter that keeps nothing: the spans are made, batched and handed over."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


_BARE: Append = AsyncpgSessionService.append_event.__wrapped__  # type: ignore[attr-defined]


def _providers() -> dict[str, TracerProvider]:
    """SDK providers that record every span, and one in ten; exporters drop the spans."""
    made = {"all": TracerProvider(), "tenth": TracerProvider(sampler=TraceIdRatioBased(0.1))}
    for provider in made.values():
        provider.add_span_processor(BatchSpanProcessor(_Dropped()))
    return made


def _mode(name: str, providers: dict[str, TracerProvider]) -> Append:
    """Switch telemetry for `name`; the append to call."""
    configure_telemetry(metrics=name.startswith("metrics"), traces=name == "default")
    if name.startswith("metrics+traces"):
        configure_telemetry(tracer_provider=providers["tenth" if "10%" in name else "all"])
    if name == "bare":
        return _BARE
    if name == "span only":
        tracer = providers["all"].get_tracer("bench")

        async def spanned(service: AsyncpgSessionService, session: Session, event: Event) -> Event:
            with tracer.start_as_current_span("append", kind=SpanKind.CLIENT):
                return await _BARE(service, session, event)

        return spanned
    return AsyncpgSessionService.append_event


async def _slice(
    service: AsyncpgSessionService, sessions: list[Session], append: Append, seconds: float
) -> tuple[float, float]:
    """Appends per second of the tasks, one per session, for `seconds`; and this process's
    CPU microseconds per append (all threads: the span processor's too)."""
    deadline = time.perf_counter() + seconds
    counts = [0] * len(sessions)

    async def task(index: int) -> None:
        session = sessions[index]
        while time.perf_counter() < deadline:
            await append(service, session, make_event(counts[index]))
            counts[index] += 1

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(task(i) for i in range(len(sessions))))
    done = sum(counts)
    return done / (time.perf_counter() - started), (time.process_time() - cpu) / done * 1e6


class _InstantStore:
    """The sessions store's Python work for an append (its JSON texts), no database: so
    the instrumentation's share of the client's CPU shows without network or server."""

    def __init__(self, limits: Any) -> None:
        self.limits = limits
        self.revision = 0

    async def append(self, key: Any, event: Any, *, expected_revision: Any, deltas: Any) -> int:
        self.limits.event_json(event)
        self.limits.state_json(deltas, "state_delta", session_key="session_delta")
        self.revision += 1
        return self.revision


async def _instant(args: argparse.Namespace, limits: Any) -> dict[str, list[float]]:
    """Microseconds per append_event on an `_InstantStore`, per mode and round."""
    providers = _providers()
    service = AsyncpgSessionService(_InstantStore(limits))  # type: ignore[arg-type]
    session = Session(app_name="bench", user_id="u", id="s")
    session._storage_update_marker = "0"
    events = [make_event(turn) for turn in range(args.calls)]
    per_call: dict[str, list[float]] = {mode: [] for mode in MODES}
    for round_ in range(args.rounds):
        shift = round_ % len(MODES)
        for mode in MODES[shift:] + MODES[:shift]:
            append = _mode(mode, providers)
            session.events.clear()
            gc.collect()
            started = time.perf_counter()
            for event in events:
                await append(service, session, event)
            per_call[mode].append((time.perf_counter() - started) / len(events) * 1e6)
    for provider in providers.values():
        provider.shutdown()
    return per_call


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    await fresh_databases(args.dsn, DATABASE)
    providers = _providers()
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    async with open_session_service(database_dsn(args.dsn, DATABASE), max_size=10) as service:
        sessions = [
            await service.create_session(app_name="bench", user_id=f"u{i}", session_id=f"s{i}")
            for i in range(args.tasks)
        ]
        await _slice(service, sessions, _mode("bare", providers), 0.5)  # warm the pool
        for round_ in range(args.rounds):
            shift = round_ % len(MODES)
            for mode in MODES[shift:] + MODES[:shift]:
                for session in sessions:  # the appended events pile up on the copies
                    session.events.clear()
                gc.collect()
                append = _mode(mode, providers)
                rate, cpu_us = await _slice(service, sessions, append, args.slice)
                rates[mode].append(rate)
                cpu[mode].append(cpu_us)
        instant = await _instant(args, service.store.limits)
    configure_telemetry(metrics=True, traces=True)
    for provider in providers.values():
        provider.shutdown()
    return _summary(args, rates, cpu, instant)


def _ratio(values: list[float], bare: list[float]) -> float:
    """The median over rounds of the round's value over bare's."""
    return statistics.median(v / b for v, b in zip(values, bare, strict=True))


def _summary(
    args: argparse.Namespace,
    rates: dict[str, list[float]],
    cpu: dict[str, list[float]],
    instant: dict[str, list[float]],
) -> dict[str, Any]:
    modes = {}
    for mode, values in rates.items():
        ratio, cpu_ratio = _ratio(values, rates["bare"]), _ratio(cpu[mode], cpu["bare"])
        # The fastest slice of a mode: without a database the noise only ever adds time.
        fastest, fastest_bare = min(instant[mode]), min(instant["bare"])
        modes[mode] = {
            "instant_us_per_append": round(fastest, 2),
            "instant_extra_us": round(fastest - fastest_bare, 2),
            "instant_cost_percent": round((fastest / fastest_bare - 1) * 100, 1),
            "appends_per_s": round(statistics.median(values)),
            "ratio_to_bare": round(ratio, 4),
            "cost_percent": round((1 - ratio) * 100, 1),
            "cpu_us_per_append": round(statistics.median(cpu[mode]), 1),
            "cpu_ratio_to_bare": round(cpu_ratio, 4),
            "cpu_cost_percent": round((cpu_ratio - 1) * 100, 1),
        }
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.observability" + (" --quick" if args.quick else ""),
        "python": platform.python_version(),
        "rounds": args.rounds,
        "slice_s": args.slice,
        "tasks": args.tasks,
        "calls": args.calls,
        "modes": modes,
    }


def render(summary: dict[str, Any]) -> str:
    """The markdown table of a run, with the command and settings behind it."""
    lines = [
        f"`{summary['command']}` ({summary['when']}, Python {summary['python']}, "
        f"{summary['rounds']} rounds of {summary['slice_s']} s slices, {summary['tasks']} "
        "tasks appending):",
        "",
        "| mode | appends/s | throughput vs bare | CPU µs/append | CPU vs bare |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for mode, row in summary["modes"].items():
        lines.append(
            f"| {mode} | {row['appends_per_s']} | {row['ratio_to_bare']:.3f} "
            f"({-row['cost_percent']:+.1f}%) | {row['cpu_us_per_append']} | "
            f"{row['cpu_ratio_to_bare']:.3f} ({row['cpu_cost_percent']:+.1f}%) |"
        )
    lines += [
        "",
        "Medians over rounds; a ratio is the median of the per-round ratios to `bare`. CPU "
        "is this process's (every thread), so other load on the machine moves it less than "
        "throughput.",
        "",
        f"Without the database (the same rounds, {summary['calls']} calls of `append_event` "
        "a slice on a store that only builds the JSON texts; each mode's fastest slice): "
        "the instrumentation's own cost, a bound on its share of the client's CPU.",
        "",
        "| mode | µs/append | extra µs | vs bare |",
        "| --- | ---: | ---: | ---: |",
    ]
    for mode, row in summary["modes"].items():
        lines.append(
            f"| {mode} | {row['instant_us_per_append']} | {row['instant_extra_us']:+.2f} | "
            f"{row['instant_cost_percent']:+.1f}% |"
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
    parser.add_argument("--rounds", type=int, default=25, help="rounds (default 25)")
    parser.add_argument("--slice", type=float, default=0.4, help="seconds per slice")
    parser.add_argument("--tasks", type=int, default=8, help="concurrent appending tasks")
    parser.add_argument("--calls", type=int, default=3000, help="calls a no-database slice")
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
