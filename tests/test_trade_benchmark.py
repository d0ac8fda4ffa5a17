"""benchmarks.trade: one solve per case, every knob value picked as the planner picks it; the
knob at 0 keeps the solver's plan, and a higher value never migrates more."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmarks import trade


def test_the_trade_runner_writes_one_row_per_case_and_value(tmp_path: Path) -> None:
    trade.main(["--cases", "scenarios", "--time-limit", "1", "--gains", "0,0.05,5", "--out", str(tmp_path)])
    frame = pd.read_csv(tmp_path / "trade.csv")
    assert set(frame.gain_per_gib) == {0.0, 0.05, 5.0}
    assert len(frame) == 3 * frame.case.nunique() and frame.case.nunique() >= 3
    at_zero = frame[frame.gain_per_gib == 0]
    assert (at_zero.goal == at_zero.solver_goal).all() and (at_zero.gain_kept == 1.0).all()
    for _, part in frame.groupby("case"):
        gib = part.sort_values("gain_per_gib").gib.tolist()
        assert gib == sorted(gib, reverse=True)  # dearer GiB, never more of them
    assert "Largest value keeping at least 95 %" in (tmp_path / "trade.md").read_text()
