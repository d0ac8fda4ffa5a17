"""The journal: an append-only, fsync'd JSON-lines record of what apply did, beside the plan.

plan.json → plan.journal.jsonl (0600, never through a symlink). Each line is one `JournalEntry`.
It is written by one thread only (the runner's) and ahead of the work: a step's intent
(step-started) is fsync'd before the step is submitted, its outcome after it ends. So after a crash
the journal names every migration that may have run, and resuming knows where a VM may have been
parked; where VMs are is always asked of the live cluster. A torn last line is dropped when
reading and cut off before the next run appends.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from planner.domain.errors import InputError, RebalanceError
from planner.domain.checks import quote
from planner.formats.reading import load_json, one_line
from planner.formats.append_log import AppendLog, complete_lines


class JournalEvent(str, enum.Enum):
    RUN_STARTED = "run-started"
    STEP_STARTED = "step-started"
    STEP_DONE = "step-done"
    STEP_SKIPPED = "step-skipped"
    STEP_FAILED = "step-failed"
    STEP_BLOCKED = "step-blocked"
    STEP_NOT_STARTED = "step-not-started"
    STEP_UNKNOWN = "step-unknown"
    RUN_FINISHED = "run-finished"
    RUN_INTERRUPTED = "run-interrupted"


@dataclass(frozen=True)
class JournalEntry:
    event: JournalEvent
    run: int
    time: str = ""
    plan: str = ""  # the plan's fingerprint: a journal beside a replaced plan.json is not resumed
    vm: str = ""
    kind: str = ""
    source: str = ""
    destination: str = ""
    reason: str = ""
    duration_s: float = 0.0
    location: str = ""  # where the VM is after this event, as verified ("" on results: gone or unknown)
    time_elapsed_ms: int = 0  # libvirt's jobStats of a completed migration: total and guest pause time
    downtime_ms: int = 0

    def to_json(self) -> str:
        record = asdict(self)
        record["event"] = self.event.value
        return json.dumps({k: v for k, v in record.items() if v not in ("", 0.0) or k in ("event", "run")})


def journal_path(plan_path: str | Path) -> Path:
    return Path(plan_path).with_suffix(".journal.jsonl")


def now_text() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class JournalWriteError(RebalanceError):
    """The journal could not be written (disk full, I/O error): nothing more may be dispatched."""


class Journal:
    """Appends entries durably (write-ahead: the runner writes a step's intent before it submits
    the step), through planner.formats.append_log. Use as a context manager.

    On open, a torn last line left by a crash is cut off; a failed write breaks the journal: every
    later write raises, so the runner stops dispatching.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._log = AppendLog(path, JournalWriteError, "journal")

    def __enter__(self) -> "Journal":
        self._log.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._log.__exit__()

    @property
    def repaired_bytes(self) -> int:
        """How much of a torn last line was cut off on open."""
        return self._log.repaired_bytes

    @property
    def broken(self) -> str:
        """Why writing failed ("" while the journal works)."""
        return self._log.broken

    def write(self, entry: JournalEntry) -> None:
        if not entry.time:
            entry = JournalEntry(**{**entry.__dict__, "time": now_text()})
        self._log.append(entry.to_json())


def read_journal(path: Path) -> tuple[JournalEntry, ...]:
    """Every complete entry; a missing file is an empty journal, a torn last line is dropped."""
    entries = []
    for number, line in complete_lines(path, "journal"):
        try:
            entries.append(_parse_entry(load_json(line, str(path))))
        except InputError as error:  # malformed JSON, a duplicate key, too deep: the reading layer's words
            raise InputError(f"line {number}", f"unreadable journal entry: {one_line(error.message)}",
                             str(path)) from None
        except (ValueError, KeyError, TypeError) as error:
            raise InputError(f"line {number}", f"unreadable journal entry: {one_line(error)}", str(path)) from None
    return tuple(entries)


_STRING_FIELDS = ("time", "plan", "vm", "kind", "source", "destination", "reason", "location")
_INT_FIELDS = ("time_elapsed_ms", "downtime_ms")


def _parse_entry(raw: Any) -> JournalEntry:
    if not isinstance(raw, dict):
        raise ValueError("an entry must be a JSON object")
    known = {f.name for f in fields(JournalEntry)}
    values = {k: v for k, v in raw.items() if k in known}
    values["event"] = JournalEvent(values["event"])
    run = values.get("run")
    if isinstance(run, bool) or not isinstance(run, int) or not 0 < run < 2**31:
        raise ValueError(f"run must be a positive integer, got {quote(run)}")
    for name in _STRING_FIELDS:
        if not isinstance(values.get(name, ""), str):
            raise ValueError(f"{name} must be text")
    for name in _INT_FIELDS:
        value = values.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer")
    duration = values.get("duration_s", 0.0)
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not math.isfinite(duration):
        raise ValueError("duration_s must be a finite number")
    return JournalEntry(**values)


@dataclass(frozen=True)
class History:
    """What earlier runs of this plan left behind, as far as resuming needs it."""

    runs: int
    parked_at: dict[str, str]  # VM → parking host of a park step that started (maybe completed unjournaled)


def history_of(entries: tuple[JournalEntry, ...], fingerprint: str) -> History:
    runs = 0
    ours = False
    parked: dict[str, str] = {}
    for entry in entries:
        if entry.event is JournalEvent.RUN_STARTED:
            ours = entry.plan == fingerprint
            runs = entry.run if ours else runs
            continue
        if not ours:
            continue
        # A park that started may have completed just before a crash: the VM may be on the parking host.
        if entry.kind == "park" and entry.event in (JournalEvent.STEP_STARTED, JournalEvent.STEP_DONE):
            parked[entry.vm] = entry.destination
        elif entry.kind != "park" and entry.event is JournalEvent.STEP_DONE:
            parked.pop(entry.vm, None)
    last_run = max((e.run for e in entries), default=0)
    return History(max(runs, last_run), parked)
