"""Files written as root stay private and never follow a planted symlink (issue 19, case 7)."""

from __future__ import annotations

import stat
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner.domain.errors import InputError
from operations.history import RunRecord, append_run
from planner.formats.safe_files import private_dir, write_private
from rebalance.cli import cli

REPO = Path(__file__).resolve().parent.parent


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_plan_is_written_0600_whatever_the_umask(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    result = CliRunner().invoke(cli, ["plan", "--scenario", str(REPO / "scenarios" / "nova-classic.yaml"),
                                      "--time-limit", "2", "-o", str(plan)])
    assert result.exit_code == 0, result.output
    assert _mode(plan) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_writing_over_a_planted_symlink_replaces_the_link_and_spares_its_target(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("root's file\n", encoding="utf-8")
    planted = tmp_path / "plan.json"
    planted.symlink_to(victim)
    write_private(planted, "{}\n")
    assert victim.read_text(encoding="utf-8") == "root's file\n"
    assert not planted.is_symlink() and planted.read_text(encoding="utf-8") == "{}\n"


def test_history_is_not_appended_through_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("root's file\n", encoding="utf-8")
    state = private_dir(tmp_path / "state")
    (state / "history.jsonl").symlink_to(victim)
    now = datetime.now(timezone.utc)
    with pytest.raises(InputError, match="symbolic link"):
        append_run(state / "history.jsonl", RunRecord(now, now, "spread", "done"))
    assert victim.read_text(encoding="utf-8") == "root's file\n"


def test_a_new_state_directory_is_0700(tmp_path: Path) -> None:
    assert _mode(private_dir(tmp_path / "a" / "state")) == 0o700
