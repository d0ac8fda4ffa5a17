"""The reading layer under hostile scenario files: every one ends in one short line naming file and field.

Through the real command line (click's CliRunner), `rebalance plan --scenario FILE`: exit code 2,
nothing but one line on stderr, no traceback. Cases are data, built from one valid scenario.
The plan, history, inventory, executor-settings and faults files: tests/test_reading_plans_and_state.py.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.domain import checks
from planner.domain.checks import quote
from planner.domain.errors import InputError
from planner.formats import reading
from planner.formats.reading import MAX_DEPTH, read_document
from tests.hostile_files import VALID, alias_bomb, assert_one_line_error, run


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
    assert re.search(explains, line), line


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
    ("gain-per-gib-nan", scenario(policy("limits", min_gain_per_moved_gib=float("nan"))),
     "policy.limits.min_gain_per_moved_gib"),
    ("gain-per-gib-negative", scenario(policy("limits", min_gain_per_moved_gib=-0.1)),
     "policy.limits.min_gain_per_moved_gib"),
    ("gain-per-gib-1e308", scenario(policy("limits", min_gain_per_moved_gib=1e308)),
     "policy.limits.min_gain_per_moved_gib"),
    ("gain-per-gib-text", scenario(policy("limits", min_gain_per_moved_gib="cheap")),
     "policy.limits.min_gain_per_moved_gib"),
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
