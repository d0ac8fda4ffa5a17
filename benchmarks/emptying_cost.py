"""Fit consolidation's host-emptying cost model (planner/solver/greedy_budget.py) to this machine.

    python -m benchmarks.emptying_cost                          # 1,000 to 10,000 hosts, fills 0.80 and 0.88
    python -m benchmarks.emptying_cost --sizes 100x2000 --fills 0.85   # a quick look

Each case empties hosts (host_emptying.consolidate_hosts) on a memory-tight cluster of
benchmarks/tight_generator.py, after the repair, with no cap, in its own process, counting its work
as planning charges it (GreedyBudget.host_emptying: passes over every host's sizes, roomy hosts
looked at for an ejection, moves) and timing it host by host. A non-negative least-squares fit of
the measured milliseconds of every CHUNK hosts on those counts, weighted so that every chunk counts
by its relative error, gives the milliseconds per unit of work on this machine today; planning
charges that times `--reference-day` (how much longer the same work takes on the slow day the
spread's passes are priced for) and SAFETY, so that on an ordinary day the emptying runs well within
its model and the pace (pace.py) does not read it as a slow machine.

Writes benchmarks/results/emptying-cost.csv (per case: counts, measured seconds, and seconds as the
fit and as the constants in use predict them, brought to today) and emptying-cost.md (the fitted
constants, those they give at the reference day, those in use, and per case the prediction over the
whole run and over its first tenth, where an early misjudgement by the pace would come from).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.at_scale import goal_policy
from benchmarks.cluster_size import hosts_and_vms, size_list
from benchmarks.greedy_cost import SAFETY
from benchmarks.least_squares import nonnegative_least_squares
from benchmarks.result_files import write_results
from benchmarks.tight_generator import HOST_TYPE_PROFILES, generate_tight_cluster
from benchmarks.worker_process import worker_record
from planner.domain.policy import Goal
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver import greedy_budget
from planner.solver.greedy import repair
from planner.solver.greedy_budget import GreedyBudget
from planner.solver.host_emptying import consolidate_hosts
from planner.solver.planning import set_up

RESULTS = Path(__file__).resolve().parent / "results"
CHUNK = 100  # hosts tried per row of the fit: one host's time is too short to read alone
# How much longer the spread greedy's same counted work took on its reference day than on the days
# since (docs/experiments/greedy-cost-reference: 2.16-2.55 ×): the low end, as no reference-day run
# of the emptying exists.
REFERENCE_DAY = 2.16
FEATURES = ("scans", "host_scans", "targets", "moves")  # host_scans: Σ scans × hosts / 1000
CONSTANTS = ("EMPTYING_SCAN_MS", "EMPTYING_SCAN_MS_PER_1000_HOSTS", "EMPTYING_TARGET_MS", "EMPTYING_MOVE_MS")


@dataclass(frozen=True)
class Chunk:
    """CHUNK hosts' emptying (fewer at the end): its counted work and measured milliseconds."""

    hosts: int  # hosts tried
    scans: int
    host_scans: float
    targets: int
    moves: int
    measured_ms: float

    def features(self) -> list[float]:
        return [self.scans, self.host_scans, self.targets, self.moves]


class RecordingBudget(GreedyBudget):
    """An unlimited budget that keeps each host's charge with the wall time it took."""

    def __init__(self) -> None:
        super().__init__()
        self.hosts: list[tuple[float, int, int, int, int]] = []  # (seconds, scans, targets, moves, hosts)
        self.last = time.perf_counter()

    def host_emptying(self, scans: int, targets: int, moves: int, hosts: int) -> None:
        now = time.perf_counter()
        self.hosts.append((now - self.last, scans, targets, moves, hosts))
        self.last = now
        super().host_emptying(scans, targets, moves, hosts)


def repaired_consolidation(size: str, fill: float, seed: int) -> PlacementState:
    """The tight cluster's placement as consolidation's greedy starts from it: set up and repaired."""
    hosts, vms = hosts_and_vms(size)
    cluster = generate_tight_cluster(hosts, vms, fill, seed, host_types=HOST_TYPE_PROFILES["five"])
    state = set_up(resolve_rules(cluster, goal_policy(cluster, Goal.CONSOLIDATE, seed, 10.0, 1))).start.copy()
    repair(state)
    return state


def measure_case(size: str, fill: float, seed: int) -> list[Chunk]:
    """One uncapped emptying of the tight cluster, in chunks of CHUNK hosts tried."""
    state = repaired_consolidation(size, fill, seed)
    budget = RecordingBudget()  # its clock starts here: the first host's time is its own
    consolidate_hosts(state, budget)
    return [_chunk(budget.hosts[start:start + CHUNK]) for start in range(0, len(budget.hosts), CHUNK)]


def _chunk(hosts: Sequence[tuple[float, int, int, int, int]]) -> Chunk:
    return Chunk(len(hosts), sum(h[1] for h in hosts), sum(h[1] * h[4] / 1000 for h in hosts), sum(h[2] for h in hosts),
                 sum(h[3] for h in hosts), 1000 * sum(h[0] for h in hosts))


def fit(chunks: Sequence[Chunk]) -> np.ndarray:
    """Non-negative milliseconds per unit of each feature, minimising the relative errors."""
    features = np.array([c.features() for c in chunks], dtype=float)
    measured = np.array([c.measured_ms for c in chunks])
    weights = 1 / np.maximum(measured, 1.0)
    return nonnegative_least_squares(features * weights[:, None], measured * weights)


