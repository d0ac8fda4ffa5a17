"""Shared by the reading-layer tests: a valid scenario to break, the CLI in-process, and the one
check every hostile file must pass (exit 2, one short line naming the file and the field)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from rebalance.cli import cli

MESSAGE_LIMIT = 200

# Six VMs on one of three hosts: spreading them always moves some, so the plan has moves to break.
VALID: dict[str, Any] = {
    "cluster": {
        "defaults": {"reserved_memory_mib": 1024},
        "hosts": [{"name": f"h{i}", "cpus": 16, "memory_mib": 65536} for i in (1, 2, 3)],
        "vms": [{"name": f"v{i}", "host": "h1", "vcpus": 2, "memory_mib": 4096, "cpu_load_millicores": 1500}
                for i in range(6)],
    },
    "policy": {"goal": "spread", "solver": {"time_limit_s": 1}},
}


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def assert_one_line_error(result: Result, path: Path, field: str = "") -> str:
    """Exit 2, one line naming the file (and field), at most MESSAGE_LIMIT characters past the path."""
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    located = f"error: {path}: {field}"
    assert lines[0].startswith(located), f"{lines[0]!r} should start with {located!r}"
    assert len(lines[0]) - len(f"error: {path}: ") <= MESSAGE_LIMIT, lines[0]
    return lines[0]


def alias_bomb() -> str:
    """Nine levels of nine aliases each: 9^9 leaves for anything that expands it."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    lines.append("cluster:\n  hosts:\n  - {name: h1, cpus: *a9, memory_mib: 1024}")
    return "\n".join(lines) + "\n"


