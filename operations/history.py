"""The run history: one JSON line per `rebalance run`, appended and fsync'd, never rewritten.

It answers "what ran when, and what did it do" (`rebalance history`) and "which VMs moved
recently" (the cooldown that keeps nightly runs from moving the same VMs back and forth).
Each record's outcome is one of operations.run_outcome.RunOutcome: done, nothing-to-do,
partly-failed, window-closed, infeasible, interrupted, error.
A torn last line (a crash mid-write) is ignored when reading; anything else unreadable is an
error naming the file and the line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from operations.run_outcome import RunOutcome, parse_outcome
from planner.domain.checks import check_int, check_name, check_text, quote
from planner.domain.errors import InputError
from planner.formats.records import check_keys, expect_mapping, parse_list
from planner.formats.safe_files import open_private, private_dir

HISTORY_FILE = "history.jsonl"
DEFAULT_STATE_DIR = "/var/lib/rebalance"


@dataclass(frozen=True)
class VMMove:
    vm: str
    source: str
    destination: str
    finished: datetime  # when the migration was verified on the destination


@dataclass(frozen=True)
class RunRecord:
    started: datetime
    finished: datetime
    goal: str
    outcome: RunOutcome
    moves_done: int = 0
    moves_failed: int = 0
    moves_skipped: int = 0
    moves_not_run: int = 0
    moved_mib: int = 0
    hosts_freed: tuple[str, ...] = ()
    moves: tuple[VMMove, ...] = ()
    plan: str = ""  # the plan file of this run
    note: str = ""

    @property
    def moved_gib(self) -> float:
        return self.moved_mib / 1024


def history_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / HISTORY_FILE


def run_to_json(record: RunRecord) -> str:
    raw: dict[str, Any] = asdict(record)
    raw["outcome"] = record.outcome.value
    raw["started"] = record.started.isoformat()
    raw["finished"] = record.finished.isoformat()
    raw["hosts_freed"] = list(record.hosts_freed)
    raw["moves"] = [{**asdict(m), "finished": m.finished.isoformat()} for m in record.moves]
    return json.dumps(raw, separators=(",", ":"))


def append_run(path: str | Path, record: RunRecord) -> None:
    """Append one line and fsync it (and the directory, the first time the file appears)."""
    target = Path(path)
    private_dir(target.parent, "--state-dir")
    created = not target.exists()
    fd = open_private(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, str(target))
    with os.fdopen(fd, "a", encoding="utf-8") as file:
        file.write(run_to_json(record) + "\n")
        file.flush()
        os.fsync(file.fileno())
    if created:
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def read_runs(path: str | Path) -> tuple[RunRecord, ...]:
    """Every complete record, oldest first; a missing file is an empty history."""
    source = Path(path)
    if not source.exists():
        return ()
    lines = _read_lines(source)
    runs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = _load_line(line)
        except InputError as error:
            if number == len(lines):
                break  # torn by a crash mid-write: the last line, cut short
            raise _on_line(error, number, source) from None
        try:
            runs.append(parse_run(raw))
        except InputError as error:
            raise _on_line(error, number, source) from None
    return tuple(runs)


def _on_line(error: InputError, number: int, source: Path) -> InputError:
    """`history.jsonl: line 3: moves[0].vm: ...`: the line first, then the field within it."""
    message = f"{error.field}: {error.message}" if error.field else error.message
    return InputError(f"line {number}", message, str(source))


def _read_lines(source: Path) -> list[str]:
    try:
        data = source.read_bytes()
    except OSError as error:
        raise InputError("", f"cannot read file: {error.strerror}", str(source)) from None
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise InputError("", f"is not UTF-8 text: invalid byte at offset {error.start}", str(source)) from None


def _load_line(line: str) -> Any:
    try:
        return json.loads(line, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:
        raise InputError("", "unreadable run record: nested too deeply") from None
    except ValueError as error:
        raise InputError("", f"unreadable run record: {quote(str(error))}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError("duplicate key")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def parse_run(raw: Any) -> RunRecord:
    """One history line; every field typed, so a hand-edited or damaged line is one InputError."""
    raw = expect_mapping(raw)
    # Fields a newer rebalance may add are skipped, so an older one still reads the history.
    check_keys(raw, tuple(raw), required=("started", "finished", "goal", "outcome"))
    counts = {name: check_int(raw.get(name, 0), name, maximum=2**62)
              for name in ("moves_done", "moves_failed", "moves_skipped", "moves_not_run", "moved_mib")}
    return RunRecord(
        started=_time(raw["started"], "started"),
        finished=_time(raw["finished"], "finished"),
        goal=check_text(raw["goal"], "goal", limit=64),
        outcome=parse_outcome(raw["outcome"]),
        hosts_freed=parse_list(raw.get("hosts_freed", []), "hosts_freed", lambda item: check_name(item, "")),
        moves=parse_list(raw.get("moves", []), "moves", _parse_move),
        plan=check_text(raw.get("plan", ""), "plan"),
        note=check_text(raw.get("note", ""), "note"),
        **counts,
    )


def _parse_move(raw: Any) -> VMMove:
    raw = expect_mapping(raw)
    check_keys(raw, ("vm", "source", "destination", "finished"), required=("vm", "source", "destination", "finished"))
    return VMMove(check_name(raw["vm"], "vm"), check_name(raw["source"], "source"),
                  check_name(raw["destination"], "destination"), _time(raw["finished"], "finished"))


def _time(value: Any, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise InputError(field, f"must be an ISO 8601 timestamp, got {quote(value)}") from None
    if parsed.tzinfo is None:
        raise InputError(field, f"must carry a time zone, got {quote(value)}")
    return parsed


def cooldown(runs: Iterable[RunRecord], now: datetime, hours: float) -> dict[str, str]:
    """VM → why it is in cooldown, from its latest move within `hours` before `now`."""
    if hours <= 0:
        return {}
    since = now - timedelta(hours=hours)
    latest: dict[str, VMMove] = {}
    for run in runs:
        for move in run.moves:
            if since <= move.finished <= now and (move.vm not in latest or move.finished > latest[move.vm].finished):
                latest[move.vm] = move
    return {vm: f"in cooldown: moved {_ago(now - m.finished)} ago ({m.source} → {m.destination}; cooldown {hours:g} h)"
            for vm, m in sorted(latest.items())}


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
