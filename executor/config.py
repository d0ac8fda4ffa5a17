"""Executor settings: the Nova live-migration knobs by their names, plus the dispatch limits.

A flat YAML mapping; every key is optional. Errors name the file and the field.

    live_migration_uri: qemu+tcp://%s/system
    live_migration_flag: VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_PERSIST_DEST
    live_migration_bandwidth: 0            # MiB/s, 0 = unlimited
    live_migration_retry_count: 30         # one-second retries of transient connection failures
    live_migration_completion_timeout: 800 # seconds per GiB of guest memory, then the timeout action
    live_migration_timeout_action: abort   # or force_complete (post-copy switch if permitted, else abort)
    live_migration_permit_auto_converge: false
    live_migration_permit_post_copy: false
    max_concurrent_live_migrations: 1      # outgoing per host (Nova's meaning)
    max_concurrent_incoming_migrations: 1  # incoming per host
    max_parallel_migrations: 2             # over the whole cluster
    progress_interval_s: 1.0               # 0.05 .. 60
    abort_on_interrupt: false              # Ctrl-C: abort in-flight migrations instead of letting them finish
    lock_dir: ""                           # host locks (default /run/rebalance as root; private, 0700)
    call_timeout_s: 20                     # any other libvirt call (lookups, listings) gives up after this
    abort_grace_s: 30                      # after an abort, this long for libvirt to return; then "unknown"
    room_wait_s: 60                        # a move whose destination is full now waits this long for room
    keepalive_interval_s: 5                # libvirt keepalive: a silent daemon is dead after interval x count
    keepalive_count: 3
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from executor.libvirt_flags import DEFAULT_MIGRATE_FLAGS, MIGRATE_FLAGS
from executor.schedule import Limits
from planner.domain.checks import quote
from planner.domain.errors import InputError
from planner.formats.uri_policy import check_migration_uri
from planner.formats.records import check_keys, expect_mapping
from planner.formats.scenario import read_document


class TimeoutAction(str, enum.Enum):
    ABORT = "abort"
    FORCE_COMPLETE = "force_complete"


@dataclass(frozen=True)
class ExecutorConfig:
    live_migration_uri: str = "qemu+tcp://%s/system"
    live_migration_flag: tuple[str, ...] = DEFAULT_MIGRATE_FLAGS
    live_migration_bandwidth: int = 0
    live_migration_retry_count: int = 30
    live_migration_completion_timeout: int = 800
    live_migration_timeout_action: TimeoutAction = TimeoutAction.ABORT
    live_migration_permit_auto_converge: bool = False
    live_migration_permit_post_copy: bool = False
    max_concurrent_live_migrations: int = 1
    max_concurrent_incoming_migrations: int = 1
    max_parallel_migrations: int = 2
    progress_interval_s: float = 1.0
    abort_on_interrupt: bool = False
    lock_dir: str = ""
    call_timeout_s: float = 20.0
    abort_grace_s: float = 30.0
    room_wait_s: float = 60.0
    keepalive_interval_s: int = 5
    keepalive_count: int = 3

    @property
    def limits(self) -> Limits:
        return Limits(self.max_parallel_migrations, self.max_concurrent_live_migrations,
                      self.max_concurrent_incoming_migrations)

    def completion_timeout_s(self, memory_mib: int) -> float:
        """Nova scales the completion timeout by the guest's memory in GiB (at least one GiB)."""
        return float(self.live_migration_completion_timeout) * max(1.0, memory_mib / 1024)

    def hard_deadline_s(self, memory_mib: int) -> float:
        """How long one migration may take in all before the runner stops waiting for libvirt: the
        completion timeout, the abort's grace, and the calls that verify where the VM ended."""
        return self.completion_timeout_s(memory_mib) + self.abort_grace_s + 4 * self.call_timeout_s

    def with_limits(self, max_parallel: int | None = None, per_host: int | None = None) -> "ExecutorConfig":
        changed = self
        if max_parallel is not None:
            changed = replace(changed, max_parallel_migrations=max_parallel)
        if per_host is not None:
            changed = replace(changed, max_concurrent_live_migrations=per_host,
                              max_concurrent_incoming_migrations=per_host)
        return changed


