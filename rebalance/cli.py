"""The `rebalance` command: parse arguments, make one library call, render the result.

Exit codes: 0 success (or nothing worth doing), 1 no feasible plan / something failed,
2 bad input. User errors print one line on stderr, never a traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from planner.errors import InfeasibleError, InputError, RebalanceError, StalePlanError

EXIT_INFEASIBLE = 1
EXIT_BAD_INPUT = 2


class RebalanceGroup(click.Group):
    """Turns the library's errors into one-line messages and the documented exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (InputError, StalePlanError) as error:
            click.echo(f"error: {error}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except InfeasibleError as error:
            click.echo(f"infeasible: {error}", err=True)
            ctx.exit(EXIT_INFEASIBLE)
        except RebalanceError as error:
            click.echo(f"error: {error}", err=True)
            ctx.exit(EXIT_INFEASIBLE)


@click.group(cls=RebalanceGroup)
@click.version_option(package_name="rebalance")
def cli() -> None:
    """Plan and run live migrations that rebalance a KVM/libvirt cluster.

    \b
    rebalance plan --goal spread --scenario scenarios/hot-rack.yaml -o plan.json
    rebalance show plan.json
    """


def _register_commands() -> None:
    from rebalance.apply_command import apply
    from rebalance.collect_command import collect_command
    from rebalance.doctor_command import doctor
    from rebalance.plan_command import plan, show

    cli.add_command(plan)
    cli.add_command(show)
    cli.add_command(apply)
    cli.add_command(collect_command)
    cli.add_command(doctor)


_register_commands()


def main() -> None:
    sys.exit(cli.main(prog_name="rebalance", standalone_mode=True))
