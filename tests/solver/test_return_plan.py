"""Moving a host's original VMs back after maintenance: as many as still fit, the rest explained."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from planner.check.validate import validate_placement
from planner.domain.errors import InputError
from planner.domain.model import HostState
from planner.domain.policy import AntiAffinity, Pin, Selector
from planner.formats.plan_io import load_plan, write_plan
from planner.solver.return_plan import plan_return
from tests.builders import cluster, host, policy, vm

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
GIB = 1024


def drained_cluster(extra_on_b: int = 0):
    """lab-a was drained: its VMs (web-1 4 GiB, web-2 2 GiB, web-3 1 GiB) sit on lab-b and lab-c."""
    hosts = [host("lab-a", memory_mib=8 * GIB + 512), host("lab-b"), host("lab-c")]
    vms = [vm("web-1", "lab-b", memory_mib=4 * GIB), vm("web-2", "lab-c", memory_mib=2 * GIB),
           vm("web-3", "lab-c", memory_mib=1 * GIB), vm("db-1", "lab-b", memory_mib=2 * GIB)]
    if extra_on_b:
        vms.append(vm("squatter", "lab-a", memory_mib=extra_on_b))
    return cluster(hosts, vms)


def test_every_original_vm_returns_when_it_fits_and_the_validator_agrees() -> None:
    clu, pol = drained_cluster(), policy()
    plan, left = plan_return(clu, pol, "lab-a", ["web-1", "web-2", "web-3"], now=NOW)
    assert left == ()
    assert [(m.vm, m.source, m.destination) for m in plan.moves] == [
        ("web-1", "lab-b", "lab-a"), ("web-2", "lab-c", "lab-a"), ("web-3", "lab-c", "lab-a")]
    assert all(m.reason == "returns to lab-a after maintenance" for m in plan.moves)
    assert validate_placement(clu, pol, plan.target_placement) == []
    assert plan.solver.method == "return"
    assert {u.host: u.memory_mib for u in plan.after}["lab-a"] == 7 * GIB
    assert plan.created == NOW and plan.expires > NOW


def test_largest_first_and_a_vm_that_no_longer_fits_stays_with_the_reason() -> None:
    # 8 GiB usable on lab-a, 3 GiB already taken since: web-1 (4 GiB) fits, then web-2 (2 GiB) does not.
    clu, pol = drained_cluster(extra_on_b=3 * GIB), policy()
    plan, left = plan_return(clu, pol, "lab-a", ["web-3", "web-2", "web-1"], now=NOW)
    assert [m.vm for m in plan.moves] == ["web-1", "web-3"]
    assert len(left) == 1 and left[0].startswith("web-2 stays on lab-c: would break capacity: lab-a: memory")
    assert validate_placement(clu, pol, plan.target_placement) == []
    assert any(note.startswith("web-2 stays on lab-c") for note in plan.notes)


def test_vanished_already_home_unmigratable_and_pinned_vms_are_named() -> None:
    clu = drained_cluster()
    clu = cluster(list(clu.hosts), list(clu.vms) + [vm("back", "lab-a"), vm("local", "lab-c", migratable=False,
                                                                               unmigratable_reason="local disk")])
    pol = policy(pins=(Pin("keep-web-3", Selector(names=frozenset({"web-3"}))),))
    plan, left = plan_return(clu, pol, "lab-a", ["gone", "back", "local", "web-3", "web-1"], now=NOW)
    assert [m.vm for m in plan.moves] == ["web-1"]
    assert left == ("gone does not return to lab-a: no longer exists",
                    "back already on lab-a",
                    "local stays on lab-c: is not live-migratable (local disk)",
                    "web-3 stays on lab-c: pinned by the policy's pin 'keep-web-3'")


def test_a_return_that_would_break_anti_affinity_is_left() -> None:
    clu = drained_cluster()
    clu = cluster(list(clu.hosts), list(clu.vms) + [vm("web-9", "lab-a")])
    pol = policy(anti_affinity=(AntiAffinity("web", Selector(names=frozenset({"web-1", "web-9"}))),))
    plan, left = plan_return(clu, pol, "lab-a", ["web-1", "web-2"], now=NOW)
    assert [m.vm for m in plan.moves] == ["web-2"]
    assert left == ("web-1 stays on lab-b: would break anti-affinity: web: 2 members share host lab-a",)


def test_a_host_still_cordoned_takes_nothing_back() -> None:
    clu = drained_cluster()
    clu = replace(clu, hosts=tuple(replace(h, state=HostState.DISABLED) if h.name == "lab-a" else h for h in clu.hosts))
    plan, left = plan_return(clu, policy(), "lab-a", ["web-1"], now=NOW)
    assert plan.moves == ()
    assert left == ("web-1 stays on lab-b: would break destination: web-1: moved to lab-a, which takes no VMs",)


def test_an_unknown_host_is_an_input_error() -> None:
    with pytest.raises(InputError, match="lab-x is not in the measured cluster"):
        plan_return(drained_cluster(), policy(), "lab-x", ["web-1"])


def test_the_return_plan_survives_a_plan_file_round_trip(tmp_path: Path) -> None:
    plan, _ = plan_return(drained_cluster(extra_on_b=3 * GIB), policy(), "lab-a", ["web-1", "web-2", "gone"], now=NOW)
    path = tmp_path / "plan.json"
    write_plan(plan, path)
    read = load_plan(path)
    assert read.solver.method == "return"
    assert read.moves == plan.moves
    assert read.notes == plan.notes
    assert read.metric == plan.metric
    assert read.fingerprint == plan.fingerprint
