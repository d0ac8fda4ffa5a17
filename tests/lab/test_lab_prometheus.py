"""Demand from a real Prometheus scraping Debian's prometheus-libvirt-exporter, one per lab host.

`metrics_lab` (tests/lab/conftest.py) is a lab of its own with the exporters and Prometheus
(scrape every 1 s) on 127.0.0.1. Guests load their CPU from boot disks (lab/busy_guest.py): one
core (`jmp $`), or a core, then half a core, then idle. The statistics are compared two ways:
sampled here with the collector over the same seconds as Prometheus' steps and reduced with the
local history's statistic_of; and end to end, `rebalance collect --every 1s` keeping the local
history and `rebalance plan --inventory` planning from each source.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

from cluster.collector import collect
from cluster.demand import Demand, DemandSpec, statistic_of, with_demand
from cluster.inventory import load_inventory
from cluster.prometheus_api import instant_query
from cluster.prometheus_demand import CPU_METRIC, prometheus_demand
from lab.busy_guest import boot_sector, write_disk
from lab.control import Lab
from planner.formats.scenario import cluster_record, write_json
from tests.lab.collecting import CPU_POLICY, busy_then_idle_seen, history, start_collecting, stop_collecting
from tests.lab.helpers import PLAN_TIME_LIMIT, rebalance, write_yaml

STEP_S = 5.0
SAMPLES = 14  # 70 s from a few seconds after boot: a core for ~5 samples, half a core for ~6, then idle
SLACK_S = 0.5  # each local sample starts on a step boundary and ends before the next one's start
# Both sides read the same QEMU's CPU time (libvirt's two counters agree within 0.2 %) in the same
# 5 s steps, but a local sample covers about 4.5 s of its step (connecting, reading and SLACK_S take
# the rest, and the test's own work in that gap takes CPU from the guests on this 2-core machine)
# where Prometheus' rate covers all of it. Differences measured over 14 steps: 0 to 47 mc.
TOLERANCE_MC = 75
UNKNOWN_UUID = "00000000-0000-4000-8000-000000000abc"


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _demand(lab: Lab, uuids: list[str], statistic: str, window_s: float, end_s: float | None = None,
            **options: object) -> Demand:
    end = time.time() if end_s is None else end_s
    return prometheus_demand(lab.prometheus_url, uuids, DemandSpec(statistic, window_s), _at(end), **options)


def _disk(lab: Lab, name: str, sector: bytes) -> Path:
    return write_disk(lab.instances_path / f"{name}.img", sector)


def test_exporters_and_prometheus_listen_on_loopback_only(metrics_lab: Lab) -> None:
    pids = metrics_lab.metrics_pids()
    assert set(pids) == {"exporter-a", "exporter-b", "exporter-c", "prometheus"}
    assert set(pids.values()) <= metrics_lab.pids()  # so the fixture's leftover check covers them
    listing = subprocess.run(["ss", "-Htuanp"], capture_output=True, text=True, check=True).stdout
    for name, pid in pids.items():
        sockets = [line.split() for line in listing.splitlines() if f"pid={pid}," in line]
        listening = [s[4] for s in sockets if s[1] in ("LISTEN", "UNCONN")]
        assert listening, f"{name} listens nowhere"
        assert all(s[4].startswith("127.0.0.1:") for s in sockets), f"{name}: {sockets}"
        assert all(s[5].startswith(("127.0.0.1:", "0.0.0.0:", "*:")) for s in sockets), f"{name}: {sockets}"


def test_each_guests_series_is_found_and_mapped_by_uuid(metrics_lab: Lab) -> None:
    metrics_lab.clear()
    placed = {"ga": "lab-a", "gb": "lab-b", "gc": "lab-c"}
    uuids = {name: metrics_lab.start_guest(host, name, memory_mib=32) for name, host in placed.items()}
    asked = [*uuids.values(), UNKNOWN_UUID]
    # A 30 s window has 3 s steps: three scrapes each, so rate() has a value from the first step on.
    metrics_lab.wait_for(lambda: len(_demand(metrics_lab, asked, "avg", 30).cpu_millicores) == 3, 30,
                         "three guests' series in Prometheus")

    series = instant_query(metrics_lab.prometheus_url, CPU_METRIC, time.time(), 5)
    demand = _demand(metrics_lab, asked, "p95", 30, memory_as_used=True)

    # The exporter labels each series with the domain's UUID and name; our label says which
    # host's exporter it came from: each guest is seen by the host that runs it, once.
    assert sorted((s.labels["uuid"], s.labels["domain"], s.labels["lab_host"]) for s in series) == \
        sorted((uuids[name], name, host) for name, host in placed.items())
    assert set(demand.cpu_millicores) == set(uuids.values())
    assert demand.memory_used_mib == {uuid: 32 for uuid in uuids.values()}  # the balloon's size, 32 MiB
    assert demand.summary.startswith(f"CPU p95 over the last 30s from Prometheus at {metrics_lab.prometheus_url} "
                                     f"(3 series); no series for 1 of 4 domains")


def test_a_spinning_guest_demands_a_core_and_an_idle_one_nothing(metrics_lab: Lab) -> None:
    metrics_lab.clear()
    busy = metrics_lab.start_guest("lab-b", "spin", disk=_disk(metrics_lab, "spin", boot_sector(then="full")))
    idle = metrics_lab.start_guest("lab-b", "idle")
    time.sleep(35)  # boot (a second or two), then 30 s of samples

    demand = _demand(metrics_lab, [busy, idle], "avg", 30)
    print("spinning / idle (mc):", demand.cpu_millicores[busy], demand.cpu_millicores[idle])

    # One host core, less what the other processes on this machine take from it (2 cores, shared).
    assert 700 <= demand.cpu_millicores[busy] <= 1150, demand
    assert demand.cpu_millicores[idle] <= 100, demand
    metrics_lab.clear()  # stop burning the core


def test_prometheus_statistic_equals_the_local_one_and_plans_the_same(metrics_lab: Lab, tmp_path: Path) -> None:
    metrics_lab.clear()
    hot_disk = _disk(metrics_lab, "hot", boot_sector(("full", 30), ("half", 30)))
    hot = metrics_lab.start_guest("lab-a", "hot", memory_mib=32, disk=hot_disk)
    steady_disk = _disk(metrics_lab, "steady", boot_sector(then="full"))
    steady = metrics_lab.start_guest("lab-a", "steady", memory_mib=64, disk=steady_disk)
    metrics_lab.start_guest("lab-b", "quiet", memory_mib=96)
    inventory = load_inventory(_two_hosts(metrics_lab, tmp_path / "hosts.yaml"))
    collect(inventory, interval_s=0.2)  # the first connection is slow; keep it out of the samples
    time.sleep(STEP_S - time.time() % STEP_S)  # start on a step boundary, as Prometheus' steps are

    began = time.time()
    local: dict[str, list[int]] = {hot: [], steady: []}
    for step in range(SAMPLES):
        time.sleep(max(0.0, began + step * STEP_S - time.time()))
        loads = {vm.uuid: vm.cpu_load_millicores for vm in collect(inventory, STEP_S - SLACK_S).cluster.vms}
        for uuid, samples in local.items():
            samples.append(loads[uuid])
    assert time.time() < began + SAMPLES * STEP_S + 0.5, "the local samples ran late: they cover other seconds"
    snapshot = collect(inventory, interval_s=1.0).cluster  # the last instant: "hot" is idle by now
    time.sleep(3)  # Prometheus has ingested the last scrapes
    end = began + SAMPLES * STEP_S

    compared = {}
    for statistic in ("p50", "avg", "p95", "max"):
        remote = _demand(metrics_lab, [hot, steady], statistic, SAMPLES * STEP_S, end, step_s=STEP_S)
        for uuid in (hot, steady):
            compared[(statistic, uuid == hot)] = (remote.cpu_millicores[uuid], statistic_of(local[uuid], statistic))
    print("local samples (mc):", local, "\nPrometheus vs local:", compared)

    # Busy and idle were both sampled (how busy depends on what else this 2-core machine runs).
    assert max(local[hot]) > 300 and min(local[hot]) < 50, local
    for key, (remote_mc, local_mc) in compared.items():
        assert abs(remote_mc - local_mc) <= TOLERANCE_MC, (key, remote_mc, local_mc)

    # Planning from either source's p95 moves the same guests to the same hosts.
    local_p95 = Demand({u: round(statistic_of(s, "p95")) for u, s in local.items()})
    remote_p95 = _demand(metrics_lab, [hot, steady], "p95", SAMPLES * STEP_S, end, step_s=STEP_S)
    plans = [_moves(with_demand(snapshot, d), tmp_path / f"{n}.json") for n, d in (("l", local_p95), ("r", remote_p95))]
    print("moves planned from local / Prometheus p95:", plans)
    assert plans[0] == plans[1]
    assert plans[0], "the guests' demand should have made spreading move one of them"
    metrics_lab.clear()


def test_plan_from_prometheus_makes_the_moves_plan_from_the_local_history_makes(metrics_lab: Lab,
                                                                                tmp_path: Path) -> None:
    """The acceptance's "same placement on the same load", through the CLI: `rebalance collect
    --every 1s` keeps the local history while Prometheus scrapes the same QEMUs, then `rebalance plan
    --inventory` plans once from each, with the same statistic (p95) and window (2m).

    The load, on lab-a: "full" spins a core for 30 s, then "half-1" and "half-2" each spin half a
    core for 30 s (one host core busy at a time), then all idle. With lab-a and lab-b at one core
    each and CPU alone counting (CPU_POLICY), the best spread splits them {full} | {half-1, half-2}
    (any other split leaves a core and a half on one host), and moving "full" migrates half the
    memory that moving both halves would: the best plan is one move, "full" to lab-b. So the moves
    are compared exactly, by name, source and destination: a source that missed "full"'s load
    would move a half, one that missed the halves' would move nothing.
    From the idle instant (no history, a 1 s sample) and from the local history's idle tail (max
    over the last 10 s) nothing moves: the moves come from the demand over the window.
    """
    metrics_lab.clear()
    inventory = _two_hosts(metrics_lab, tmp_path / "hosts.yaml", cpus=1)
    policy = write_yaml(tmp_path / "policy.yaml", CPU_POLICY)
    state = tmp_path / "state"
    collector = start_collecting(inventory, state)
    try:
        loads = {"full": boot_sector(("full", 30)), "half-1": boot_sector(("idle", 30), ("half", 30)),
                 "half-2": boot_sector(("idle", 30), ("half", 30))}
        uuids = [metrics_lab.start_guest("lab-a", name, disk=_disk(metrics_lab, name, sector))
                 for name, sector in loads.items()]
        metrics_lab.wait_for(lambda: all(busy_then_idle_seen(state, u, idle_samples=10) for u in uuids), 150,
                             "each guest busy, then idle for 10 samples, in the history")
    finally:
        stop_collecting(collector)

    tail_out, tail = _plan_cli(inventory, policy, "--state-dir", state, "--cpu-demand", "max", "--demand-window", "10s")
    local_out, local = _plan_cli(inventory, policy, "--state-dir", state, "--cpu-demand", "p95", "--demand-window", "2m")
    remote_out, remote = _plan_cli(inventory, policy, "--state-dir", tmp_path / "unused", "--metrics", "prometheus",
                                   "--prometheus-url", metrics_lab.prometheus_url, "--cpu-demand", "p95",
                                   "--demand-window", "2m")
    instant_out, instant = _plan_cli(inventory, policy, "--state-dir", tmp_path / "no-history", "--interval", "1")
    print("history (mc):", {name: history(state, u).cpu_millicores for name, u in zip(loads, uuids)})
    print("p95 local / Prometheus / idle tail / instant (mc):", *map(_loads, (local, remote, tail, instant)))

    assert _demand_line(local_out).startswith("demand: CPU p95 over the last 2m from local history (")
    assert _demand_line(remote_out).startswith(
        f"demand: CPU p95 over the last 2m from Prometheus at {metrics_lab.prometheus_url} (3 series)")
    basis = [(d["source"], d["statistic"], d["window_s"]) for d in (p["cluster"]["demand"] for p in (local, remote))]
    assert basis == [("local history", "p95", 120), ("prometheus", "p95", 120)]
    assert _moved(local) == _moved(remote) == {("full", "lab-a", "lab-b")}, (local_out, remote_out)
    assert _demand_line(tail_out).startswith("demand: CPU max over the last 10s from local history (")
    assert _moved(tail) == _moved(instant) == set(), (tail_out, instant_out)
    assert "no local history" in _demand_line(instant_out)
    metrics_lab.clear()


def _plan_cli(inventory: Path, policy: Path, *options: object) -> tuple[str, dict]:
    plan_file = inventory.parent / f"plan-{len(list(inventory.parent.glob('plan-*.json')))}.json"
    result = rebalance("plan", "--inventory", inventory, "--policy", policy, *options, *PLAN_TIME_LIMIT,
                       "-o", plan_file)
    assert result.exit_code == 0, result.output
    return result.stdout, json.loads(plan_file.read_text())


def _demand_line(output: str) -> str:
    return next((line for line in output.splitlines() if line.startswith("demand: ")), "")


def _moved(plan: dict) -> set[tuple[str, str, str]]:
    return {(m["vm"], m["source"], m["destination"]) for m in plan["moves"]}


def _loads(plan: dict) -> dict[str, int]:
    return {vm["name"]: vm["cpu_load_millicores"] for vm in plan["cluster"]["vms"]}


def _two_hosts(lab: Lab, path: Path, cpus: int = 2) -> Path:
    """The lab's inventory without lab-c: the plan then has one possible destination."""
    document = yaml.safe_load(lab.inventory(path, cpus=cpus).read_text())
    document["hosts"] = [h for h in document["hosts"] if h["name"] != "lab-c"]
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _moves(cluster: object, snapshot: Path) -> dict[str, str]:
    write_json(snapshot, cluster_record(cluster))
    result = rebalance("plan", "--snapshot", snapshot, "--goal", "spread", "--json", *PLAN_TIME_LIMIT)
    assert result.exit_code == 0, result.output
    return {m["vm"]: m["destination"] for m in json.loads(result.output)["moves"]}

