"""One case of a benchmark in a process of its own, so that its time and peak memory are its own:
the runner calls its own module with `--worker` and the worker prints its record as JSON on its
last line of output.

A worker that hangs (a solver that never returns, a machine swapping) is killed after `timeout_s`
and the runner stops with one line naming the case, instead of waiting for ever: the planner inside
keeps its own time limit, so only a fault gets this far.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

# Generous for the largest case the runners make (10,000 hosts, generation, baselines and a 120 s plan).
WORKER_TIMEOUT_S = 3600.0


class WorkerTimeout(RuntimeError):
    """A benchmark worker ran past its timeout and was killed."""


def worker_record(module: str, arguments: Sequence[str], timeout_s: float = WORKER_TIMEOUT_S) -> Any:
    """Run `python -m MODULE --worker ARGUMENTS…` and return the JSON its last line holds; a
    worker that fails raises subprocess.CalledProcessError, one still running after `timeout_s`
    is killed and raises WorkerTimeout."""
    command = [sys.executable, "-m", module, "--worker", *arguments]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, check=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise WorkerTimeout(f"{module} {' '.join(arguments)}: the worker ran past {timeout_s:g} s and was "
                            f"killed") from None
    return json.loads(completed.stdout.strip().splitlines()[-1])
