"""Ordering benchmark: 1,000 hosts × 20,000 VMs, every VM moving (20,000 moves), three seeds.

Measures (1) the time to order the moves (dependency graph + parking; target ≤ 2 s) and (2) the
simulated makespan against a lower bound (target ≤ 1.2×): the larger of the total migration time
over the global slots, and the busiest host's serial time (its incoming over the per-host incoming
limit, or its outgoing over the outgoing limit). Migration time = memory / 1 GiB/s. Parking
detours are extra migrations the bound does not count, so they only make the ratio look worse.

    python -m benchmarks.ordering [--seeds 3] [--hosts 1000] [--vms 20000]

Writes benchmarks/results/ordering.csv and ordering.md.
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from executor.capacity import CapacityLedger
from executor.graph import Ordering, order_moves
from executor.schedule import Limits, simulate
from planner.domain.model import VM, Cluster, Host

RESULTS = Path(__file__).with_name("results")
BANDWIDTH_MIB_S = 1024
VM_MEMORY_GIB = (1, 2, 2, 4, 4, 4, 8, 8, 16, 32)
DEFAULT_LOAD = 0.8  # of usable memory, on average: tight enough that many moves wait for room
SETTINGS = {"default": Limits(2, 1, 1), "wide": Limits(64, 1, 1)}


@dataclass(frozen=True)
class Row:
    seed: int
    hosts: int
    vms: int
    moves: int
    steps: int
    parked: int
    order_s: float
    limits: str
    makespan_s: float
    bound_s: float
    ratio: float


def generate(seed: int, hosts: int, vms: int, load: float = DEFAULT_LOAD) -> tuple[Cluster, dict[str, str]]:
    rng = random.Random(seed)
    sizes = [(rng.choice(VM_MEMORY_GIB) * 1024, rng.choice((1, 2, 2, 4, 8))) for _ in range(vms)]
    total = sum(m for m, _ in sizes)
    per_host = int(total / hosts / load)
    host_list = [Host(f"h{i:04d}", cpus=64, memory_mib=int(per_host * rng.uniform(0.8, 1.2)) + 512)
                 for i in range(hosts)]
    start = _fill(rng, host_list, sizes, forbid=None)
    target = _fill(rng, host_list, sizes, forbid=start)
    vm_list = [VM(f"vm{i:05d}", host_list[start[i]].name, vcpus, memory) for i, (memory, vcpus) in enumerate(sizes)]
    return Cluster(host_list, vm_list), {f"vm{i:05d}": host_list[target[i]].name for i in range(vms)}


def _fill(rng: random.Random, hosts: list[Host], sizes: list[tuple[int, int]], forbid: list[int] | None) -> list[int]:
    """A random feasible placement (largest VMs first), each VM off its `forbid` host."""
    free_memory = [h.usable_memory_mib for h in hosts]
    free_vcpus = [h.usable_vcpus for h in hosts]
    placed = [0] * len(sizes)
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i][0]):
        memory, vcpus = sizes[i]
        candidates = (rng.randrange(len(hosts)) for _ in range(50))
        chosen = next((h for h in candidates if _room(h, i, memory, vcpus, free_memory, free_vcpus, forbid)), None)
        if chosen is None:
            chosen = max((h for h in range(len(hosts)) if _room(h, i, memory, vcpus, free_memory, free_vcpus, forbid)),
                         key=lambda h: free_memory[h])
        free_memory[chosen] -= memory
        free_vcpus[chosen] -= vcpus
        placed[i] = chosen
    return placed


def _room(h: int, i: int, memory: int, vcpus: int, free_memory: list[int], free_vcpus: list[int],
          forbid: list[int] | None) -> bool:
    return free_memory[h] >= memory and free_vcpus[h] >= vcpus and (forbid is None or forbid[i] != h)


def lower_bound(ordering: Ordering, limits: Limits) -> float:
    """Of the plan's own moves (parking legs are excluded: a perfect order would not need them)."""
    incoming: dict[str, float] = defaultdict(float)
    outgoing: dict[str, float] = defaultdict(float)
    total = 0.0
    for step in ordering.steps:
        if step.is_detour:
            continue
        seconds = step.memory_mib / BANDWIDTH_MIB_S
        total += seconds
        incoming[step.destination] += seconds
        outgoing[step.source] += seconds
    busiest = max(max(incoming.values(), default=0) / limits.per_host_incoming,
                  max(outgoing.values(), default=0) / limits.per_host_outgoing)
    return max(total / limits.max_parallel, busiest)


