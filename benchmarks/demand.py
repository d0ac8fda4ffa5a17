"""Where a generated VM's measured CPU load comes from: a synthetic Beta(2, 6) draw (the default),
or the real per-VM daily statistics of the PlanetLab traces.

The project must not read ../shared at run time, so the statistics ship as a small derived table
(`data/planetlab-vm-stats.csv`: day, VM, mean and 95th percentile of the 288 five-minute CPU
samples of that day) made by `derive_table` from the CoMon/CloudSim traces (Beloglazov & Buyya,
CCPE 24(13), 2012). `--trace-dir` derives the same statistics from a trace folder given by path.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterable
from pathlib import Path

TABLE = Path(__file__).resolve().parent / "data" / "planetlab-vm-stats.csv"
STATISTICS = ("mean", "p95")

Demand = Callable[[random.Random], float]  # → share of the VM's vCPUs busy, in [0, 1]


def synthetic(rng: random.Random) -> float:
    # Beta(2, 6): mean 25 % of the vCPUs busy, a long tail of hot VMs, never above 100 %.
    return rng.betavariate(2, 6)


def from_samples(shares: list[float]) -> Demand:
    if not shares:
        raise ValueError("no trace statistics to draw from")
    return lambda rng: rng.choice(shares)


def planetlab(statistic: str = "mean", table: Path = TABLE) -> Demand:
    """Each VM gets the daily `statistic` of a real PlanetLab VM, drawn at random."""
    column = _column(statistic)
    with table.open(newline="") as handle:
        return from_samples([float(row[column]) / 100 for row in csv.DictReader(handle)])


def from_trace_dir(folder: Path, statistic: str = "mean") -> Demand:
    column = _column(statistic)
    return from_samples([row[column] / 100 for row in derive_table(folder)])


def _column(statistic: str) -> str:
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {', '.join(STATISTICS)}")
    return f"{statistic}_percent"


def derive_table(folder: Path) -> list[dict]:
    """Per VM file (288 integer percentages, one per line): mean and p95, for each day folder."""
    days = sorted(p for p in folder.iterdir() if p.is_dir()) or [folder]
    rows = []
    for day in days:
        for trace in sorted(p for p in day.iterdir() if p.is_file() and not p.name.endswith(".md")):
            samples = _samples(trace.read_text().split())
            if samples:
                rows.append({"day": day.name, "vm": trace.name, "mean_percent": round(sum(samples) / len(samples), 2),
                             "p95_percent": _percentile(samples, 95)})
    return rows


def _samples(words: Iterable[str]) -> list[int]:
    return [int(w) for w in words if w.isdigit()]


def _percentile(samples: list[int], percent: int) -> float:
    ordered = sorted(samples)
    return float(ordered[min(len(ordered) - 1, (len(ordered) * percent + 99) // 100 - 1)])


def write_table(rows: list[dict], path: Path = TABLE) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["day", "vm", "mean_percent", "p95_percent"])
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    import sys

    write_table(derive_table(Path(sys.argv[1])))
    print(f"wrote {TABLE}")
