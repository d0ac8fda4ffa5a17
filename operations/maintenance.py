"""Rolling maintenance: each group of hosts in turn is cordoned, drained, handed to the operator's
hook, waited for until healthy, uncordoned and (with --return) given its VMs back.

The loop is driven by the journal (operations/maintenance_journal.py): every phase is recorded
before the next starts, so a re-run after a crash of the tool or of its machine continues from
where each host was. A hook recorded done is not run again; a drain, a hook or a return that did
not finish is redone (draining a drained host moves nothing). Whatever stops the run — a failed
drain, hook or health wait — is recorded, leaves the host cordoned, and ends the run with
`Stopped`. The site (what drains, runs hooks, checks health) is a protocol, so tests can drive
the loop on a simulated cluster; the live one is rebalance/maintain_site.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cluster.host_health import Health
from operations.cordons import add_cordons, current_user, read_cordons, remove_cordons
from operations.maintenance_hook import HookResult
from operations.maintenance_journal import (
    MaintenanceJournal,
    Phase,
    Record,
    RunDefinition,
    done_milestone,
    first,
    last,
    milestone,
    read_records,
)

MAINTENANCE_REASON = "maintenance"
KEPT = "kept:"  # a CORDONED record of a host that was cordoned before the run


@dataclass(frozen=True)
class Drained:
    """A drain's outcome: "" when the hosts hold no domain that should have left, else why not; and
    the guests it powered off on each host (--unmigratable shutdown), to start again afterwards."""

    problem: str = ""
    powered_off: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class MaintenanceSite(Protocol):
    def drain(self, hosts: tuple[str, ...]) -> Drained:
        """Empty the (cordoned) hosts, printing what it does."""

    def vms_on(self, hosts: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
        """The domains defined on each host now."""

    def boot_id(self, host: str) -> str | None: ...

    def run_hook(self, host: str) -> HookResult: ...

    def wait_healthy(self, host: str, boot_before: str | None) -> Health: ...

    def give_back(self, host: str, vms: tuple[str, ...]) -> str:
        """Move `vms` back to `host` where they fit; "" when that ran (or nothing fits), else why not."""

    def power_on(self, host: str, vm: str) -> str:
        """Start a guest the drain powered off, where it is defined; "" once it runs, else why not."""


@dataclass(frozen=True)
class Stopped:
    host: str
    reason: str


Say = Callable[[str], None]


def run_maintenance(run_dir: Path, definition: RunDefinition, site: MaintenanceSite, state_dir: str | Path,
                    say: Say, resumed: bool = False) -> Stopped | None:
    """Every group in order, from where the journal says each host was; None when all are done."""
    with MaintenanceJournal(run_dir) as journal:
        journal.record(Phase.RUN_RESUMED if resumed else Phase.RUN_STARTED, detail=definition.hook)
        for group in definition.groups:
            stopped = _maintain_group(group, definition, site, state_dir, journal, run_dir, say)
            if stopped:
                journal.record(Phase.RUN_STOPPED, stopped.host, stopped.reason)
                return stopped
        journal.record(Phase.RUN_FINISHED)
    return None


def _maintain_group(group: tuple[str, ...], definition: RunDefinition, site: MaintenanceSite,
                    state_dir: str | Path, journal: MaintenanceJournal, run_dir: Path, say: Say) -> Stopped | None:
    records = read_records(run_dir)
    reached = min(milestone(records, host) for host in group)
    names = ", ".join(group)
    if reached >= done_milestone(definition.returning):
        say(f"{names}: done in an earlier run")
        return None
    phases: list[Callable[[], Stopped | None]] = [
        lambda: _drain(group, site, state_dir, journal, run_dir),
        lambda: _hooks(group, site, journal, say),
        lambda: _health(group, site, journal, run_dir, say),
        lambda: _uncordon(group, site, state_dir, journal, run_dir, say),
        lambda: _return(group, site, journal, run_dir, say) if definition.returning else None,
    ]
    if reached == 1:
        reached = 0  # the hook has not run to completion: check again that the hosts are empty first
    if reached:
        say(f"{names}: resuming after {_MILESTONE_WORDS[reached]}")
    for phase in phases[reached:]:
        stopped = phase()
        if stopped:
            return stopped
    return None


_MILESTONE_WORDS = {1: "the drain", 2: "the hook", 3: "the health check", 4: "the uncordon"}


def _drain(group: tuple[str, ...], site: MaintenanceSite, state_dir: str | Path, journal: MaintenanceJournal,
           run_dir: Path) -> Stopped | None:
    records = read_records(run_dir)
    before = read_cordons(state_dir)
    fresh = tuple(h for h in group if h not in before)
    if fresh:
        add_cordons(state_dir, fresh, current_user(), MAINTENANCE_REASON)
    for host in group:
        if first(records, host, Phase.CORDONED) is None:
            previous = before[host].describe() if host in before else ""
            journal.record(Phase.CORDONED, host, f"{KEPT} {previous}" if previous else "")
    on_hosts = site.vms_on(group)
    for host in group:
        if first(records, host, Phase.DRAIN_STARTED) is None:
            journal.record(Phase.DRAIN_STARTED, host, vms=on_hosts.get(host, ()))
    drained = site.drain(group)
    for host, guests in drained.powered_off.items():
        if guests:
            journal.record(Phase.POWERED_OFF, host, vms=guests)
    if drained.problem:
        return Stopped(group[0], f"the drain of {', '.join(group)} did not finish: {drained.problem}")
    for host in group:
        journal.record(Phase.DRAINED, host)
    return None


def _hooks(group: tuple[str, ...], site: MaintenanceSite, journal: MaintenanceJournal, say: Say) -> Stopped | None:
    """The group's hooks at once (each recorded before any starts), then each outcome."""
    boots = {host: site.boot_id(host) for host in group}
    for host in group:
        journal.record(Phase.HOOK_STARTED, host, boots[host] or "")
    say(f"{', '.join(group)}: running the hook")
    with ThreadPoolExecutor(max_workers=len(group)) as pool:
        results = dict(zip(group, pool.map(site.run_hook, group)))
    stopped = None
    for host, result in results.items():
        if result.ok():
            journal.record(Phase.HOOK_DONE, host, f"{result.seconds:.1f}s")
            continue
        how = "timed out" if result.returncode is None else f"exited {result.returncode}"
        journal.record(Phase.HOOK_FAILED, host, f"{how} after {result.seconds:.0f}s: {result.tail}")
        stopped = stopped or Stopped(host, f"the hook {how} on {host} after {result.seconds:.0f}s")
    return stopped


