"""The spread greedy's re-pack around a host its single steps cannot relieve (planner/solver/repack.py):
a VM that only fits a host which must first shed VMs to two other hosts."""

from __future__ import annotations

import pytest

from planner.check.validate import validate_placement
from planner.domain.policy import SpreadSettings
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver import greedy, repack
from planner.solver.greedy import improve_spread
from planner.solver.greedy_budget import GreedyBudget
from planner.solver.cpsat_model import Resource
from planner.solver.lns import SubSolve
from planner.solver.peak_relief import coolness, peak_view
from planner.solver.planning import to_placement
from tests.builders import cluster, host, policy, vm

GIB = 1024
RESERVE = 512


def _case():
    """m (8 cores, 26 GiB) runs big (24 GiB) at 750 per-mille. Only t (32 cores, 64 GiB) can take
    big, once it sheds two of its four 14 GiB VMs: m has room for one of them once big left, c for
    the other; d is a cool host too small for any. No move, swap, exchange (it returns to m only)
    or one-VM chain does it."""
    hosts = [host("m", cpus=8, memory_mib=26 * GIB + RESERVE), host("t", cpus=32, memory_mib=64 * GIB + RESERVE),
             host("c", cpus=8, memory_mib=32 * GIB + RESERVE), host("d", cpus=8, memory_mib=8 * GIB + RESERVE)]
    vms = [vm("big", "m", vcpus=8, memory_mib=24 * GIB, load=6000),
           *(vm(f"t{i}", "t", vcpus=2, memory_mib=14 * GIB, load=1000) for i in range(4)),
           vm("c0", "c", vcpus=2, memory_mib=16 * GIB, load=1000), vm("d0", "d", vcpus=1, memory_mib=4 * GIB, load=500)]
    return cluster(hosts, vms), policy(spread=SpreadSettings(memory_weight=0))


def _greedy(repacking: bool, budget: GreedyBudget | None = None) -> tuple[dict[str, str], PlacementState]:
    clu, pol = _case()
    problem = build_problem(resolve_rules(clu, pol))
    state = PlacementState(problem)
    improve_spread(state, budget=budget or GreedyBudget(), repack=repacking)
    return to_placement(problem, state.assignment), state


def test_without_a_re_pack_the_step_by_step_pass_stops_on_the_hot_host() -> None:
    placement, state = _greedy(repacking=False)
    assert placement["big"] == "m" and state.peaks()[0] == 750


def test_a_re_pack_sends_big_to_t_and_two_of_t_s_vms_on() -> None:
    clu, pol = _case()
    placement, state = _greedy(repacking=True)
    assert placement["big"] == "t"
    shed = sorted(placement[f"t{i}"] for i in range(4) if placement[f"t{i}"] != "t")
    assert shed == ["c", "m"]
    assert state.peaks()[0] == 250  # t: 6000 + 2000 of 32 cores; m 1000 and c 2000 of 8
    assert validate_placement(clu, pol, placement) == []


def test_its_work_is_charged_to_the_budget_and_an_empty_budget_skips_it() -> None:
    budget = GreedyBudget(work_ms=1e9)
    _greedy(repacking=True, budget=budget)
    assert budget.priced.ms > 0
    spent = GreedyBudget(work_ms=0.0)
    placement, _ = _greedy(repacking=True, budget=spent)
    assert placement["big"] == "m" and spent.priced.ms == 0


def test_a_re_pack_that_leaves_a_weighed_peak_as_high_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """The neighbourhood without c: t's second VM has nowhere to go, so big cannot reach t."""
    monkeypatch.setattr(repack, "REPACK_HOSTS", 2)
    placement, state = _greedy(repacking=True)
    assert placement["big"] == "m" and state.peaks()[0] == 750 and state.moved_vms == 0


