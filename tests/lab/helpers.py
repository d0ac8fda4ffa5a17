"""Running `rebalance` against the lab, and reading what it journaled."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result

from executor.journal import JournalEntry, JournalEvent, journal_path, read_journal
from rebalance.cli import cli

PLAN_TIME_LIMIT = ["--time-limit", "5", "--workers", "1"]  # 3 hosts: instant; leave the cores to QEMU


def rebalance(*args: str) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def rebalance_process(*args: str) -> subprocess.Popen[str]:
    """`rebalance` in its own process, for tests that act on the lab while it runs."""
    return subprocess.Popen([sys.executable, "-c", "from rebalance.cli import main; main()", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def write_yaml(path: Path, document: Any) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def journal(plan: Path) -> tuple[JournalEntry, ...]:
    return read_journal(journal_path(plan))


def outcomes(plan: Path, run: int | None = None) -> dict[str, JournalEvent]:
    """VM → how its last step ended (in `run`, or over all runs)."""
    ends = (JournalEvent.STEP_DONE, JournalEvent.STEP_FAILED, JournalEvent.STEP_SKIPPED, JournalEvent.STEP_BLOCKED,
            JournalEvent.STEP_NOT_STARTED)
    return {e.vm: e.event for e in journal(plan) if e.event in ends and (run is None or e.run == run)}
