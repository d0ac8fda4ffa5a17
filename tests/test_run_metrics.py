"""`--metrics-file`: the Prometheus textfile of the last run of each goal.

Read back with prometheus_client's parser: the file must parse, the timestamp must be exact to the
second, and a run of one goal must leave the other goals' series in place.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from operations.history import history_path, read_runs
from operations.metrics_file import RunMetrics, write_metrics
from tests.harness import invoke
from tests.prometheus_text import prometheus_samples

FINISHED = datetime(2026, 11, 26, 4, 59, 59, tzinfo=timezone.utc)  # 1795669199: ten digits, six would be 801 s off


def metrics(goal: str, finished: datetime = FINISHED, moves_done: int = 3) -> RunMetrics:
    return RunMetrics(finished_unix=finished.timestamp(), goal=goal, success=True, moves_done=moves_done,
                      moves_failed=0, moves_not_run=1, moved_bytes=3 * 2**30, hosts_freed=1, peak_cpu_before=0.5,
                      peak_cpu_after=0.25, peak_memory_before=0.875, peak_memory_after=0.75)


def test_the_timestamp_is_exact_to_the_second(tmp_path: Path) -> None:
    path = tmp_path / "rebalance.prom"
    assert write_metrics(path, metrics("consolidate")) == ()
    samples = prometheus_samples(path)
    assert samples["rebalance_last_run_timestamp_seconds", ("consolidate",)] == 1795669199
    assert samples["rebalance_last_run_moved_bytes", ("consolidate",)] == 3 * 2**30


def test_a_run_replaces_only_its_own_goals_series(tmp_path: Path) -> None:
    path = tmp_path / "rebalance.prom"
    write_metrics(path, metrics("consolidate", moves_done=3))
    write_metrics(path, metrics("spread", moves_done=5))
    write_metrics(path, metrics("consolidate", moves_done=7))

    samples = prometheus_samples(path)  # fails on a series written twice
    assert samples["rebalance_last_run_moves", ("consolidate", "done")] == 7
    assert samples["rebalance_last_run_moves", ("spread", "done")] == 5
    assert {labels[0] for _, labels in samples} == {"consolidate", "spread"}
    assert len(samples) == 2 * 11  # every gauge, once per goal


@pytest.mark.parametrize("previous", [b"garbage here\n", b"\xff\xfe\n"], ids=["unparsable", "not-utf8"])
def test_an_unreadable_previous_file_is_replaced_with_a_warning(previous: bytes, tmp_path: Path) -> None:
    path = tmp_path / "rebalance.prom"
    path.write_bytes(previous)
    warnings = write_metrics(path, metrics("spread"))
    assert len(warnings) == 1 and str(path) in warnings[0]
    assert {labels[0] for _, labels in prometheus_samples(path)} == {"spread"}


def test_a_symlink_in_place_of_the_file_is_neither_read_nor_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret.prom"  # another exporter's private series
    secret.write_text('rebalance_last_run_success{goal="drain"} 1\n')
    os.chmod(secret, 0o600)
    path = tmp_path / "rebalance.prom"
    path.symlink_to(secret)

    warnings = write_metrics(path, metrics("spread"))

    assert len(warnings) == 1 and "symbolic link" in warnings[0]
    assert not path.is_symlink() and secret.read_text() == 'rebalance_last_run_success{goal="drain"} 1\n'
    assert {labels[0] for _, labels in prometheus_samples(path)} == {"spread"}  # the link's series not copied


def cluster_file(path: Path) -> Path:
    """Four VMs on each of three hosts: consolidation empties two of them."""
    document = {"hosts": [{"name": h, "cpus": 8, "memory_mib": 16384 + 512} for h in "abc"],
                "vms": [{"name": f"{h}{i}", "host": h, "vcpus": 1, "memory_mib": 1024, "cpu_load_millicores": 100}
                        for h in "abc" for i in range(4)]}
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.mark.solver
def test_the_morning_spread_keeps_the_nights_consolidation_series(tmp_path: Path) -> None:
    snapshot, state, textfile = cluster_file(tmp_path / "cluster.yaml"), tmp_path / "state", tmp_path / "textfile"
    textfile.mkdir()
    path = textfile / "rebalance.prom"
    common = ["run", "--inventory", snapshot, "--state-dir", state, "--time-limit", "2", "--workers", "1",
              "--metrics-file", path]

    night = invoke(*common, "--goal", "consolidate", now="2026-11-26T01:00:00+01:00")
    morning = invoke(*common, "--goal", "spread", now="2026-11-26T07:00:00+01:00")

    assert night.exit_code == 0 and morning.exit_code == 0, night.stderr + morning.stderr
    assert [p.name for p in textfile.iterdir()] == ["rebalance.prom"]  # no temporary file left behind
    samples = prometheus_samples(path)
    runs = read_runs(history_path(state))
    for run in runs:
        assert samples["rebalance_last_run_timestamp_seconds", (run.goal,)] == run.finished.timestamp()
        assert samples["rebalance_last_run_moves", (run.goal, "done")] == run.moves_done
        assert samples["rebalance_last_run_success", (run.goal,)] == 1
    assert [r.goal for r in runs] == ["consolidate", "spread"] and runs[0].moves_done == 8
    assert samples["rebalance_peak_memory_utilisation_ratio", ("consolidate", "after")] == 0.75
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)  # node_exporter reads it as another user
