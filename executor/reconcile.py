"""Where each planned VM really is, and what is therefore left to do.

Run before ordering, on every apply (first run or resume): a move whose VM is already on its
destination is done and never repeated; a VM that vanished, or that someone else moved, is
skipped (not failed: nothing went wrong with our migration); a VM on its source, or on the
parking host an earlier run left it on, still has to go.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from executor.hypervisor import LiveState
from executor.journal import History
from planner.domain.plan import Move, Plan


class Settled(str, enum.Enum):
    ALREADY_DONE = "already-done"
    GONE = "gone"
    MOVED_ELSEWHERE = "moved-elsewhere"
    SHUT_OFF = "shut-off"  # defined but not running any more: a live migration cannot move it


@dataclass(frozen=True)
class SettledMove:
    move: Move
    how: Settled
    reason: str
    location: str | None


@dataclass(frozen=True)
class Reconciled:
    start: dict[str, str | None]  # every VM of the plan's cluster → where it is now (None: gone)
    targets: dict[str, str]  # VMs still to move → their destination
    settled: tuple[SettledMove, ...]


def reconcile(plan: Plan, live: LiveState, history: History) -> Reconciled:
    start: dict[str, str | None] = {}
    for vm in plan.cluster.vms:
        # A VM on a host we cannot reach is assumed where the plan saw it; its move fails cleanly.
        start[vm.name] = vm.host if vm.host in live.unreachable else live.location(vm.name)
    targets: dict[str, str] = {}
    settled = []
    for move in plan.moves:
        where = live.location(move.vm)
        found = live.vms.get(move.vm)
        if found is not None and not found.active:
            settled.append(SettledMove(move, Settled.SHUT_OFF, f"shut off on {where} since the plan was made: "
                                                               f"not moved", where))
        elif where is None and move.source in live.unreachable:
            targets[move.vm] = move.destination
            start[move.vm] = move.source
        elif where is None:
            settled.append(SettledMove(move, Settled.GONE, "VM no longer exists", None))
        elif where == move.destination:
            settled.append(SettledMove(move, Settled.ALREADY_DONE, f"already on {where}", where))
        elif where == move.source or history.parked_at.get(move.vm) == where:
            targets[move.vm] = move.destination
        else:
            settled.append(SettledMove(move, Settled.MOVED_ELSEWHERE,
                                       f"moved outside this plan: now on {where}, expected on {move.source}", where))
    return Reconciled(start, targets, tuple(settled))
