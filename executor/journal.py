"""The journal: an append-only, fsync'd JSON-lines record of what apply did, beside the plan.

plan.json → plan.journal.jsonl. Each line is one `JournalEntry`. It is written by one thread only
(the runner's), each line flushed and fsync'd before the next step is dispatched, so after a crash
it tells the truth up to the last line; a torn last line is ignored when reading. Resuming reads it
back to know where earlier runs parked VMs; where VMs are is always asked of the live cluster.
"""

from __future__ import annotations

import enum
import json
import os
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from planner.errors import InputError


class JournalEvent(str, enum.Enum):
    RUN_STARTED = "run-started"
    STEP_STARTED = "step-started"
    STEP_DONE = "step-done"
    STEP_SKIPPED = "step-skipped"
    STEP_FAILED = "step-failed"
    STEP_BLOCKED = "step-blocked"
    STEP_NOT_STARTED = "step-not-started"
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


class Journal:
    """Appends entries durably. Use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def __enter__(self) -> "Journal":
        self._file = self.path.open("a", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file:
            self._file.close()
            self._file = None

    def write(self, entry: JournalEntry) -> None:
        assert self._file is not None, "Journal.write outside its context"
        if not entry.time:
            entry = JournalEntry(**{**entry.__dict__, "time": now_text()})
        self._file.write(entry.to_json() + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())  # the line survives a crash before the next migration starts


def read_journal(path: Path) -> tuple[JournalEntry, ...]:
    """Every complete entry; a missing file is an empty journal, a torn last line is dropped."""
    if not path.exists():
        return ()
    lines = path.read_text(encoding="utf-8").splitlines()
    entries = []
    known = {f.name for f in fields(JournalEntry)}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            raw = {k: v for k, v in raw.items() if k in known}
            raw["event"] = JournalEvent(raw["event"])
            entries.append(JournalEntry(**raw))
        except (ValueError, KeyError, TypeError) as error:
            if number == len(lines):
                break  # the crash hit mid-line: everything before it is intact
            raise InputError(f"line {number}", f"unreadable journal entry: {error}", str(path)) from None
    return tuple(entries)


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
