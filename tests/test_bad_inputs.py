"""Bad inputs through the real command line: exit code 2 and one line that says where the problem is.

Every case writes a broken file, runs `rebalance plan` through click's CliRunner, and demands
exactly the contract of rebalance/cli.py: exit code 2, nothing on stdout, exactly one line on
stderr, no traceback, and that line shaped `error: FILE: FIELD: explanation` so an operator can
go straight to the spot. Cases are data (one row each), built from one small valid scenario.

A row marked `bug=` documents input the code does not yet reject to this standard; the test is
written to the standard anyway and expected to fail (strictly: once fixed, drop the marker).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from rebalance.cli import cli

# Three hosts in two racks, four VMs: small enough to reason about every rule below.
VALID: dict[str, Any] = {
    "description": "a valid base that each case breaks in one place",
    "cluster": {
        "defaults": {"uri": "qemu+tcp://%s/system", "reserved_memory_mib": 1024},
        "hosts": [
            {"name": "h1", "cpus": 16, "memory_mib": 65536, "labels": {"rack": "r1"}},
            {"name": "h2", "cpus": 16, "memory_mib": 65536, "labels": {"rack": "r1"}},
            {"name": "h3", "cpus": 16, "memory_mib": 65536, "labels": {"rack": "r2"}},
        ],
        "vms": [
            {"name": "a", "host": "h1", "vcpus": 2, "memory_mib": 4096, "cpu_load_millicores": 500},
            {"name": "b", "host": "h1", "vcpus": 2, "memory_mib": 4096, "cpu_load_millicores": 500},
            {"name": "c", "host": "h2", "vcpus": 2, "memory_mib": 4096, "cpu_load_millicores": 500},
            {"name": "d", "host": "h3", "vcpus": 2, "memory_mib": 4096, "cpu_load_millicores": 500},
        ],
    },
    "policy": {"goal": "spread"},
}

Edit = Callable[[dict[str, Any]], None]


def changed(*edits: Edit) -> str:
    """The valid scenario with `edits` applied, as YAML."""
    document = copy.deepcopy(VALID)
    for edit in edits:
        edit(document)
    return yaml.safe_dump(document, sort_keys=False)


def host(index: int, **fields: Any) -> Edit:
    return lambda doc: doc["cluster"]["hosts"][index].update(fields)


def vm(index: int, **fields: Any) -> Edit:
    return lambda doc: doc["cluster"]["vms"][index].update(fields)


def policy(**fields: Any) -> Edit:
    return lambda doc: doc["policy"].update(fields)


def rules(**kinds: Any) -> Edit:
    return lambda doc: doc["policy"].setdefault("rules", {}).update(kinds)


def drop(*path: str | int) -> Edit:
    def edit(doc: Any) -> None:
        for key in path[:-1]:
            doc = doc[key]
        del doc[path[-1]]

    return edit


def add_vm(**fields: Any) -> Edit:
    return lambda doc: doc["cluster"]["vms"].append(fields)


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str]  # name → content, written into tmp_path
    located: str  # what the line must start with after "error: ", {name} → that file's path
    explains: str  # regular expression the rest of the line must match (re.search)
    args: tuple[str, ...] = ("--scenario", "bad.yaml")  # file names are replaced by their paths
    bug: str = ""  # non-empty: known not to meet the standard yet (see module docstring)


def scenario_case(id: str, text: str, located: str, explains: str, *extra_args: str, bug: str = "") -> Case:
    """The common shape: one broken scenario file, bad.yaml, given with --scenario."""
    return Case(id, {"bad.yaml": text}, located, explains, ("--scenario", "bad.yaml", *extra_args), bug)


F = "{bad.yaml}: "  # the usual location prefix: the scenario file's path

CASES = [
    # --- the file itself -------------------------------------------------------------------
    scenario_case("malformed-yaml", "cluster:\n  hosts: [\n    {name: h1\n", F, r"malformed YAML at line \d+ column \d+"),
    Case("malformed-json-snapshot", {"snap.json": '{"hosts": [{"name": "h1",}]}'}, "{snap.json}: ",
         r"malformed JSON at line 1 column \d+", ("--snapshot", "snap.json")),
    scenario_case("top-level-not-a-mapping", "- h1\n- h2\n", F, r"must be a mapping"),
    scenario_case("empty-file", "", F, r"the file is empty"),
    Case("missing-file", {}, "{missing.yaml}: ", r"cannot read file: No such file", ("--scenario", "missing.yaml")),
    Case("directory-instead-of-file", {"dir/placeholder": ""}, "{dir}: ", r"(?i)directory", ("--scenario", "dir")),
    scenario_case("duplicate-yaml-key", changed() + "cluster: {hosts: []}\n", F, r"duplicate.*cluster"),
    # --- structure and names ---------------------------------------------------------------
    scenario_case("unknown-top-level-field", changed(lambda d: d.update(clustr=d.pop("cluster"))),
                  F + "clustr: ", r"unknown field \(did you mean 'cluster'\?\)"),
    scenario_case("missing-hosts", changed(drop("cluster", "hosts")), F + "cluster.hosts: ", r"is required"),
    scenario_case("hosts-not-a-list", changed(lambda d: d["cluster"].update(hosts={"h1": 1})),
                  F + "cluster.hosts: ", r"must be a list"),
    scenario_case("unknown-host-field", changed(host(0, memroy_mib=1)),
                  F + "cluster.hosts[0].memroy_mib: ", r"did you mean 'memory_mib'"),
    scenario_case("vm-missing-host", changed(drop("cluster", "vms", 0, "host")),
                  F + "cluster.vms[0].host: ", r"is required"),
    scenario_case("duplicate-host-name", changed(host(1, name="h1")), F + "cluster.hosts[1].name: ", r"duplicate name 'h1'"),
    scenario_case("duplicate-vm-name", changed(vm(1, name="a")), F + "cluster.vms[1].name: ", r"duplicate name 'a'"),
    scenario_case("duplicate-uuid", changed(vm(0, uuid="5e1f"), vm(2, uuid="5e1f")),
                  F + "cluster.vms[2].uuid: ", r"duplicate uuid '5e1f'"),
    scenario_case("unsafe-host-name", changed(host(0, name="h1/../evil")), F + "cluster.hosts[0].name: ",
                  r"must be a name of letters"),
    scenario_case("vm-on-unknown-host", changed(vm(2, host="h9")), F + "cluster.vms[2].host: ", r"unknown host 'h9'"),
    scenario_case("description-not-text", changed(lambda d: d.update(description=["x"])), F + "description: ",
                  r"must be text"),
    # --- values ----------------------------------------------------------------------------
    scenario_case("negative-memory", changed(vm(1, memory_mib=-1)), F + "cluster.vms[1].memory_mib: ",
                  r"must be a positive integer, got -1"),
    scenario_case("zero-vcpus", changed(vm(0, vcpus=0)), F + "cluster.vms[0].vcpus: ", r"must be a positive integer"),
    scenario_case("boolean-as-size", changed(host(0, memory_mib=True)), F + "cluster.hosts[0].memory_mib: ",
                  r"must be an integer"),
    scenario_case("string-as-cpus", changed(host(2, cpus="eight")), F + "cluster.hosts[2].cpus: ",
                  r"must be an integer, got 'eight'"),
    scenario_case("fractional-memory", changed(vm(3, memory_mib=4096.5)), F + "cluster.vms[3].memory_mib: ",
                  r"must be an integer"),
    # YAML 1.1 reads 1e6 (no dot) as a string: the message must show it was not taken as a number.
    scenario_case("exponent-as-string", "cluster:\n  hosts:\n  - {name: h1, cpus: 4, memory_mib: 1e6}\n",
                  F + "cluster.hosts[0].memory_mib: ", r"must be an integer, got '1e6'"),
    scenario_case("bad-host-state", changed(host(0, state="retired")), F + "cluster.hosts[0].state: ",
                  r"must be one of active, maintenance, disabled"),
    scenario_case("bad-label-value", changed(host(0, labels={"rack": ["r1", "r2"]})),
                  F + "cluster.hosts[0].labels.rack: ", r"label values must be strings"),
    scenario_case("boolean-label-value", changed(vm(0, labels={"pinned": True})),
                  F + "cluster.vms[0].labels.pinned: ", r"label values must be strings"),
    scenario_case("reserved-memory-exceeds-memory", changed(host(1, reserved_memory_mib=65536)),
                  F + "cluster.hosts[1].reserved_memory_mib: ", r"nothing left for VMs"),
    scenario_case("non-string-uri", changed(host(0, uri=5)), F + "cluster.hosts[0].uri: ", r"must be a string"),
    scenario_case("infinite-ratio", changed(host(0, ram_allocation_ratio=float("inf"))),
                  F + "cluster.hosts[0].ram_allocation_ratio: ", r"must be a (finite )?number"),
    # --- policy values ---------------------------------------------------------------------
    scenario_case("unknown-goal", changed(policy(goal="balance")), F + "policy.goal: ",
                  r"must be one of spread, consolidate, drain, got 'balance'"),
    scenario_case("percent-out-of-range", changed(policy(spread={"cpu_threshold_percent": 150})),
                  F + "policy.spread.cpu_threshold_percent: ", r"between 0 and 100"),
    scenario_case("unknown-rule-kind", changed(policy(rules={"anti-affinity": []})),
                  F + "policy.rules.anti-affinity: ", r"did you mean 'anti_affinity'"),
    scenario_case("moved-gib-and-mib", changed(policy(limits={"max_moved_gib": 100, "max_moved_mib": 4096})),
                  F + "policy.limits.max_moved_gib: ", r"not both"),
    scenario_case("negative-max-moves", changed(policy(limits={"max_moves": -1})), F + "policy.limits.max_moves: ",
                  r"must be an integer >= 0"),
    scenario_case("zero-workers", changed(policy(solver={"workers": 0})), F + "policy.solver.workers: ",
                  r"must be a positive integer"),
    scenario_case("empty-selector", changed(rules(pin=[{"name": "p", "vms": {}}])), F + "policy.rules.pin[0].vms: ",
                  r"selects nothing"),
    # --- the policy applied to this cluster ------------------------------------------------
    scenario_case("unknown-drain-host", changed(policy(goal="drain", drain_hosts=["h9"])), F + "policy.drain_hosts: ",
                  r"unknown host 'h9'"),
    scenario_case("unknown-excluded-host", changed(policy(excluded_hosts=["h7"])), F + "policy.excluded_hosts: ",
                  r"unknown host 'h7'"),
    Case("unknown-drain-option", {"bad.yaml": changed()}, "--drain: ", r"unknown host 'h9'",
         ("--scenario", "bad.yaml", "--drain", "h9")),
    scenario_case("drain-without-hosts", changed(policy(goal="drain")), F + "policy.drain_hosts: ",
                  r"goal drain needs at least one host"),
    scenario_case("drained-and-excluded", changed(policy(goal="drain", drain_hosts=["h2"], excluded_hosts=["h2"])),
                  F + "policy.drain_hosts: ", r"h2 cannot be both drained and excluded"),
    scenario_case("pinned-vm-on-drained-host",
                  changed(policy(goal="drain", drain_hosts=["h1"]), rules(pin=[{"name": "keep", "vms": ["a"]}])),
                  F + "policy.drain_hosts: ", r"host 'h1' cannot be drained: VM 'a' is pinned by rule 'keep'"),
    scenario_case("impossible-anti-affinity",
                  changed(rules(anti_affinity=[{"name": "trio", "vms": ["a", "c", "d"], "scope": "rack"}])),
                  F + "policy.rules.anti_affinity[0]: ", r"needs 3 distinct racks but only 2 can take VMs"),
    scenario_case("affinity-vs-anti-affinity",
                  changed(rules(anti_affinity=[{"name": "apart", "vms": ["a", "c"]}],
                                affinity=[{"name": "together", "vms": ["a", "c"]}])),
                  F + "policy.rules.anti_affinity[0]: ", r"keeps 'a' and 'c' apart but an affinity rule puts them together"),
    scenario_case("pinned-pair-breaks-anti-affinity",
                  changed(rules(anti_affinity=[{"name": "apart", "vms": ["a", "b"]}], pin=[{"name": "p", "vms": ["a", "b"]}])),
                  F + "policy.rules.anti_affinity[0]: ", r"pinned VMs 'a' and 'b' share host 'h1'"),
    scenario_case("host-group-selects-no-host",
                  changed(rules(host_groups=[{"name": "oracle", "vms": ["a"], "hosts": {"labels": {"oracle": "yes"}}}])),
                  F + "policy.rules.host_groups[0].hosts: ", r"selects no host \(oracle=yes\)"),
    scenario_case("selector-names-unknown-vm", changed(rules(pin=[{"name": "keep", "vms": ["ghost"]}])),
                  F + "policy.rules.pin[0].vms: ", r"unknown VM 'ghost'"),
    # A scope no host has as a label silently behaves like scope host: a typo must not do that.
    scenario_case("anti-affinity-scope-typo",
                  changed(rules(anti_affinity=[{"name": "apart", "vms": ["a", "c"], "scope": "rak"}])),
                  F + "policy.rules.anti_affinity[0].scope: ", r"rak"),
    # --- min_spread and move_cost -------------------------------------------------------------
    scenario_case("min-spread-zero",
                  changed(rules(min_spread=[{"name": "web", "vms": ["a", "d"], "label": "rack", "at_least": 0}])),
                  F + "policy.rules.min_spread[0].at_least: ", r"must be a positive integer, got 0"),
    scenario_case("min-spread-without-label",
                  changed(rules(min_spread=[{"name": "web", "vms": ["a", "d"], "at_least": 2}])),
                  F + "policy.rules.min_spread[0].label: ", r"is required"),
    scenario_case("min-spread-label-typo",
                  changed(rules(min_spread=[{"name": "web", "vms": ["a", "d"], "label": "rak", "at_least": 2}])),
                  F + "policy.rules.min_spread[0].label: ", r"no host has a label 'rak'"),
    scenario_case("min-spread-more-racks-than-the-cluster-has",
                  changed(rules(min_spread=[{"name": "web", "vms": ["a", "b", "c"], "label": "rack", "at_least": 3}])),
                  F + "policy.rules.min_spread[0]: ",
                  r"rule 'web' needs 3 distinct racks but the hosts its VMs may use are in only 2"),
    scenario_case("min-spread-more-hosts-than-vms",
                  changed(rules(min_spread=[{"name": "web", "vms": ["a", "b"], "label": "host", "at_least": 3}])),
                  F + "policy.rules.min_spread[0]: ", r"needs 3 distinct hosts but selects only 2 VMs"),
    scenario_case("move-cost-zero-factor", changed(policy(move_cost={"cross_label": "rack", "cross_factor": 0})),
                  F + "policy.move_cost.cross_factor: ", r"must be a positive integer, got 0"),
    scenario_case("move-cost-factor-without-label", changed(policy(move_cost={"cross_factor": 3})),
                  F + "policy.move_cost.cross_factor: ", r"needs cross_label"),
    scenario_case("move-cost-label-typo", changed(policy(move_cost={"cross_label": "rak", "cross_factor": 3})),
                  F + "policy.move_cost.cross_label: ", r"no host has a label 'rak'"),
    scenario_case("move-cost-vm-factor-not-integer",
                  changed(policy(move_cost={"vms": [{"vms": ["a"], "factor": "high"}]})),
                  F + "policy.move_cost.vms[0].factor: ", r"must be an integer, got 'high'"),
    scenario_case("move-cost-unknown-vm", changed(policy(move_cost={"vms": [{"vms": ["ghost"], "factor": 2}]})),
                  F + "policy.move_cost.vms[0].vms: ", r"unknown VM 'ghost'"),
    scenario_case("move-cost-unknown-field", changed(policy(move_cost={"cross_lable": "rack"})),
                  F + "policy.move_cost.cross_lable: ", r"did you mean 'cross_label'"),
    # --- a separate policy file: errors name that file --------------------------------------
    Case("policy-file-bad-field", {"bad.yaml": changed(), "policy.yaml": "gaol: spread\n"}, "{policy.yaml}: gaol: ",
         r"did you mean 'goal'", ("--scenario", "bad.yaml", "--policy", "policy.yaml")),
    Case("policy-file-unknown-drain-host", {"bad.yaml": changed(), "policy.yaml": "goal: drain\ndrain_hosts: [h9]\n"},
         "{policy.yaml}: drain_hosts: ", r"unknown host 'h9'", ("--scenario", "bad.yaml", "--policy", "policy.yaml")),
    Case("scenario-and-snapshot", {"bad.yaml": changed()}, "--snapshot: ", r"not both",
         ("--scenario", "bad.yaml", "--snapshot", "bad.yaml")),
]


def _param(case: Case) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=f"bug: {case.bug}")] if case.bug else []
    return pytest.param(case, id=case.id, marks=marks)


def test_the_cases_are_distinct() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 25


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input_is_one_line_naming_file_and_field(case: Case, tmp_path: Path) -> None:
    for name, text in case.files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    # Every argument that is not an option or a host name is a file in tmp_path (existing or not).
    files = {a for a in case.args if "." in a or a == "dir"}
    args = ["plan", *(str(tmp_path / a) if a in files else a for a in case.args)]

    result = CliRunner().invoke(cli, args)

    assert isinstance(result.exception, SystemExit), result.exception  # no crash escaped the CLI
    assert "Traceback" not in result.output
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    located = "error: " + re.sub(r"\{([^}]+)\}", lambda m: str(tmp_path / m[1]), case.located)
    assert lines[0].startswith(located), f"{lines[0]!r} should start with {located!r}"
    assert re.search(case.explains, lines[0][len(located):]), lines[0]
