"""Fixtures shared across the test suite: where the example scenarios live, and a file writer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

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
