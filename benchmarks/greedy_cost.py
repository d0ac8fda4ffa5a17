"""Fit the spread greedy's cost model (planner/solver/greedy_budget.py) to this machine.

    python -m benchmarks.greedy_cost                  # every case, each run capped at 20 s
    python -m benchmarks.greedy_cost --quick          # the small cases only

Each case runs the spread greedy's improving passes (after the repair) with no work cap, a
wall-clock cap of `--cap` seconds, and counts each kind of work as planning counts it
(WorkCount: steps and their size in hosts, landing searches, swap searches and the pairs they check, chain
placements, exchange searches and the exchanges they tried, and what extra named resources add to steps and landings). A non-negative least-squares
fit of the measured milliseconds on those counts, weighted so that every run counts by its relative
error, gives the constants; planning uses them times SAFETY. Cases: benchmarks.solve clusters with 0, 1 and 2 extra resources
(benchmarks/extra_resources.py) and memory-tight benchmarks.tight clusters, each as far as the cap
lets it go, and the first EARLY_CAP_S seconds of a 1000x20000 run of each kind (what a short limit
sees: mostly single moves).

Writes benchmarks/results/greedy_cost.csv (per run: counts, measured and predicted seconds with the
fitted and with the current constants) and greedy_cost.md (the fitted constants, and how far each
run's prediction is from its measurement).

The constants are in milliseconds of a reference day: this shared machine's speed varies from day
to day (the same counted work took 2.2-2.6 × longer on 2026-12-05, when the margins of time_budget
were set, than on 2026-12-06, and 1.5 × at 5,000 hosts), and deterministic mode must not promise
work a slow day cannot do within the limit. A fit on another day is brought back to the reference
day run by run: `--reference-day` is the greedy_cost.csv the reference constants were fitted on,
`--reference-now` the same commit's runs today; each run's time is scaled by how much longer its
case took on the reference day where both runs counted the same work, by the median of those
factors elsewhere.
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from unittest import mock

import numpy as np

from benchmarks.extra_resources import with_extra_resources
from benchmarks.generator import generate_cluster
from benchmarks.least_squares import nonnegative_least_squares
from benchmarks.solve import benchmark_policy
from benchmarks.tight_generator import generate_tight_cluster, tight_policy
from planner.domain.model import Cluster
from planner.domain.policy import Goal, Policy
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver import greedy, greedy_budget
from planner.solver.compiled_relief import compile_relief
from planner.solver.compiled_swaps import compile_swaps
from planner.solver.greedy import repair, send_home, spread_greedy
from planner.solver.greedy_budget import GreedyBudget, WorkCount

RESULTS = Path(__file__).resolve().parent / "results"
# The constants planning uses are the fit times this: the runs the fit under-predicts most (about
# 0.8 × their time) would otherwise overrun the work cap's share of the limit and meet the wall
# clock, which ends a deterministic search unreproducibly.
SAFETY = 1.2
EARLY_CAP_S = 2.0
LARGE_CAP_S = 8.0
FEATURES = tuple(f.name for f in fields(WorkCount))
CONSTANTS = ("STEP_MS", "STEP_MS_PER_1000_HOSTS", "LANDING_MS", "SWAP_MS", "SWAP_MS_PER_1000_PAIRS", "CHAIN_PLACEMENT_MS",
             "EXTRA_MS", "EXCHANGE_MS", "EXCHANGE_SEARCH_MS")  # in the order of FEATURES


@dataclass(frozen=True)
class Run:
    case: str
    counted: WorkCount
    measured_s: float


def cases(quick: bool) -> Iterator[tuple[str, Cluster, Policy, float | None]]:
    """(name, cluster, policy, its own wall-clock cap or None for --cap)."""
    sizes = ((50, 1000), (200, 4000)) if quick else ((50, 1000), (200, 4000), (500, 10000))
    for hosts, vms in sizes:
        for extra in (0, 1, 2):
            cluster = with_extra_resources(generate_cluster(hosts, vms, seed=1), extra)
            yield f"solve {hosts}x{vms} +{extra}", cluster, Policy(), None
    large = ((1000, 20000, 0.80), (1000, 20000, 0.88))
    for hosts, vms, fill in ((100, 2000, 0.80), (200, 4000, 0.88)) + (() if quick else large):
        cluster = generate_tight_cluster(hosts, vms, fill, 1)
        yield f"tight {hosts}x{vms} {fill:.2f}", cluster, tight_policy(cluster, 1, 10.0), None
    if not quick:
        # The first seconds of a large run, as a short --time-limit sees them: mostly single moves,
        # a different mix of work from a whole run's.
        cluster = generate_cluster(1000, 20000, seed=1)
        yield "solve 1000x20000 first 2 s", cluster, benchmark_policy(cluster, Goal.SPREAD, 1, 1000), EARLY_CAP_S
        cluster = generate_tight_cluster(1000, 20000, 0.80, 1)
        yield "tight 1000x20000 0.80 first 2 s", cluster, tight_policy(cluster, 1, 10.0), EARLY_CAP_S
        # A step's cost is part fixed, part per host: only a cluster far larger than the rest tells
        # the two apart (fitted on 1,000 hosts at most, the model charged 10,000 hosts 2.5 x).
        cluster = generate_tight_cluster(5000, 100000, 0.85, 1)
        yield f"tight 5000x100000 0.85 first {LARGE_CAP_S:g} s", cluster, tight_policy(cluster, 1, 60.0), LARGE_CAP_S


def measure(name: str, cluster: Cluster, policy: Policy, cap_s: float) -> Run:
    """The improving passes' time without the homecoming pass that follows them: that pass prices its
    own work (GreedyBudget.homecoming, fitted apart), and counted here it was charged to the steps
    (seconds of it after a 1000-host greedy that lowered the peak in many moves). The compiled searches
    are compiled (or loaded) first, as planning does before its clock."""
    compile_relief()
    compile_swaps()
    problem = build_problem(resolve_rules(cluster, policy))
    state = PlacementState(problem)
    repair(state)
    homecoming_s: list[float] = []

    def timed_send_home(placement: PlacementState, budget: GreedyBudget) -> None:
        began = time.monotonic()
        send_home(placement, budget)
        homecoming_s.append(time.monotonic() - began)

    started = time.monotonic()
    budget = GreedyBudget(deadline=started + cap_s, work_ms=None)
    with mock.patch.object(greedy, "send_home", timed_send_home):
        spread_greedy(state, budget)
    return Run(name, budget.counted, time.monotonic() - started - sum(homecoming_s))


def fit(runs: list[Run]) -> np.ndarray:
    """Non-negative milliseconds per unit of each feature, minimising the relative errors."""
    features = np.array([[getattr(r.counted, f) for f in FEATURES] for r in runs], dtype=float)
    measured = np.array([r.measured_s * 1000 for r in runs])
    weights = 1 / np.maximum(measured, 1.0)
    return nonnegative_least_squares(features * weights[:, None], measured * weights)


def predicted_s(counted: WorkCount, constants: np.ndarray) -> float:
    return float(np.dot([getattr(counted, f) for f in FEATURES], constants)) / 1000


def current_constants() -> np.ndarray:
    return np.array([getattr(greedy_budget, name) for name in CONSTANTS])


def reference_factors(day_csv: Path, now_csv: Path) -> dict[str, float]:
    """Per case counted alike in both files (the same work to the last step), how much longer it took
    on the reference day than now. Cases whose work differs (runs the wall clock capped) tell the
    day's speed from the mix of work too little to count."""
    def rows(path: Path) -> dict[str, dict[str, str]]:
        with open(path, newline="") as handle:
            return {row["case"]: row for row in csv.DictReader(handle)}

    day, now = rows(day_csv), rows(now_csv)
    return {case: float(day[case]["measured_s"]) / float(now[case]["measured_s"])
            for case in sorted(day.keys() & now.keys())
            if all(abs(float(day[case][f]) - float(now[case][f])) < 1e-6 for f in FEATURES)}


