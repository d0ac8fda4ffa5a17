"""benchmarks.repeat: the same cluster planned in separate processes with busy loops beside them,
and the loops stopped afterwards however the runs end."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from benchmarks import repeat


def test_a_small_cluster_repeats_its_plan_beside_a_busy_loop(tmp_path: Path) -> None:
    repeat.main(["--size", "20x300", "--fill", "0.85", "--runs", "2", "--busy", "1", "--time-limit", "6",
                 "--out", str(tmp_path)])
    rows = list(csv.DictReader((tmp_path / "repeat.csv").open()))
    assert [row["run"] for row in rows] == ["1", "2"] and {row["busy_loops"] for row in rows} == {"1"}
    assert int(rows[0]["moves"]) > 0  # a plan that moves something, so the digest says something
    assert rows[0]["digest"] == rows[1]["digest"] and rows[0]["wall_clock_cut"] == "False"
    assert "Same plan in every run: **yes**" in (tmp_path / "repeat.md").read_text()


def test_each_goal_is_planned_as_asked_and_repeats(tmp_path: Path) -> None:
    digests = {}
    for goal in ("spread", "consolidate", "drain"):
        repeat.main(["--size", "20x300", "--fill", "0.85", "--runs", "2", "--busy", "0", "--time-limit", "6",
                     "--goal", goal, "--out", str(tmp_path / goal)])
        rows = list(csv.DictReader((tmp_path / goal / "repeat.csv").open()))
        assert {row["goal"] for row in rows} == {goal} and int(rows[0]["moves"]) > 0
        assert rows[0]["digest"] == rows[1]["digest"]
        assert f"rebalance plan --goal {goal}" in (tmp_path / goal / "repeat.md").read_text()
        digests[goal] = rows[0]["digest"]
        if goal == "consolidate":
            assert int(rows[0]["peak"]) < 20  # hosts in use, not a per-mille peak
    assert len(set(digests.values())) == 3


def test_busy_loops_spin_while_the_block_runs_and_are_stopped_when_it_fails() -> None:
    with pytest.raises(RuntimeError):
        with repeat.busy_loops(2) as loops:
            assert all(loop.poll() is None for loop in loops)  # spinning
            raise RuntimeError("a run failed")
    assert all(loop.poll() is not None for loop in loops)


@pytest.mark.parametrize("size", ["1000", "10x", "0x5", "axb"])
def test_a_malformed_size_is_refused_in_one_line(size: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        repeat.main(["--size", size, "--runs", "1"])
    assert exit_info.value.code == 2
    assert "--size" in capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("fill", ["0", "1", "1.5", "-0.2"])
def test_a_fill_outside_zero_to_one_is_refused_in_one_line(fill: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        repeat.main(["--size", "20x300", "--fill", fill, "--runs", "1"])
    assert exit_info.value.code == 2
    assert "--fill" in capsys.readouterr().err.strip().splitlines()[-1]
