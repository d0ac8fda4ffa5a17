"""The bound on what must move (a drain, a broken rule) is each unit's cheapest way out: the same
number as the minimum over its allowed hosts, computed without walking them."""

from __future__ import annotations

import random

import pytest

from planner.bounds.lower_bounds import _cheapest_way_out
from planner.instance.problem import Unit


@pytest.mark.parametrize("seed", range(40))
def test_the_cheapest_way_out_is_the_minimum_over_the_allowed_hosts(seed: int) -> None:
    rng = random.Random(seed)
    members = rng.randint(1, 5)
    hosts = [rng.randrange(6) for _ in range(members)]
    memory = [rng.choice([512, 1024, 4096]) for _ in range(members)]
    allowed = frozenset(rng.sample(range(6), rng.randint(1, 6)))
    unit = Unit(index=0, vms=tuple(f"v{i}" for i in range(members)), member_hosts=tuple(hosts),
                member_memory=tuple(memory), vcpus=members, memory_mib=sum(memory), cpu_load=0,
                allowed=allowed, fixed=False, anti_affinity=())
    assert _cheapest_way_out(unit) == (min(unit.moved_vms(h) for h in allowed),
                                       min(unit.move_cost(h) for h in allowed))
