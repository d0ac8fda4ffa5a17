"""`rebalance history`: the runs recorded in STATE_DIR/history.jsonl, newest last."""

from __future__ import annotations

import click

from operations.history import DEFAULT_STATE_DIR, history_path, read_runs, run_to_json
from operations.run_outcome import RunOutcome
from planner.formats.text_table import format_table
from rebalance import option_types as types


HELP = f"""List past runs: when, goal, outcome, moves done/failed, GiB moved, hosts freed.

The outcome is one of: {", ".join(RunOutcome)}.

\b
Exit codes: 0, 2 an unreadable history file.
"""


@click.command(name="history", help=HELP)
@click.option("--state-dir", default=DEFAULT_STATE_DIR, show_default=True, envvar="REBALANCE_STATE_DIR",
              help="Where `rebalance run` keeps its history.")
@click.option("--last", "last", type=types.RUN_COUNT, default=20, show_default=True, help="Show this many runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON lines.")
def history(state_dir: str, last: int, as_json: bool) -> None:
    runs = read_runs(history_path(state_dir))[-last:]
    if as_json:
        for record in runs:
            click.echo(run_to_json(record))
        return
    if not runs:
        click.echo(f"No runs recorded in {history_path(state_dir)}.")
        return
    rows = [[r.started.astimezone().strftime("%Y-%m-%d %H:%M"), r.goal, r.outcome, str(r.moves_done),
             str(r.moves_failed), str(r.moves_not_run), f"{r.moved_gib:.1f}", ", ".join(r.hosts_freed) or "-"]
            for r in runs]
    click.echo(format_table(["started", "goal", "outcome", "done", "failed", "left", "GiB", "freed"], rows,
                            right=(3, 4, 5, 6)))
