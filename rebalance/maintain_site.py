"""The live cluster as rolling maintenance sees it: drains through `drain`'s flow, hooks as
processes, health through libvirt and doctor, returns as small plans applied like `apply`.

Everything runs inside the lock `maintain` holds for its whole run (lock_held), without asking:
the operator confirmed the whole sequence once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import click

from cluster.host_health import Health, boot_id, wait_healthy
from cluster.inventory import Inventory, InventoryHost
from operations import cluster_access
from operations.cordon_overlay import overlay_cordons
from operations.cordons import read_cordons
from operations.maintenance_hook import HookResult, hook_argv, run_hook
from operations.maintenance import Drained
from operations.maintenance_journal import RunDefinition
from planner.domain.errors import InfeasibleError
from planner.formats.plan_io import write_plan
from planner.solver.return_plan import plan_return
from rebalance.apply_command import apply_saved_plan
from rebalance.drain_flow import DrainOutcome, DrainRequest, drain_hosts
from rebalance.render import render_plan


_DRAIN_PROBLEMS = {
    DrainOutcome.DRAINED: "",
    DrainOutcome.REFUSED: "VMs there can neither live-migrate nor be shut down",
    DrainOutcome.FAILED: "a migration failed or was stopped",
    DrainOutcome.NOT_POWERED_OFF: "a guest that cannot live-migrate did not power off",
    DrainOutcome.NOT_EMPTY: "domains are still defined there",
}


@dataclass(frozen=True)
class LiveMaintenanceSite:
    drain_site: cluster_access.DrainSite
    inventory: Inventory
    definition: RunDefinition
    drain_request: DrainRequest  # hosts filled in per group; lock_held and yes set
    run_dir: Path

    def drain(self, hosts: tuple[str, ...]) -> Drained:
        try:
            result = drain_hosts(self.drain_site, replace(self.drain_request, hosts=hosts))
        except InfeasibleError as error:
            return Drained(f"no plan empties {', '.join(hosts)}: {error}")
        powered_off = {h: tuple(s.vm for s in result.powered_off if s.host == h) for h in hosts}
        return Drained(_DRAIN_PROBLEMS.get(result.outcome, result.outcome.value), powered_off)

    def power_on(self, host: str, vm: str) -> str:
        return self.drain_site.power_on(host, vm)

    def vms_on(self, hosts: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
        return self.drain_site.defined_on(hosts)

    def boot_id(self, host: str) -> str | None:
        if not self.definition.expect_reboot:
            return None
        return boot_id(self._host(host))

    def run_hook(self, host: str) -> HookResult:
        log = self.run_dir / f"hook-{host}.log"
        return run_hook(hook_argv(self.definition.hook, host), log, self.definition.hook_timeout_s, host=host)

    def wait_healthy(self, host: str, boot_before: str | None) -> Health:
        return wait_healthy(self.inventory, host, self.definition.doctor_baseline, self.definition.health_timeout_s,
                            boot_before=boot_before if self.definition.expect_reboot else None)

    def give_back(self, host: str, vms: tuple[str, ...]) -> str:
        reading = self.drain_site.measure()
        cluster = overlay_cordons(reading.cluster, read_cordons(self.drain_request.state_dir)).cluster
        plan, staying = plan_return(cluster, self.drain_request.policy, host, vms)
        for line in staying:
            click.echo(line)
        if not plan.moves:
            return ""
        click.echo(render_plan(plan))
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        plan_file = self.run_dir / f"return-{host}-{stamp}.json"
        write_plan(plan, plan_file)
        report = apply_saved_plan(plan, str(plan_file), self.drain_request.config, self.drain_request.apply,
                                  lock_held=True)
        if report is not None and not report.ok:
            return f"a migration failed or was stopped (plan {plan_file})"
        return ""

    def _host(self, name: str) -> InventoryHost:
        return next(h for h in self.inventory.hosts if h.name == name)
