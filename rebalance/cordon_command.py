"""`rebalance cordon`, `rebalance uncordon` and `rebalance hosts`: the recorded host states."""

from __future__ import annotations

import json

import click

from cluster.inventory import load_inventory
from operations.cordons import Cordon, add_cordons, cordons_path, current_user, read_cordons, remove_cordons
from operations.history import DEFAULT_STATE_DIR
from planner.domain.checks import check_name
from planner.domain.errors import InputError
from planner.domain.model import HostState
from planner.formats.inputs import load_planning_input
from planner.formats.text_table import format_table

STATE_DIR = click.option("--state-dir", default=DEFAULT_STATE_DIR, show_default=True, envvar="REBALANCE_STATE_DIR",
                         help="Where the cordons are recorded (cordons.json), beside the run history.")


@click.command()
@click.argument("hosts", nargs=-1, required=True, metavar="HOST...")
@click.option("--reason", default="", metavar="TEXT", help="Why (shown by `rebalance hosts` and by every plan).")
@click.option("--inventory", "inventory_path", metavar="FILE",
              help="Refuse hosts this inventory does not list (without it, an unknown host only warns).")
@STATE_DIR
def cordon(hosts: tuple[str, ...], reason: str, inventory_path: str | None, state_dir: str) -> None:
    """Take hosts out of placement: every later plan, run and apply sends them no VMs.

    The hosts keep their VMs (use a drain to empty them). The cordon lasts until `rebalance
    uncordon`; it overrides the inventory's `state: active` and every plan says so.

    \b
    rebalance cordon lab-a --reason "kernel update"
    rebalance cordon lab-a lab-b --inventory /etc/rebalance/hosts.yaml
    rebalance hosts --inventory /etc/rebalance/hosts.yaml

    \b
    Exit codes: 0 recorded, 2 bad input (a bad host name, an unknown host with --inventory).
    """
    names = [check_name(name, "HOST") for name in hosts]
    if inventory_path:
        known = {h.name for h in load_inventory(inventory_path).hosts}
        for name in names:
            if name not in known:
                raise InputError("HOST", f"{name} is not in the inventory {inventory_path}")
    else:
        click.echo("warning: no --inventory given: host names are not checked against one", err=True)
    for made in add_cordons(state_dir, names, current_user(), reason):
        click.echo(f"{made.host}: {made.describe()}")


@click.command()
@click.argument("hosts", nargs=-1, required=True, metavar="HOST...")
@STATE_DIR
def uncordon(hosts: tuple[str, ...], state_dir: str) -> None:
    """Return cordoned hosts to placement: later plans may send them VMs again.

    \b
    rebalance uncordon lab-a
    rebalance uncordon lab-a lab-b --state-dir /var/lib/rebalance

    \b
    Exit codes: 0 (a host that was not cordoned is only reported), 2 bad input.
    """
    lifted = remove_cordons(state_dir, [check_name(name, "HOST") for name in hosts])
    for name in hosts:
        click.echo(f"{name}: uncordoned" if name in lifted else f"{name}: was not cordoned")


@click.command()
@click.option("--inventory", "inventory_path", metavar="FILE", help="Declared states from this inventory.")
@click.option("--scenario", metavar="FILE", help="Declared states from this scenario.")
@click.option("--snapshot", metavar="FILE", help="Declared states from this snapshot.")
@STATE_DIR
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per host.")
def hosts(inventory_path: str | None, scenario: str | None, snapshot: str | None, state_dir: str,
          as_json: bool) -> None:
    """List hosts: the declared state, the recorded cordon (who, when, why) and the effective state.

    A `*` marks a host whose recorded cordon overrides its declared state. Without a cluster
    file, only the cordoned hosts are listed.

    \b
    rebalance hosts --inventory /etc/rebalance/hosts.yaml
    rebalance hosts --scenario scenarios/hot-rack.yaml --json

    \b
    Exit codes: 0, 2 bad input (an unreadable cordon or cluster file).
    """
    if sum(bool(x) for x in (inventory_path, scenario, snapshot)) > 1:
        raise InputError("--inventory", "give an inventory, a scenario or a snapshot, not several")
    declared = _declared_states(inventory_path, scenario, snapshot)
    cordons = read_cordons(state_dir)
    names = list(declared) + sorted(set(cordons) - set(declared))
    rows = [_row(name, declared.get(name), cordons.get(name)) for name in names]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, separators=(",", ":")))
        return
    if not rows:
        click.echo(f"No cordons recorded in {cordons_path(state_dir)}.")
        return
    table = [[r["host"] + ("*" if r["overridden"] else ""), r["declared"] or "-", r["effective"],
              r["who"] or "-", r["when"] or "-", r["why"] or "-"] for r in rows]
    click.echo(format_table(["host", "declared", "effective", "cordoned by", "since", "why"], table))
    if any(r["overridden"] for r in rows):
        click.echo("* the recorded cordon overrides the declared state")


def _declared_states(inventory_path: str | None, scenario: str | None, snapshot: str | None) -> dict[str, str]:
    if inventory_path:
        return {h.name: h.state.value for h in load_inventory(inventory_path).hosts}
    if scenario or snapshot:
        return {h.name: h.state.value for h in load_planning_input(scenario, snapshot, None).cluster.hosts}
    return {}


def _row(name: str, declared: str | None, cordon: Cordon | None) -> dict[str, object]:
    # A cordon makes an active (or unknown) host disabled; maintenance and disabled already take no VMs.
    effective = declared or "-"
    if cordon is not None and declared in (None, HostState.ACTIVE.value):
        effective = "cordoned"
    return {"host": name, "declared": declared, "effective": effective,
            "overridden": cordon is not None and declared == HostState.ACTIVE.value,
            "who": cordon.who if cordon else None, "when": cordon.when.strftime("%Y-%m-%dT%H:%MZ") if cordon else None,
            "why": cordon.why if cordon else None}
