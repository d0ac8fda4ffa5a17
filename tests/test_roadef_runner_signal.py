"""A runner killed by a signal leaves no search process behind: its jobs and their cooperative
workers end with it (reassign/parent_death.py), where nothing of the runner's own clean-up runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.roadef.builder import random_instance
from benchmarks.roadef.evaluator import evaluate
from benchmarks.roadef.writer import format_assignment, format_model

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")


def _data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "A").mkdir(parents=True)
    lines = ["instance,initial_cost,aggregate_lb,best_known,model_file"]
    for k in range(2):
        instance, original = random_instance(40 + k, machines=30, processes=400)
        (data / "A" / f"model_a9_{k}.txt").write_text(format_model(instance))
        (data / "A" / f"assignment_a9_{k}.txt").write_text(format_assignment(original))
        initial = evaluate(instance, original, original).costs.total
        lines.append(f"a9_{k},{initial},1,{initial // 2},yes")
    (data / "instances.csv").write_text("\n".join(lines) + "\n")
    return data


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


@pytest.mark.parametrize("jobs", [1, 2])
def test_killing_the_runner_ends_its_searches(tmp_path: Path, jobs: int) -> None:
    command = [sys.executable, "-m", "benchmarks.roadef.run", str(_data(tmp_path)), "--time-limit", "120",
               "--workers", "2", "--jobs", str(jobs), "--out", str(tmp_path / "out")]
    runner = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    searches: set[int] = set()
    try:
        # One cooperative helper per job (--workers 2); with --jobs 2 the job processes too.
        wanted = jobs + (jobs if jobs > 1 else 0)
        deadline = time.monotonic() + 60
        while len(searches) < wanted and time.monotonic() < deadline:
            time.sleep(0.5)
            searches = _alive(_descendants(runner.pid))
        assert len(searches) >= wanted, f"the searches did not start: {searches}"
        runner.send_signal(signal.SIGKILL)  # nothing of the runner's own clean-up runs
        runner.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(searches) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(searches)
    finally:
        if runner.poll() is None:
            searches |= _descendants(runner.pid)
            runner.kill()
        for pid in _alive(searches):  # orphans of a failed run, so that they do not outlive the test
            os.kill(pid, signal.SIGKILL)
