"""The lines `python -m benchmarks.roadef.run --progress` writes to stderr while an instance is
solved: each new best cost, which half of the search found it, and its gap to the aggregate lower
bound, so that a long run shows whether it still gains."""

from __future__ import annotations

import sys

from planner.solver.progress import ProgressSink, SolveProgress


def progress_line(instance: str, seed: int, report: SolveProgress) -> str:
    """e.g. `b_1 seed 0: lns          best 3,713,298,225, bound 3,290,754,940 (+12.84 %) at 60.0 s`."""
    gap = "" if report.gap_pct is None else f" (+{report.gap_pct:.2f} %)"
    return (f"{instance} seed {seed}: {report.stage:<12} best {report.goal:,}, bound {report.bound:,}{gap} "
            f"at {report.elapsed_s:.1f} s")


def stderr_progress(instance: str, seed: int) -> ProgressSink:
    def show(report: SolveProgress) -> None:
        print(progress_line(instance, seed, report), file=sys.stderr, flush=True)
    return show
