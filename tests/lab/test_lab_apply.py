"""`rebalance plan` then `rebalance apply` on the real lab: live migrations libvirt confirms."""

from __future__ import annotations

import json
from pathlib import Path

from executor.journal import JournalEvent
from lab.control import HOSTS, Lab
from tests.lab.helpers import PLAN_TIME_LIMIT, journal, rebalance


def _plan(inventory: Path, plan: Path, *options: str) -> dict:
    result = rebalance("plan", "--inventory", inventory, *options, *PLAN_TIME_LIMIT, "-o", plan)
    assert result.exit_code == 0, result.output
    return json.loads(plan.read_text())


def test_spread_from_one_host_really_live_migrates_and_journals_libvirts_timing(clean_lab: Lab, inventory: Path,
                                                                                 tmp_path: Path) -> None:
    for name in ("g1", "g2", "g3"):
        clean_lab.start_guest("lab-a", name, memory_mib=32)
    plan_file = tmp_path / "plan.json"
    planned = _plan(inventory, plan_file, "--goal", "spread")
    moves = {m["vm"]: m["destination"] for m in planned["moves"]}
    assert len(moves) == 2 and set(moves.values()) == {"lab-b", "lab-c"}

    result = rebalance("apply", plan_file, "--inventory", inventory, "--yes")

    assert result.exit_code == 0, result.output
    expected = {name: [moves.get(name, "lab-a")] for name in ("g1", "g2", "g3")}
    assert clean_lab.placement() == expected  # each host's own libvirt says so
    done = [e for e in journal(plan_file) if e.event is JournalEvent.STEP_DONE]
    assert {e.vm: e.location for e in done} == moves
    for entry in done:
        # libvirt's own timing of the job, which is part of the wall time the tool measured
        assert 0 < entry.time_elapsed_ms <= entry.duration_s * 1000
        assert 0 <= entry.downtime_ms <= entry.time_elapsed_ms


def test_drain_empties_a_host_for_real(clean_lab: Lab, inventory: Path, tmp_path: Path) -> None:
    clean_lab.start_guest("lab-a", "stay", memory_mib=32)
    for name in ("d1", "d2"):
        clean_lab.start_guest("lab-b", name, memory_mib=48)
    plan_file = tmp_path / "plan.json"
    planned = _plan(inventory, plan_file, "--drain", "lab-b")
    assert sorted(m["vm"] for m in planned["moves"]) == ["d1", "d2"]

    result = rebalance("apply", plan_file, "--inventory", inventory, "--yes")

    assert result.exit_code == 0, result.output
    assert clean_lab.running("lab-b") == set()
    placement = clean_lab.placement()
    assert sorted(placement) == ["d1", "d2", "stay"]
    assert all(len(hosts) == 1 and hosts[0] in HOSTS and hosts[0] != "lab-b" for hosts in placement.values())
