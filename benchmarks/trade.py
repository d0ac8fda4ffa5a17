"""What `limits.min_gain_per_moved_gib` keeps: goal and migrated memory at each value, per cluster.

    python -m benchmarks.trade --gains 0,0.005,0.01,0.02,0.05,0.2,0.5 --time-limit 10
    python -m benchmarks.trade --cases scenarios --time-limit 2   # a quick look

For every case, one spread plan is made as `rebalance plan` makes it (the knob at 0, so the plan is
the solver's), and its candidates are kept: the plan after each whole step of the greedy's path,
and the solver's plan. Each knob value then picks among those candidates exactly as the planner
does (planner.solver.trade.choose), so one solve per case measures every value. Cases: the shipped
spread scenarios, benchmarks.solve clusters (200x3000, 300x3000, 1000x20000; seeds 1 and 2) and
benchmarks.tight clusters (100x2000 and 200x4000 at fill 0.80 and 0.88). Writes
benchmarks/results/trade.csv (one row per case and value) and trade.md (per value: the least and
median share of the achievable gain kept, and the median share of the memory migrated).

The table ends with the largest value at which every case here keeps at least 95 % of the gain
the solver's plan reaches. It is not the default (planner/domain/policy.py says why: a per-GiB value
harmless on these cases costs a fifth of the gain on memory-tight 1000x20000 clusters).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from benchmarks.generator import generate_cluster
from benchmarks.result_files import write_results
from benchmarks.solve import benchmark_policy
from benchmarks.tight_generator import generate_tight_cluster, tight_policy
from planner.domain.policy import Goal
from planner.formats.inputs import PlanningInput
from planner.formats.scenario import load_scenario
from planner.rules.resolve import RuleSet, resolve_rules
from planner.solver import planning
from planner.solver.trade import TradePoint, choose, greedy_path

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
KEEP_SHARE = 0.95  # the default is the largest value keeping this share of the gain everywhere


@dataclass(frozen=True)
class Row:
    case: str
    gain_per_gib: float
    start: int  # the goal before any move
    solver_goal: int  # the goal of the solver's plan (the knob at 0)
    solver_gib: float
    goal: int  # the goal of the plan this value keeps
    gib: float
    gain_kept: float  # (start - goal) / (start - solver_goal)
    gib_share: float  # gib / solver_gib


def cases(which: str, time_limit_s: float) -> Iterator[tuple[str, RuleSet]]:
    if which in ("all", "scenarios"):
        for path in sorted(SCENARIOS.glob("*.yaml")):
            scenario = load_scenario(path)
            if scenario.policy.goal is Goal.SPREAD:
                policy = replace(scenario.policy, solver=replace(scenario.policy.solver, time_limit_s=time_limit_s))
                yield path.name, PlanningInput(scenario.cluster, policy).resolve()
    if which in ("all", "clusters"):
        for hosts, vms in ((200, 3000), (300, 3000), (1000, 20000)):
            for seed in (1, 2):
                cluster = generate_cluster(hosts, vms, seed=seed)
                yield f"solve {hosts}x{vms} seed {seed}", resolve_rules(
                    cluster, benchmark_policy(cluster, Goal.SPREAD, seed, hosts))
        for (hosts, vms), fill, seed in (((100, 2000), 0.80, 1), ((100, 2000), 0.88, 2),
                                         ((200, 4000), 0.80, 1), ((200, 4000), 0.88, 2)):
            cluster = generate_tight_cluster(hosts, vms, fill, seed)
            yield f"tight {hosts}x{vms} fill {fill} seed {seed}", resolve_rules(
                cluster, tight_policy(cluster, seed, time_limit_s, 1))


def candidates(rules: RuleSet) -> list[TradePoint]:
    """The greedy's path and the solver's plan, as the planner weighs them, from one plan made
    with the knob at 0."""
    untraded = replace(rules.policy, limits=replace(rules.policy.limits, min_gain_per_moved_gib=0.0))
    seen: list[TradePoint] = []
    original: Callable = planning._traded

    def listening(problem, greedy, outcome, solved, notes):  # type: ignore[no-untyped-def]
        seen.extend(greedy_path(greedy) + [TradePoint.of(solved, None)])
        return original(problem, greedy, outcome, solved, notes)

    planning._traded = listening
    try:
        planning.make_plan(replace(rules, policy=untraded))
    finally:
        planning._traded = original
    return seen


def rows_for(case: str, points: list[TradePoint], gains: Sequence[float]) -> list[Row]:
    start, solved = points[0], points[-1]
    rows = []
    for gain in gains:
        kept = choose(points, gain)
        reached = start.goal - solved.goal
        rows.append(Row(case, gain, start.goal, solved.goal, round(solved.moved_mib / 1024, 1), kept.goal,
                        round(kept.moved_mib / 1024, 1),
                        round((start.goal - kept.goal) / reached, 3) if reached > 0 else 1.0,
                        round(kept.moved_mib / solved.moved_mib, 3) if solved.moved_mib else 1.0))
    return rows


def markdown(rows: Sequence[Row]) -> str:
    import pandas as pd

    frame = pd.DataFrame([asdict(r) for r in rows])
    lines = ["| ‰ per GiB | cases | least gain kept | median gain kept | median memory migrated |",
             "|---|---|---|---|---|"]
    for gain, part in frame.groupby("gain_per_gib", sort=True):
        lines.append(f"| {gain:g} | {len(part)} | {100 * part.gain_kept.min():.0f} % "
                     f"| {100 * part.gain_kept.median():.0f} % | {100 * part.gib_share.median():.0f} % |")
    keeping = frame.groupby("gain_per_gib").gain_kept.min()
    best = max([g for g, least in keeping.items() if least >= KEEP_SHARE], default=0.0)
    lines += ["", f"Largest value keeping at least {100 * KEEP_SHARE:.0f} % of the gain in every case: {best:g}.",
              "Gain kept = (start - goal kept) / (start - solver's goal); memory = migrated GiB kept / the "
              "solver plan's. Every case and value: trade.csv."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gains", default="0,0.005,0.01,0.02,0.05,0.2,0.5", help="comma-separated ‰ per GiB")
    parser.add_argument("--cases", choices=("all", "scenarios", "clusters"), default="all")
    parser.add_argument("--time-limit", type=float, default=10.0, help="time limit of the tight clusters and scenarios")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    gains = [float(g) for g in args.gains.split(",")]
    rows: list[Row] = []
    for name, rules in cases(args.cases, args.time_limit):
        found = rows_for(name, candidates(rules), gains)
        print(f"{name}: " + "; ".join(f"{r.gain_per_gib:g} -> {r.goal} / {r.gib:g} GiB" for r in found), flush=True)
        rows += found
    write_results(rows, args.out, "trade", markdown(rows))


if __name__ == "__main__":
    main()