def measure(seed: int, hosts: int, vms: int, load: float = DEFAULT_LOAD) -> list[Row]:
    cluster, target = generate(seed, hosts, vms, load)
    start = cluster.placement
    began = time.perf_counter()
    ordering = order_moves(cluster, start, target)
    order_s = time.perf_counter() - began
    rows = []
    for name, limits in SETTINGS.items():
        timeline = simulate(ordering, CapacityLedger.from_placement(cluster, start), limits,
                            lambda s: s.memory_mib / BANDWIDTH_MIB_S)
        assert not timeline.stalled
        bound = lower_bound(ordering, limits)
        rows.append(Row(seed, hosts, vms, len(target), len(ordering.steps), len(ordering.parked), round(order_s, 3),
                        name, round(timeline.makespan, 1), round(bound, 1), round(timeline.makespan / bound, 4)))
    return rows


def write(rows: list[Row], load: float) -> tuple[Path, Path]:
    RESULTS.mkdir(exist_ok=True)
    csv_path, md_path = RESULTS / "ordering.csv", RESULTS / "ordering.md"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    lines = [
        "# Ordering benchmark",
        "",
        f"`python -m benchmarks.ordering`: random clusters at {load:.0%} mean memory load, every VM moves;",
        "migration time = memory / 1 GiB/s.",
        "Limits: default = 2 at once, 1 in + 1 out per host; wide = 64 at once, 1 in + 1 out per host.",
        "Bound = max(total time / global slots, busiest host's incoming or outgoing time / its limit).",
        "",
        "| seed | hosts | VMs | moves | steps | parked | order s | limits | makespan s | bound s | ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    lines += [f"| {r.seed} | {r.hosts} | {r.vms} | {r.moves} | {r.steps} | {r.parked} | {r.order_s} | {r.limits} | "
              f"{r.makespan_s} | {r.bound_s} | {r.ratio} |" for r in rows]
    lines += ["", *summary(rows)]
    md_path.write_text("\n".join(lines) + "\n")
    return csv_path, md_path


def summary(rows: list[Row]) -> list[str]:
    order = statistics.median(r.order_s for r in rows if r.limits == "default")
    lines = [f"Median ordering time: {order:.3f} s (target ≤ 2 s)."]
    for name in SETTINGS:
        ratio = statistics.median(r.ratio for r in rows if r.limits == name)
        lines.append(f"Median makespan / bound, {name} limits: {ratio:.3f} (target ≤ 1.2).")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--vms", type=int, default=20000)
    parser.add_argument("--load", type=float, default=DEFAULT_LOAD, help="mean memory load of the hosts (0-1)")
    args = parser.parse_args()
    rows = []
    for seed in range(1, args.seeds + 1):
        rows += measure(seed, args.hosts, args.vms, args.load)
        print(f"seed {seed}: " + "; ".join(f"{r.limits}: order {r.order_s} s, makespan {r.makespan_s} s, "
                                          f"bound {r.bound_s} s, ratio {r.ratio}, parked {r.parked}"
                                          for r in rows[-len(SETTINGS):]), flush=True)
    csv_path, md_path = write(rows, args.load)
    print("\n".join(summary(rows)))
    print(f"Wrote {csv_path} and {md_path}")


if __name__ == "__main__":
    main()
