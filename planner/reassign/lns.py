"""Large-neighbourhood search over machines: free the processes of a few machines, let CP-SAT
place them optimally among those machines (`subproblem`), keep the result when it is cheaper.

This is the move the local search cannot make: re-packing several tight machines at once, where
every single move or swap is blocked by some resource. Neighbourhoods (machine sets) are drawn
four ways, because where the cost lives differs between instances:

* hot: one of the most expensive machines with random others (load and balance cost);
* same neighbourhood: machines of one neighbourhood, where dependencies never get in the way;
* moved: the current and the original machine of a moved process, with others (move costs: a
  process may go back home);
* random, for diversity.

The number of freed processes adapts: it grows while sub-problems solve to optimality well
within their time limit and shrinks when they time out, so each sub-problem stays solvable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from planner.reassign.delta import SearchState
from planner.reassign.subproblem import solve_subproblem

HOT_SHARE = 0.1
# Freeing about 60 processes gained the most per second in exploratory runs on a2_2, a1_4 and b_1
# (one seed each, not a shipped benchmark; `--lns-share` in benchmarks.roadef.run is the knob to
# re-check the mix): larger sub-problems time out more, smaller ones rarely find anything.
# Shrunk only after timeouts.
MIN_FREED, MAX_FREED, START_FREED = 15, 60, 60
GROW, SHRINK = 1.1, 0.85


@dataclass
class LnsCounters:
    rounds: int = 0
    improved: int = 0
    optimal: int = 0


class MachineLns:
    def __init__(self, state: SearchState, seed: int, sub_seconds: float) -> None:
        self.state = state
        self.rng = np.random.default_rng(seed + 7919)
        self.sub_seconds = sub_seconds
        self.freed_target = float(START_FREED)
        self.counters = LnsCounters()
        self.machines_by_hood = [np.flatnonzero(state.hood == n) for n in range(int(state.hood.max()) + 1)]

    def run(self, deadline: float, max_rounds: int | None = None) -> None:
        """Rounds until `deadline`, or exactly `max_rounds` rounds when given."""
        done = 0
        while (max_rounds is not None and done < max_rounds) or (max_rounds is None and time.monotonic() < deadline - 0.05):
            seconds = self.sub_seconds if max_rounds is not None else min(self.sub_seconds, deadline - time.monotonic())
            if seconds <= 0.05:
                break
            self.round(seconds, deterministic=max_rounds is not None)
            done += 1

    def round(self, seconds: float, deterministic: bool = False) -> bool:
        machines = self._pick_machines()
        freed = self._pick_processes(machines)
        if not freed:
            return False
        self.counters.rounds += 1
        result = solve_subproblem(self.state, machines, freed, seconds, seed=int(self.rng.integers(1 << 30)), deterministic=deterministic)
        if result is None:
            return False
        if result.optimal:
            self.counters.optimal += 1
            if deterministic or result.wall_s < seconds / 4:
                self.freed_target = min(MAX_FREED, self.freed_target * GROW)
        else:
            self.freed_target = max(MIN_FREED, self.freed_target * SHRINK)
        if not result.moves:
            return False
        kept = self.state.try_moves(list(result.moves), max_delta=-1)
        if kept is None:
            return False
        self.counters.improved += 1
        return True

    # --- neighbourhoods ---------------------------------------------------------------------------

    def _machine_count(self) -> int:
        per_machine = len(self.state.assignment) / len(self.state.capacity)
        wanted = int(round(self.freed_target / max(per_machine, 1.0)))
        return int(np.clip(wanted, 2, min(12, len(self.state.capacity))))

    def _pick_machines(self) -> list[int]:
        count = self._machine_count()
        total = len(self.state.capacity)
        kind = self.rng.random()
        if kind < 0.2:
            order = np.argsort(-self.state.machine_cost, kind="stable")
            hot = int(self.rng.choice(order[: max(1, int(total * HOT_SHARE))]))
            first = [hot] + self._complements(hot, count - 1, towards=True)
        elif kind < 0.4:
            spare = (np.maximum(self.state.safety - self.state.usage, 0) * self.state.load_weight).sum(axis=1)
            order = np.argsort(-spare, kind="stable")
            cold = int(self.rng.choice(order[: max(1, int(total * HOT_SHARE))]))
            first = [cold] + self._complements(cold, count - 1, towards=False)
        elif kind < 0.6:
            hood = self.machines_by_hood[int(self.state.hood[self.rng.integers(total)])]
            first = self.rng.choice(hood, size=min(count, len(hood)), replace=False).tolist()
        elif kind < 0.8 and self.state.process_move_sum + self.state.machine_move_sum > 0:
            moved = np.flatnonzero(self.state.assignment != self.state.original)
            p = int(self.rng.choice(moved))
            first = sorted({int(self.state.assignment[p]), int(self.state.original[p])})
        else:
            first = []
        chosen = set(first)
        if len(chosen) < count:
            others = self.rng.permutation(total)
            for m in others.tolist():
                if len(chosen) >= count:
                    break
                chosen.add(m)
        return sorted(chosen)

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
