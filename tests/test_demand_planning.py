"""Planning from history: each VM's statistic over the window, the longer sample (and the line
saying so) when there is none, the `demand:` line and field of plan and run, and the options of
plan, run and `collect --every`. The collector runs for real with its sampler faked
(tests/demand_fakes.py); the lab tests do the same on real guests (tests/lab/test_lab_demand.py)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cluster.demand import DemandOptions, DemandSpec
from cluster.demand_history import History, VMHistory, open_store, store_path
from cluster.demand_measure import FALLBACK_INTERVAL_S, Measuring, measure_for_planning
from cluster.local_demand import local_demand
from rebalance.cli import cli
from tests.demand_fakes import FakeCluster, faked, inventory, uuid_of, write_inventory

BUSY_THEN_IDLE = (900,) * 10 + (10,) * 30  # busy for a quarter of the window, idle now
ONE_SPIKE = (10,) * 39 + (950,)  # one sample of a spike among 40


def planned(tmp_path: Path, past: tuple[int, ...], statistic: str, now: int = 10) -> int:
    """The CPU demand of a VM with samples `past` whose load right now is `now`."""
    cluster = FakeCluster({"vm": ("a", now)}).collect(inventory(tmp_path)).cluster
    demand, _ = local_demand(cluster, History({uuid_of("vm"): VMHistory(past)}), DemandSpec(statistic, 3600),
                             "allocated", 1.0, {})
    return demand.cpu_millicores[uuid_of("vm")]


def test_a_vm_busy_for_a_while_then_idle_is_planned_from_its_busy_p95(tmp_path: Path) -> None:
    assert planned(tmp_path, BUSY_THEN_IDLE, "p95") == 900
    assert planned(tmp_path, BUSY_THEN_IDLE, "p50") == 10
    assert planned(tmp_path, BUSY_THEN_IDLE, "avg") == 228  # (10 × 900 + 31 × 10) / 41, rounded up


def test_a_single_spike_sets_the_max_but_not_the_p95(tmp_path: Path) -> None:
    assert planned(tmp_path, ONE_SPIKE, "max") == 950
    assert planned(tmp_path, ONE_SPIKE, "p95") < 100


def test_the_sample_just_taken_counts_as_the_newest_sample(tmp_path: Path) -> None:
    assert planned(tmp_path, (10,) * 9, "max", now=800) == 800


def test_without_any_history_the_collection_samples_longer_and_says_so(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with faked(monkeypatch, FakeCluster({"web": ("a", 300)})) as fake:
        measured = measure_for_planning(inventory(tmp_path), Measuring(tmp_path / "state"))
    assert fake.intervals == [FALLBACK_INTERVAL_S] * 2  # both hosts
    assert measured.line == ("demand: CPU sampled over 10 s: no local history in the last 24h (keep one with "
                             "`rebalance collect --every 60s`); memory as allocated")
    basis = measured.cluster.measured.demand if measured.cluster.measured else None
    assert basis is not None and (basis.source, basis.samples) == ("sample", 0)
    assert not store_path(tmp_path / "state").exists()  # plan reads history, never writes any


def test_with_history_the_statistic_is_used_and_vms_without_history_are_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    fake = FakeCluster({"web": ("a", 900)})
    hosts = inventory(tmp_path)
    with faked(monkeypatch, fake):
        for _ in range(4):
            measure_for_planning(hosts, Measuring(state, interval_s=0.1, record=True))
        fake.loads = {"web": ("a", 20), "new": ("b", 40)}
        fake.intervals.clear()
        measured = measure_for_planning(hosts, Measuring(state, DemandOptions(DemandSpec("p95", 600))))

    assert fake.intervals == [1.0, 1.0]
    assert measured.line == ("demand: CPU p95 over the last 10m from local history (5 samples/VM, 1 VM without "
                             "history: sampled over 1 s); memory as allocated")
    loads = {vm.name: vm.cpu_load_millicores for vm in measured.cluster.vms}
    assert loads == {"web": 900, "new": 40}
    assert {vm.name: vm.cpu_load_millicores for vm in measured.collection.cluster.vms} == {"web": 20, "new": 40}


def test_memory_as_used_takes_the_balloon_figure_where_reported(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCluster({"web": ("a", 100), "db": ("b", 100)}, used={"db": 96})
    with faked(monkeypatch, fake):
        used = measure_for_planning(inventory(tmp_path), Measuring(tmp_path / "s", DemandOptions(memory="used")))
        allocated = measure_for_planning(inventory(tmp_path), Measuring(tmp_path / "s"))
    assert {vm.name: vm.memory_mib for vm in used.cluster.vms} == {"db": 96, "web": 256}
    assert {vm.name: vm.memory_mib for vm in allocated.cluster.vms} == {"db": 256, "web": 256}
    assert "memory as used where the balloon reports it (1 VM), else allocated" in used.line


# --- the commands ------------------------------------------------------------------------------------

def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_collect_every_samples_each_round_into_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hosts, state = write_inventory(tmp_path / "hosts.yaml"), tmp_path / "state"
    snapshot = tmp_path / "snapshot.json"
    with faked(monkeypatch, FakeCluster({"web": ("a", 300), "db": ("b", 5)})):
        result = invoke("collect", "--inventory", hosts, "--state-dir", state, "--every", "1s", "--count", "3",
                        "--interval", "0.1", "-o", snapshot)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 4 and lines[-1] == "done after 3 rounds (0 failed)"
    assert all("2 hosts, 2 VMs, VM load 305 mc over 0.1 s; 2 samples stored in" in line for line in lines[:3])
    store = open_store(store_path(state))
    assert store is not None
    with store:
        assert store.counts() == (6, 6)
    document = json.loads(snapshot.read_text())
    assert document["interval_s"] == 0.1 and document["collected_at"].endswith("+00:00")


def test_collect_every_ends_cleanly_on_sigterm_after_the_round_in_progress(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hosts, state = write_inventory(tmp_path / "hosts.yaml"), tmp_path / "state"
    fake = FakeCluster({"web": ("a", 300)})
    fake.on_sample = lambda: os.kill(os.getpid(), signal.SIGTERM) if len(fake.intervals) == 3 else None
    with faked(monkeypatch, fake):
        result = invoke("collect", "--inventory", hosts, "--state-dir", state, "--every", "1s", "--interval", "0.1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "stopped by a signal after 2 rounds (0 failed)"
    store = open_store(store_path(state))
    assert store is not None
    with store:
        assert store.counts() == (2, 4)  # the interrupted round finished and was stored


def test_plan_from_an_inventory_prints_and_records_where_demand_came_from(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hosts, state, plan = write_inventory(tmp_path / "hosts.yaml"), tmp_path / "state", tmp_path / "plan.json"
    fake = FakeCluster({"one": ("a", 800), "two": ("a", 800), "idle": ("b", 10)})
    with faked(monkeypatch, fake):
        for _ in range(3):
            assert invoke("collect", "--inventory", hosts, "--state-dir", state).exit_code == 0
        fake.loads.update({"one": ("a", 10), "two": ("a", 10)})  # both idle now
        result = invoke("plan", "--inventory", hosts, "--state-dir", state, "--goal", "spread", "--cpu-demand", "max",
                        "--demand-window", "1h", "--time-limit", "2", "--workers", "1", "-o", plan)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == ("demand: CPU max over the last 1h from local history (4 samples/VM); "
                                             "memory as allocated")
    document = json.loads(plan.read_text())
    assert document["cluster"]["demand"]["statistic"] == "max"
    assert document["cluster"]["demand"]["samples"] == 4
    assert [m["vm"] for m in document["moves"]] in (["one"], ["two"])  # planned from history, not from now
    assert invoke("show", plan).exit_code == 0  # the plan with its measurement reads back


@pytest.mark.parametrize("option", [("--cpu-demand", "p95"), ("--demand-window", "1h"), ("--metrics", "local"),
                                    ("--memory-demand", "used"), ("--interval", "5")])
def test_demand_options_go_with_an_inventory_only(option: tuple[str, str], tmp_path: Path) -> None:
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(json.dumps({"hosts": [{"name": "a", "cpus": 2, "memory_mib": 4096}]}))
    result = invoke("plan", "--snapshot", snapshot, *option)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {option[0]}: measures a live cluster: only with --inventory"


@pytest.mark.parametrize("args,field", [(["--metrics", "prometheus"], "--prometheus-url"),
                                        (["--prometheus-url", "http://127.0.0.1:9090"], "--prometheus-url"),
                                        (["--cpu-demand", "p42"], "--cpu-demand")])
def test_bad_demand_options_are_one_line_exit_2(args: list[str], field: str, tmp_path: Path) -> None:
    hosts = write_inventory(tmp_path / "hosts.yaml")
    for command in (["plan", "--inventory", hosts], ["run", "--inventory", hosts, "--state-dir", tmp_path / "s"]):
        result = invoke(*command, *args)
        assert result.exit_code == 2, result.output
        assert len(result.stderr.strip().splitlines()) == 1 and field in result.stderr


@pytest.mark.solver
def test_run_records_its_collection_and_logs_the_demand_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hosts, state = write_inventory(tmp_path / "hosts.yaml"), tmp_path / "state"
    with faked(monkeypatch, FakeCluster({"web": ("a", 100), "db": ("b", 100)})):
        first = invoke("run", "--inventory", hosts, "--state-dir", state, "--allow-insecure", "--goal", "spread",
                       "--time-limit", "1", "--workers", "1", "--demand-window", "5m")
        second = invoke("run", "--inventory", hosts, "--state-dir", state, "--allow-insecure", "--goal", "spread",
                        "--time-limit", "1", "--workers", "1", "--demand-window", "5m")
    assert first.exit_code == 0 and second.exit_code == 0, (first.output, second.output)
    assert "demand: CPU sampled over 10 s: no local history in the last 5m" in first.output
    assert "demand: CPU p95 over the last 5m from local history (2 samples/VM); memory as allocated" in second.output
    store = open_store(store_path(state))
    assert store is not None
    with store:
        assert store.counts() == (4, 4)
