"""The maintenance journal: what a rolling maintenance run decided and did, host by host.

STATE_DIR/maintenance/<UTC time>/run.json holds the run as asked (hosts in order, groups, hook,
flags, the doctor failures seen before it started); journal.jsonl beside it gets one fsync'd
line per phase of each host, written before the next phase starts (planner/formats/append_log).
A re-run reads both to continue from the phase a host had reached: a hook recorded done is never
run again, a drain or a hook that did not finish is. Both files are untrusted when read back:
every field is checked, and a record that does not parse is one line naming file and line.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from planner.domain.checks import check_name, quote
from planner.domain.errors import InputError
from planner.formats.append_log import AppendLog, complete_lines
from planner.formats.reading import load_json, one_line, read_document
from planner.formats.safe_files import private_dir, write_private

MAINTENANCE_DIR = "maintenance"
RUN_FILE = "run.json"
JOURNAL_FILE = "journal.jsonl"
MAX_TEXT = 4000


class Phase(str, enum.Enum):
    RUN_STARTED = "run-started"
    RUN_RESUMED = "run-resumed"
    CORDONED = "cordoned"
    DRAIN_STARTED = "drain-started"  # vms: what was on the host when its first drain started
    DRAINED = "drained"
    POWERED_OFF = "powered-off"  # vms: guests that could not leave, shut down to drain it (started again later)
    HOOK_STARTED = "hook-started"  # detail: the boot id before the hook, when one could be read
    HOOK_DONE = "hook-done"
    HOOK_FAILED = "hook-failed"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    POWERED_ON = "powered-on"  # vms: those guests started again, before the uncordon
    UNCORDONED = "uncordoned"
    RETURNED = "returned"
    RUN_STOPPED = "run-stopped"
    RUN_FINISHED = "run-finished"


# How far a host got: a re-run continues after the highest of these.
MILESTONES = {Phase.DRAINED: 1, Phase.HOOK_DONE: 2, Phase.HEALTHY: 3, Phase.UNCORDONED: 4, Phase.RETURNED: 5}


def done_milestone(returning: bool) -> int:
    """The milestone at which a host is finished: uncordoned, or with --return, given its VMs back."""
    return MILESTONES[Phase.RETURNED if returning else Phase.UNCORDONED]


@dataclass(frozen=True)
class RunDefinition:
    hosts: tuple[str, ...]  # as the operator named them
    groups: tuple[tuple[str, ...], ...]  # the order used, N hosts at a time
    hook: str
    returning: bool
    expect_reboot: bool
    health_timeout_s: float
    hook_timeout_s: float
    doctor_baseline: Mapping[str, str] = field(default_factory=dict)  # failing checks before the run

    def same_request(self, hosts: Sequence[str], hook: str, returning: bool, parallel: int) -> bool:
        return (sorted(self.hosts) == sorted(hosts) and self.hook == hook and self.returning == returning
                and max(len(g) for g in self.groups) == min(parallel, len(self.hosts)))


@dataclass(frozen=True)
class Record:
    time: str
    phase: Phase
    host: str = ""
    detail: str = ""
    vms: tuple[str, ...] = ()

    def to_json(self) -> str:
        raw: dict[str, Any] = {"time": self.time, "phase": self.phase.value}
        raw.update({k: v for k, v in (("host", self.host), ("detail", self.detail)) if v})
        if self.vms:
            raw["vms"] = list(self.vms)
        return json.dumps(raw)


def runs_dir(state_dir: str | Path) -> Path:
    return Path(state_dir) / MAINTENANCE_DIR


def new_run_dir(state_dir: str | Path, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    private_dir(state_dir, "--state-dir")
    return private_dir(runs_dir(state_dir) / stamp, "--state-dir")


def write_definition(run_dir: Path, definition: RunDefinition) -> None:
    document = {"version": 1, "hosts": list(definition.hosts), "groups": [list(g) for g in definition.groups],
                "hook": definition.hook, "returning": definition.returning, "expect_reboot": definition.expect_reboot,
                "health_timeout_s": definition.health_timeout_s, "hook_timeout_s": definition.hook_timeout_s,
                "doctor_baseline": dict(definition.doctor_baseline)}
    write_private(run_dir / RUN_FILE, json.dumps(document, indent=2) + "\n", "--state-dir")


def read_definition(run_dir: Path) -> RunDefinition:
    path = run_dir / RUN_FILE
    raw = read_document(path)  # the one reading layer: bounded, a regular file, strict JSON
    try:
        return _parse_definition(raw)
    except (ValueError, TypeError, KeyError) as error:
        raise InputError("", f"unreadable maintenance run: {one_line(error)}", str(path)) from None


def _parse_definition(raw: Any) -> RunDefinition:
    if not isinstance(raw, dict) or raw.get("version") != 1:
        raise ValueError("not a version 1 maintenance run")
    hosts = tuple(check_name(h, "hosts") for h in _list(raw["hosts"], "hosts"))
    groups = tuple(tuple(check_name(h, "groups") for h in _list(g, "groups")) for g in _list(raw["groups"], "groups"))
    if sorted(h for g in groups for h in g) != sorted(hosts) or len(set(hosts)) != len(hosts) or not groups:
        raise ValueError("groups must hold each host exactly once")
    baseline = raw.get("doctor_baseline", {})
    if not isinstance(baseline, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in baseline.items()):
        raise ValueError("doctor_baseline must map check names to text")
    return RunDefinition(hosts, groups, _text(raw["hook"], "hook"), _flag(raw["returning"], "returning"),
                         _flag(raw["expect_reboot"], "expect_reboot"), _seconds(raw["health_timeout_s"]),
                         _seconds(raw["hook_timeout_s"]), baseline)


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{name} must be a non-empty list")
    return value


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ValueError(f"{name} must be text of at most {MAX_TEXT} characters, got {quote(value)}")
    return value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {quote(value)}")
    return value


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 7 * 86400:
        raise ValueError(f"a timeout must be a number of seconds up to a week, got {quote(value)}")
    return float(value)


def read_records(run_dir: Path) -> tuple[Record, ...]:
    path = run_dir / JOURNAL_FILE
    records = []
    for number, line in complete_lines(path, "maintenance journal"):
        try:
            records.append(_parse_record(load_json(line, str(path))))
        except InputError as error:
            raise InputError(f"line {number}", f"unreadable record: {one_line(error.message)}", str(path)) from None
        except (ValueError, KeyError, TypeError) as error:
            raise InputError(f"line {number}", f"unreadable record: {one_line(error)}", str(path)) from None
    return tuple(records)


def _parse_record(raw: Any) -> Record:
    if not isinstance(raw, dict):
        raise ValueError("a record must be a JSON object")
    host = raw.get("host", "")
    vms = tuple(check_name(v, "vms") for v in raw.get("vms", []) or [])
    return Record(_text(raw["time"], "time"), Phase(raw["phase"]), check_name(host, "host") if host else "",
                  _text(raw.get("detail", ""), "detail"), vms)


class MaintenanceJournal:
    """Appends records durably; use as a context manager."""

    def __init__(self, run_dir: Path) -> None:
        self._log = AppendLog(run_dir / JOURNAL_FILE, what="maintenance journal")

    def __enter__(self) -> "MaintenanceJournal":
        self._log.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._log.__exit__()

    def record(self, phase: Phase, host: str = "", detail: str = "", vms: Sequence[str] = ()) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        self._log.append(Record(now, phase, host, one_line(detail, MAX_TEXT) if detail else "", tuple(vms)).to_json())


def milestone(records: Sequence[Record], host: str) -> int:
    """How far `host` got: 0 nothing finished, then drained, hook done, healthy, uncordoned, returned."""
    return max((MILESTONES.get(r.phase, 0) for r in records if r.host == host), default=0)


def first(records: Sequence[Record], host: str, phase: Phase) -> Record | None:
    return next((r for r in records if r.host == host and r.phase is phase), None)


def last(records: Sequence[Record], host: str, phase: Phase) -> Record | None:
    return next((r for r in reversed(records) if r.host == host and r.phase is phase), None)


def finished(records: Sequence[Record]) -> bool:
    return any(r.phase is Phase.RUN_FINISHED for r in records)


def unfinished_run(state_dir: str | Path) -> Path | None:
    """The latest run directory whose journal has no run-finished record (None when all finished)."""
    root = runs_dir(state_dir)
    if not root.is_dir():
        return None
    for run_dir in sorted((p for p in root.iterdir() if p.is_dir() and not p.is_symlink()), reverse=True):
        if (run_dir / RUN_FILE).exists() and not finished(read_records(run_dir)):
            return run_dir
    return None
