"""The reading layer under hostile files: every one ends in one short line naming file and field.

Through the real command line (click's CliRunner) wherever the file is one the CLI reads: exit
code 2, nothing but one line on stderr, no traceback. Cases are data, built from one valid
scenario and from plans the planner itself writes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner, Result

from planner.domain import checks
from planner.formats import reading
from planner.domain.checks import quote
from planner.domain.errors import InputError
from operations.history import read_runs
from planner.formats.plan_io import SCHEMA_PATH, load_plan
from planner.formats.reading import MAX_DEPTH, read_document
from rebalance.cli import cli

SCENARIOS = sorted((Path(__file__).parent.parent / "scenarios").glob("*.yaml"))
MESSAGE_LIMIT = 200

# Six VMs on one of three hosts: spreading them always moves some, so the plan has moves to break.
VALID: dict[str, Any] = {
    "cluster": {
        "defaults": {"reserved_memory_mib": 1024},
        "hosts": [{"name": f"h{i}", "cpus": 16, "memory_mib": 65536} for i in (1, 2, 3)],
        "vms": [{"name": f"v{i}", "host": "h1", "vcpus": 2, "memory_mib": 4096, "cpu_load_millicores": 1500}
                for i in range(6)],
    },
    "policy": {"goal": "spread", "solver": {"time_limit_s": 1}},
}


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def assert_one_line_error(result: Result, path: Path, field: str = "") -> str:
    """Exit 2, one line naming the file (and field), at most MESSAGE_LIMIT characters past the path."""
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    located = f"error: {path}: {field}"
    assert lines[0].startswith(located), f"{lines[0]!r} should start with {located!r}"
    assert len(lines[0]) - len(f"error: {path}: ") <= MESSAGE_LIMIT, lines[0]
    return lines[0]


def scenario(*edits: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    document = copy.deepcopy(VALID)
    for edit in edits:
        edit(document)
    return document


def host(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["cluster"]["hosts"][0].update(fields)


def vm(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["cluster"]["vms"][0].update(fields)


def policy(section: str, **fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["policy"].setdefault(section, {}).update(fields)


# --- the file itself ------------------------------------------------------------------------------

def alias_bomb() -> str:
    """Nine levels of nine aliases each: 9^9 leaves for anything that expands it."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    lines.append("cluster:\n  hosts:\n  - {name: h1, cpus: *a9, memory_mib: 1024}")
    return "\n".join(lines) + "\n"


FILE_CASES: list[tuple[str, str, bytes, str]] = [
    ("alias-bomb", "bomb.yaml", alias_bomb().encode(), r"alias"),
    ("deep-yaml-flow", "deep.yaml", b"[" * 200_000 + b"]" * 200_000, r"nested deeper"),
    ("deep-yaml-block", "deep.yaml", "".join(" " * i + "a:\n" for i in range(MAX_DEPTH + 5)).encode() + b" " * 80
     + b"b: 1\n", r"nested deeper"),
    ("deep-json", "deep.json", b"[" * 200_000 + b"]" * 200_000, r"nested deeper"),
    ("deep-json-under-the-recursion-limit", "deep.json", b"[" * 200 + b"]" * 200, r"nested deeper"),
    ("invalid-utf8", "bad.yaml", b"cluster:\n  hosts: \xff\xfe\n", r"UTF-8.*offset 18"),
    ("duplicate-json-key", "dup.json", json.dumps(VALID).replace('"cluster": {', '"cluster": {"vms": [], ', 1).encode(),
     r"duplicate key 'vms'"),
    ("json-nan", "nan.json", json.dumps(scenario(host(cpu_allocation_ratio=1.0))).replace("1.0", "NaN").encode(),
     r"NaN"),
    ("5000-digit-integer", "big.yaml", yaml.safe_dump(VALID).replace("cpus: 16", "cpus: " + "9" * 5000, 1).encode(),
     r"malformed YAML"),
    ("empty", "empty.yaml", b"   \n", r"empty"),
]


@pytest.mark.parametrize("name,data,explains", [pytest.param(n, d, e, id=i) for i, n, d, e in FILE_CASES])
def test_a_hostile_file_is_one_line_and_exit_2(name: str, data: bytes, explains: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    line = assert_one_line_error(run("plan", "--scenario", str(path)), path)
    assert __import__("re").search(explains, line), line


def test_the_alias_bomb_is_refused_at_its_first_alias(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    with pytest.raises(InputError, match=r"line 2: YAML aliases \(\*a0\) are not accepted"):
        read_document(path)


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "pipe.yaml"
    __import__("os").mkfifo(path)
    assert_one_line_error(run("plan", "--scenario", str(path)), path)


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "MAX_DOCUMENT_BYTES", 1000)
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(VALID) + "#" * 1000)
    with pytest.raises(InputError, match=r"bytes, more than the 1,000 allowed"):
        read_document(path)


def test_a_yaml_file_with_too_many_values_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "MAX_YAML_NODES", 100)
    path = tmp_path / "many.yaml"
    path.write_text("- 1\n" * 200)
    with pytest.raises(InputError, match=r"more than 100 YAML values"):
        read_document(path)
    path.write_text("- 1\n" * 50)
    assert read_document(path) == [1] * 50