def on_reference_day(runs: list[Run], factors: dict[str, float]) -> list[Run]:
    """Each run's time as the reference day would have taken it (factors: reference_factors)."""
    usual = float(np.median(list(factors.values())))
    return [Run(r.case, r.counted, r.measured_s * factors.get(r.case, usual)) for r in runs]


def write(runs: list[Run], fitted: np.ndarray, directory: Path, note: str = "") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    current = current_constants()
    with open(directory / "greedy_cost.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case", *FEATURES, "measured_s", "predicted_s", "predicted_now_s"])
        for run in runs:
            counts = asdict(run.counted)
            writer.writerow([run.case, *(round(counts[f], 3) for f in FEATURES), f"{run.measured_s:.3f}",
                             f"{predicted_s(run.counted, fitted):.3f}", f"{predicted_s(run.counted, current):.3f}"])
    lines = ["# The spread greedy's cost model", "",
             "`python -m benchmarks.greedy_cost`: uncapped greedy passes (each capped at the wall clock), the work",
             "they counted, and a non-negative least-squares fit of their time (relative errors).", "",
             *([note, ""] if note else []),
             f"| constant | fitted | × {SAFETY} (to use) | in greedy_budget.py |", "|---|---|---|---|"]
    lines += [f"| `{name}` | {value:.4f} | {value * SAFETY:.3f} | {now:.4f} |"
              for name, value, now in zip(CONSTANTS, fitted, current)]
    lines += ["", "| case | measured s | predicted s (fitted) | ratio | predicted s (current) | ratio |",
              "|---|---|---|---|---|---|"]
    for run in runs:
        new, now = predicted_s(run.counted, fitted), predicted_s(run.counted, current)
        lines.append(f"| {run.case} | {run.measured_s:.2f} | {new:.2f} | {new / run.measured_s:.2f} | {now:.2f} | "
                     f"{now / run.measured_s:.2f} |")
    ratios = [predicted_s(r.counted, fitted) / r.measured_s for r in runs]
    lines += ["", f"Fitted predictions are {min(ratios):.2f}–{max(ratios):.2f} × the measured time.", ""]
    (directory / "greedy_cost.md").write_text("\n".join(lines))