_NON_NEGATIVE = ("live_migration_bandwidth", "live_migration_retry_count")
_POSITIVE = ("live_migration_completion_timeout", "max_concurrent_live_migrations",
             "max_concurrent_incoming_migrations", "max_parallel_migrations", "keepalive_interval_s",
             "keepalive_count")
# Upper bounds keep every wait finite and every count sane (a week of timeout per GiB is already absurd).
_INT_MAXIMUM = {"live_migration_bandwidth": 1_000_000, "live_migration_retry_count": 1000,
                "live_migration_completion_timeout": 604_800, "max_concurrent_live_migrations": 64,
                "max_concurrent_incoming_migrations": 64, "max_parallel_migrations": 256,
                "keepalive_interval_s": 600, "keepalive_count": 100}
# Seconds, as (lowest, highest): finite, so no wait is ever disabled by `.inf`.
_SECONDS = {"progress_interval_s": (0.05, 60.0), "call_timeout_s": (1.0, 600.0), "abort_grace_s": (1.0, 3600.0),
            "room_wait_s": (0.0, 86_400.0)}
_BOOLEANS = ("live_migration_permit_auto_converge", "live_migration_permit_post_copy", "abort_on_interrupt")
_STRINGS = ("live_migration_uri", "lock_dir")


def load_config(path: str | Path | None) -> ExecutorConfig:
    """The settings in `path` over the defaults (no path: the defaults)."""
    if path is None:
        return ExecutorConfig()
    raw = read_document(path)
    try:
        return parse_config(raw or {})
    except InputError as error:
        raise error.in_file(str(path)) from None


def parse_config(raw: Any) -> ExecutorConfig:
    raw = expect_mapping(raw)
    check_keys(raw, [f.name for f in fields(ExecutorConfig)])
    values: dict[str, Any] = {}
    for key, value in raw.items():
        values[key] = _parse_field(key, value)
    return ExecutorConfig(**values)


def _parse_field(key: str, value: Any) -> Any:
    if key in _NON_NEGATIVE or key in _POSITIVE:
        lowest, highest = (1 if key in _POSITIVE else 0), _INT_MAXIMUM[key]
        if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
            raise InputError(key, f"must be an integer from {lowest} to {highest}, got {quote(value)}")
        return value
    if key in _BOOLEANS:
        if not isinstance(value, bool):
            raise InputError(key, f"must be true or false, got {quote(value)}")
        return value
    if key in _STRINGS:
        if not isinstance(value, str):
            raise InputError(key, f"must be text, got {quote(value)}")
        if key == "live_migration_uri":
            if "%s" not in value:
                raise InputError(key, f"must contain %s where the host name goes, got {quote(value)}")
            check_migration_uri(value.replace("%s", "host"), key)
        if key == "lock_dir" and value and not value.startswith("/"):
            raise InputError(key, f"must be an absolute directory, got {quote(value)}")
        return value
    if key in _SECONDS:
        lowest, highest = _SECONDS[key]
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or not lowest <= value <= highest):
            raise InputError(key, f"must be a number of seconds from {lowest:g} to {highest:g}, got {quote(value)}")
        return float(value)
    if key == "live_migration_timeout_action":
        try:
            return TimeoutAction(value)
        except ValueError:
            choices = ", ".join(a.value for a in TimeoutAction)
            raise InputError(key, f"must be one of {choices}, got {quote(value)}") from None
    return _parse_flags(key, value)


def _parse_flags(key: str, value: Any) -> tuple[str, ...]:
    """Nova writes the flags as one comma-separated string; a YAML list is accepted too."""
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list | tuple):
        raise InputError(key, f"must be a list of VIR_MIGRATE_* names, got {quote(value)}")
    parsed = []
    for index, name in enumerate(names):
        name = str(name).strip()
        if name not in MIGRATE_FLAGS:
            raise InputError(f"{key}[{index}]", f"unknown migration flag {quote(name)}")
        parsed.append(name)
    return tuple(parsed)


def config_record(config: ExecutorConfig) -> Mapping[str, Any]:
    """The settings as a plain mapping (for `--dry-run` output and the journal's run record)."""
    record: dict[str, Any] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        record[f.name] = value.value if isinstance(value, enum.Enum) else list(value) if isinstance(value, tuple) else value
    return record