def test_a_sub_solve_answer_past_a_hosts_limits_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the sub-solve answers is checked on the live state: t0 onto m and c0 onto d (each
    past the host's memory) are refused, and the state is left as it was."""
    clu, pol = _case()
    problem = build_problem(resolve_rules(clu, pol))
    index = {unit.vms[0]: unit.index for unit in problem.units}
    for name, to in (("t0", "m"), ("c0", "d")):
        answer = SubSolve([(index[name], problem.index_of_host[to])], 0.1, 10, False)
        monkeypatch.setattr(repack, "sub_solve", lambda *args, answer=answer: answer)
        placement, state = _greedy(repacking=True)
        assert placement[name] != to and state.moved_vms == 0 and not state.moves


def test_the_neighbourhood_holds_the_host_the_heaviest_vm_fits_once_emptied() -> None:
    clu, pol = _case()
    problem = build_problem(resolve_rules(clu, pol))
    state = PlacementState(problem)
    hood = repack.neighbourhood(state, problem.index_of_host["m"], peak_view(state, None).caps, coolness(state))
    names = {problem.hosts[h].name for h in hood}
    assert names == {"m", "t", "c", "d"}
    assert len(hood) <= repack.REPACK_HOSTS


def test_a_peak_at_its_lower_bound_is_not_re_packed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(repack, "peak_floors", lambda problem: {Resource.CPU_LOAD: 750})
    budget = GreedyBudget(work_ms=1e9)
    placement, _ = _greedy(repacking=True, budget=budget)
    assert placement["big"] == "m" and budget.priced.ms == 0


@pytest.mark.parametrize(("small_below", "where"), [(5_000, "m"), (0, "t")])
def test_the_spread_greedy_re_packs_only_where_no_whole_model_solve_fits(
        monkeypatch: pytest.MonkeyPatch, small_below: int, where: str) -> None:
    """Problems up to SMALL_PROBLEM_UNITS get the whole-model CP-SAT after the greedy; above it the
    greedy's rounds end with the re-packing pass."""
    monkeypatch.setattr(greedy, "SMALL_PROBLEM_UNITS", small_below)
    clu, pol = _case()
    problem = build_problem(resolve_rules(clu, pol))
    state = greedy.spread_greedy(PlacementState(problem), GreedyBudget(work_ms=1e9))
    assert to_placement(problem, state.assignment)["big"] == where


@pytest.mark.parametrize("seed", [1, 4])
def test_re_packed_plans_on_tight_clusters_keep_every_rule(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """With the size gate lifted, the spread greedy re-packs on small memory-tight clusters (pins,
    anti-affinity, host groups): the independent validator accepts what it ends with."""
    from benchmarks.tight_generator import generate_tight_cluster, tight_policy
    monkeypatch.setattr(greedy, "SMALL_PROBLEM_UNITS", 0)
    calls: list[int] = []
    real = repack.sub_solve
    monkeypatch.setattr(repack, "sub_solve", lambda *args: calls.append(1) or real(*args))
    clu = generate_tight_cluster(30, 600, 0.88, seed)
    pol = tight_policy(clu, seed, 10, 1)
    problem = build_problem(resolve_rules(clu, pol))
    start = PlacementState(problem)
    state = greedy.spread_greedy(start.copy(), GreedyBudget(work_ms=3000.0))
    assert calls, "the pass never re-packed: the test checks nothing"
    assert validate_placement(clu, pol, to_placement(problem, state.assignment)) == []
    assert state.spread_metric() <= start.spread_metric()


def test_a_seed_gives_the_same_re_packed_placement(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every sub-solve is capped by CP-SAT's deterministic clock (and charged modelled work), so two
    runs of the same seed end on the same placement whatever the wall clock did."""
    from benchmarks.tight_generator import generate_tight_cluster, tight_policy
    monkeypatch.setattr(greedy, "SMALL_PROBLEM_UNITS", 0)
    caps: list[float | None] = []
    real = repack.sub_solve

    def capped(problem, state, hosts, settings, window, limit, floors):  # type: ignore[no-untyped-def]
        caps.append(window.work)
        return real(problem, state, hosts, settings, window, limit, floors)

    monkeypatch.setattr(repack, "sub_solve", capped)
    clu = generate_tight_cluster(30, 600, 0.88, 1)
    problem = build_problem(resolve_rules(clu, tight_policy(clu, 1, 10, 1)))
    runs = [greedy.spread_greedy(PlacementState(problem), GreedyBudget(work_ms=3000.0)).assignment for _ in range(2)]
    assert runs[0] == runs[1]
    assert caps and all(cap is not None and 0 < cap <= repack.REPACK_LIMIT for cap in caps)
