"""Does a seed give the same plan, within the limit, on a busy machine? The same memory-tight cluster
planned several times, each in its own process as `rebalance plan` would be, with busy loops
spinning on the cores beside it.

    python -m benchmarks.repeat --size 1000x20000 --fill 0.88 --seed 1 --runs 3 --busy 2
    python -m benchmarks.repeat --size 20x300 --runs 2 --busy 1 --time-limit 6   # a quick look
    python -m benchmarks.repeat --size 1000x20000 --goal consolidate --runs 3 --busy 2

Deterministic mode (the default) caps the search by modelled work budgeted for a slow, busy
machine, so that the plan repeats; the wall clock at the limit stays the backstop, and a plan it
cut says so (its solver status, or a note on the greedy passes) and may differ from run to run.
Per run: wall time of the whole planning call against the limit, the peak, the moves, a digest of
the moves (the same digest is the same plan) and whether the wall clock cut it or the greedy shortened
its passes to keep it (pace.py; either way the plan says it may not repeat). The busy loops are
separate processes, stopped by PID when the runs end, however they end.

Writes benchmarks/results/repeat.csv (one row per run) and repeat.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.at_scale import goal_policy
from benchmarks.cluster_size import hosts_and_vms, is_size
from benchmarks.result_files import write_results
from benchmarks.tight_generator import HOST_TYPE_PROFILES, generate_tight_cluster
from benchmarks.worker_process import worker_record
from planner.domain.plan import Plan
from planner.domain.policy import Goal, SolverSettings
from planner.rules.resolve import resolve_rules
from planner.solver.planning import make_plan
from planner.solver.time_budget import MAY_NOT_REPEAT

RESULTS = Path(__file__).resolve().parent / "results"
SPIN = "while True:\n    pass\n"
# The limit a plan may overrun by and still count as kept (issue 24: limit + 10 %).
OVERRUN = 1.10
METRIC = {"spread": "peak ‰", "consolidate": "hosts in use", "drain": "peak ‰"}


@dataclass(frozen=True)
class Row:
    run: int
    busy_loops: int
    goal: str
    size: str
    fill: float
    seed: int
    time_limit_s: float
    workers: int  # CP-SAT workers
    time_s: float  # the whole planning call
    peak: int  # the goal's metric: the peak per mille (spread, drain) or the hosts in use
    moves: int
    digest: str  # of the moves: the same digest, the same plan
    wall_clock_cut: bool


def moves_digest(plan: Plan) -> str:
    """A short digest of the plan's moves, independent of when it was made."""
    moves = sorted((move.vm, move.source, move.destination) for move in plan.moves)
    return hashlib.sha256(json.dumps(moves).encode()).hexdigest()[:12]


def was_cut(plan: Plan) -> bool:
    """Did the wall clock, not the modelled work alone, end or shorten any part of the search?"""
    return MAY_NOT_REPEAT in plan.solver.status or any(MAY_NOT_REPEAT in note for note in plan.notes)


def plan_once(size: str, fill: float, seed: int, time_limit_s: float, workers: int, host_types: str,
              goal: Goal = Goal.SPREAD) -> dict[str, object]:
    """One planning call on the generated cluster (generating it is not timed)."""
    hosts, vms = hosts_and_vms(size)
    cluster = generate_tight_cluster(hosts, vms, fill, seed, host_types=HOST_TYPE_PROFILES[host_types])
    rules = resolve_rules(cluster, goal_policy(cluster, goal, seed, time_limit_s, workers))
    began = time.perf_counter()
    plan = make_plan(rules)
    elapsed = time.perf_counter() - began
    return {"time_s": round(elapsed, 2), "peak": plan.metric.after, "moves": len(plan.moves),
            "digest": moves_digest(plan), "wall_clock_cut": was_cut(plan)}


