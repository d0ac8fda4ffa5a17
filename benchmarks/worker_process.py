"""One case of a benchmark in a process of its own, so that its time and peak memory are its own:
the runner calls its own module with `--worker` and the worker prints its record as JSON on its
last line of output."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from typing import Any


def worker_record(module: str, arguments: Sequence[str]) -> Any:
    """Run `python -m MODULE --worker ARGUMENTS…` and return the JSON its last line holds; a
    worker that fails raises subprocess.CalledProcessError."""
    command = [sys.executable, "-m", module, "--worker", *arguments]
    completed = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])
