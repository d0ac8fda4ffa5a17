"""`--metrics-file PATH`: the last run of each goal in Prometheus' text format, for node_exporter's
textfile collector.

One label set per goal: the morning's spread must not erase the night's consolidation, so the
series of the other goals already in the file are read back (prometheus_client's parser) and
written again beside the new run's. prometheus_client renders the text, floats exact (a Unix time
keeps every digit). The file itself is written by planner.formats.safe_files, not by
prometheus_client's write_to_textfile: that one opens a temporary file of predictable name
(PATH.<pid>.<thread>) in a directory other services share, following symlinks, and never fsyncs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector, CollectorRegistry

from planner.domain.errors import InputError
from planner.formats.safe_files import open_private, write_private

MAX_PREVIOUS_BYTES = 1 << 20  # our own file holds a few dozen lines


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


@dataclass(frozen=True)
class Gauge:
    name: str
    help: str
    labels: tuple[str, ...] = ("goal",)


GAUGES = (
    Gauge("rebalance_last_run_timestamp_seconds", "When the last run finished."),
    Gauge("rebalance_last_run_success", "1 if the last run completed without failures."),
    Gauge("rebalance_last_run_moves", "Migrations of the last run by outcome.", ("goal", "outcome")),
    Gauge("rebalance_last_run_moved_bytes", "Guest memory the last run migrated."),
    Gauge("rebalance_last_run_hosts_freed", "Hosts the last run emptied."),
    Gauge("rebalance_peak_cpu_utilisation_ratio", "Highest host CPU utilisation before and after the last run.",
          ("goal", "when")),
    Gauge("rebalance_peak_memory_utilisation_ratio",
          "Highest host memory utilisation before and after the last run.", ("goal", "when")),
)
_LABELS = {gauge.name: gauge.labels for gauge in GAUGES}


@dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple[str, ...]  # values, in the order of the gauge's label names; the goal first
    value: float


def run_samples(m: RunMetrics) -> list[Sample]:
    goal = m.goal
    return [
        Sample("rebalance_last_run_timestamp_seconds", (goal,), m.finished_unix),
        Sample("rebalance_last_run_success", (goal,), float(m.success)),
        Sample("rebalance_last_run_moves", (goal, "done"), m.moves_done),
        Sample("rebalance_last_run_moves", (goal, "failed"), m.moves_failed),
        Sample("rebalance_last_run_moves", (goal, "not_run"), m.moves_not_run),
        Sample("rebalance_last_run_moved_bytes", (goal,), m.moved_bytes),
        Sample("rebalance_last_run_hosts_freed", (goal,), m.hosts_freed),
        Sample("rebalance_peak_cpu_utilisation_ratio", (goal, "before"), m.peak_cpu_before),
        Sample("rebalance_peak_cpu_utilisation_ratio", (goal, "after"), m.peak_cpu_after),
        Sample("rebalance_peak_memory_utilisation_ratio", (goal, "before"), m.peak_memory_before),
        Sample("rebalance_peak_memory_utilisation_ratio", (goal, "after"), m.peak_memory_after),
    ]


class _Samples(Collector):
    """The samples as gauge families, goals in a stable order."""

    def __init__(self, samples: Iterable[Sample]) -> None:
        self.samples = sorted(samples, key=lambda s: s.labels[0])  # stable: a goal's samples keep their order

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for gauge in GAUGES:
            family = GaugeMetricFamily(gauge.name, gauge.help, labels=gauge.labels)
            for sample in self.samples:
                if sample.name == gauge.name:
                    family.add_metric(list(sample.labels), sample.value)
            yield family


def render_metrics(samples: Iterable[Sample]) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Samples(samples))
    return generate_latest(registry).decode("utf-8")


def parse_samples(text: str) -> list[Sample]:
    """Our gauges' samples in a textfile (other series and label sets are not ours: dropped)."""
    found = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            names = _LABELS.get(sample.name)
            if names is not None and set(sample.labels) == set(names):
                found.append(Sample(sample.name, tuple(sample.labels[n] for n in names), float(sample.value)))
    return found


def write_metrics(path: str | Path, metrics: RunMetrics) -> tuple[str, ...]:
    """Replace the file with this run's series and the other goals' series already there; returns
    warnings (a previous file that could not be read is replaced, not kept)."""
    previous, warnings = _previous_samples(Path(path))
    kept = [s for s in previous if s.labels[0] != metrics.goal]
    # node_exporter, which reads the textfile directory, usually runs as another user.
    write_private(path, render_metrics([*kept, *run_samples(metrics)]), "--metrics-file", mode=0o644)
    return warnings


def _previous_samples(path: Path) -> tuple[list[Sample], tuple[str, ...]]:
    if not os.path.lexists(path):
        return [], ()
    try:
        return parse_samples(_read_own_file(path)), ()
    except (InputError, ValueError) as error:  # the parser's errors are ValueErrors
        reason = error.message if isinstance(error, InputError) else str(error)
        return [], (f"--metrics-file: the previous {path} is not kept ({reason}): only this run's series are written",)


def _read_own_file(path: Path) -> str:
    """The previous file, only if it is a regular file of ours: never read through a symlink a
    root-run tool would then copy into a world-readable file."""
    fd = open_private(path, os.O_RDONLY, "--metrics-file")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_PREVIOUS_BYTES + 1)
    if len(data) > MAX_PREVIOUS_BYTES:
        raise ValueError(f"larger than {MAX_PREVIOUS_BYTES} bytes")
    return data.decode("utf-8")
