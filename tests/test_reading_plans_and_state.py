"""The reading layer under hostile files the tool wrote itself or the operator keeps beside the
scenario: plan.json (every field typed, one schema for the reader and the published file),
history.jsonl, and the inventory, executor settings and faults files. Each ends in one short line
naming file and field, exit 2 (tests/hostile_files.py).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from operations.history import read_runs
from planner.domain import checks
from planner.domain.errors import InputError
from planner.formats.plan_io import SCHEMA_PATH, load_plan
from tests.harness import invoke
from tests.hostile_files import VALID, alias_bomb, assert_one_line_error, run

SCENARIOS = sorted((Path(__file__).parent.parent / "scenarios").glob("*.yaml"))


# --- plan.json: every field typed, one schema for the reader and the published file ---------------

@pytest.fixture(scope="module")
def plan_document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("plan")
    (folder / "scenario.json").write_text(json.dumps(VALID))
    result = run("plan", "--scenario", str(folder / "scenario.json"), "-o", str(folder / "plan.json"))
    assert result.exit_code == 0, result.output
    document = json.loads((folder / "plan.json").read_text())
    assert document["moves"], "the base plan must move VMs for the move cases to mean anything"
    return document


def setting(*path: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        target = document
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return edit


def deleting(*path: Any) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        target = document
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]
    return edit


PLAN_CASES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("before-host-template", setting("before", 0, "host", value="%s"), "before[0].host"),
    ("before-host-unknown", setting("before", 0, "host", value="nowhere"), "before: has no row for host"),
    ("before-host-twice", lambda d: d["before"].append(d["before"][0]), "before[3].host"),
    ("before-permille-string", setting("before", 0, "cpu_permille", value="12"), "before[0].cpu_permille"),
    ("before-permille-float", setting("before", 0, "cpu_permille", value=1.5), "before[0].cpu_permille"),
    ("before-permille-float-integral", setting("before", 0, "memory_permille", value=12.0),
     "before[0].memory_permille"),
    ("after-negative-vms", setting("after", 1, "vms", value=-1), "after[1].vms"),
    ("after-not-a-list", setting("after", value={"h1": 1}), "after"),
    ("after-missing-field", deleting("after", 0, "vcpu_permille"), "after[0].vcpu_permille"),
    ("metric-string", setting("metric", "before", value="x"), "metric.before"),
    ("metric-2^70", setting("metric", "after", value=2**70), "metric.after"),
    ("metric-list", setting("metric", value=[]), "metric"),
    ("move-vm-list", setting("moves", 0, "vm", value=["v0"]), "moves[0].vm"),
    ("move-vm-unknown", setting("moves", 0, "vm", value="ghost"), "moves[0].vm"),
    ("move-memory-string", setting("moves", 0, "memory_mib", value="4096"), "moves[0].memory_mib"),
    ("move-destination-unknown", setting("moves", 0, "destination", value="nowhere"), "moves[0].destination"),
    ("move-source-missing", deleting("moves", 0, "source"), "moves[0].source"),
    ("move-extra-field", setting("moves", 0, "extra", value=1), "moves[0].extra"),
    ("move-reason-number", setting("moves", 0, "reason", value=7), "moves[0].reason"),
    ("moves-not-a-list", setting("moves", value="v0"), "moves"),
    ("notes-number", setting("notes", value=[1]), "notes[0]"),
    ("notes-text", setting("notes", value="a note"), "notes"),
    ("solver-method", setting("solver", "method", value="magic"), "solver.method"),
    ("solver-wall-time", setting("solver", "wall_time_s", value="fast"), "solver.wall_time_s"),
    ("solver-wall-time-huge", setting("solver", "wall_time_s", value=1e308), "solver.wall_time_s"),
    ("solver-best-bound", setting("solver", "best_bound", value="x"), "solver.best_bound"),
    ("solver-lns-rounds", setting("solver", "lns_rounds", value=-1), "solver.lns_rounds"),
    ("bounds-bool", setting("bounds", "goal", value=True), "bounds.goal"),
    ("bounds-notes-null", setting("bounds", "notes", value=[None]), "bounds.notes[0]"),
    ("fingerprint-nul", setting("fingerprint", value="sha256:" + "0" * 63 + "\x00"), "fingerprint"),
    ("fingerprint-newline", setting("fingerprint", value="sha256:" + "0" * 64 + "\n"), "fingerprint"),
    ("fingerprint-number", setting("fingerprint", value=5), "fingerprint"),
    ("created-words", setting("created", value="yesterday"), "created"),
    ("created-number", setting("created", value=5), "created"),
    ("expires-without-zone", setting("expires", value="2026-01-01T00:00:00"), "expires"),
    ("summary-freed-unknown", setting("summary", "freed_hosts", value=["nowhere"]), "summary.freed_hosts[0]"),
    ("summary-moves-string", setting("summary", "moves", value="3"), "summary.moves"),
    ("version-2", setting("version", value=2), "version"),
    ("goal-unknown", setting("goal", value="spin"), "goal"),
    ("cluster-cpus-10^30", setting("cluster", "hosts", 0, "cpus", value=10**30), "cluster.hosts[0].cpus"),
    ("unknown-top-level-field", setting("extra", value=1), "extra"),
    ("plan-is-empty", lambda d: d.clear(), "version: is required"),
]


@pytest.mark.parametrize("edit,field", [pytest.param(e, f, id=i) for i, e, f in PLAN_CASES])
def test_every_plan_field_is_typed(plan_document: dict[str, Any], edit: Callable[[dict[str, Any]], None],
                                   field: str, tmp_path: Path) -> None:
    document = copy.deepcopy(plan_document)
    edit(document)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(document))
    assert_one_line_error(run("show", str(path)), path, field)


def test_the_unedited_plan_reads(plan_document: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan_document))
    assert load_plan(path).moves


@pytest.mark.parametrize("scenario_file", SCENARIOS, ids=[s.stem for s in SCENARIOS])
def test_every_shipped_scenario_plans_to_a_file_the_schema_and_the_reader_accept(scenario_file: Path,
                                                                                 tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = run("plan", "--scenario", str(scenario_file), "--time-limit", "1", "-o", str(out))
    assert result.exit_code in (0, 1), result.output
    if result.exit_code == 1:  # infeasible on purpose (a scenario that shows the error): no file
        return
    jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text())).validate(json.loads(out.read_text()))
    assert load_plan(out).fingerprint == json.loads(out.read_text())["fingerprint"]


def test_the_schema_accepts_every_solver_method_the_planner_reports() -> None:
    method = json.loads(SCHEMA_PATH.read_text())["properties"]["solver"]["properties"]["method"]
    for name in ("cp-sat", "lns", "greedy", "none"):
        jsonschema.validate(name, method)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate("magic", method)


def test_the_schema_ranges_are_those_of_the_checks() -> None:
    defs = json.loads(SCHEMA_PATH.read_text())["$defs"]
    host, vm = defs["host"]["properties"], defs["vm"]["properties"]
    assert host["cpus"]["maximum"] == checks.MAX_HOST_CPUS
    assert host["memory_mib"]["maximum"] == vm["memory_mib"]["maximum"] == checks.MAX_MEMORY_MIB
    assert host["cpu_allocation_ratio"]["maximum"] == host["ram_allocation_ratio"]["maximum"] == checks.MAX_RATIO
    assert vm["vcpus"]["maximum"] == defs["move"]["properties"]["vcpus"]["maximum"] == checks.MAX_VM_VCPUS
    assert vm["cpu_load_millicores"]["maximum"] == checks.MAX_LOAD_MILLICORES
    assert defs["name"]["pattern"] == f"^{checks.NAME_PATTERN.pattern}$"


# --- history.jsonl -----------------------------------------------------------------------------------

RUN = {"started": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:10:00+00:00", "goal": "spread",
       "outcome": "done", "moves": [{"vm": "v0", "source": "h1", "destination": "h2",
                                     "finished": "2026-01-01T00:05:00+00:00"}]}

HISTORY_CASES: list[tuple[str, str, str]] = [
    ("a-list", "[]", "line 1: must be a mapping"),
    ("a-number", "5", "line 1: must be a mapping"),
    ("run-count-string", json.dumps({**RUN, "moves_done": "one"}), "line 1: moves_done"),
    ("move-vm-list", json.dumps({**RUN, "moves": [{**RUN["moves"][0], "vm": ["v0"]}]}), "line 1: moves[0].vm"),
    ("move-vm-nul", json.dumps({**RUN, "moves": [{**RUN["moves"][0], "vm": "v\x00"}]}), "line 1: moves[0].vm"),
    ("moves-not-a-list", json.dumps({**RUN, "moves": 3}), "line 1: moves"),
    ("started-number", json.dumps({**RUN, "started": 3}), "line 1: started"),
    ("goal-missing", json.dumps({k: v for k, v in RUN.items() if k != "goal"}), "line 1: goal"),
    ("duplicate-key", json.dumps(RUN)[:-1] + ', "goal": "drain"}', "line 1: unreadable"),
    ("deep", "[" * 100_000 + "]" * 100_000, "line 1: "),
]


@pytest.mark.parametrize("line,field", [pytest.param(t, f, id=i) for i, t, f in HISTORY_CASES])
def test_a_bad_history_line_is_one_line_naming_it(line: str, field: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "history.jsonl").write_text(line + "\n" + json.dumps(RUN) + "\n")
    assert_one_line_error(run("history", "--state-dir", str(state)), state / "history.jsonl", field)


def test_a_torn_last_history_line_is_skipped_but_a_wrong_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(json.dumps(RUN) + "\n" + json.dumps(RUN)[:30])
    assert len(read_runs(path)) == 1
    path.write_text(json.dumps(RUN) + "\n[]\n")
    with pytest.raises(InputError, match="line 2"):
        read_runs(path)


def test_invalid_utf8_in_history_names_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_bytes(json.dumps(RUN).encode() + b"\n\xff\n")
    with pytest.raises(InputError, match=r"offset \d+"):
        read_runs(path)


# --- the other files the CLI reads: inventory, executor config, faults -------------------------------

HOSTILE = {"alias-bomb": alias_bomb().encode(), "deep": b"[" * 100_000 + b"]" * 100_000,
           "invalid-utf8": b"hosts: \xff\n", "huge-value": b"hosts: " + b"x" * 400_000 + b"\n",
           "absurd-cpus": b"hosts: [{name: h1, cpus: 100000000000000000000000}]\n"}


@pytest.mark.parametrize("content", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("role", ["inventory", "config", "faults"])
def test_every_file_the_cli_reads_goes_through_the_reading_layer(role: str, content: bytes,
                                                                plan_document: dict[str, Any],
                                                                tmp_path: Path) -> None:
    plan, bad = tmp_path / "plan.json", tmp_path / f"{role}.yaml"
    plan.write_text(json.dumps(plan_document))
    bad.write_bytes(content)
    arguments = {
        "inventory": ["plan", "--inventory", str(bad)],
        "config": ["apply", str(plan), "--yes", "--config", str(bad)],
        "faults": ["apply", str(plan), "--yes"],  # the simulated backend's faults file
    }[role]
    assert_one_line_error(invoke(*arguments, faults=bad if role == "faults" else None), bad)
