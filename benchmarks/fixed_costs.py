"""What planning spends before its search, measured beside what the time budget models for it.

    python -m benchmarks.fixed_costs --sizes 1000x20000,5000x100000,10000x200000 --seeds 3
    python -m benchmarks.fixed_costs --sizes 200x4000 --goals spread --seeds 1   # a quick look

Before the greedy and the LNS start, planning builds the problem, the state of where the VMs run
now (a drain also repairs it: the moves that must be made) and the goal's lower bound
(planner.solver.planning.set_up). The deterministic budget cannot time that part, or the plan would
depend on how fast it ran, so it models it (time_budget.modelled_setup_s: per VM group, and per
group that must move) and gives the search what the limit leaves after the model. A model far above
the measured time leaves large clusters' searches little work for nothing; one below lets the wall
clock, not the modelled work, end them. Each case runs in its own process, on the memory-tight
clusters of benchmarks/tight_generator.py with benchmarks.at_scale's policies (a drain empties the
busiest hosts), with the garbage collector set as make_plan sets it.

Per case: the groups, the groups that must move, the measured set-up, the modelled one and their
ratio (benchmarks/results/fixed-costs.csv / .md, medians over seeds per size and goal). Resolving
the rules from the inventory is timed beside it (reading the input: outside the time limit).
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

from benchmarks.at_scale import goal_policy
from benchmarks.cluster_size import hosts_and_vms, size_list
from benchmarks.result_files import write_results
from benchmarks.tight_generator import HOST_TYPE_PROFILES, generate_tight_cluster
from benchmarks.worker_process import worker_record
from planner.domain.policy import Goal
from planner.rules.resolve import resolve_rules
from planner.solver.collector import full_collections_rare
from planner.solver.compiled_scores import compile_scores
from planner.solver.planning import set_up
from planner.solver.time_budget import modelled_setup_s

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Row:
    size: str
    goal: str
    seed: int
    fill: float
    groups: int  # VM groups (units) in the problem
    must_move: int  # groups the start breaks a rule or limit with (a drain's VMs)
    resolve_s: float  # the rules from the inventory: reading the input
    setup_s: float  # planning.set_up: what the budget models
    modelled_s: float  # time_budget.modelled_setup_s for the same groups
    ratio: float  # modelled / measured: above 1 the model leaves margin


def measure_once(size: str, goal: Goal, seed: int, fill: float) -> Row:
    hosts, vms = hosts_and_vms(size)
    cluster = generate_tight_cluster(hosts, vms, fill, seed, host_types=HOST_TYPE_PROFILES["five"])
    policy = goal_policy(cluster, goal, seed, 10.0, 1)
    compile_scores()  # as make_plan does before its clock: compiling (or loading) the repair's pass is not set-up
    with full_collections_rare():
        began = time.perf_counter()
        rules = resolve_rules(cluster, policy)
        resolved = time.perf_counter()
        ready = set_up(rules)
        done = time.perf_counter()
    groups, must_move = len(ready.problem.units), len(ready.must_move)
    modelled = modelled_setup_s(groups, must_move)
    setup_s = done - resolved
    return Row(size, goal.value, seed, fill, groups, must_move, round(resolved - began, 3), round(setup_s, 3),
               round(modelled, 3), round(modelled / setup_s, 2))


def markdown(rows: Sequence[Row], command: str) -> str:
    lines = [
        "# Planning's set-up, measured and modelled",
        "",
        f"Command: `{command}`. Medians over seeds; per VM group in µs. Set-up is planner.solver.planning.set_up "
        "(problem, start state, a drain's repair, lower bound); modelled is time_budget.modelled_setup_s; "
        "resolve is reading the rules from the inventory (outside the limit).",
        "",
        "| size | goal | seeds | groups | must move | resolve s | set-up s | µs per group | modelled s | modelled ÷ measured |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (size, goal), group in _grouped(rows).items():
        setup = statistics.median(r.setup_s for r in group)
        groups = group[0].groups
        lines.append(f"| {size} | {goal} | {len(group)} | {groups:,} | {statistics.median(r.must_move for r in group):,.0f} | "
                     f"{statistics.median(r.resolve_s for r in group):.2f} | {setup:.2f} | {setup / groups * 1e6:.1f} | "
                     f"{statistics.median(r.modelled_s for r in group):.2f} | {statistics.median(r.ratio for r in group):.2f} |")
    lines.append("")
    return "\n".join(lines)


def _grouped(rows: Sequence[Row]) -> dict[tuple[str, str], list[Row]]:
    grouped: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        grouped.setdefault((row.size, row.goal), []).append(row)
    return grouped


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fixed_costs", description=__doc__.splitlines()[0],
                                     epilog="examples:\n" + "\n".join(__doc__.splitlines()[2:4]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", nargs=4, metavar=("SIZE", "GOAL", "SEED", "FILL"), help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=size_list, default=size_list("1000x20000,5000x100000,10000x200000"),
                        help="comma-separated HOSTSxVMS (default 1000x20000,5000x100000,10000x200000)")
    parser.add_argument("--goals", default="spread,consolidate,drain", help="comma-separated goals (default all three)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 1..N per size and goal (default 3)")
    parser.add_argument("--fill", type=float, default=0.85, help="share of usable memory the VMs take (default 0.85)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.worker:
        size, goal, seed, fill = args.worker
        print(json.dumps(measure_once(size, Goal(goal), int(seed), float(fill)).__dict__))
        return
    goals = args.goals.split(",")
    if any(goal not in {g.value for g in Goal} for goal in goals):
        parser.error(f"--goals {args.goals!r}: expected goals among {', '.join(g.value for g in Goal)}")
    if args.seeds < 1 or not 0 < args.fill < 1:
        parser.error("--seeds must be at least 1 and --fill a share between 0 and 1")
    rows = []
    for size in args.sizes:
        for goal in goals:
            for seed in range(1, args.seeds + 1):
                row = Row(**worker_record("benchmarks.fixed_costs", [size, goal, str(seed), str(args.fill)]))
                print(f"{size} {goal} seed {seed}: {row.setup_s:.2f} s measured, {row.modelled_s:.2f} s modelled",
                      flush=True)
                rows.append(row)
    command = "python -m benchmarks.fixed_costs " + " ".join(sys.argv[1:] if argv is None else argv)
    write_results(rows, args.out, "fixed-costs", markdown(rows, command))


if __name__ == "__main__":
    main()
