"""The `solving:` lines `rebalance plan` writes to stderr while the solver works."""

from __future__ import annotations

import click

from planner.domain.policy import Goal
from planner.solver.progress import ProgressSink, SolveProgress


def progress_line(goal: Goal, report: SolveProgress) -> str:
    """e.g. `solving: lns     best 611 ‰, bound 488 ‰ (+25.2 %) at 6.3 s`."""
    unit = " hosts" if goal.minimises_hosts else " ‰"
    gap = "" if report.gap_pct is None else f" (+{report.gap_pct:.1f} %)"
    return (f"solving: {report.stage:<7} best {report.goal}{unit}, bound {report.bound}{unit}{gap} "
            f"at {report.elapsed_s:.1f} s")


def stderr_progress(goal: Goal) -> ProgressSink:
    def show(report: SolveProgress) -> None:
        click.echo(progress_line(goal, report), err=True)
    return show
