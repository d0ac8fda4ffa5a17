"""Hostile input through the CLI, in CI: hypothesis draws which file to mutate and how (see
benchmarks/fuzz.py for the mutations and the targets), and every case must end the way an operator
can rely on: exit 0, 1 or 2, no traceback, no hang (20 s), a short message, one line for exit 2.
The longer campaign is `python -m benchmarks.fuzz --examples 6000` (benchmarks/results/fuzz.md)."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from benchmarks.fuzz import Target, run_case, targets


@pytest.fixture(scope="module")
def work() -> Iterator[tuple[Path, list[Target]]]:
    with tempfile.TemporaryDirectory(prefix="rebalance-fuzz-") as directory:
        yield Path(directory), targets(Path(directory))


@settings(max_examples=2000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, 10**6), seed=st.integers(0, 2**32 - 1))
def test_no_hostile_input_ends_in_a_traceback_a_hang_or_a_wall_of_text(work: tuple[Path, list[Target]], which: int,
                                                                       seed: int) -> None:
    directory, every = work
    target = every[which % len(every)]
    case = run_case(target, random.Random(seed), directory)
    event(f"exit {case.exit_code}")
    assert case.ok, f"{case.target}: {case.mutation}: exit {case.exit_code}, {case.traceback or ''} " \
                    f"({case.stderr_chars} characters on stderr)"