def predicted_ms(chunks: Sequence[Chunk], constants: np.ndarray) -> float:
    return float(sum(np.dot(c.features(), constants) for c in chunks))


def constants_in_use() -> np.ndarray:
    return np.array([getattr(greedy_budget, name) for name in CONSTANTS])


@dataclass(frozen=True)
class Row:
    size: str
    fill: float
    seed: int
    hosts_tried: int
    scans: int
    targets: int
    moves: int
    measured_s: float
    fitted_s: float  # the fit's prediction (this machine, today)
    in_use_s: float  # the constants in use, brought back to today (÷ reference day × SAFETY)
    first_tenth_fitted: float  # prediction ÷ measured over the first tenth of the hosts tried
    first_tenth_in_use: float


def row_of(size: str, fill: float, seed: int, chunks: Sequence[Chunk], fitted: np.ndarray, in_use: np.ndarray) -> Row:
    today = in_use / (REFERENCE_DAY * SAFETY)
    first = chunks[: max(1, len(chunks) // 10)]
    measured_first = sum(c.measured_ms for c in first)
    return Row(size, fill, seed, sum(c.hosts for c in chunks), sum(c.scans for c in chunks),
               sum(c.targets for c in chunks), sum(c.moves for c in chunks),
               round(sum(c.measured_ms for c in chunks) / 1000, 3), round(predicted_ms(chunks, fitted) / 1000, 3),
               round(predicted_ms(chunks, today) / 1000, 3), round(predicted_ms(first, fitted) / measured_first, 2),
               round(predicted_ms(first, today) / measured_first, 2))


def markdown(rows: Sequence[Row], fitted: np.ndarray, in_use: np.ndarray, command: str) -> str:
    lines = ["# Host emptying's cost model, fitted", "", f"Command: `{command}`.", "",
             f"| constant | fitted (ms, today) | × {REFERENCE_DAY} × {SAFETY} (to use) | in greedy_budget.py |",
             "|---|---:|---:|---:|"]
    lines += [f"| `{name}` | {value:.5f} | {value * REFERENCE_DAY * SAFETY:.4f} | {now:.4f} |"
              for name, value, now in zip(CONSTANTS, fitted, in_use)]
    lines += ["", "Predicted ÷ measured, today's terms (the constants in use ÷ the reference day and SAFETY): "
              "whole run, and its first tenth of hosts.", "",
              "| size | fill | seed | hosts tried | scans | targets | moves | measured s | fit | in use | "
              "fit, first tenth | in use, first tenth |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.size} | {r.fill:.2f} | {r.seed} | {r.hosts_tried:,} | {r.scans:,} | {r.targets:,} | "
                     f"{r.moves:,} | {r.measured_s:.2f} | {r.fitted_s / r.measured_s:.2f} | "
                     f"{r.in_use_s / r.measured_s:.2f} | {r.first_tenth_fitted:.2f} | {r.first_tenth_in_use:.2f} |")
    ratios = [r.fitted_s / r.measured_s for r in rows]
    lines += ["", f"Fit over whole runs: median {statistics.median(ratios):.2f}, "
              f"{min(ratios):.2f}-{max(ratios):.2f} × measured.", ""]
    return "\n".join(lines)


def _fills(text: str) -> list[float]:
    """An argparse type: comma-separated shares of usable memory, each between 0 and 1."""
    try:
        fills = [float(fill) for fill in text.split(",")]
    except ValueError:
        fills = []
    if not fills or not all(0 < fill < 1 for fill in fills):
        raise argparse.ArgumentTypeError(f"{text!r}: expected shares between 0 and 1, e.g. 0.80,0.88")
    return fills


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.emptying_cost", description=__doc__.splitlines()[0],
                                     epilog="examples:\n" + "\n".join(__doc__.splitlines()[2:4]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", nargs=3, metavar=("SIZE", "FILL", "SEED"), help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=size_list,
                        default="1000x20000,2000x40000,5000x100000,10000x200000",
                        help="comma-separated HOSTSxVMS (default 1000x20000,2000x40000,5000x100000,10000x200000)")
    parser.add_argument("--fills", type=_fills, default="0.80,0.88",
                        help="comma-separated shares of usable memory the VMs take (default 0.80,0.88)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.worker:
        size, fill, seed = args.worker
        print(json.dumps([c.__dict__ for c in measure_case(size, float(fill), int(seed))]))
        return
    cases = {}
    for size in args.sizes:
        for fill in args.fills:
            chunks = [Chunk(**c) for c in worker_record("benchmarks.emptying_cost", [size, str(fill), str(args.seed)])]
            cases[(size, fill)] = chunks
            print(f"{size} fill {fill}: {len(chunks)} chunks, {sum(c.measured_ms for c in chunks) / 1000:.2f} s",
                  flush=True)
    fitted, in_use = fit([c for chunks in cases.values() for c in chunks]), constants_in_use()
    rows = [row_of(size, fill, args.seed, chunks, fitted, in_use) for (size, fill), chunks in cases.items() if chunks]
    print("to use: " + ", ".join(f"{n} = {v * REFERENCE_DAY * SAFETY:.4f}" for n, v in zip(CONSTANTS, fitted)))
    command = "python -m benchmarks.emptying_cost " + " ".join(sys.argv[1:] if argv is None else argv)
    write_results(rows, args.out, "emptying-cost", markdown(rows, fitted, in_use, command.strip()))


if __name__ == "__main__":
    main()
