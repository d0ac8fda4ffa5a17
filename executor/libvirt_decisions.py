"""The libvirt driver's decisions, as pure functions: flags, parameters, URIs, the timeout action,
progress figures and which errors are worth a retry. Tested without libvirt; the driver's classes
only carry them out.

Two URIs per host, not to be confused: `Host.uri` is how *this tool* reaches the host's libvirtd
(control connections); the migration URI (`Host.migration_uri`, else `live_migration_uri` with the
host's name) is what the *source daemon* opens to reach the destination in peer-to-peer mode —
resolved on the source host, so it may name a host this machine cannot reach at all.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping
from typing import Any

from executor.config import ExecutorConfig, TimeoutAction
from executor.hypervisor import MigrationProgress
from executor.libvirt_flags import MIGRATE_FLAGS, PARAM_BANDWIDTH
from planner.domain.model import Host

MIB = 1024 * 1024
UNLIMITED_ESTIMATE_MIB_S = 1024  # ETA guess when live_migration_bandwidth is 0 (unlimited)

# virErrorNumber values for failures that are worth a one-second retry (connection trouble).
TRANSIENT_ERRORS = {"VIR_ERR_NO_CONNECT": 5, "VIR_ERR_SYSTEM_ERROR": 38, "VIR_ERR_RPC": 39,
                    "VIR_ERR_OPERATION_TIMEOUT": 68}


def host_uri(host: Host, template: str) -> str:
    """The control URI: Host.uri when the inventory gives one, else live_migration_uri with the host name."""
    return host.uri or template.replace("%s", host.name)


def destination_uri(host: Host, template: str) -> str:
    """The migrateToURI3 dconnuri for a migration *to* `host`: its own migration URI, else
    live_migration_uri with its name — never its control URI (a unix socket, an ssh tunnel)."""
    return host.migration_uri or template.replace("%s", host.name)


def completed_timing(stats: Mapping[str, Any]) -> tuple[int, int]:
    """(time_elapsed, downtime) in ms from jobStats(COMPLETED): libvirt's own account of a migration."""
    return int(stats.get("time_elapsed", 0)), int(stats.get("downtime", 0))


def migration_flags(config: ExecutorConfig, constants: Mapping[str, int] = MIGRATE_FLAGS) -> int:
    """live_migration_flag, plus post-copy or auto-converge when permitted (post-copy wins, as in Nova)."""
    flags = 0
    for name in config.live_migration_flag:
        flags |= constants[name]
    if config.live_migration_permit_post_copy:
        flags |= constants["VIR_MIGRATE_POSTCOPY"]
    elif config.live_migration_permit_auto_converge:
        flags |= constants["VIR_MIGRATE_AUTO_CONVERGE"]
    return flags


def migration_params(config: ExecutorConfig) -> dict[str, Any]:
    """migrateToURI3 typed parameters. Bandwidth 0 means unlimited: the parameter is left out."""
    params: dict[str, Any] = {}
    if config.live_migration_bandwidth > 0:
        params[PARAM_BANDWIDTH] = config.live_migration_bandwidth
    return params


class TimeoutStep(str, enum.Enum):
    WAIT = "wait"
    ABORT = "abort"
    POST_COPY = "post-copy"


def timeout_step(elapsed_s: float, timeout_s: float, config: ExecutorConfig, switched_to_post_copy: bool) -> TimeoutStep:
    """What to do about a migration still running after `elapsed_s`."""
    if elapsed_s < timeout_s:
        return TimeoutStep.WAIT
    if config.live_migration_timeout_action is TimeoutAction.FORCE_COMPLETE and config.live_migration_permit_post_copy:
        # Once switched, post-copy always completes: give it the time it needs rather than abort it.
        return TimeoutStep.WAIT if switched_to_post_copy else TimeoutStep.POST_COPY
    return TimeoutStep.ABORT


def progress_from_stats(vm: str, stats: Mapping[str, Any]) -> MigrationProgress:
    """jobStats() → progress. Figures are bytes and milliseconds there."""
    total = int(stats.get("data_total", stats.get("memory_total", 0)))
    remaining = int(stats.get("data_remaining", stats.get("memory_remaining", total)))
    return MigrationProgress(vm, stats.get("time_elapsed", 0) / 1000, total // MIB, remaining // MIB)


def is_transient(error_code: int | None, codes: Mapping[str, int] = TRANSIENT_ERRORS) -> bool:
    return error_code in set(codes.values())


def retrying(call: Callable[[], Any], retries: int, transient: Callable[[BaseException], bool],
             sleep: Callable[[float], None] = time.sleep) -> Any:
    """live_migration_retry_count one-second retries of transient failures; others raise at once."""
    attempt = 0
    while True:
        try:
            return call()
        except Exception as error:
            if attempt >= retries or not transient(error):
                raise
            attempt += 1
            sleep(1.0)
