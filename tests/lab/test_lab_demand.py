"""Demand from history on the real lab, with guests that really load a CPU (lab/busy_guest.py):
`rebalance collect --every 1s` keeps the history while the guests run, then `plan --inventory`
plans from a statistic over it.

- Two guests on one host, each busy for a while and idle now: planned from their p95 they are too
  much for one host and spread moves one; planned from the idle instant nothing moves.
- Two guests on one host that are idle but for one short spike: their p95 is idle, so nothing
  moves (while their max, which the spike sets, would move one).

The lab hosts get one core each in the inventory, and the policy makes CPU alone count: hosts under
20 % CPU are fine, memory has no weight. A spinning TCG guest measured 300–1000 milli-cores here
(less when other work shares the machine's two cores), an idle one about 10.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from lab.busy_guest import boot_sector, write_disk
from lab.control import Lab
from tests.lab.collecting import (BUSY_MC, CPU_POLICY, IDLE_MC, busy_then_idle_seen, history, start_collecting,
                                  stop_collecting)
from tests.lab.helpers import PLAN_TIME_LIMIT, rebalance, write_yaml


def _plan(inventory: Path, policy: Path, state: Path, *options: str) -> tuple[str, dict]:
    plan_file = state.parent / f"plan-{state.name}.json"
    result = rebalance("plan", "--inventory", inventory, "--policy", policy, "--state-dir", state, *options,
                       *PLAN_TIME_LIMIT, "-o", plan_file)
    assert result.exit_code == 0, result.output
    return result.stdout, json.loads(plan_file.read_text())


def test_guests_busy_then_idle_are_planned_from_their_p95_not_from_the_idle_instant(clean_lab: Lab,
                                                                                     tmp_path: Path) -> None:
    inventory = clean_lab.inventory(tmp_path / "hosts.yaml", cpus=1)
    policy = write_yaml(tmp_path / "policy.yaml", CPU_POLICY)
    state = tmp_path / "state"
    collector = start_collecting(inventory, state)
    try:
        uuids = []
        for name in ("busy-1", "busy-2"):  # one after the other: one host core busy at a time
            disk = write_disk(clean_lab.instances_path / f"{name}.img", boot_sector(("full", 12)))
            uuids.append(clean_lab.start_guest("lab-a", name, disk=disk))
            clean_lab.wait_for(lambda: busy_then_idle_seen(state, uuids[-1]), timeout_s=90,
                               what=f"{name} busy, then idle, in the history")
    finally:
        stop_collecting(collector)
    samples = [history(state, uuid).cpu_millicores for uuid in uuids]
    assert all(loads[-1] <= IDLE_MC for loads in samples), samples  # both idle by the end

    instant_out, instant = _plan(inventory, policy, tmp_path / "no-history", "--interval", "1")
    out, planned = _plan(inventory, policy, state, "--cpu-demand", "p95", "--demand-window", "5m")

    assert instant["moves"] == [], instant_out
    assert "demand: CPU sampled over 1 s: no local history in the last 24h" in instant_out
    assert [(m["vm"] in ("busy-1", "busy-2"), m["source"]) for m in planned["moves"]] == [(True, "lab-a")], out
    assert out.startswith("demand: CPU p95 over the last 5m from local history (")
    demand = planned["cluster"]["demand"]
    assert (demand["source"], demand["statistic"], demand["window_s"]) == ("local history", "p95", 300)
    assert demand["samples"] >= 20
    loads = {vm["name"]: vm["cpu_load_millicores"] for vm in planned["cluster"]["vms"]}
    assert loads["busy-1"] >= BUSY_MC and loads["busy-2"] >= BUSY_MC, loads


def test_a_one_off_spike_below_the_p95_moves_nothing(clean_lab: Lab, tmp_path: Path) -> None:
    inventory = clean_lab.inventory(tmp_path / "hosts.yaml", cpus=1)
    policy = write_yaml(tmp_path / "policy.yaml", CPU_POLICY)
    state = tmp_path / "state"
    uuids = [clean_lab.start_guest("lab-a", name,
                                   disk=write_disk(clean_lab.instances_path / f"{name}.img",
                                                 boot_sector(("idle", 20), ("full", 2))))
             for name in ("spiky-1", "spiky-2")]
    time.sleep(8)  # past QEMU's own start-up burst: the history should hold the spike alone
    collector = start_collecting(inventory, state)
    try:
        clean_lab.wait_for(lambda: all(_spike_seen(state, u) for u in uuids), timeout_s=90,
                           what="the spikes in the history")
        clean_lab.wait_for(lambda: min(len(history(state, u).cpu_millicores) for u in uuids) >= 60,
                           timeout_s=120, what="a minute of history")
    finally:
        stop_collecting(collector)
    spikes = [sum(1 for load in history(state, u).cpu_millicores if load >= BUSY_MC) for u in uuids]
    assert all(1 <= count <= 3 for count in spikes), spikes  # one short spike each, seen

    out, from_p95 = _plan(inventory, policy, state, "--cpu-demand", "p95", "--demand-window", "5m")
    _, from_max = _plan(inventory, policy, state, "--cpu-demand", "max", "--demand-window", "5m")

    assert from_p95["moves"] == [], out
    assert out.startswith("demand: CPU p95 over the last 5m from local history (")
    assert [m["source"] for m in from_max["moves"]] == ["lab-a"]  # the spike is there: max sees it


def _spike_seen(state: Path, uuid: str) -> bool:
    loads = history(state, uuid).cpu_millicores
    return any(load >= BUSY_MC for load in loads) and len(loads) >= 3 and loads[-1] <= IDLE_MC
