"""Fixtures shared across the test suite: where the example scenarios live, and a file writer."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from executor.lock import LOCK_DIR_ENV

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    # Tests that run the CP-SAT solver take seconds each; `-m "not solver"` skips them.
    config.addinivalue_line("markers", "solver: runs the real planner and solver (slow)")


@pytest.fixture
def scenarios_dir() -> Path:
    return REPO / "scenarios"


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, str], Path]:
    """`write_file("bad.yaml", text)` writes `text` into the test's tmp_path and returns the path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture(autouse=True, scope="session")
def private_lock_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Host locks of this test session in a directory of its own: another test run on the same
    machine (with the same host names) must not see them, nor they its."""
    directory = tmp_path_factory.mktemp("locks")
    previous = os.environ.get(LOCK_DIR_ENV)
    os.environ[LOCK_DIR_ENV] = str(directory)
    yield directory
    if previous is None:
        os.environ.pop(LOCK_DIR_ENV, None)
    else:
        os.environ[LOCK_DIR_ENV] = previous


@pytest.fixture(autouse=True, scope="session")
def private_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`collect` adds every sample to the demand history in the state directory: a test that does
    not name one must not write into the machine's own /var/lib/rebalance."""
    directory = tmp_path_factory.mktemp("state")
    previous = os.environ.get("REBALANCE_STATE_DIR")
    os.environ["REBALANCE_STATE_DIR"] = str(directory)
    yield directory
    if previous is None:
        os.environ.pop("REBALANCE_STATE_DIR", None)
    else:
        os.environ["REBALANCE_STATE_DIR"] = previous
