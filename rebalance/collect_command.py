"""`rebalance collect`: measure the cluster of an inventory and write a snapshot; also the
inventory path of `rebalance plan`."""

from __future__ import annotations

import click

from cluster.collector import Collection, collect
from cluster.inventory import load_inventory
from planner.domain.policy import Policy
from planner.formats.inputs import PlanningInput
from planner.formats.scenario import cluster_record, load_policy, write_json
from planner.formats.text_table import format_table
from rebalance import option_types as types
from rebalance.output_paths import check_writable

DEFAULT_INTERVAL_S = 1.0
DEFAULT_TIMEOUT_S = 30.0
SUMMARY_HEADERS = ("host", "state", "cpus", "memory_mib", "cpu_busy_%", "vms", "vcpus", "vm_memory_mib",
                   "vm_load_mc", "unmigratable")


def summary_table(collection: Collection) -> str:
    """One row per measured host: what libvirt reported, what the planner will use, what runs there."""
    rows = []
    for sample in collection.samples:
        host = collection.cluster.host_by_name[sample.name]
        vms = collection.cluster.vms_by_host[sample.name]
        rows.append([
            host.name,
            host.state.value,
            str(host.cpus),
            str(host.memory_mib),
            f"{100 * sample.cpu_busy_fraction:.1f}",
            str(len(vms)),
            str(sum(v.vcpus for v in vms)),
            str(sum(v.memory_mib for v in vms)),
            str(sum(v.cpu_load_millicores for v in vms)),
            str(sum(1 for v in vms if not v.migratable)),
        ])
    return format_table(SUMMARY_HEADERS, rows, right=range(2, len(SUMMARY_HEADERS)))


def measure(inventory_path: str, skip_unreachable: bool, interval_s: float = DEFAULT_INTERVAL_S,
            timeout_s: float = DEFAULT_TIMEOUT_S) -> Collection:
    collection = collect(load_inventory(inventory_path), interval_s, timeout_s, skip_unreachable)
    for warning in collection.warnings:
        click.echo(f"warning: {warning}", err=True)
    return collection


def planning_from_inventory(inventory_path: str, policy_path: str | None, skip_unreachable: bool) -> PlanningInput:
    """`rebalance plan --inventory`: collect now, then plan by the policy file (or the defaults)."""
    cluster = measure(inventory_path, skip_unreachable).cluster
    if policy_path:
        return PlanningInput(cluster, load_policy(policy_path), policy_path)
    return PlanningInput(cluster, Policy())


@click.command(name="collect")
@click.option("--inventory", "inventory_path", required=True, metavar="FILE",
              help="Inventory (YAML): the hosts, their libvirt URIs, labels and ratios.")
@click.option("-o", "--output", metavar="FILE", help="Write the snapshot (JSON) here.")
@click.option("--interval", type=types.SAMPLE_INTERVAL_S, default=DEFAULT_INTERVAL_S, show_default=True,
              help="Seconds between the two CPU readings the load is computed from.")
@click.option("--timeout", type=types.HOST_TIMEOUT_S, default=DEFAULT_TIMEOUT_S, show_default=True,
              help="Seconds each host may take to answer (on top of the interval).")
@click.option("--skip-unreachable", is_flag=True,
              help="Leave unreachable hosts out of the snapshot (a warning) instead of failing.")
def collect_command(inventory_path: str, output: str | None, interval: float, timeout: float,
                    skip_unreachable: bool) -> None:
    """Measure every host of the inventory over libvirt and print a summary.

    \b
    Exit codes: 0 measured, 1 a host could not be reached, 2 bad inventory.
    """
    check_writable("--output", output)
    collection = measure(inventory_path, skip_unreachable, interval, timeout)
    click.echo(summary_table(collection))
    if output:
        write_json(output, cluster_record(collection.cluster))
        click.echo(f"\nSnapshot written to {output}. Plan with: rebalance plan --snapshot {output} --goal spread")
