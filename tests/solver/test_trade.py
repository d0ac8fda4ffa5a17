"""limits.min_gain_per_moved_gib: a GiB is migrated only if it buys that much of the goal. The kept
plan is a whole step of the greedy's path (valid by the independent validator) or the solver's."""

from __future__ import annotations


import pytest

from planner.domain.policy import Limits, SpreadSettings
from planner.solver.trade import TradePoint, choose, options
from tests.builders import cluster, host, plan_for, policy, vm

BIG = 65536 + 512  # 64 GiB usable


def _one_cheap_move_then_dear_ones():
    """a runs at 625 ‰: `light` (2 cores' load, 1 GiB) and six `heavy` VMs (half a core, 6 GiB each).
    Moving light lowers the peak by 250 ‰ for 1 GiB; each heavy then buys about 62 ‰ for 6 GiB
    (about 10 ‰ per GiB)."""
    hosts = [host(name, cpus=8, memory_mib=BIG) for name in ("a", "b", "c", "d")]
    vms = [vm("light", "a", load=2000, memory_mib=1024)] + \
        [vm(f"heavy-{i}", "a", load=500, memory_mib=6144) for i in range(6)] + \
        [vm(f"idle-{name}", name, load=100) for name in ("b", "c", "d")]
    return cluster(hosts, vms)


def _plan(per_gib: float):
    limits = Limits(min_improvement_percent=0, min_gain_per_moved_gib=per_gib)
    return plan_for(_one_cheap_move_then_dear_ones(), policy(spread=SpreadSettings(memory_weight=0), limits=limits))


def _moved_gib(plan) -> float:
    return sum(move.memory_mib for move in plan.moves) / 1024


def test_a_dear_gib_keeps_only_the_cheap_move() -> None:
    plan = _plan(20.0)  # heavies buy about 10 ‰ per GiB: not enough
    assert [move.vm for move in plan.moves] == ["light"]
    assert plan.metric.after == 375
    assert any(note.startswith("kept the plan at 375 ‰ with 1 moves / 1.0 GiB") for note in plan.notes)


def test_the_knob_at_0_keeps_the_best_goal_and_in_between_it_moves_the_heavies_worth_it() -> None:
    free, some, dear = _plan(0.0), _plan(5.0), _plan(20.0)
    assert free.metric.after < dear.metric.after and _moved_gib(free) > _moved_gib(dear)
    assert not any(note.startswith("kept the plan") for note in free.notes)
    assert some.metric.after < dear.metric.after  # 10 ‰ per GiB beats 5: some heavies move
    assert any(move.vm.startswith("heavy") for move in some.moves)
    assert any(note.startswith("trade-off (goal, moves, migrated memory): 625 ‰ with 0 moves") for note in free.notes)


def test_choose_takes_the_best_score_and_options_are_the_frontier() -> None:
    points = [TradePoint(625, 0, 0, 0, 0), TradePoint(375, 1024, 1, 1024, 1), TradePoint(313, 7168, 2, 7168, 2),
              TradePoint(320, 9000, 3, 9000, 3), TradePoint(200, 30720, 6, 30720, None)]
    assert choose(points, 0.0).step is None
    assert choose(points, 20.0).step == 1
    assert choose(points, 5.0).step == 2  # 62 ‰ for 6 GiB is worth it at 5 ‰ per GiB...
    assert choose(points, 11.0).step == 1  # ...and not at 11
    assert [p.goal for p in options(points)] == [625, 375, 313, 200]  # 320 for more GiB is beaten


@pytest.mark.parametrize("per_gib", [0.5, 3.0, 50.0])
def test_every_kept_plan_passes_the_validator_and_never_moves_more_than_the_solver(per_gib: float) -> None:
    assert _moved_gib(_plan(per_gib)) <= _moved_gib(_plan(0.0))
