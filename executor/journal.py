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
import os
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from planner.domain.errors import InputError, RebalanceError
from planner.domain.checks import quote
from planner.formats.reading import load_json, one_line
from planner.formats.safe_files import open_private


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
    the step). Use as a context manager.

    On open, a torn last line left by a crash is cut off, so the next entry starts on a line of its
    own instead of being glued to the fragment. A failed write truncates back to the last good
    line and breaks the journal: every later write raises, so the runner stops dispatching.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.repaired_bytes = 0  # how much of a torn last line was cut off on open
        self._fd: int | None = None
        self._good_size = 0
        self._broken = ""

    def __enter__(self) -> "Journal":
        self._fd = open_private(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, str(self.path))
        try:
            self.repaired_bytes = _cut_torn_tail(self._fd)
            self._good_size = os.fstat(self._fd).st_size
        except OSError as error:
            self.__exit__()
            raise JournalWriteError(f"cannot repair the journal {self.path}: {error.strerror}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def broken(self) -> str:
        """Why writing failed ("" while the journal works)."""
        return self._broken

    def write(self, entry: JournalEntry) -> None:
        assert self._fd is not None, "Journal.write outside its context"
        if self._broken:
            raise JournalWriteError(self._broken)
        if not entry.time:
            entry = JournalEntry(**{**entry.__dict__, "time": now_text()})
        data = (entry.to_json() + "\n").encode("utf-8")
        try:
            _write_all(self._fd, data)
            os.fsync(self._fd)  # the line survives a crash before the step it announces starts
        except OSError as error:
            self._broken = f"cannot write the journal {self.path}: {error.strerror}"
            _quietly_truncate(self._fd, self._good_size)
            raise JournalWriteError(self._broken) from None
        self._good_size += len(data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _quietly_truncate(fd: int, size: int) -> None:
    try:
        os.ftruncate(fd, size)
    except OSError:
        pass  # the reader drops a torn last line anyway


def _cut_torn_tail(fd: int) -> int:
    """Truncate the file after its last newline; returns how many bytes were cut."""
    size = os.fstat(fd).st_size
    end = size
    while end > 0:
        start = max(0, end - 4096)
        chunk = os.pread(fd, end - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            break
        end = start
    else:
        keep = 0
    if keep < size:
        os.ftruncate(fd, keep)
        os.fsync(fd)
    return size - keep


MAX_JOURNAL_BYTES = 256 * 2**20  # about a million entries: far beyond any plan's journal


def read_journal(path: Path) -> tuple[JournalEntry, ...]:
    """Every complete entry; a missing file is an empty journal, a torn last line is dropped."""
    if not os.path.lexists(path):
        return ()
    text = _read_text(path)
    lines = text.split("\n")
    complete, torn = lines[:-1], lines[-1]  # text after the last newline never finished being written
    del torn
    entries = []
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            entries.append(_parse_entry(load_json(line, str(path))))
        except InputError as error:  # malformed JSON, a duplicate key, too deep: the reading layer's words
            raise InputError(f"line {number}", f"unreadable journal entry: {one_line(error.message)}",
                             str(path)) from None
        except (ValueError, KeyError, TypeError) as error:
            raise InputError(f"line {number}", f"unreadable journal entry: {one_line(error)}", str(path)) from None
    return tuple(entries)


def _read_text(path: Path) -> str:
    fd = open_private(path, os.O_RDONLY, str(path))
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_JOURNAL_BYTES + 1)
    if len(data) > MAX_JOURNAL_BYTES:
        raise InputError("", f"the journal is larger than {MAX_JOURNAL_BYTES // 2**20} MiB", str(path))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError("", f"the journal is not UTF-8 text (byte {error.start})", str(path)) from None


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
