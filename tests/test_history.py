"""The run history file and `rebalance history`."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

import operations.history
from operations.history import (
    RunRecord,
    VMMove,
    append_run,
    cooldown,
    history_path,
    read_runs,
)
from operations.run_outcome import RunOutcome
from rebalance.cli import cli

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=timezone.utc)


def record(start: datetime, moves: tuple[VMMove, ...] = (), **fields: object) -> RunRecord:
    values: dict = dict(goal="consolidate", outcome=RunOutcome.DONE, moves_done=len(moves), moved_mib=1024 * len(moves))
    values.update(fields)
    return RunRecord(started=start, finished=start + timedelta(minutes=5), moves=moves, **values)


def test_records_round_trip_in_order(tmp_path: Path) -> None:
    path = history_path(tmp_path)
    first = record(T0, (VMMove("v1", "a", "b", T0 + timedelta(minutes=1)),), hosts_freed=("a",))
    second = record(T0 + timedelta(days=1), outcome=RunOutcome.NOTHING_TO_DO)
    append_run(path, first)
    append_run(path, second)
    assert read_runs(path) == (first, second)


def test_a_torn_last_line_is_ignored_but_a_bad_middle_line_is_an_error(tmp_path: Path) -> None:
    path = history_path(tmp_path)
    append_run(path, record(T0))
    with path.open("a") as file:
        file.write('{"started": "2026-11-27T01:00:00+00:00", "fini')
    assert len(read_runs(path)) == 1
    with path.open("a") as file:
        file.write("\n")
    append_run(path, record(T0))
    result = CliRunner().invoke(cli, ["history", "--state-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: line 2: ")


def test_cooldown_covers_the_latest_move_within_the_hours() -> None:
    runs = [record(T0, (VMMove("old", "a", "b", T0 - timedelta(hours=30)), VMMove("v1", "a", "b", T0))),
            record(T0, (VMMove("v1", "b", "c", T0 + timedelta(hours=2)),))]
    held = cooldown(runs, T0 + timedelta(hours=3), hours=24)
    assert set(held) == {"v1"}
    assert "1 h 00 min ago (b → c" in held["v1"]
    assert cooldown(runs, T0 + timedelta(hours=3), hours=0) == {}


def test_history_lists_runs_as_a_table_and_as_json(tmp_path: Path) -> None:
    append_run(history_path(tmp_path), record(T0, (VMMove("v1", "a", "b", T0),), hosts_freed=("a",)))
    append_run(history_path(tmp_path), record(T0 + timedelta(days=1), outcome=RunOutcome.WINDOW_CLOSED, moves_not_run=3))
    table = CliRunner().invoke(cli, ["history", "--state-dir", str(tmp_path)])
    assert table.exit_code == 0
    rows = [line.split() for line in table.output.splitlines()[2:]]
    assert [(r[2], r[3], r[4], r[6], r[7], r[8]) for r in rows] == [
        ("consolidate", "done", "1", "0", "1.0", "a"), ("consolidate", "window-closed", "0", "3", "0.0", "-")]
    as_json = CliRunner().invoke(cli, ["history", "--state-dir", str(tmp_path), "--json", "--last", "1"])
    assert as_json.exit_code == 0 and '"outcome":"window-closed"' in as_json.output
    assert len(as_json.output.splitlines()) == 1


def test_no_history_yet(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["history", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0 and "No runs recorded" in result.output


@pytest.mark.parametrize("outcome", list(RunOutcome))
def test_every_outcome_round_trips_through_the_history(outcome: RunOutcome, tmp_path: Path) -> None:
    append_run(history_path(tmp_path), record(T0, outcome=outcome))
    [read] = read_runs(history_path(tmp_path))
    assert read.outcome is outcome
    line = history_path(tmp_path).read_text().splitlines()[0]
    assert json.loads(line)["outcome"] == outcome.value  # the plain value, as older versions wrote it
    shown = CliRunner().invoke(cli, ["history", "--state-dir", str(tmp_path)])
    assert shown.exit_code == 0 and shown.output.splitlines()[2].split()[3] == outcome.value


def test_the_values_older_versions_wrote_still_read(tmp_path: Path) -> None:
    written = ["done", "nothing-to-do", "partly-failed", "window-closed", "infeasible", "interrupted", "error"]
    lines = [json.dumps({"started": T0.isoformat(), "finished": T0.isoformat(), "goal": "", "outcome": value})
             for value in written]
    history_path(tmp_path).write_text("\n".join(lines) + "\n")
    assert [r.outcome.value for r in read_runs(history_path(tmp_path))] == written


def test_an_unknown_outcome_is_one_line_naming_it_and_exit_2(tmp_path: Path) -> None:
    line = {"started": T0.isoformat(), "finished": T0.isoformat(), "goal": "spread", "outcome": "exploded"}
    history_path(tmp_path).write_text(json.dumps(line) + "\n" + json.dumps({**line, "outcome": "done"}) + "\n")
    result = CliRunner().invoke(cli, ["history", "--state-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {history_path(tmp_path)}: line 1: outcome: must be one of {', '.join(RunOutcome)}, got 'exploded'"]


def test_the_history_documents_exactly_the_outcomes() -> None:
    documented = re.search(r"outcome is one of [\w.]+: ([^.]+)\.", " ".join(operations.history.__doc__.split()))
    assert documented is not None
    assert documented.group(1).split(", ") == [o.value for o in RunOutcome]


def test_history_help_lists_every_outcome_a_run_can_record() -> None:
    shown = " ".join(CliRunner().invoke(cli, ["history", "--help"]).output.split())
    assert f"The outcome is one of: {', '.join(RunOutcome)}." in shown
