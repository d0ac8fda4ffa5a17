"""Spread on memory-tight heterogeneous clusters, beside a capacity-aware fluid bound and two baselines.

    python -m benchmarks.tight --sizes 200x4000,1000x20000 --fills 0.80,0.88 --seeds 3 --time-limit 10
    python -m benchmarks.tight --sizes 20x300 --fills 0.85 --seeds 1 --time-limit 2   # a quick look
    python -m benchmarks.tight --sizes 1000x20000 --fills 0.88 --wall-clock   # the whole limit, today's speed
    python -m benchmarks.tight --host-types four --fills 0.76,0.82,0.89 --out benchmarks/results/tight-four

Clusters from benchmarks/tight_generator.py (five host types, or with --host-types four the second
profile's four; memory filled to --fills, heavy-tailed flavors up to 64 vCPU / 512 GiB, hot racks,
pins, anti-affinity and host groups). Each (size, fill, seed) runs in its own process, so its peak
memory is its own. The planner runs as `rebalance plan --goal spread` does
(planner.solver.planning.make_plan, CPU-only spread as in benchmarks.solve, --workers solver
workers, default 1); its wall time is the whole planning call. Beside it:

- bound: benchmarks/tight_bound.py, the fluid bound that knows which hosts a VM fits (the planner's
  own printed bound is kept in the CSV as `printed_bound`);
- worst-fit-decreasing: from scratch, may move every VM (benchmarks/baselines.py);
- hot-to-cold greedy: moves VMs from the hottest host to the coldest that fits.

Every plan is re-checked by planner.check.validate. Writes benchmarks/results/tight.csv (one row per
run and method) and tight.md (per size and fill, medians over seeds).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from benchmarks import baselines
from benchmarks.cluster_size import hosts_and_vms
from benchmarks.result_files import write_results
from benchmarks.tight_bound import spread_bounds
from benchmarks.tight_generator import HOST_TYPE_PROFILES, generate_tight_cluster, tight_policy
from benchmarks.worker_process import worker_record
from planner.check.validate import validate_placement
from planner.instance.problem import Problem, build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver.planning import make_plan, to_placement

RESULTS = Path(__file__).resolve().parent / "results"
BASELINES: tuple[Callable[[Problem], baselines.BaselineResult | None], ...] = (
    baselines.worst_fit_decreasing, baselines.hot_to_cold_greedy)


@dataclass(frozen=True)
class Row:
    size: str
    fill: float
    seed: int
    method: str
    time_s: float
    start_peak: int  # CPU ‰ of the hottest host before any move
    peak: int  # CPU ‰ of the hottest host after the plan (the spread goal)
    bound: int  # benchmarks.tight_bound: no placement does better
    printed_bound: int  # what the planner itself prints as its bound
    fluid_bound: int  # the bound's parts: the capacity-aware fluid relaxation,
    largest_vm_bound: int  # the busiest VM alone on the best host it fits,
    pinned_bound: int  # and the hottest host's pinned load
    ratio: float  # peak / bound
    moves: int
    moved_gib: float
    moved_gib_bound: float  # the planner's bound on the memory moved to reach its own peak
    valid: bool
    peak_rss_mib: int = 0
    bound_s: float = 0.0  # time to compute the bound (not part of time_s)
    host_types: str = "five"  # the generator's host-type profile (tight_generator.HOST_TYPE_PROFILES)


def run_one(size: str, fill: float, seed: int, time_limit_s: float, workers: int = 1,
            deterministic: bool = True, host_types: str = "five") -> list[Row]:
    """The planner and both baselines on one cluster; rows carry validity, not assertions."""
    hosts, vms = hosts_and_vms(size)
    cluster = generate_tight_cluster(hosts, vms, fill, seed, host_types=HOST_TYPE_PROFILES[host_types])
    policy = tight_policy(cluster, seed, time_limit_s, workers)
    policy = replace(policy, solver=replace(policy.solver, deterministic=deterministic))
    began = time.perf_counter()
    plan = make_plan(resolve_rules(cluster, policy))
    elapsed = time.perf_counter() - began
    problem = build_problem(resolve_rules(cluster, policy))
    began = time.perf_counter()
    bounds = spread_bounds(problem)
    bound_s = time.perf_counter() - began
    ours = Row(size, fill, seed, "rebalance", round(elapsed, 2), PlacementState(problem).goal_value(),
               plan.metric.after, bounds.best, plan.bounds.goal, bounds.fluid, bounds.largest_unit, bounds.fixed,
               _ratio(plan.metric.after, bounds.best),
               len(plan.moves), round(plan.moved_memory_mib / 1024, 1), round(plan.bounds.moved_memory_mib / 1024, 1),
               not validate_placement(cluster, policy, plan.target_placement), _peak_rss_mib(), round(bound_s, 2),
               host_types)
    rows = [ours]
    for baseline in BASELINES:
        began = time.perf_counter()
        result = baseline(problem)
        spent = time.perf_counter() - began
        if result is None:  # the baseline could not place every VM
            continue
        peak = PlacementState(problem, result.assignment).goal_value()
        valid = not validate_placement(cluster, policy, to_placement(problem, result.assignment))
        rows.append(replace(ours, method=result.name, time_s=round(spent, 2), peak=peak,
                            ratio=_ratio(peak, bounds.best), moves=result.moves,
                            moved_gib=round(result.moved_memory_mib / 1024, 1), valid=valid, peak_rss_mib=0))
    return rows


def _ratio(value: int, bound: int) -> float:
    return round(value / bound, 3) if bound else 0.0


def _peak_rss_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


# -- orchestration ------------------------------------------------------------------------------

def _run_in_subprocess(size: str, fill: float, seed: int, time_limit_s: float, workers: int,
                       deterministic: bool, host_types: str) -> list[Row]:
    arguments = [size, str(fill), str(seed), "--time-limit", str(time_limit_s), "--workers", str(workers),
                 "--host-types", host_types] + ([] if deterministic else ["--wall-clock"])
    return [Row(**record) for record in worker_record("benchmarks.tight", arguments)]


def markdown(rows: Sequence[Row]) -> str:
    """One line per size and fill: medians over seeds of each column on its own."""
    import pandas as pd

    frame = pd.DataFrame([asdict(r) for r in rows])
    medians = frame.groupby(["size", "fill", "method"], sort=False).median(numeric_only=True)
    valid = frame.groupby(["size", "fill", "method"], sort=False)["valid"].all()
    lines = [
        "| size | fill | seeds | start ‰ | rebalance ‰ | bound ‰ | ratio | moves | moved GiB | GiB / moves bound "
        "| time s | WFD ‰ | WFD ratio | hot-to-cold ‰ | h2c ratio | h2c moves | printed bound ‰ "
        "| fluid / largest VM / pinned ‰ | valid |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (size, fill), part in frame.groupby(["size", "fill"], sort=False):
        ours = medians.loc[(size, fill, "rebalance")]
        wfd = _method(medians, size, fill, "worst-fit-decreasing")
        h2c = _method(medians, size, fill, "hot-to-cold greedy")
        all_valid = all(valid.loc[(size, fill, m)] for m in part["method"].unique())
        lines.append(
            f"| {size} | {fill:.2f} | {part['seed'].nunique()} | {ours.start_peak:g} | {ours.peak:g} | {ours.bound:g} "
            f"| {ours.ratio:.3f} | {ours.moves:g} | {ours.moved_gib:g} | {_gib_ratio(ours)} | {ours.time_s:.2f} "
            f"| {_cell(wfd, 'peak')} | {_cell(wfd, 'ratio', '.3f')} | {_cell(h2c, 'peak')} | {_cell(h2c, 'ratio', '.3f')} "
            f"| {_cell(h2c, 'moves')} | {ours.printed_bound:g} | {ours.fluid_bound:g} / {ours.largest_vm_bound:g} / {ours.pinned_bound:g} "
            f"| {'yes' if all_valid else 'NO'} |")
    profiles = ", ".join(sorted(frame["host_types"].unique()))
    lines += ["", f"Host types: {profiles} (benchmarks/tight_generator.py HOST_TYPE_PROFILES). "
              "Medians over seeds, each column on its own. Ratios are to the bound of benchmarks/tight_bound.py; "
              "`printed bound` is the one the planner prints. A baseline that could not place every VM has no row "
              "for that seed (see tight.csv)."]
    return "\n".join(lines) + "\n"


def _gib_ratio(row: "object") -> str:
    return f"{row.moved_gib / row.moved_gib_bound:.2f}" if row.moved_gib_bound else "—"


def _method(medians: "object", size: str, fill: float, method: str) -> "object":
    key = (size, fill, method)
    return medians.loc[key] if key in medians.index else None


def _cell(row: "object", column: str, fmt: str = "g") -> str:
    return "—" if row is None else format(getattr(row, column), fmt)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="200x4000,1000x20000", help="comma-separated HOSTSxVMS")
    parser.add_argument("--fills", default="0.80,0.88", help="comma-separated shares of usable memory the VMs take")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=10.0, help="the planner's time limit per run, seconds")
    parser.add_argument("--workers", type=int, default=1, help="CP-SAT workers per run")
    parser.add_argument("--wall-clock", action="store_true",
                        help="plan with solver.deterministic false: the search runs until the limit on this "
                             "machine, as fast or slow as it is today (plans may not repeat)")
    parser.add_argument("--host-types", choices=sorted(HOST_TYPE_PROFILES), default="five",
                        help="the generator's host-type profile (default five)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", nargs=3, metavar=("SIZE", "FILL", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        size, fill, seed = args.worker
        print(json.dumps([asdict(r) for r in run_one(size, float(fill), int(seed), args.time_limit, args.workers,
                                                       not args.wall_clock, args.host_types)]))
        return
    rows: list[Row] = []
    for size in args.sizes.split(","):
        for fill in (float(f) for f in args.fills.split(",")):
            for seed in range(1, args.seeds + 1):
                batch = _run_in_subprocess(size, fill, seed, args.time_limit, args.workers, not args.wall_clock,
                                           args.host_types)
                rows.extend(batch)
                ours = batch[0]
                print(f"{size:>11} fill {fill:.2f} seed {seed}: {ours.time_s:6.2f} s  peak {ours.start_peak} -> "
                      f"{ours.peak} (bound {ours.bound}, x{ours.ratio}, printed bound {ours.printed_bound})  "
                      f"{ours.moves} moves {ours.moved_gib} GiB  "
                      + "  ".join(f"| {r.method}: {r.peak} x{r.ratio}" for r in batch[1:]), flush=True)
    write_results(rows, args.out, "tight", markdown(rows))


if __name__ == "__main__":
    main()
