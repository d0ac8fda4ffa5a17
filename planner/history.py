"""The run history: one JSON line per `rebalance run`, appended and fsync'd, never rewritten.

It answers "what ran when, and what did it do" (`rebalance history`) and "which VMs moved
recently" (the cooldown that keeps nightly runs from moving the same VMs back and forth).
A torn last line (a crash mid-write) is ignored when reading; anything else unreadable is an
error naming the file and the line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from planner.safe_files import open_private, private_dir
from planner.errors import InputError

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
    outcome: str  # done | nothing-to-do | partly-failed | window-closed | infeasible | interrupted
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
    lines = source.read_text(encoding="utf-8").splitlines()
    runs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            runs.append(parse_run(json.loads(line)))
        except (ValueError, KeyError, TypeError) as error:
            if number == len(lines):
                break  # torn by a crash mid-write
            raise InputError(f"line {number}", f"unreadable run record: {error}", str(source)) from None
    return tuple(runs)


def parse_run(raw: Mapping[str, Any]) -> RunRecord:
    moves = tuple(VMMove(m["vm"], m["source"], m["destination"], _time(m["finished"])) for m in raw.get("moves", ()))
    known = {f for f in RunRecord.__dataclass_fields__} - {"started", "finished", "moves", "hosts_freed"}
    values = {k: v for k, v in raw.items() if k in known}
    return RunRecord(started=_time(raw["started"]), finished=_time(raw["finished"]), moves=moves,
                     hosts_freed=tuple(raw.get("hosts_freed", ())), **values)


def _time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"time without a time zone: {text!r}")
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