@contextmanager
def busy_loops(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` processes spinning on the CPU for as long as the block runs, stopped by PID after."""
    loops: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            loops.append(subprocess.Popen([sys.executable, "-c", SPIN]))
        yield loops
    finally:
        for loop in loops:
            loop.kill()
        for loop in loops:
            loop.wait()


def run_all(size: str, fill: float, seed: int, time_limit_s: float, workers: int, runs: int, busy: int,
            host_types: str, goal: Goal = Goal.SPREAD) -> list[Row]:
    rows = []
    with busy_loops(busy):
        for run in range(1, runs + 1):
            record = worker_record("benchmarks.repeat", [size, str(fill), str(seed), "--time-limit", str(time_limit_s),
                                                         "--workers", str(workers), "--host-types", host_types,
                                                         "--goal", goal.value])
            rows.append(Row(run, busy, goal.value, size, fill, seed, time_limit_s, workers, **record))
            print(f"run {run}: {record}", flush=True)
    return rows


def markdown(rows: Sequence[Row], command: str) -> str:
    first = rows[0]
    lines = [
        f"# The same plan on a busy machine: {first.goal}, {first.size} at fill {first.fill:g}, seed {first.seed}",
        "",
        f"Command: `{command}`. Planned as `rebalance plan --goal {first.goal}` plans it, deterministic mode, "
        f"{first.time_limit_s:g} s limit, {first.workers} CP-SAT worker(s), {first.busy_loops} busy loop(s) beside each run on a shared 2-core machine.",
        "",
        f"| run | time s | {METRIC[first.goal]} | moves | plan digest | cut or shortened by the wall clock |",
        "|---:|---:|---:|---:|---|---|",
    ]
    lines += [f"| {r.run} | {r.time_s:.2f} | {r.peak} | {r.moves} | `{r.digest}` | {'yes' if r.wall_clock_cut else 'no'} |"
              for r in rows]
    same = len({r.digest for r in rows}) == 1
    within = all(r.time_s <= r.time_limit_s * OVERRUN for r in rows)
    lines += ["", f"Same plan in every run: **{'yes' if same else 'no'}**; every run within the limit + 10 %: "
              f"**{'yes' if within else 'no'}** (longest {max(r.time_s for r in rows):.2f} s).", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.repeat", description=__doc__.splitlines()[0],
                                     epilog="examples:\n" + "\n".join(__doc__.splitlines()[4:7]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", nargs=3, metavar=("SIZE", "FILL", "SEED"), help=argparse.SUPPRESS)
    parser.add_argument("--size", default="1000x20000", help="HOSTSxVMS (default 1000x20000)")
    parser.add_argument("--fill", type=float, default=0.88, help="share of usable memory the VMs take (default 0.88)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=10.0, help="the planner's limit, seconds (default 10)")
    parser.add_argument("--workers", type=int, default=SolverSettings.workers,
                        help=f"CP-SAT workers, as solver.workers (default {SolverSettings.workers}, as rebalance plan)")
    parser.add_argument("--runs", type=int, default=3, help="plans of the same cluster (default 3)")
    parser.add_argument("--busy", type=int, default=2, help="busy loops spinning beside each run (default 2)")
    parser.add_argument("--host-types", choices=sorted(HOST_TYPE_PROFILES), default="five")
    parser.add_argument("--goal", choices=[goal.value for goal in Goal], default=Goal.SPREAD.value,
                        help="the plan's goal (default spread); a drain empties the busiest hosts, as benchmarks.at_scale")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.worker:
        size, fill, seed = args.worker
        print(json.dumps(plan_once(size, float(fill), int(seed), args.time_limit, args.workers, args.host_types,
                                   Goal(args.goal))))
        return
    if args.runs < 1 or args.workers < 1 or args.busy < 0 or args.time_limit <= 0:
        parser.error("--runs and --workers must be at least 1, --busy 0 or more and --time-limit above 0")
    if not 0 < args.fill < 1:
        parser.error(f"--fill {args.fill:g}: expected a share of the usable memory between 0 and 1")
    if not is_size(args.size):
        parser.error(f"--size {args.size!r}: expected HOSTSxVMS, e.g. 1000x20000")
    rows = run_all(args.size, args.fill, args.seed, args.time_limit, args.workers, args.runs, args.busy, args.host_types,
                   Goal(args.goal))
    command = "python -m benchmarks.repeat " + " ".join(sys.argv[1:] if argv is None else argv)
    write_results(rows, args.out, "repeat", markdown(rows, command))


if __name__ == "__main__":
    main()
