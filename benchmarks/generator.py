"""Seeded generator of realistic clusters for scenarios and benchmarks.

The shape follows what production KVM fleets look like rather than uniform noise:

- three host types (32 cores/256 GiB, 48/384, 64/512 in a 30/40/30 mix), Nova-style allocation
  ratios (CPU 4.0, RAM 1.0) and 8 GiB reserved for the hypervisor, 20 hosts per rack;
- VM flavors from 1 vCPU/2 GiB to 16 vCPU/64 GiB; the flavor mix is tilted so the cluster's
  memory ends about half full whatever the hosts-to-VMs ratio (see `_tilted_weights`);
- measured CPU load drawn from Beta(2, 6): most VMs idle along at ~25 % of their vCPUs, a few run hot;
- a skewed starting placement (Pareto host weights: some hosts hot, many cool) that still respects
  every hard limit, so the planner has something to fix but nothing is already broken;
- ~2 % of VMs labelled `pinned: "true"` and ~6 % in anti-affinity groups of 2-4 (`aa: group-N`),
  placed one per host so the starting placement obeys those rules too.

Everything is drawn from one `random.Random(seed)`: the same arguments give the same cluster,
byte for byte, on every machine. It builds 1000 hosts x 20000 VMs in a few seconds.

    python -m benchmarks.generator --hosts 200 --vms 3000 --seed 1 -o scenarios/large-200x3000.yaml
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import math
import random
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.demand import Demand, from_trace_dir, planetlab, synthetic
from benchmarks.fleet_shape import (
    CPU_ALLOCATION_RATIO,
    FLAVORS,
    HOST_TYPES,
    HOSTS_PER_RACK,
    RAM_ALLOCATION_RATIO,
    RESERVED_MEMORY_MIB,
    URI_TEMPLATE,
    Flavor,
)
from benchmarks.scenario_yaml import anti_affinity_groups, scenario_text
from planner.domain.model import VM, Cluster, Host

MEMORY_FILL = 0.5  # target share of the cluster's usable memory the VMs take
PINNED_SHARE = 0.02
ANTI_AFFINITY_SHARE = 0.06
PARETO_ALPHA = 1.5  # smaller: more skew (a few very hot hosts)
PLACEMENT_TRIES = 30  # weighted draws before falling back to a scan for any host that fits


@dataclass
class _Room:
    """What is left on a host while the starting placement is built."""

    memory_mib: int
    vcpus: int
    load_millicores: int

    def fits(self, vcpus: int, memory_mib: int, load: int) -> bool:
        return memory_mib <= self.memory_mib and vcpus <= self.vcpus and load <= self.load_millicores

    def take(self, vcpus: int, memory_mib: int, load: int) -> None:
        self.memory_mib -= memory_mib
        self.vcpus -= vcpus
        self.load_millicores -= load


@dataclass(frozen=True)
class _Draft:
    """A VM before it has a host."""

    name: str
    vcpus: int
    memory_mib: int
    load: int
    labels: dict[str, str]
    group: str = ""  # anti-affinity group, "" if none


def generate_cluster(hosts: int, vms: int, seed: int = 1, demand: Demand = synthetic) -> Cluster:
    """A realistic, valid cluster of `hosts` hosts and `vms` VMs; the same seed gives the same cluster.

    `demand` draws each VM's busy share of its vCPUs (benchmarks.demand: synthetic Beta(2, 6), or
    the PlanetLab traces' per-VM daily mean or p95)."""
    if hosts < 1 or vms < 0:
        raise ValueError("need at least one host and a non-negative number of VMs")
    rng = random.Random(seed)
    host_list = _hosts(rng, hosts)
    usable = sum(h.usable_memory_mib for h in host_list)
    drafts = _drafts(rng, vms, mean_memory_mib=MEMORY_FILL * usable / max(vms, 1), demand=demand)
    placement = _place(rng, host_list, drafts)
    return Cluster(tuple(host_list), tuple(
        VM(d.name, placement[d.name], d.vcpus, d.memory_mib, d.load, labels=d.labels) for d in drafts
    ))


