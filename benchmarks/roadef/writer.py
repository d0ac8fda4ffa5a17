"""Model and assignment files in the challenge's format: solutions for the official checker, and
round-trip tests of the reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from planner.solver.reassign.instance import Instance


def format_model(instance: Instance) -> str:
    resources, machines = instance.resources, instance.machines
    lines = [str(resources.count)]
    lines += [f"{int(t)} {w}" for t, w in zip(resources.transient, resources.load_weight)]
    lines.append(str(machines.count))
    for m in range(machines.count):
        fields = [machines.neighborhood[m], machines.location[m], *machines.capacity[m], *machines.safety[m]]
        lines.append(_join(fields + list(machines.move_cost[m])))
    lines.append(str(instance.services.count))
    for spread, targets in zip(instance.services.spread_min, instance.services.dependencies):
        lines.append(_join([spread, len(targets), *targets]))
    processes = instance.processes
    lines.append(str(processes.count))
    for p in range(processes.count):
        lines.append(_join([processes.service[p], *processes.requirement[p], processes.move_cost[p]]))
    lines.append(str(len(instance.balances)))
    lines += [f"{b.first} {b.second} {b.target}\n{b.weight}" for b in instance.balances]
    weights = instance.weights
    lines.append(f"{weights.process} {weights.service} {weights.machine}")
    return "\n".join(lines) + "\n"


def format_assignment(assignment: np.ndarray) -> str:
    return _join(assignment) + "\n"


def write_assignment(path: Path, assignment: np.ndarray) -> None:
    Path(path).write_text(format_assignment(assignment), encoding="ascii")


def _join(values: object) -> str:
    return " ".join(str(int(v)) for v in values)  # type: ignore[attr-defined]
