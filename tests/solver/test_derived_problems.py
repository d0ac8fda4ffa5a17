"""Problems derived from another (with_drain_lifted, with_units) take its unit arrays patched
rather than built again from every Unit: they must be exactly what building them afresh gives, and
what the fixed units hold must be what summing them one by one gives."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from benchmarks.at_scale import goal_policy
from benchmarks.extra_resources import with_extra_resources
from benchmarks.tight_generator import generate_tight_cluster
from planner.domain.policy import Affinity, Goal, Selector
from planner.instance.problem import Problem, build_problem, with_drain_lifted, with_units
from planner.instance.unit import replaced
from planner.instance.unit_arrays import UnitArrays
from planner.rules.resolve import resolve_rules


def _drain(extras: int = 2) -> Problem:
    """Pins, anti-affinity, host groups, extra resources, and an affinity pair split over two hosts
    (a unit with no home: it holds nothing where it is)."""
    clu = with_extra_resources(generate_tight_cluster(30, 400, 0.80, 2), extras, seed=3)
    first, other = clu.vms[0], next(v for v in clu.vms if v.host != clu.vms[0].host)
    pair = Affinity("pair", Selector(names=frozenset({first.name, other.name})))
    pol = goal_policy(clu, Goal.DRAIN, 2, 1.0, 1)
    return build_problem(resolve_rules(clu, replace(pol, affinity=(*pol.affinity, pair))))


def _afresh(problem: Problem) -> Problem:
    """The same problem without anything worked out yet (a new instance has empty caches)."""
    return replace(problem)


def _assert_same_arrays(derived: UnitArrays, built: UnitArrays) -> None:
    for name in ("sizes", "fixed", "home", "weighted_memory", "members"):
        assert np.array_equal(getattr(derived, name), getattr(built, name)), name
    # Set numbering may differ; each unit's allowed set may not, nor which sets are listed.
    assert [derived.allowed_sets[i] for i in derived.allowed_set] == [built.allowed_sets[i] for i in built.allowed_set]
    assert sorted(map(sorted, derived.allowed_sets)) == sorted(map(sorted, built.allowed_sets))


def _held_one_by_one(problem: Problem) -> np.ndarray:
    held = np.zeros((len(problem.hosts), 3 + len(problem.resources)), dtype=np.int64)
    for unit in problem.units:
        if unit.fixed and unit.current is not None:
            held[unit.current] += (unit.memory_mib, unit.vcpus, unit.cpu_load, *unit.extra)
    return held


def test_the_problem_built_has_the_arrays_of_its_units_and_the_split_pair_holds_nothing() -> None:
    problem = _drain()
    assert any(unit.current is None for unit in problem.units)  # the split pair is there
    _assert_same_arrays(problem.unit_arrays, UnitArrays.of(problem.units, len(problem.resources)))
    assert np.array_equal(problem.fixed_sizes, _held_one_by_one(problem))


def test_lifting_a_drain_derives_the_arrays_building_them_would_give() -> None:
    drain = _drain()
    lifted = with_drain_lifted(drain)
    fresh = _afresh(lifted)
    assert not lifted.unit_arrays.fixed.all() and drain.unit_arrays.fixed.sum() > lifted.unit_arrays.fixed.sum()
    _assert_same_arrays(lifted.unit_arrays, fresh.unit_arrays)
    assert np.array_equal(lifted.fixed_sizes, _held_one_by_one(lifted))
    assert np.array_equal(lifted.limit_rows, fresh.limit_rows)


def test_units_freed_and_fixed_derive_their_arrays_and_limits() -> None:
    lifted = with_drain_lifted(_drain())
    movable = [u for u in lifted.units if not u.fixed and u.current is not None][:6]
    fixed = [u for u in lifted.units if u.fixed][:3]
    replacing = {u.index: replaced(u, fixed=True, allowed=frozenset({u.current})) for u in movable[:3]}
    replacing |= {u.index: replaced(u, allowed=frozenset({u.current, (u.current + 1) % len(lifted.hosts)}))
                  for u in movable[3:]}
    replacing |= {u.index: replaced(u, fixed=False) for u in fixed}
    split = next(u for u in lifted.units if u.current is None)
    replacing[split.index] = replaced(split, fixed=True)  # fixed, yet it holds no host's room

    derived = with_units(lifted, replacing)

    fresh = _afresh(derived)
    _assert_same_arrays(derived.unit_arrays, fresh.unit_arrays)
    held = _held_one_by_one(derived)
    assert np.array_equal(derived.fixed_sizes, held)
    usable = np.array([h.usable_memory_mib for h in derived.hosts])
    assert derived.memory_limit == tuple(np.maximum(usable, held[:, 0]).tolist())
    assert not lifted.unit_arrays.fixed[movable[0].index]  # the problem derived from is as it was


def test_with_units_refuses_a_unit_that_is_not_the_same_vms() -> None:
    lifted = with_drain_lifted(_drain(extras=0))
    unit = next(u for u in lifted.units if not u.fixed)
    with pytest.raises(ValueError, match="only its allowed hosts or fixedness"):
        with_units(lifted, {unit.index: replaced(unit, memory_mib=unit.memory_mib + 1)})