def _health(group: tuple[str, ...], site: MaintenanceSite, journal: MaintenanceJournal, run_dir: Path,
            say: Say) -> Stopped | None:
    records = read_records(run_dir)
    for host in group:
        started = last(records, host, Phase.HOOK_STARTED)
        say(f"{host}: waiting until it is back and healthy")
        health = site.wait_healthy(host, started.detail or None if started else None)
        if not health.healthy:
            journal.record(Phase.UNHEALTHY, host, "; ".join(health.problems))
            return Stopped(host, f"{host} did not come back healthy: {'; '.join(health.problems)}")
        journal.record(Phase.HEALTHY, host, health.versions)
    return None


def _power_on(host: str, site: MaintenanceSite, journal: MaintenanceJournal, records: Sequence[Record],
              say: Say) -> Stopped | None:
    """The guests the drain powered off, started again on their host before it takes VMs again."""
    started = {vm for r in records if r.host == host and r.phase is Phase.POWERED_ON for vm in r.vms}
    guests = tuple(vm for r in records if r.host == host and r.phase is Phase.POWERED_OFF for vm in r.vms
                   if vm not in started)
    for vm in guests:
        problem = site.power_on(host, vm)
        if problem:
            return Stopped(host, f"{vm} could not be started again on {host}: {problem}")
        journal.record(Phase.POWERED_ON, host, vms=(vm,))
        say(f"{host}: started {vm} again")
    return None


def _uncordon(group: tuple[str, ...], site: MaintenanceSite, state_dir: str | Path, journal: MaintenanceJournal,
              run_dir: Path, say: Say) -> Stopped | None:
    records = read_records(run_dir)
    for host in group:
        stopped = _power_on(host, site, journal, records, say)
        if stopped:
            return stopped
    ours = [h for h in group if not _kept_cordon(records, h)]
    remove_cordons(state_dir, ours)
    for host in group:
        if host in ours:
            journal.record(Phase.UNCORDONED, host)
            say(f"{host}: uncordoned")
        else:
            journal.record(Phase.UNCORDONED, host, "kept the cordon it had before this run")
            say(f"{host}: stays cordoned, as it was before this run (rebalance uncordon {host} to lift it)")
    return None


def _return(group: tuple[str, ...], site: MaintenanceSite, journal: MaintenanceJournal, run_dir: Path,
            say: Say) -> Stopped | None:
    records = read_records(run_dir)
    for host in group:
        started = first(records, host, Phase.DRAIN_STARTED)
        if _kept_cordon(records, host):
            journal.record(Phase.RETURNED, host, "nothing returned: the host stays cordoned")
            continue
        vms = started.vms if started else ()
        why_not = site.give_back(host, vms) if vms else ""
        if why_not:
            return Stopped(host, f"returning the VMs of {host} did not finish: {why_not}")
        journal.record(Phase.RETURNED, host, vms=vms)
        say(f"{host}: its VMs were offered back ({len(vms)})")
    return None


def _kept_cordon(records: Sequence[Record], host: str) -> bool:
    """The host was cordoned before this run: that cordon is the operator's, and it stays."""
    cordoned = first(records, host, Phase.CORDONED)
    return cordoned is not None and cordoned.detail.startswith(KEPT)


def remaining_hosts(definition: RunDefinition, run_dir: Path) -> Sequence[str]:
    """The hosts a re-run still has work for, in order."""
    records = read_records(run_dir)
    done = done_milestone(definition.returning)
    return [h for g in definition.groups for h in g if milestone(records, h) < done]