def _reference(parser: argparse.ArgumentParser, day: Path | None, now: Path | None) -> dict[str, float]:
    """reference_factors of the two files, or {} when neither is given; a usage error (exit 2, one
    line) when only one is, when one cannot be read, or when no case counted the same work in both."""
    if day is None and now is None:
        return {}
    if day is None or now is None:
        parser.error("--reference-day and --reference-now go together")
    try:
        factors = reference_factors(day, now)
    except (OSError, KeyError, ValueError) as error:
        parser.error(f"{day} / {now}: not two greedy_cost.csv files ({error})")
    if not factors:
        parser.error(f"{day} / {now}: no case counted the same work in both, so nothing tells the days apart")
    return factors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the small cases only")
    parser.add_argument("--cap", type=float, default=20.0, help="wall-clock seconds per run (default 20)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for greedy_cost.csv/.md")
    parser.add_argument("--reference-day", type=Path, help="greedy_cost.csv of the reference constants' fit")
    parser.add_argument("--reference-now", type=Path,
                        help="greedy_cost.csv of the same commit run now: with --reference-day, times are brought "
                             "back to the reference day case by case (see the module's docstring)")
    args = parser.parse_args(argv)
    factors = _reference(parser, args.reference_day, args.reference_now)
    runs = []
    for name, cluster, policy, cap in cases(args.quick):
        run = measure(name, cluster, policy, args.cap if cap is None else cap)
        print(f"{name}: {run.measured_s:.2f} s, {asdict(run.counted)}", flush=True)
        runs.append(run)
    note = ""
    if factors:
        runs = on_reference_day(runs, factors)
        note = ("Measured times are brought back to the reference day (`--reference-day`, `--reference-now`), "
                "per case: " + ", ".join(f"{case} × {f:.2f}" for case, f in sorted(factors.items())) + "; other "
                f"cases × {np.median(list(factors.values())):.2f}.")
    fitted = fit(runs)
    write(runs, fitted, args.out, note)
    print(f"to use (fit × {SAFETY}): " + ", ".join(f"{n} = {v * SAFETY:.3f}" for n, v in zip(CONSTANTS, fitted)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
