"""Plan every shipped scenario for every goal; compare with first-fit-decreasing in the same run.

    python -m benchmarks.scenarios                 # all scenarios, 3 seeds, default time limit
    python -m benchmarks.scenarios --only large-200x3000 --seeds 1

Writes benchmarks/results/scenarios.csv and scenarios.md. Times are wall-clock for the whole
planning call (greedy, CP-SAT, validation, bounds), medians over seeds; the machine is shared, so
read them next to the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from benchmarks.baselines import first_fit_decreasing
from planner.domain.errors import RebalanceError
from planner.instance.problem import build_problem
from planner.solver.planning import make_plan
from planner.domain.policy import Goal, Policy
from planner.rules.resolve import resolve_rules
from planner.formats.scenario import Scenario, load_scenario
from planner.check.validate import validate_placement

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DRAIN_SHARE = 0.05


@dataclass(frozen=True)
class Row:
    scenario: str
    goal: str
    seeds: int
    time_s: float
    metric_before: int
    metric_after: int
    bound: int
    gap_percent: float
    moves: int
    moved_gib: float
    moves_bound: int
    moved_gib_bound: float
    valid: bool
    ffd_hosts: int | None = None
    ffd_moved_gib: float | None = None


def goals_for(scenario: Scenario) -> list[Policy]:
    """The scenario's own goal, plus spread and consolidate, plus a 5 % drain if it has none."""
    policy = scenario.policy
    policies = [replace(policy, goal=Goal.SPREAD), replace(policy, goal=Goal.CONSOLIDATE)]
    if policy.drain_hosts:
        policies.append(replace(policy, goal=Goal.DRAIN))
    else:
        count = max(1, round(len(scenario.cluster.hosts) * DRAIN_SHARE))
        # Only hosts whose VMs can all move can be drained.
        stuck = {scenario.cluster.vm_by_name[n].host for n in resolve_rules(scenario.cluster, policy).pinned}
        drainable = [h for h in scenario.cluster.hosts if h.name not in stuck]
        busiest = sorted(drainable, key=lambda h: -len(scenario.cluster.vms_by_host[h.name]))[:count]
        policies.append(replace(policy, goal=Goal.DRAIN, drain_hosts=frozenset(h.name for h in busiest)))
    return policies


def measure(name: str, scenario: Scenario, policy: Policy, seeds: int, time_limit: float | None) -> Row | None:
    times, plans = [], []
    for seed in range(1, seeds + 1):
        solver = replace(policy.solver, seed=seed, **({"time_limit_s": time_limit} if time_limit else {}))
        seeded = replace(policy, solver=solver)
        try:
            rules = resolve_rules(scenario.cluster, seeded)
            began = time.perf_counter()
            plan = make_plan(rules)
            times.append(time.perf_counter() - began)
        except RebalanceError as error:
            print(f"  {name} {policy.goal.value}: {error}")
            return None
        plans.append(plan)
    plan = plans[len(plans) // 2]
    valid = all(not validate_placement(scenario.cluster, policy, p.target_placement) for p in plans)
    row = Row(
        scenario=name, goal=policy.goal.value, seeds=seeds, time_s=round(statistics.median(times), 2),
        metric_before=plan.metric.before, metric_after=int(statistics.median(p.metric.after for p in plans)),
        bound=plan.bounds.goal, gap_percent=round(100 * (plan.metric.after - plan.bounds.goal) / max(1, plan.bounds.goal), 1),
        moves=int(statistics.median(len(p.moves) for p in plans)),
        moved_gib=round(statistics.median(p.moved_memory_mib for p in plans) / 1024, 1),
        moves_bound=plan.bounds.moves, moved_gib_bound=round(plan.bounds.moved_memory_mib / 1024, 1), valid=valid,
    )
    if policy.goal is Goal.CONSOLIDATE:
        ffd = first_fit_decreasing(build_problem(resolve_rules(scenario.cluster, policy)))
        if ffd is not None:
            row = replace(row, ffd_hosts=ffd.hosts_in_use, ffd_moved_gib=round(ffd.moved_memory_mib / 1024, 1))
    return row


def markdown(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join("" if pd.isna(v) else str(v) for v in record) + " |" for record in frame.itertuples(index=False)]
    return "\n".join([header, rule] + rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=None, help="solver seconds (default: each scenario's policy)")
    parser.add_argument("--only", action="append", default=[], help="scenario name without .yaml (repeatable)")
    args = parser.parse_args()
    rows = []
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        if args.only and path.stem not in args.only:
            continue
        scenario = load_scenario(path)
        for policy in goals_for(scenario):
            row = measure(path.stem, scenario, policy, args.seeds, args.time_limit)
            if row is not None:
                rows.append(row)
                print(f"  {row.scenario:24} {row.goal:11} {row.time_s:6.2f} s  {row.metric_before} -> {row.metric_after} "
                      f"(bound {row.bound})  moves {row.moves}  {row.moved_gib} GiB"
                      + (f"  | FFD {row.ffd_hosts} hosts, {row.ffd_moved_gib} GiB" if row.ffd_hosts else ""))
    frame = pd.DataFrame([r.__dict__ for r in rows])
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "" if not args.only else "-" + "-".join(args.only)
    frame.to_csv(RESULTS / f"scenarios{suffix}.csv", index=False)
    (RESULTS / f"scenarios{suffix}.md").write_text(markdown(frame))
    print(f"wrote {RESULTS / f'scenarios{suffix}.csv'} and .md")


if __name__ == "__main__":
    main()
