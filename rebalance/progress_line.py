"""The `solving:` lines `rebalance plan` writes to stderr while the solver works."""

from __future__ import annotations

import click

from planner.domain.policy import Goal
from planner.solver.progress import ProgressSink, SolveProgress


def progress_line(goal: Goal, report: SolveProgress) -> str:
    """e.g. `solving: lns     best 611 ‰, bound 488 ‰ (+25.2 %) at 6.3 s`."""
    unit = " hosts" if goal.minimises_hosts else " ‰"
    gap = f" (+{100.0 * (report.goal - report.bound) / report.bound:.1f} %)" if report.bound > 0 else ""
    return (f"solving: {report.stage:<7} best {report.goal}{unit}, bound {report.bound}{unit}{gap} "
            f"at {report.elapsed_s:.1f} s")


def stderr_progress(goal: Goal) -> ProgressSink:
    def show(report: SolveProgress) -> None:
        click.echo(progress_line(goal, report), err=True)
    return show
