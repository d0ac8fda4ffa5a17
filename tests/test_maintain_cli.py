"""`rebalance maintain` up to the point where it would act, on the simulated cluster
(tests/harness.py): the sequence check and its refusals, the dry run, bad input, and an
unfinished run of another request. The run itself is tests/test_maintenance_loop.py (the loop)
and tests/lab/test_lab_maintain.py (real libvirt)."""

from __future__ import annotations

import json
from pathlib import Path

from operations.cordons import read_cordons
from operations.maintenance_journal import RunDefinition, new_run_dir, runs_dir, write_definition
from tests.harness import invoke


def cluster(path: Path, memory_mib: int = 1024) -> Path:
    """Hosts a, b, c of 4 GiB; two VMs of `memory_mib` on each, a's VMs largest."""
    vms = [{"name": f"{h}{i}", "host": h, "vcpus": 1, "memory_mib": memory_mib + (256 if h == "a" else 0),
            "cpu_load_millicores": 100} for h in "abc" for i in range(2)]
    document = {"hosts": [{"name": h, "cpus": 8, "memory_mib": 4096, "reserved_memory_mib": 0} for h in "abc"],
                "vms": vms}
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def maintain(snapshot: Path, state: Path, *extra: str) -> list[str | Path]:
    return ["maintain", "a", "b", "c", "--hook", "patch {host}", "--inventory", snapshot, "--state-dir", state,
            *extra]


def test_dry_run_prints_the_order_the_steps_and_the_estimate_and_records_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = invoke(*maintain(cluster(tmp_path / "snap.json"), state, "--dry-run"))

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    order = next(line for line in lines if line.startswith("order:"))
    assert order.index(" b (") < order.index(" a (") and order.index(" c (") < order.index(" a (")  # least first
    assert [line.split(":")[0].strip() for line in lines if line.strip()[:2] in ("1.", "2.", "3.")] == \
        ["1. b", "2. c", "3. a"]
    assert any(line.startswith("Expected: about") for line in lines)
    assert lines[-1] == "Dry run: nothing cordoned, recorded or moved."
    assert read_cordons(state) == {} and not runs_dir(state).exists()


def test_keep_order_keeps_the_operators_order(tmp_path: Path) -> None:
    result = invoke(*maintain(cluster(tmp_path / "snap.json"), tmp_path / "state", "--dry-run", "--keep-order"))
    assert result.exit_code == 0, result.output
    steps = [line.split(":")[0].strip() for line in result.stdout.splitlines() if line.strip()[:2] in ("1.", "2.")]
    assert steps == ["1. a", "2. b"]


def test_two_hosts_out_at_once_that_cannot_fit_are_refused_naming_them_and_the_shortfall(tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = invoke(*maintain(cluster(tmp_path / "snap.json", memory_mib=1536), state, "--parallel", "2", "--yes"))

    assert result.exit_code == 1, result.output
    (line,) = [line for line in result.stderr.splitlines() if "cannot fit" in line]
    assert "MiB of memory short" in line and "out together" in line
    assert read_cordons(state) == {} and not runs_dir(state).exists()


def test_parallel_as_large_as_the_cluster_is_bad_input(tmp_path: Path) -> None:
    result = invoke(*maintain(cluster(tmp_path / "snap.json"), tmp_path / "state", "--parallel", "3", "--dry-run"))
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --parallel: 3 hosts out at once leaves nowhere for the VMs to go"


def test_a_hook_that_does_not_parse_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = invoke("maintain", "a", "--hook", "patch 'unbalanced {host}", "--inventory",
                    cluster(tmp_path / "snap.json"), "--state-dir", tmp_path / "state", "--dry-run")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "--hook" in result.stderr


def test_an_unfinished_run_of_other_hosts_is_refused_until_restart(tmp_path: Path) -> None:
    snapshot, state = cluster(tmp_path / "snap.json"), tmp_path / "state"
    earlier = new_run_dir(state)
    write_definition(earlier, RunDefinition(("a", "b"), (("a",), ("b",)), "patch {host}", False, False, 60.0,
                                            60.0, {}))

    refused = invoke(*maintain(snapshot, state, "--yes"))
    assert refused.exit_code == 2
    assert str(earlier) in refused.stderr and "--restart" in refused.stderr

    dry = invoke("maintain", "a", "b", "--hook", "patch {host}", "--inventory", snapshot, "--state-dir", state,
                 "--dry-run")
    assert dry.exit_code == 0 and "running the command without --dry-run resumes it (a b left)" in dry.stdout
