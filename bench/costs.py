"""Cost per call, server and client: medians over slices, ratios to the floor, the table."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .run import Samples

__all__ = ["COST_COLUMNS", "cost_markdown", "summarize_costs"]

# key -> (label, unit); each is a per-call median over a contender's recorded slices.
COST_COLUMNS: Final = {
    "backend_cpu_us": ("server CPU", "µs"),
    "exec_us": ("server exec", "µs"),
    "wal_bytes": ("WAL", "B"),
    "client_cpu_us": ("client CPU", "µs"),
}
CALLS: Final = ("create", "append", "get_full", "get_recent20", "list_100", "list_100k", "turn")


def _per_op(samples: Samples) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {key: [] for key in [*COST_COLUMNS, "statements", "wal_fpi"]}
    for ops, client, cost in zip(samples.ops, samples.client_cpu_us, samples.costs, strict=True):
        if ops == 0:
            continue
        out["client_cpu_us"].append(client / ops)
        if cost is None:
            continue
        out["wal_bytes"].append(cost.wal_bytes / ops)
        if cost.backend_cpu_us is not None:
            out["backend_cpu_us"].append(cost.backend_cpu_us / ops)
        if cost.exec_us is not None and cost.calls is not None:
            out["exec_us"].append(cost.exec_us / ops)
            out["statements"].append(cost.calls / ops)
        if cost.wal_fpi is not None:
            out["wal_fpi"].append(cost.wal_fpi / ops)
    return out


def summarize_costs(samples: Mapping[str, Mapping[str, Samples]]) -> dict[str, Any]:
    """Per workload and contender: the median per call of each cost, and ratios to the floor."""
    out: dict[str, Any] = {}
    for workload, per in samples.items():
        medians = {
            name: {
                key: round(statistics.median(values), 2)
                for key, values in _per_op(s).items()
                if values
            }
            for name, s in per.items()
        }
        floor = medians.get("floor", {})
        ratios = {
            name: {
                key: round(value / floor[key], 3)
                for key, value in m.items()
                if key in COST_COLUMNS and floor.get(key)
            }
            for name, m in medians.items()
        }
        out[workload] = {"per_call": medians, "vs_floor": ratios}
    return out


def _cell(per_call: Mapping[str, float], ratio: Mapping[str, float], key: str) -> str:
    if key not in per_call:
        return "-"
    value = per_call[key]
    text = f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    return f"{text} ({ratio[key]:.2f}x)" if key in ratio else text


def cost_markdown(
    costs: Mapping[str, Any], labels: Mapping[str, str], missing: Sequence[str]
) -> list[str]:
    """The cost table: one row per workload and contender, ratios to the floor's."""
    if not costs:
        return []
    lines = [
        "",
        "**Cost per call** (median over slices; in brackets: ratio to the floor's). Server "
        "CPU: the contender's backends' CPU time (/proc schedstat); server exec: "
        "pg_stat_statements total_exec_time; WAL: advance of the WAL insert position "
        "(statements per call counted by pg_stat_statements); client CPU: this process's "
        "CPU time. Per call of the workload (a turn is a get and two appends).",
        "",
    ]
    header = ["workload", "contender", *(f"{lab} {unit}" for lab, unit in COST_COLUMNS.values())]
    header += ["statements", "FPI"]
    rows: list[list[Any]] = []
    for workload in [w for w in CALLS if w in costs] + [w for w in costs if w not in CALLS]:
        entry = costs[workload]
        for name in [n for n in labels if n in entry["per_call"]]:
            per_call, ratio = entry["per_call"][name], entry["vs_floor"].get(name, {})
            rows.append(
                [
                    workload,
                    labels[name],
                    *(_cell(per_call, ratio, key) for key in COST_COLUMNS),
                    f"{per_call['statements']:.3g}" if "statements" in per_call else "-",
                    f"{per_call['wal_fpi']:.2g}" if "wal_fpi" in per_call else "-",
                ]
            )
    align = ["---", "---"] + ["---:"] * (len(header) - 2)
    lines += ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    lines += [f"\n{reason}." for reason in missing]
    return lines