def _hosts(rng: random.Random, count: int) -> list[Host]:
    width = max(3, len(str(count)))
    rack_width = max(2, len(str((count - 1) // HOSTS_PER_RACK + 1)))
    types = rng.choices(HOST_TYPES, weights=[t.share for t in HOST_TYPES], k=count)
    hosts = []
    for index, kind in enumerate(types):
        name = f"h-{index + 1:0{width}d}"
        hosts.append(Host(
            name=name,
            cpus=kind.cpus,
            memory_mib=kind.memory_mib,
            uri=URI_TEMPLATE.replace("%s", name),
            cpu_allocation_ratio=CPU_ALLOCATION_RATIO,
            ram_allocation_ratio=RAM_ALLOCATION_RATIO,
            reserved_memory_mib=RESERVED_MEMORY_MIB,
            labels={"rack": f"r{index // HOSTS_PER_RACK + 1:0{rack_width}d}"},
        ))
    return hosts


def _tilted_weights(flavors: Sequence[Flavor], mean_memory_mib: float) -> list[float]:
    """Flavor weights w·exp(θ·memory) with θ chosen so the mean VM memory is `mean_memory_mib`.

    Exponential tilting keeps the real flavors and their relative popularity among similar sizes,
    and only shifts the mix towards bigger or smaller ones: no invented 11.3 GiB flavor.
    """
    sizes = [f.memory_mib / 1024 for f in flavors]
    target = min(max(mean_memory_mib / 1024, min(sizes) * 1.01), max(sizes) * 0.99)

    def weights(theta: float) -> list[float]:
        top = max(theta * s for s in sizes)  # subtract the largest exponent: no overflow
        return [f.weight * math.exp(theta * s - top) for f, s in zip(flavors, sizes)]

    def mean(theta: float) -> float:
        w = weights(theta)
        return sum(x * s for x, s in zip(w, sizes)) / sum(w)

    low, high = -5.0, 5.0  # the mean is increasing in θ: bisect
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if mean(middle) < target else (low, middle)
    return weights((low + high) / 2)


def _drafts(rng: random.Random, count: int, mean_memory_mib: float, demand: Demand) -> list[_Draft]:
    width = max(5, len(str(count)))
    flavors = rng.choices(FLAVORS, weights=_tilted_weights(FLAVORS, mean_memory_mib), k=count)
    groups = _anti_affinity_groups(rng, count)
    pinned = set(rng.sample([i for i in range(count) if i not in groups], k=round(PINNED_SHARE * count)))
    drafts = []
    for index, flavor in enumerate(flavors):
        labels: dict[str, str] = {}
        if index in groups:
            labels["aa"] = groups[index]
        if index in pinned:
            labels["pinned"] = "true"
        load = round(flavor.vcpus * 1000 * demand(rng))
        drafts.append(_Draft(f"vm-{index + 1:0{width}d}", flavor.vcpus, flavor.memory_mib, load, labels,
                             groups.get(index, "")))
    return drafts


def _anti_affinity_groups(rng: random.Random, count: int) -> dict[int, str]:
    """VM index → group name, for about ANTI_AFFINITY_SHARE of the VMs, in groups of 2-4."""
    wanted = round(ANTI_AFFINITY_SHARE * count)
    members = rng.sample(range(count), k=wanted)
    groups: dict[int, str] = {}
    position = 0
    for number in itertools.count(1):
        size = rng.randint(2, 4)
        if position + size > len(members):
            break
        for index in members[position:position + size]:
            groups[index] = f"group-{number}"
        position += size
    return groups


def _place(rng: random.Random, hosts: Sequence[Host], drafts: Sequence[_Draft]) -> dict[str, str]:
    """A skewed placement within hard capacity: biggest VMs first, hosts drawn by Pareto weight.

    Measured load is also kept under the physical cores (a real host cannot report more), so the
    hot hosts are hot but possible.
    """
    rooms = [_Room(h.usable_memory_mib, h.usable_vcpus, h.cpu_capacity_millicores) for h in hosts]
    cumulative = list(itertools.accumulate(rng.paretovariate(PARETO_ALPHA) for _ in hosts))
    used_by_group: dict[str, set[int]] = {}
    placement: dict[str, str] = {}
    # Big VMs first (first-fit-decreasing style) so the late small ones fill the gaps.
    for draft in sorted(drafts, key=lambda d: (-d.memory_mib, -d.vcpus, d.name)):
        taken = used_by_group.setdefault(draft.group, set()) if draft.group else set()
        index = _pick_host(rng, rooms, cumulative, draft, taken)
        rooms[index].take(draft.vcpus, draft.memory_mib, draft.load)
        taken.add(index)
        placement[draft.name] = hosts[index].name
    return placement


def _pick_host(rng: random.Random, rooms: Sequence[_Room], cumulative: Sequence[float], draft: _Draft,
               taken: Iterable[int]) -> int:
    taken = set(taken)

    def ok(index: int) -> bool:
        return index not in taken and rooms[index].fits(draft.vcpus, draft.memory_mib, draft.load)

    total = cumulative[-1]
    for _ in range(PLACEMENT_TRIES):
        index = min(bisect.bisect_right(cumulative, rng.random() * total), len(rooms) - 1)
        if ok(index):
            return index
    # The favourite hosts are full: take the roomiest host that fits (deterministic, rare).
    fitting = [i for i in range(len(rooms)) if ok(i)]
    if not fitting:
        raise ValueError(f"cannot place {draft.name}: the cluster is too small for {len(rooms)} hosts' worth of VMs")
    return max(fitting, key=lambda i: (rooms[i].memory_mib, -i))


# --- writing a scenario -----------------------------------------------------------------------
# Hand-formatted flow-style YAML: one line per host and per VM keeps a 3000-VM scenario readable,
# diffable and fast to load (yaml.dump would take seconds and spread each VM over six lines).

def _header(argv: Sequence[str], cluster: Cluster, goal: str) -> list[str]:
    """What the file is, how it was made and how to use it: generated files deserve comments too."""
    usable = sum(h.usable_memory_mib for h in cluster.hosts)
    used = sum(v.memory_mib for v in cluster.vms)
    racks = sorted({h.labels["rack"] for h in cluster.hosts})
    pinned = sum(1 for v in cluster.vms if v.labels.get("pinned") == "true")
    groups = anti_affinity_groups(cluster)
    output = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-o", "--output")), "SCENARIO.yaml")
    return [
        "Generated by benchmarks/generator.py -- do not edit by hand; regenerate with exactly:",
        f"  python -m benchmarks.generator {' '.join(argv)}",
        "(same arguments, same file: the generator is deterministic for a seed).",
        "",
        f"{len(cluster.hosts)} hosts in {len(racks)} racks ({racks[0]}..{racks[-1]}, label rack) x {len(cluster.vms)} VMs.",
        "Host types 32 cores/256 GiB, 48/384, 64/512 (30/40/30 %); CPU allocation ratio 4, RAM 1.0,",
        "8 GiB reserved per host. VM flavors 1 vCPU/2 GiB .. 16 vCPU/64 GiB; CPU load ~ Beta(2, 6) of the vCPUs.",
        f"Memory fill {100 * used / usable:.1f} % of usable, placed with a Pareto skew: some hosts full, many cool.",
        f"{pinned} VMs carry pinned: \"true\" (one pin rule); {sum(map(len, groups.values()))} VMs form "
        f"{len(groups)} anti-affinity groups (label aa, one rule each, scope host).",
        "",
        f"Run: rebalance plan --scenario {output}" + ("" if goal == "spread" else f" --goal {goal}"),
        "",
    ]


def add_demand_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--demand", choices=("synthetic", "planetlab-mean", "planetlab-p95"), default="synthetic",
                        help="VM CPU demand: Beta(2, 6), or the PlanetLab per-VM daily mean / p95 (shipped table)")
    parser.add_argument("--trace-dir", type=Path, help="derive the PlanetLab statistics from this trace folder instead")


def demand_from_options(args: argparse.Namespace) -> Demand:
    if args.demand == "synthetic":
        return synthetic
    statistic = args.demand.split("-")[1]
    return from_trace_dir(args.trace_dir, statistic) if args.trace_dir else planetlab(statistic)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.generator", description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, required=True)
    parser.add_argument("--vms", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--goal", choices=("spread", "consolidate", "drain"), default="spread")
    parser.add_argument("-o", "--output", help="scenario file to write (default: standard output)")
    add_demand_options(parser)
    args = parser.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    cluster = generate_cluster(args.hosts, args.vms, args.seed, demand_from_options(args))
    text = scenario_text(cluster, args.goal, _header(argv, cluster, args.goal))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
