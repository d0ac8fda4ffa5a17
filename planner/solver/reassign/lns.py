"""Large-neighbourhood search over machines: free the processes of a few machines, let CP-SAT
place them optimally among those machines (`subproblem`), keep the result when it is cheaper.

This is the move the local search cannot make: re-packing several tight machines at once, where
every single move or swap is blocked by some resource. Neighbourhoods (machine sets) are drawn
five ways, because where the cost lives differs between instances:

* hot: one of the most expensive machines with partners that have room where it is over
  (load and balance cost);
* cold: one of the emptiest machines with partners that are over where it has room;
* same neighbourhood: machines of one neighbourhood, where dependencies never get in the way;
* moved: the current and the original machine of a moved process, with others (move costs: a
  process may go back home);
* random, for diversity.

Which kind comes next is an adaptive choice (`adaptive_choice`): kinds that removed more cost per
second lately are drawn more often.

The number of freed processes adapts: it grows while sub-problems solve to optimality well
within their time limit and shrinks when they time out, so each sub-problem stays solvable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from planner.solver.adaptive_choice import AdaptiveChoice
from planner.solver.lns_rounds import (
    NOTHING_TO_SOLVE,
    Allowance,
    Deadline,
    RoundCount,
    RoundResult,
    RoundTally,
    run_rounds,
)
from planner.solver.reassign.delta import SearchState
from planner.solver.reassign.subproblem import solve_subproblem

HOT_SHARE = 0.1
KINDS = ("hot", "cold", "hood", "moved", "random")
# A sub-problem starts at 60 freed processes and grows while it is solved to optimality well within
# its time limit, up to 120 (at most 24 machines); it shrinks after timeouts. The cap is high
# because a sub-problem CP-SAT proves optimal quickly is one too small to find much: the search is
# then limited by what the neighbourhood can reach, not by solving time
# (docs/experiments.md, roadef-big-subproblems).
MIN_FREED, MAX_FREED, START_FREED = 15, 120, 60
MAX_MACHINES = 24
GROW, SHRINK = 1.1, 0.85


@dataclass(frozen=True)
class LnsCounters:
    rounds: int = 0
    improved: int = 0
    optimal: int = 0  # sub-problems CP-SAT proved optimal within their limit
    solve_s: float = 0.0  # wall seconds spent in sub-problems: building, solving, keeping the result


class MachineLns:
    """The reassignment engine of the shared round loop (`lns_rounds`): neighbourhoods of
    machines, chosen adaptively."""

    def __init__(self, state: SearchState, seed: int, sub_seconds: float, hold_price: float) -> None:
        self.state = state
        self.rng = np.random.default_rng(seed + 7919)
        self.sub_seconds = sub_seconds
        self.hold_price = hold_price
        self.freed_target = float(START_FREED)
        self.tally = RoundTally()
        self.optimal = 0
        self.solve_s = 0.0
        self.deterministic = False
        self.choice = AdaptiveChoice(len(KINDS), self.rng)
        self.machines_by_hood = [np.flatnonzero(state.hood == n) for n in range(int(state.hood.max()) + 1)]

    @property
    def counters(self) -> LnsCounters:
        return LnsCounters(self.tally.rounds, self.tally.kept, self.optimal, self.solve_s)

    def run(self, deadline: float, max_rounds: int | None = None) -> None:
        """Rounds until `deadline`, or exactly `max_rounds` rounds when given."""
        self.deterministic = max_rounds is not None
        allowance: Allowance = RoundCount(max_rounds, self.sub_seconds) if max_rounds is not None \
            else Deadline(deadline, self.sub_seconds)
        run_rounds(self, self.choice, allowance, self.tally)

    def round(self, kind: int, limit: float) -> RoundResult:
        machines = self._pick_machines(kind)
        freed = self._pick_processes(machines)
        if not freed:
            return NOTHING_TO_SOLVE
        started = time.monotonic()
        gain = self._solve(machines, freed, limit, self.deterministic)
        seconds = time.monotonic() - started
        self.solve_s += seconds
        # Under a round budget the clock must not steer the search, or runs would not repeat.
        effort = 1.0 if self.deterministic else seconds
        return RoundResult(kept=gain > 0, gain=gain, effort=effort)

    def _solve(self, machines: list[int], freed: list[int], seconds: float, deterministic: bool) -> int:
        """Solve one sub-problem and keep its proposal if it is cheaper: the cost removed."""
        result = solve_subproblem(
            self.state, machines, freed, seconds, seed=int(self.rng.integers(1 << 30)),
            deterministic=deterministic, hold_price=self.hold_price,
        )
        if result is None:
            return 0
        if result.optimal:
            self.optimal += 1
            if deterministic or result.wall_s < seconds / 4:
                self.freed_target = min(MAX_FREED, self.freed_target * GROW)
        else:
            self.freed_target = max(MIN_FREED, self.freed_target * SHRINK)
        if not result.moves:
            return 0
        kept = self.state.try_moves(list(result.moves), max_delta=-1)
        if kept is None:
            return 0
        return -kept

    # --- neighbourhoods ---------------------------------------------------------------------------

    def _machine_count(self) -> int:
        per_machine = len(self.state.assignment) / len(self.state.capacity)
        wanted = int(round(self.freed_target / max(per_machine, 1.0)))
        return int(np.clip(wanted, 2, min(MAX_MACHINES, len(self.state.capacity))))

    def _pick_machines(self, kind: int) -> list[int]:
        """The machines of a neighbourhood of `kind`: the kind's seed machines, topped up with
        random ones to the wanted count."""
        count = self._machine_count()
        chosen = set(self._seeds(kind, count))
        if len(chosen) < count:
            for m in self.rng.permutation(len(self.state.capacity)).tolist():
                if len(chosen) >= count:
                    break
                chosen.add(m)
        return sorted(chosen)

    def _seeds(self, kind: int, count: int) -> list[int]:
        s, total = self.state, len(self.state.capacity)
        if KINDS[kind] == "hot":
            order = np.argsort(-s.machine_cost, kind="stable")
            hot = int(self.rng.choice(order[: max(1, int(total * HOT_SHARE))]))
            return [hot] + self._complements(hot, count - 1, towards=True)
        if KINDS[kind] == "cold":
            spare = (np.maximum(s.safety - s.usage, 0) * s.load_weight).sum(axis=1)
            order = np.argsort(-spare, kind="stable")
            cold = int(self.rng.choice(order[: max(1, int(total * HOT_SHARE))]))
            return [cold] + self._complements(cold, count - 1, towards=False)
        if KINDS[kind] == "hood":
            hood = self.machines_by_hood[int(s.hood[self.rng.integers(total)])]
            return self.rng.choice(hood, size=min(count, len(hood)), replace=False).tolist()
        if KINDS[kind] == "moved" and s.moved.any():
            p = int(self.rng.choice(np.flatnonzero(s.assignment != s.original)))
            return sorted({int(s.assignment[p]), int(s.original[p])})
        return []  # random, or nothing moved yet

    def _complements(self, machine: int, count: int, towards: bool) -> list[int]:
        """Partners a re-pack can shift load between: machines with room below their safety
        capacity where `machine` is above its own (`towards`), or machines above it where
        `machine` has room (not `towards`). Noisy, so that repeated picks differ."""
        s = self.state
        over = np.maximum(s.usage - s.safety, 0) * s.load_weight
        spare = np.maximum(s.safety - s.usage, 0) * s.load_weight
        if towards:
            fit = np.minimum(spare, over[machine]).sum(axis=1).astype(float)
        else:
            fit = np.minimum(over, spare[machine]).sum(axis=1).astype(float)
        fit *= self.rng.uniform(0.5, 1.5, size=len(fit))
        fit[machine] = -1
        return [int(m) for m in np.argsort(-fit, kind="stable")[:count]]

    def _pick_processes(self, machines: list[int]) -> list[int]:
        on = [p for m in machines for p in self.state.processes_on[m]]
        limit = int(self.freed_target)
        if len(on) <= limit:
            return on
        return sorted(self.rng.choice(on, size=limit, replace=False).tolist())
