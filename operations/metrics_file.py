"""`--metrics-file PATH`: the last run in Prometheus' text format, for node_exporter's textfile
collector. Written to a temporary file in the same directory and renamed, so the collector never
reads half a file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from planner.formats.safe_files import write_private


@dataclass(frozen=True)
class RunMetrics:
    finished_unix: float
    goal: str
    success: bool
    moves_done: int
    moves_failed: int
    moves_not_run: int
    moved_bytes: int
    hosts_freed: int
    peak_cpu_before: float  # ratios, 0..1
    peak_cpu_after: float
    peak_memory_before: float
    peak_memory_after: float


def render_metrics(m: RunMetrics) -> str:
    goal = f'goal="{m.goal}"'
    gauges = [
        ("rebalance_last_run_timestamp_seconds", "When the last run finished.", [(goal, m.finished_unix)]),
        ("rebalance_last_run_success", "1 if the last run completed without failures.", [(goal, int(m.success))]),
        ("rebalance_last_run_moves", "Migrations of the last run by outcome.",
         [(f'{goal},outcome="done"', m.moves_done), (f'{goal},outcome="failed"', m.moves_failed),
          (f'{goal},outcome="not_run"', m.moves_not_run)]),
        ("rebalance_last_run_moved_bytes", "Guest memory the last run migrated.", [(goal, m.moved_bytes)]),
        ("rebalance_last_run_hosts_freed", "Hosts the last run emptied.", [(goal, m.hosts_freed)]),
        ("rebalance_peak_cpu_utilisation_ratio", "Highest host CPU utilisation before and after the last run.",
         [(f'{goal},when="before"', m.peak_cpu_before), (f'{goal},when="after"', m.peak_cpu_after)]),
        ("rebalance_peak_memory_utilisation_ratio", "Highest host memory utilisation before and after the last run.",
         [(f'{goal},when="before"', m.peak_memory_before), (f'{goal},when="after"', m.peak_memory_after)]),
    ]
    lines = []
    for name, help_text, samples in gauges:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        lines += [f"{name}{{{labels}}} {_number(value)}" for labels, value in samples]
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def write_metrics(path: str | Path, metrics: RunMetrics) -> None:
    # node_exporter, which reads the textfile directory, usually runs as another user.
    write_private(path, render_metrics(metrics), "--metrics-file", mode=0o644)
