"""SIGTERM (systemd stopping the unit) during a run's migrations: no new migration starts, the
running one finishes, and the run is recorded as interrupted with exit 1.

A process of its own (`python -m tests.harness`, the CLI on a simulated cluster whose migrations
take real time), since only a process's main thread takes signals.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from operations.history import history_path, read_runs
from operations.run_outcome import RunOutcome
from planner.formats.scenario import load_cluster

pytestmark = pytest.mark.solver

REPO = Path(__file__).resolve().parent.parent


def test_sigterm_stops_dispatching_and_the_run_is_recorded_interrupted(tmp_path: Path) -> None:
    snapshot, state = tmp_path / "cluster.yaml", tmp_path / "state"
    document = {"hosts": [{"name": h, "cpus": 8, "memory_mib": 16384 + 512} for h in "abc"],
                "vms": [{"name": f"{h}{i}", "host": h, "vcpus": 1, "memory_mib": 1024, "cpu_load_millicores": 100}
                        for h in "abc" for i in range(4)]}
    snapshot.write_text(yaml.safe_dump(document), encoding="utf-8")
    before = load_cluster(snapshot).placement
    command = [sys.executable, "-m", "tests.harness", "--sim-time-scale", "1", "run", "--inventory", str(snapshot),
               "--state-dir", str(state), "--goal", "consolidate", "--max-parallel", "1", "--time-limit", "2",
               "--workers", "1"]
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}  # plain log lines
    process = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    seen = []
    for line in process.stderr:  # a migration (1 s of real time each) has started
        seen.append(line)
        if ": info: start " in line:
            break
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=120)

    assert process.returncode == 1, "".join(seen) + rest
    [record] = read_runs(history_path(state))
    assert record.outcome is RunOutcome.INTERRUPTED
    assert 1 <= record.moves_done < 8 and record.moves_not_run == 8 - record.moves_done
    after = load_cluster(snapshot).placement  # written back by the harness: what really moved
    assert sum(after[vm] != before[vm] for vm in before) == record.moves_done
