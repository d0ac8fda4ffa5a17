"""`rebalance cordon/uncordon/hosts`, and a cordon honoured by `plan` (every input kind), `run` and
`apply` (tests/harness.py's simulated cluster), plus the property: cordon, then plan --goal spread,
never places a VM on the cordoned host."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from operations.cordon_overlay import overlay_cordons
from operations.cordons import add_cordons, read_cordons
from planner.domain.model import Cluster
from planner.domain.policy import Goal
from planner.formats.inputs import load_planning_input
from planner.formats.plan_io import load_plan
from planner.rules.resolve import resolve_rules
from planner.solver.planning import make_plan
from tests.harness import invoke
from tests.test_planner_properties import clusters
from tests.test_run_command import placement


def hot_a(path: Path, scenario: bool = False) -> Path:
    """a is busy, b and c idle: a spread plan moves VMs off a, onto b or c (a snapshot, or a scenario)."""
    document = {"hosts": [{"name": h, "cpus": 8, "memory_mib": 16384 + 512} for h in "abc"],
                "vms": [{"name": f"v{i}", "host": "a", "vcpus": 1, "memory_mib": 1024, "cpu_load_millicores": 1500}
                        for i in range(4)]}
    path.write_text(yaml.safe_dump({"cluster": document} if scenario else document), encoding="utf-8")
    return path


def cli(*args: object):  # type: ignore[no-untyped-def]
    return invoke(*[str(a) for a in args])


def test_cordon_hosts_and_uncordon_round_trip(tmp_path: Path) -> None:
    scenario, state = hot_a(tmp_path / "c.yaml", scenario=True), tmp_path / "state"
    result = cli("cordon", "b", "--reason", "kernel update", "--state-dir", state)
    assert result.exit_code == 0, result.output
    assert "b: cordoned by " in result.stdout and "(kernel update)" in result.stdout
    listing = cli("hosts", "--scenario", scenario, "--state-dir", state, "--json")
    rows = {r["host"]: r for r in map(json.loads, listing.stdout.splitlines())}
    assert (rows["b"]["declared"], rows["b"]["effective"], rows["b"]["overridden"]) == ("active", "cordoned", True)
    assert rows["b"]["why"] == "kernel update" and rows["a"]["effective"] == "active"
    assert "b*" in cli("hosts", "--scenario", scenario, "--state-dir", state).stdout
    assert cli("uncordon", "b", "--state-dir", state).stdout == "b: uncordoned\n"
    assert read_cordons(state) == {}


def test_cordon_refuses_a_host_the_inventory_does_not_know_and_bad_names(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(yaml.safe_dump({"hosts": [{"name": "a", "uri": "qemu+ssh://a/system"}]}))
    unknown = cli("cordon", "zz", "--inventory", inventory, "--state-dir", tmp_path)
    assert unknown.exit_code == 2 and "zz is not in the inventory" in unknown.stderr
    bad = cli("cordon", "a b", "--state-dir", tmp_path)
    assert bad.exit_code == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert read_cordons(tmp_path) == {}


def test_a_hostile_cordon_file_is_exit_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "cordons.json").write_text('{"version": 1, "hosts": {"b": {"state": "cordoned"}}}')
    (tmp_path / "cordons.json").chmod(0o600)
    result = cli("plan", "--snapshot", hot_a(tmp_path / "c.yaml"), "--state-dir", tmp_path)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'cordons.json'}: hosts.b.who: is required"


@pytest.mark.parametrize("kind", ["--scenario", "--snapshot"])
def test_plan_sends_nothing_to_a_cordoned_host_and_says_so(tmp_path: Path, kind: str) -> None:
    cluster, state = hot_a(tmp_path / "c.yaml", scenario=kind == "--scenario"), tmp_path / "state"
    add_cordons(state, ["b"], "alice", "kernel update")
    result = cli("plan", kind, cluster, "--goal", "spread", "--state-dir", state, "-o", tmp_path / "plan.json")
    assert result.exit_code == 0, result.output
    assert "b: cordoned by alice" in result.stdout and "(kernel update): takes no VMs" in result.stdout
    moves = load_plan(tmp_path / "plan.json").moves
    assert moves and {m.destination for m in moves} == {"c"}


def test_plan_from_an_inventory_honours_the_cordon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The live measurement is replaced by the scenario's cluster: what is under test is the overlay.
    planning = load_planning_input(None, hot_a(tmp_path / "c.yaml"), None)
    monkeypatch.setattr("rebalance.plan_command.planning_from_inventory",
                        lambda *args: (planning, SimpleNamespace(line="measured")))
    add_cordons(tmp_path, ["c"], "alice", "")
    result = cli("plan", "--inventory", tmp_path / "hosts.yaml", "--state-dir", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    assert "c: cordoned by alice" in result.stderr
    assert {m["destination"] for m in json.loads(result.stdout)["moves"]} == {"b"}


def test_run_sends_nothing_to_a_cordoned_host(tmp_path: Path) -> None:
    snapshot, state = hot_a(tmp_path / "c.yaml"), tmp_path / "state"
    add_cordons(state, ["c"], "alice", "bios")
    result = invoke("run", "--inventory", snapshot, "--state-dir", state, "--goal", "spread", "--yes",
                    "--time-limit", "2", "--workers", "1", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "c: cordoned by alice" in result.output
    after = placement(snapshot)
    assert "c" not in after.values() and "b" in after.values()


def test_apply_refuses_a_plan_onto_a_host_cordoned_since(tmp_path: Path) -> None:
    snapshot, state = hot_a(tmp_path / "c.yaml"), tmp_path / "state"
    plan = tmp_path / "plan.json"
    assert cli("plan", "--snapshot", snapshot, "--state-dir", state, "-o", plan).exit_code == 0
    target = load_plan(plan).moves[0].destination
    add_cordons(state, [target], "bob", "firmware")
    result = invoke("apply", plan, "--yes", "--state-dir", state)
    assert result.exit_code == 2
    assert f"{target} is cordoned by bob" in result.stderr and "(firmware)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Summary" not in result.output  # nothing ran


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), st.integers(0, 4))
def test_a_cordoned_host_never_receives_a_vm_under_spread(case: tuple[Cluster, object], which: int) -> None:
    cluster, policy = case
    cordoned = cluster.hosts[which % len(cluster.hosts)].name
    cordon = SimpleNamespace(describe=lambda: "cordoned by test")
    overlaid = overlay_cordons(cluster, {cordoned: cordon}).cluster  # type: ignore[dict-item]
    try:
        plan = make_plan(resolve_rules(overlaid, replace(policy, goal=Goal.SPREAD)))  # type: ignore[arg-type]
    except Exception as error:  # noqa: BLE001 - a rule that needs the host's room may be unmeetable: fine
        assert type(error).__name__ in ("InfeasibleError", "InputError")
        return
    before = {v.name for v in cluster.vms if v.host == cordoned}
    after = {vm for vm, host in plan.target_placement.items() if host == cordoned}
    assert after <= before
    assert all(m.destination != cordoned for m in plan.moves)


@pytest.mark.parametrize("cordoned", [False, True])
def test_apply_never_parks_a_vm_on_a_host_cordoned_since_the_plan(tmp_path: Path, cordoned: bool) -> None:
    """swap-deadlock's swap needs a parking detour through host3, its only host with room: cordoned
    after planning, host3 is no parking spot, so nothing runs rather than a VM landing there."""
    state, plan = tmp_path / "state", tmp_path / "plan.json"
    assert cli("plan", "--scenario", "scenarios/swap-deadlock.yaml", "--state-dir", state, "-o", plan).exit_code == 0
    if cordoned:
        add_cordons(state, ["host3"], "bob", "firmware")
    result = invoke("apply", plan, "--yes", "--state-dir", state)
    if cordoned:
        assert result.exit_code == 1 and "no host could take a parked VM" in result.stderr, result.output
        assert "host3" not in result.output.replace("host3 blocks", "")  # no step touched host3
    else:
        assert result.exit_code == 0 and "db-big host1→host3 [park]" in result.output, result.output
