"""Every goal on memory-tight heterogeneous clusters at scale: wall time against the limit, peak
memory, and each plan beside its bound.

    python -m benchmarks.at_scale --sizes 10000x200000 --fills 0.85 --seeds 1 --time-limit 100
    python -m benchmarks.at_scale --sizes 2000x40000,5000x100000 --fills 0.80 --seeds 3 --time-limit 60
    python -m benchmarks.at_scale --sizes 100x2000 --fills 0.85 --seeds 1 --time-limit 5   # a quick look

Clusters from benchmarks/tight_generator.py (as benchmarks.tight; `--host-types four` for its second
profile). Each (size, fill, seed, goal) runs in its own process, so its peak RSS is its own. The
planner runs as `rebalance plan` does (planner.solver.planning.make_plan); `plan s` is the whole
planning call, building the problem from the cluster included, and is what the time limit is held
to; `read s` is generating and resolving the cluster, the benchmark's stand-in for reading the
inventory. Goals:

- spread: CPU peak ‰ beside the bound of benchmarks/tight_bound.py (`--printed-bound-only` uses the
  planner's own printed bound instead, skipping the linear relaxation's time at the largest sizes);
- consolidate: hosts in use beside the planner's host bound;
- drain: the DRAIN_SHARE busiest hosts emptied, among those without pinned VMs whose every VM fits
  some other host's free room at the start; moves beside the planner's moves bound (every movable VM
  on a drained host, and the VMs that must move aside where room of one shape is short:
  planner/bounds/room_bound.py).

Every plan is re-checked by planner.check.validate; a goal the planner refuses as infeasible (a
drain the other hosts cannot take) gets a row with that status and valid NO. Writes benchmarks/results/at_scale.csv (one row
per run) and at_scale.md (per size, fill and goal, medians over seeds).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from benchmarks.cluster_size import hosts_and_vms
from benchmarks.result_files import write_results
from benchmarks.tight_bound import spread_bounds
from benchmarks.tight_generator import HOST_TYPE_PROFILES, generate_tight_cluster, tight_policy
from benchmarks.worker_process import worker_record
from planner.check.validate import validate_placement
from planner.domain.errors import InfeasibleError
from planner.domain.model import Cluster
from planner.domain.policy import Goal, Policy
from planner.instance.problem import build_problem
from planner.rules.resolve import resolve_rules
from planner.solver.planning import make_plan

RESULTS = Path(__file__).resolve().parent / "results"
GOALS = (Goal.SPREAD, Goal.CONSOLIDATE, Goal.DRAIN)
DRAIN_SHARE = 0.02  # of the hosts: 200 at 10,000, whose VMs fill the rest to about 2 % more


@dataclass(frozen=True)
class Row:
    size: str
    fill: float
    seed: int
    goal: str
    time_limit_s: float
    read_s: float  # generating and resolving the cluster (the stand-in for reading the inventory)
    plan_s: float  # the whole planning call: what the limit holds
    value: int  # spread: CPU peak ‰; consolidate: hosts in use; drain: moves
    bound: int  # what no plan does better than (see the module docstring)
    bound_kind: str  # which bound: tight_bound, printed, hosts or moves
    ratio: float
    moves: int
    moved_gib: float
    moved_gib_bound: float  # the planner's bound on memory moved for its own goal value
    valid: bool
    peak_rss_mib: int
    status: str
    host_types: str = "five"  # the generator's host-type profile (tight_generator.HOST_TYPE_PROFILES)


def goal_policy(cluster: Cluster, goal: Goal, seed: int, time_limit_s: float, workers: int) -> Policy:
    """benchmarks.tight's policy with `goal`; a drain empties the DRAIN_SHARE busiest hosts that
    hold no pinned VM and whose every VM some other host has room for."""
    policy = replace(tight_policy(cluster, seed, time_limit_s, workers), goal=goal)
    if goal is not Goal.DRAIN:
        return policy
    pinned = {vm.host for vm in cluster.vms if vm.labels.get("pinned") == "true"}
    takers = _hosts_with_room(cluster)
    movable = [h for h in cluster.hosts if h.name not in pinned
               and all(len(takers[(vm.memory_mib, vm.vcpus)]) > (h.name in takers[(vm.memory_mib, vm.vcpus)])
                       for vm in cluster.vms_by_host[h.name])]
    busiest = sorted(movable, key=lambda h: (-len(cluster.vms_by_host[h.name]), h.name))
    return replace(policy, drain_hosts=frozenset(h.name for h in busiest[: max(1, round(len(cluster.hosts) * DRAIN_SHARE))]))


def _hosts_with_room(cluster: Cluster) -> dict[tuple[int, int], set[str]]:
    """Per VM size (memory MiB, vCPUs) in the cluster, the hosts with that much free at the start. A drain moves only the drained hosts' VMs, so a 512 GiB VM where no other host has
    512 GiB free makes it infeasible from the start, which says nothing about the planner."""
    free = [(h.usable_memory_mib - sum(vm.memory_mib for vm in cluster.vms_by_host[h.name]),
             h.usable_vcpus - sum(vm.vcpus for vm in cluster.vms_by_host[h.name]), h.name) for h in cluster.hosts]
    sizes = {(vm.memory_mib, vm.vcpus) for vm in cluster.vms}
    return {(memory, vcpus): {name for free_memory, free_vcpus, name in free
                              if free_memory >= memory and free_vcpus >= vcpus} for memory, vcpus in sizes}


def run_one(size: str, fill: float, seed: int, goal: Goal, time_limit_s: float, workers: int = 1,
            printed_bound_only: bool = False, host_types: str = "five") -> Row:
    """One plan; the row carries validity and the status, not assertions."""
    hosts, vms = hosts_and_vms(size)
    began = time.perf_counter()
    cluster = generate_tight_cluster(hosts, vms, fill, seed, host_types=HOST_TYPE_PROFILES[host_types])
    policy = goal_policy(cluster, goal, seed, time_limit_s, workers)
    rules = resolve_rules(cluster, policy)
    read_s = time.perf_counter() - began
    began = time.perf_counter()
    try:
        plan = make_plan(rules)
    except InfeasibleError as refusal:  # a drain the other hosts cannot take: a row that says so
        return Row(size, fill, seed, goal.value, time_limit_s, round(read_s, 2), round(time.perf_counter() - began, 2),
                   0, 0, "none", 0.0, 0, 0.0, 0.0, False, _peak_rss_mib(), f"infeasible: {refusal}", host_types)
    plan_s = time.perf_counter() - began
    peak_rss = _peak_rss_mib()  # the planner's own: the bound and the validator below come after
    if goal is Goal.DRAIN:
        value, bound, kind = len(plan.moves), plan.bounds.moves, "moves"
    elif goal is Goal.SPREAD and not printed_bound_only:
        value, bound, kind = plan.metric.after, spread_bounds(build_problem(rules)).best, "tight_bound"
    else:
        value, bound, kind = plan.metric.after, plan.bounds.goal, "printed" if goal is Goal.SPREAD else "hosts"
    valid = not validate_placement(cluster, policy, plan.target_placement)
    return Row(size, fill, seed, goal.value, time_limit_s, round(read_s, 2), round(plan_s, 2), value, bound, kind,
               round(value / bound, 3) if bound else 0.0, len(plan.moves), round(plan.moved_memory_mib / 1024, 1),
               round(plan.bounds.moved_memory_mib / 1024, 1), valid, peak_rss, f"{plan.solver.method}: {plan.solver.status}",
               host_types)


def _peak_rss_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _in_subprocess(size: str, fill: float, seed: int, goal: Goal, args: argparse.Namespace) -> Row:
    arguments = [size, str(fill), str(seed), goal.value, "--time-limit", str(args.time_limit), "--workers",
                 str(args.workers), "--host-types", args.host_types]
    if args.printed_bound_only:
        arguments.append("--printed-bound-only")
    return Row(**worker_record("benchmarks.at_scale", arguments))


def markdown(rows: Sequence[Row]) -> str:
    """One line per size, fill and goal: medians over seeds, each column on its own."""
    import pandas as pd

    frame = pd.DataFrame([asdict(r) for r in rows])
    keys = ["size", "fill", "goal"]
    medians = frame.groupby(keys, sort=False).median(numeric_only=True)
    lines = ["| size | fill | goal | seeds | limit s | read s | plan s | value | bound | bound kind | ratio | moves "
             "| moved GiB | GiB / moves bound | peak RSS MiB | valid | status (first seed) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (size, fill, goal), part in frame.groupby(keys, sort=False):
        m = medians.loc[(size, fill, goal)]
        gib_ratio = f"{m.moved_gib / m.moved_gib_bound:.2f}" if m.moved_gib_bound else "—"
        lines.append(f"| {size} | {fill:.2f} | {goal} | {part['seed'].nunique()} | {m.time_limit_s:g} | {m.read_s:.1f} "
                     f"| {m.plan_s:.1f} | {m.value:g} | {m.bound:g} | {part['bound_kind'].iloc[0]} | {m.ratio:.3f} "
                     f"| {m.moves:g} | {m.moved_gib:g} | {gib_ratio} | {m.peak_rss_mib:g} "
                     f"| {'yes' if part['valid'].all() else 'NO'} | {part['status'].iloc[0]} |")
    lines += ["", "Medians over seeds, each column on its own. value / bound: spread, CPU peak ‰ and the bound of "
              "benchmarks/tight_bound.py (`tight_bound`) or the planner's printed one (`printed`); consolidate, hosts "
              "in use and the planner's host bound; drain, moves and the planner's moves bound (the drained VMs, and "
              "those that must move aside where room is short). `plan s` is the whole planning call (what the limit "
              f"holds). Host types: {', '.join(sorted(frame['host_types'].unique()))} "
              "(benchmarks/tight_generator.py HOST_TYPE_PROFILES)."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000x200000", help="comma-separated HOSTSxVMS")
    parser.add_argument("--fills", default="0.85", help="comma-separated shares of usable memory the VMs take")
    parser.add_argument("--goals", default=",".join(g.value for g in GOALS), help="comma-separated goals")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=100.0, help="the planner's time limit per run, seconds")
    parser.add_argument("--workers", type=int, default=1, help="CP-SAT workers per run")
    parser.add_argument("--printed-bound-only", action="store_true",
                        help="spread: the planner's printed bound, not the linear relaxation's")
    parser.add_argument("--host-types", choices=sorted(HOST_TYPE_PROFILES), default="five",
                        help="the generator's host-type profile (default five)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", nargs=4, metavar=("SIZE", "FILL", "SEED", "GOAL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        size, fill, seed, goal = args.worker
        row = run_one(size, float(fill), int(seed), Goal(goal), args.time_limit, args.workers, args.printed_bound_only,
                      args.host_types)
        print(json.dumps(asdict(row)))
        return
    rows: list[Row] = []
    for size in args.sizes.split(","):
        for fill in (float(f) for f in args.fills.split(",")):
            for goal in (Goal(g) for g in args.goals.split(",")):
                for seed in range(1, args.seeds + 1):
                    row = _in_subprocess(size, fill, seed, goal, args)
                    rows.append(row)
                    print(f"{size:>12} fill {fill:.2f} {goal.value:>11} seed {seed}: plan {row.plan_s:7.1f} s "
                          f"(limit {row.time_limit_s:g}, read {row.read_s:.1f})  {row.value} vs bound {row.bound} "
                          f"(x{row.ratio})  {row.moves} moves {row.moved_gib} GiB  {row.peak_rss_mib} MiB  "
                          f"valid {row.valid}  {row.status}", flush=True)
    write_results(rows, args.out, "at_scale", markdown(rows))


if __name__ == "__main__":
    main()
