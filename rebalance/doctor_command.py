"""`rebalance doctor`: preflight checks before any migration runs."""

from __future__ import annotations

import click

from cluster.doctor import Check, Status, failed
from cluster.doctor_run import run_doctor
from cluster.inventory import load_inventory
from rebalance import option_types as types

EXIT_FAILED = 1
_MARK = {Status.PASS: "pass", Status.WARN: "WARN", Status.FAIL: "FAIL"}


def render_check(check: Check) -> str:
    line = f"[{_MARK[check.status]}] {check.name}: {check.detail}"
    return line + (f"\n       fix: {check.fix}" if check.fix and check.status is not Status.PASS else "")


@click.command()
@click.option("--inventory", "inventory_path", required=True, metavar="FILE", help="Inventory (YAML).")
@click.option("--timeout", type=types.HOST_TIMEOUT_S, default=10.0, show_default=True,
              help="Seconds each host may take to accept a connection.")
def doctor(inventory_path: str, timeout: float) -> None:
    """Check that the hosts can live-migrate to each other: reachable, resolvable, compatible CPUs,
    one shared instances path, nothing that accepts an unauthenticated tcp connection (probed on
    each host through its exec), valid TLS certificates, and peers' migration ports reachable;
    what cannot be probed is "not checked". It also says how many domains OpenStack Nova manages
    (those are never migrated).

    \b
    Exit codes: 0 no check failed (warnings allowed), 1 a check failed, 2 bad inventory.
    """
    checks = run_doctor(load_inventory(inventory_path), timeout)
    for check in checks:
        click.echo(render_check(check))
    counts = {s: sum(1 for c in checks if c.status is s) for s in Status}
    click.echo(f"\n{counts[Status.PASS]} passed, {counts[Status.WARN]} warnings, {counts[Status.FAIL]} failed")
    if failed(checks):
        click.get_current_context().exit(EXIT_FAILED)
