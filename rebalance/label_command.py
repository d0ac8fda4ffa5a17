"""`rebalance label`: set, remove or show a VM's labels (its own, in its libvirt metadata)."""

from __future__ import annotations

import click

from cluster.domain_labels import VMLabels, set_labels, show_labels
from cluster.insecure_control import refuse_insecure_control
from cluster.inventory import load_inventory
from cluster.vm_labels import parse_assignments
from planner.domain.checks import check_name
from planner.formats.text_table import format_table
from rebalance import option_types as types


def render_labels(found: VMLabels) -> str:
    nova = ", managed by OpenStack Nova" if found.nova_managed else ""
    head = f"VM {found.name} ({found.uuid}) on {found.host}{nova}"
    if not found.labels:
        return f"{head}: no labels"
    rows = [[key, label.value, label.describe()] for key, label in sorted(found.labels.items())]
    return f"{head}\n{format_table(['label', 'value', 'from'], rows)}"


@click.command(name="label")
@click.option("--inventory", "inventory_path", required=True, metavar="FILE",
              help="Inventory (YAML): the hosts to find the VM on, and its vm_labels rules.")
@click.option("--timeout", type=types.HOST_TIMEOUT_S, default=10.0, show_default=True,
              help="Seconds each host may take to answer each call.")
@click.option("--allow-insecure", is_flag=True,
              help="Write over plain qemu+tcp control connections (unauthenticated, unencrypted); refused otherwise.")
@click.argument("vm")
@click.argument("assignments", nargs=-1, metavar="[KEY=VALUE | KEY-]...")
def label(inventory_path: str, timeout: float, allow_insecure: bool, vm: str, assignments: tuple[str, ...]) -> None:
    """Set (KEY=VALUE) or remove (KEY-) labels of the domain VM in its own libvirt metadata, or with
    no KEY=VALUE show its labels and where each comes from.

    A VM's labels, lowest precedence first: Nova's (nova.name, nova.flavor, nova.project), the
    inventory's vm_labels rules, and these, written on every host that defines the domain
    (live and persistent while it runs). Policy rules select VMs by them: {labels: {app: web}}.

    \b
    rebalance label --inventory hosts.yaml web-1 app=web tier=front
    rebalance label --inventory hosts.yaml web-1 tier-
    rebalance label --inventory hosts.yaml web-1

    \b
    Exit codes: 0 done, 1 the VM is on no reachable host (or cannot be written now), 2 bad label
    or inventory.
    """
    check_name(vm, "VM")
    settings, removals = parse_assignments(assignments)
    inventory = load_inventory(inventory_path)
    if assignments:
        refuse_insecure_control(inventory, allow_insecure)
        found = set_labels(inventory, vm, settings, removals, timeout)
    else:
        found = show_labels(inventory, vm, timeout)
    for warning in found.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(render_labels(found))
