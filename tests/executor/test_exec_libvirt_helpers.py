"""The libvirt driver's decisions, tested without libvirt: flags, parameters, URIs, timeouts, retries."""

from __future__ import annotations

import pytest

from executor.config import ExecutorConfig, TimeoutAction, load_config
from executor.libvirt_decisions import (
    TimeoutStep,
    host_uri,
    is_transient,
    migration_flags,
    migration_params,
    progress_from_stats,
    retrying,
    timeout_step,
)
from executor.libvirt_flags import MIGRATE_FLAGS
from planner.domain.model import Host

LIVE, P2P, PERSIST, UNDEFINE = 1, 2, 8, 16


def test_default_flags_are_the_seeds_plus_live_and_persist() -> None:
    assert migration_flags(ExecutorConfig()) == UNDEFINE | P2P | LIVE | PERSIST


def test_post_copy_wins_over_auto_converge_when_both_are_permitted() -> None:
    both = ExecutorConfig(live_migration_permit_post_copy=True, live_migration_permit_auto_converge=True)
    flags = migration_flags(both)
    assert flags & MIGRATE_FLAGS["VIR_MIGRATE_POSTCOPY"]
    assert not flags & MIGRATE_FLAGS["VIR_MIGRATE_AUTO_CONVERGE"]
    assert migration_flags(ExecutorConfig(live_migration_permit_auto_converge=True)) & MIGRATE_FLAGS[
        "VIR_MIGRATE_AUTO_CONVERGE"]


def test_bandwidth_zero_means_unlimited_so_no_parameter() -> None:
    assert migration_params(ExecutorConfig()) == {}
    assert migration_params(ExecutorConfig(live_migration_bandwidth=100)) == {"bandwidth": 100}


def test_host_uri_prefers_the_inventory_then_the_template() -> None:
    assert host_uri(Host("node1", 8, 8192), "qemu+tcp://%s/system") == "qemu+tcp://node1/system"
    own = Host("node1", 8, 8192, uri="qemu+unix:///system?socket=/lab/a/sock")
    assert host_uri(own, "qemu+tcp://%s/system") == "qemu+unix:///system?socket=/lab/a/sock"


def test_completion_timeout_scales_with_memory_and_is_at_least_one_gib() -> None:
    config = ExecutorConfig()
    assert config.completion_timeout_s(4096) == 3200
    assert config.completion_timeout_s(256) == 800


@pytest.mark.parametrize("action, post_copy, switched, expected", [
    (TimeoutAction.ABORT, True, False, TimeoutStep.ABORT),
    (TimeoutAction.FORCE_COMPLETE, True, False, TimeoutStep.POST_COPY),
    (TimeoutAction.FORCE_COMPLETE, True, True, TimeoutStep.WAIT),
    (TimeoutAction.FORCE_COMPLETE, False, False, TimeoutStep.ABORT),
])
def test_timeout_action(action: TimeoutAction, post_copy: bool, switched: bool, expected: TimeoutStep) -> None:
    config = ExecutorConfig(live_migration_timeout_action=action, live_migration_permit_post_copy=post_copy)
    assert timeout_step(10.0, 20.0, config, switched) is TimeoutStep.WAIT
    assert timeout_step(25.0, 20.0, config, switched) is expected


def test_progress_from_job_stats_in_mib() -> None:
    stats = {"time_elapsed": 2007, "data_total": 64 * 2**20, "data_remaining": 16 * 2**20}
    progress = progress_from_stats("fat", stats)
    assert (progress.data_total_mib, progress.data_remaining_mib, progress.elapsed_s) == (64, 16, 2.007)
    assert progress.fraction == 0.75


class Flaky(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"code {code}")
        self.code = code


def test_transient_errors_are_retried_once_a_second_up_to_the_retry_count() -> None:
    calls, sleeps = [], []

    def connect() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise Flaky(38)  # VIR_ERR_SYSTEM_ERROR: connection refused and the like
        return "connected"

    assert retrying(connect, 30, lambda e: is_transient(getattr(e, "code", None)), sleeps.append) == "connected"
    assert sleeps == [1.0, 1.0]


def test_permanent_errors_and_exhausted_retries_raise() -> None:
    with pytest.raises(Flaky):
        retrying(lambda: (_ for _ in ()).throw(Flaky(42)), 30, lambda e: is_transient(e.code), lambda s: None)
    sleeps: list[float] = []
    with pytest.raises(Flaky):
        retrying(lambda: (_ for _ in ()).throw(Flaky(38)), 3, lambda e: is_transient(e.code), sleeps.append)
    assert len(sleeps) == 3


def test_config_file_overrides_defaults_and_accepts_novas_comma_separated_flags(tmp_path) -> None:
    path = tmp_path / "executor.yaml"
    path.write_text("live_migration_flag: VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER\n"
                    "live_migration_bandwidth: 50\nmax_concurrent_live_migrations: 2\n")
    config = load_config(path)
    assert config.live_migration_flag == ("VIR_MIGRATE_UNDEFINE_SOURCE", "VIR_MIGRATE_PEER2PEER")
    assert migration_flags(config) == UNDEFINE | P2P
    assert config.limits.per_host_outgoing == 2 and config.limits.per_host_incoming == 1


def test_importing_the_executor_does_not_need_libvirt() -> None:
    import subprocess
    import sys

    # A fresh interpreter: other test modules (the lab's) import libvirt into this one.
    probe = ("import sys, executor.libvirt_driver, executor.runner, rebalance.apply_command; "
             "sys.exit(1 if 'libvirt' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0
