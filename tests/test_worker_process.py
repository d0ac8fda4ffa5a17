"""A benchmark worker that hangs is killed after its timeout and the runner says which case it was."""

from __future__ import annotations

import subprocess
import time

import pytest

from benchmarks.worker_process import WorkerTimeout, worker_record


def _sleeping_workers() -> list[str]:
    found = subprocess.run(["pgrep", "-f", "tests.sleeping_worker --worker case-7"], capture_output=True, text=True)
    return found.stdout.split()


def test_a_hung_worker_is_killed_and_named() -> None:
    began = time.monotonic()
    with pytest.raises(WorkerTimeout, match="tests.sleeping_worker case-7: the worker ran past 1 s"):
        worker_record("tests.sleeping_worker", ["case-7"], timeout_s=1)
    assert time.monotonic() - began < 30
    assert _sleeping_workers() == []

