"""Hosts a run emptied, and the operator's `--on-freed 'CMD {host}'` for each.

A host counts as emptied only when the plan meant to empty it (consolidation's freed hosts, or a
drained host), it had VMs before, every step off it completed and was verified, and the live
cluster shows no domain at all defined on it now — running, paused or shut off (a shut-off guest
lives on that host's disk and configuration; powering the host off or reinstalling it loses it).
Only then does the command run: running it on a host that still holds a guest is the one mistake
this must never make.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from executor.hypervisor import LiveState
from executor.report import StepRecord, StepStatus
from planner.domain.plan import Plan

HOOK_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class HookResult:
    host: str
    ok: bool
    detail: str


def emptied_hosts(plan: Plan, records: Iterable[StepRecord], live: LiveState) -> tuple[str, ...]:
    records = tuple(records)
    before = {u.host: u.vms for u in plan.before}
    meant = dict.fromkeys(plan.freed_hosts + plan.drained_hosts)
    emptied = []
    for host in meant:
        if not before.get(host) or host in live.unreachable:
            continue
        unfinished = [r for r in records if r.source == host and r.status not in (StepStatus.DONE, StepStatus.SKIPPED)]
        defined_there = live.defined_on(host)  # running, paused or shut off, shadowed copies included
        if not unfinished and not defined_there:
            emptied.append(host)
    return tuple(emptied)


def hook_command(template: str, host: str) -> str:
    return template.replace("{host}", shlex.quote(host))


def run_hook(template: str, host: str, timeout_s: float = HOOK_TIMEOUT_S) -> HookResult:
    """`template` with {host} filled in (shell-quoted), run by /bin/sh."""
    command = hook_command(template, host)
    try:
        done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=timeout_s,
                              check=False)
    except subprocess.TimeoutExpired:
        return HookResult(host, False, f"`{command}` did not finish within {timeout_s:.0f} s")
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
        return HookResult(host, False, f"`{command}` exited with {done.returncode}: {tail[0]}")
    return HookResult(host, True, f"`{command}` succeeded")