def test_nesting_at_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "ok.json"
    path.write_text("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert read_document(path) is not None


# --- fields: absurd sizes, non-finite numbers, NUL bytes, huge values ------------------------------

HUGE = "x" * 400_000
NESTED_HUGE: list[Any] = [list(range(1000)) for _ in range(1000)]

FIELD_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("cpus-10^30", scenario(host(cpus=10**30)), "cluster.hosts[0].cpus"),
    ("memory-2^60", scenario(host(memory_mib=2**60)), "cluster.hosts[0].memory_mib"),
    ("ratio-1e308", scenario(host(ram_allocation_ratio=1e308)), "cluster.hosts[0].ram_allocation_ratio"),
    ("ratio-nan", scenario(host(cpu_allocation_ratio=float("nan"))), "cluster.hosts[0].cpu_allocation_ratio"),
    ("ratio-huge-int", scenario(host(cpu_allocation_ratio=2**2000)), "cluster.hosts[0].cpu_allocation_ratio"),
    ("reserved-2^63", scenario(host(reserved_memory_mib=2**63)), "cluster.hosts[0].reserved_memory_mib"),
    ("vcpus-10^6", scenario(vm(vcpus=10**6)), "cluster.vms[0].vcpus"),
    ("load-2^63", scenario(vm(cpu_load_millicores=2**63)), "cluster.vms[0].cpu_load_millicores"),
    ("vm-memory-2^63", scenario(vm(memory_mib=2**63)), "cluster.vms[0].memory_mib"),
    ("cpu-weight-2^63", scenario(policy("spread", cpu_weight=2**63)), "policy.spread.cpu_weight"),
    ("memory-weight-10^7", scenario(policy("spread", memory_weight=10**7)), "policy.spread.memory_weight"),
    ("threshold-nan", scenario(policy("spread", cpu_threshold_percent=float("nan"))),
     "policy.spread.cpu_threshold_percent"),
    ("time-limit-1e308", scenario(policy("solver", time_limit_s=1e308)), "policy.solver.time_limit_s"),
    ("time-limit-inf", scenario(policy("solver", time_limit_s=float("inf"))), "policy.solver.time_limit_s"),
    ("time-limit-tiny", scenario(policy("solver", time_limit_s=0.001)), "policy.solver.time_limit_s"),
    ("seed-2^70", scenario(policy("solver", seed=2**70)), "policy.solver.seed"),
    ("workers-10^6", scenario(policy("solver", workers=10**6)), "policy.solver.workers"),
    ("candidates-2^63", scenario(policy("solver", candidates_per_vm=2**63)), "policy.solver.candidates_per_vm"),
    ("max-moved-gib-1e308", scenario(policy("limits", max_moved_gib=1e308)), "policy.limits.max_moved_gib"),
    ("max-moves-2^63", scenario(policy("limits", max_moves=2**63)), "policy.limits.max_moves"),
    ("cross-factor-2^63", scenario(policy("move_cost", cross_label="rack", cross_factor=2**63)),
     "policy.move_cost.cross_factor"),
    ("nul-in-host-name", scenario(host(name="h1\x00evil")), "cluster.hosts[0].name"),
    ("newline-after-name", scenario(vm(name="v0\n")), "cluster.vms[0].name"),
    ("nul-in-uuid", scenario(vm(uuid="abc\x00")), "cluster.vms[0].uuid"),
    ("nul-in-label", scenario(vm(labels={"rack": "r\x001"})), "cluster.vms[0].labels.rack"),
    ("400-kb-name", scenario(host(name=HUGE)), "cluster.hosts[0].name"),
    ("400-kb-key", scenario(host(**{HUGE: 1})), "cluster.hosts[0]."),
    ("million-item-value", scenario(host(cpus=NESTED_HUGE)), "cluster.hosts[0].cpus"),
]


@pytest.mark.parametrize("document,field", [pytest.param(d, f, id=i) for i, d, f in FIELD_CASES])
def test_a_bad_field_is_one_short_line_naming_it(document: dict[str, Any], field: str, tmp_path: Path) -> None:
    try:  # JSON carries 2**63 and NUL exactly as written here; it has no NaN or infinity
        path, text = tmp_path / "bad.json", json.dumps(document, allow_nan=False)
    except ValueError:
        path, text = tmp_path / "bad.yaml", yaml.safe_dump(document)
    path.write_text(text)
    assert_one_line_error(run("plan", "--scenario", str(path)), path, field)


def test_the_valid_base_plans(tmp_path: Path) -> None:
    """So each case above fails for its one edit."""
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(VALID))
    assert run("plan", "--scenario", str(path)).exit_code == 0


def test_quote_is_short_for_any_value() -> None:
    shared: Any = ["lol"] * 9
    for _ in range(9):
        shared = [shared] * 9  # the alias bomb's shape: 9^10 leaves
    for value in (shared, HUGE, 10**5000, b"\x00" * 10**6, {HUGE: HUGE}, NESTED_HUGE, "a\nb"):
        text = quote(value)
        assert len(text) <= checks.QUOTE_LIMIT and "\n" not in text, text


def test_quote_keeps_small_values_as_written() -> None:
    assert quote("h1") == "'h1'" and quote(True) == "True" and quote(1.5) == "1.5" and quote([1, 2]) == "[1, 2]"


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
    methods = json.loads(SCHEMA_PATH.read_text())["properties"]["solver"]["properties"]["method"]["enum"]
    assert {"cp-sat", "lns", "greedy", "none"} <= set(methods)


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
        "config": ["apply", str(plan), "--backend", "simulated", "--yes", "--config", str(bad)],
        "faults": ["apply", str(plan), "--backend", "simulated", "--yes", "--faults", str(bad)],
    }[role]
    assert_one_line_error(run(*arguments), bad)
