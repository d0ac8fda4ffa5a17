"""`rebalance collect`: measure the cluster of an inventory, print a summary, add the sample to the
local demand history (and write a snapshot); with `--every`, keep doing so. Also the inventory
path of `rebalance plan`."""

from __future__ import annotations

from pathlib import Path

import click

from cluster.collector import Collection, collect
from cluster.demand_history import DEFAULT_RETENTION_S, store_path
from cluster.demand_measure import DEFAULT_INTERVAL_S, DEFAULT_TIMEOUT_S, Measured, Measuring, measure_for_planning, \
    record_collection
from cluster.inventory import load_inventory
from operations.history import DEFAULT_STATE_DIR
from operations.sampling_loop import repeat, stop_on_signals
from planner.domain.errors import InputError, RebalanceError
from planner.domain.policy import Policy
from planner.formats.inputs import PlanningInput
from planner.formats.scenario import cluster_record, load_policy, write_json
from planner.formats.text_table import format_table
from rebalance import option_types as types
from rebalance.output_paths import check_writable

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


def round_line(collection: Collection, stored: int, store: Path) -> str:
    """One line per `--every` round: when, what was seen, what was stored where."""
    cluster = collection.cluster
    when = collection.measurement.collected_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    load = sum(v.cpu_load_millicores for v in cluster.vms)
    return (f"{when} {len(collection.samples)} hosts, {len(cluster.vms)} VMs, VM load {load} mc "
            f"over {collection.measurement.interval_s:g} s; {stored} samples stored in {store}")


def measure(inventory_path: str, skip_unreachable: bool, interval_s: float = DEFAULT_INTERVAL_S,
            timeout_s: float = DEFAULT_TIMEOUT_S) -> Collection:
    collection = collect(load_inventory(inventory_path), interval_s, timeout_s, skip_unreachable)
    _warn(collection)
    return collection


def _warn(collection: Collection) -> None:
    for warning in collection.warnings:
        click.echo(f"warning: {warning}", err=True)


def planning_from_inventory(inventory_path: str, policy_path: str | None, measuring: Measuring) -> \
        tuple[PlanningInput, Measured]:
    """`rebalance plan --inventory`: collect now, demand from history, then plan by the policy file
    (or the defaults)."""
    measured = measure_for_planning(load_inventory(inventory_path), measuring)
    _warn(measured.collection)
    policy = (load_policy(policy_path), policy_path) if policy_path else (Policy(), "<defaults>")
    return PlanningInput(measured.cluster, policy[0], policy[1]), measured


@click.command(name="collect")
@click.option("--inventory", "inventory_path", required=True, metavar="FILE",
              help="Inventory (YAML): the hosts, their libvirt URIs, labels and ratios.")
@click.option("-o", "--output", metavar="FILE", help="Write the snapshot (JSON) here (with --every: the latest).")
@click.option("--interval", type=types.SAMPLE_INTERVAL_S, default=DEFAULT_INTERVAL_S, show_default=True,
              help="Seconds between the two CPU readings the load is computed from.")
@click.option("--timeout", type=types.HOST_TIMEOUT_S, default=DEFAULT_TIMEOUT_S, show_default=True,
              help="Seconds each host may take to answer (on top of the interval).")
@click.option("--skip-unreachable", is_flag=True,
              help="Leave unreachable hosts out of the snapshot (a warning) instead of failing.")
@click.option("--every", type=types.COLLECT_EVERY, metavar="DURATION",
              help="Keep collecting, one round per DURATION (60s, 5m), until --count rounds or SIGTERM/Ctrl-C.")
@click.option("--count", type=types.RUN_COUNT, help="With --every: stop after this many rounds.")
@click.option("--state-dir", default=DEFAULT_STATE_DIR, show_default=True, envvar="REBALANCE_STATE_DIR",
              help="Where the demand history (demand.sqlite) is kept; each collection is added to it.")
@click.option("--retention", type=types.RETENTION, default=DEFAULT_RETENTION_S, metavar="DURATION",
              help="Forget samples older than this (default 14d).")
def collect_command(inventory_path: str, output: str | None, interval: float, timeout: float,
                    skip_unreachable: bool, every: float | None, count: int | None, state_dir: str,
                    retention: float) -> None:
    """Measure every host of the inventory over libvirt, print a summary and add the sample to the
    demand history that `plan --inventory` and `run` plan from.

    \b
    rebalance collect --inventory hosts.yaml -o snapshot.json
    rebalance collect --inventory hosts.yaml --every 60s    # keep a history (cron, systemd)

    \b
    Exit codes: 0 measured, 1 a host could not be reached (with --every: a round failed),
    2 bad inventory or an unreadable history.
    """
    check_writable("--output", output)
    check_writable("--state-dir", state_dir, directory=True)
    if count is not None and every is None:
        raise InputError("--count", "only goes with --every")
    if every is None:
        collection = measure(inventory_path, skip_unreachable, interval, timeout)
        click.echo(summary_table(collection))
        stored = record_collection(collection, Path(state_dir), retention)
        click.echo(f"\n{stored} samples added to the demand history {store_path(state_dir)}")
        _write_snapshot(collection, output, hint=True)
        return
    inventory = load_inventory(inventory_path)

    def one_round(number: int) -> bool:
        try:
            collection = collect(inventory, interval, timeout, skip_unreachable)
        except InputError:
            raise
        except RebalanceError as error:
            click.echo(f"round {number}: error: {error}", err=True)
            return False
        _warn(collection)
        stored = record_collection(collection, Path(state_dir), retention)
        click.echo(round_line(collection, stored, store_path(state_dir)))
        _write_snapshot(collection, output, hint=False)
        return True

    with stop_on_signals() as stop:
        rounds = repeat(every, count, one_round, stop)
    why = "stopped by a signal" if rounds.stopped else "done"
    click.echo(f"{why} after {rounds.done} rounds ({rounds.failed} failed)")
    click.get_current_context().exit(1 if rounds.failed else 0)


def _write_snapshot(collection: Collection, output: str | None, hint: bool) -> None:
    if not output:
        return
    write_json(output, cluster_record(collection.cluster))
    if hint:
        click.echo(f"\nSnapshot written to {output}. Plan with: rebalance plan --snapshot {output} --goal spread")
