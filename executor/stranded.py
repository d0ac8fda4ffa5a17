"""Parked VMs that did not reach their destination go back to where the plan found them.

A parking detour is a promise: the VM leaves its source only to let another VM in, and goes on to
its destination as soon as there is room. When that last leg failed or was blocked (the
destination filled up meanwhile, a host went down), leaving the VM on a host the plan never chose
for it would strand it there. So at the end of a run, each such VM gets a return step to its
original source, run with the same prechecks and journal as any other step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import networkx as nx

from executor.graph import Ordering
from executor.report import StepRecord, StepStatus
from executor.sizes import vm_extra
from executor.steps import Step, StepKind
from planner.domain.plan import Plan


def where_now(start: Mapping[str, str | None], records: Iterable[StepRecord]) -> dict[str, str | None]:
    """Each VM's host after the records (in order): its start, moved by every completed step."""
    placement = dict(start)
    for record in records:
        if record.status is StepStatus.DONE:
            placement[record.vm] = record.location or record.destination
    return placement


def return_steps(plan: Plan, placement: Mapping[str, str | None], parked: Iterable[str]) -> tuple[Step, ...]:
    """A RETURN step for every planned VM in `parked` that sits neither on its source nor on its destination."""
    moves = {m.vm: m for m in plan.moves}
    steps = []
    for name in sorted(set(parked)):
        move, here = moves.get(name), placement.get(name)
        if move is None or here is None or here in (move.source, move.destination):
            continue
        vm = plan.cluster.vm_by_name[name]
        steps.append(Step(len(steps), name, vm.uuid, here, move.source, vm.memory_mib, vm.vcpus, StepKind.RETURN,
                          vm_extra(vm, plan.cluster.resource_names)))
    return tuple(steps)


def independent(steps: tuple[Step, ...]) -> Ordering:
    """Return steps wait for nothing but room, which the runner's live precheck decides."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(steps)))
    return Ordering(steps, graph)
