"""Cordons: hosts an operator took out of placement, recorded in STATE_DIR/cordons.json.

A cordon outlasts the command that made it: every later `plan`, `run` and `apply` reads this file
and treats a cordoned host as taking no VMs (operations.cordon_overlay). The file is replaced
whole (temporary file, fsync, rename, 0600), and a read-modify-write holds an exclusive fcntl lock
on STATE_DIR/cordons.lock, so two operators cordoning at once both land. The file is untrusted
like any other: bounded size, known fields only, names and texts checked; any fault is one
InputError naming the file and the field (exit 2). A missing directory or file means no cordons.

    {"version": 1, "hosts": {"lab-a": {"state": "cordoned", "who": "alice",
                                       "when": "2026-12-03T06:00:00+00:00", "why": "kernel update"}}}
"""

from __future__ import annotations

import fcntl
import json
import os
import pwd
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any

from planner.domain.checks import check_name, check_text, quote
from planner.domain.errors import InputError
from planner.formats.reading import load_json
from planner.formats.records import check_keys, expect_mapping, parse_time
from planner.formats.safe_files import open_private, private_dir, write_private

CORDON_FILE = "cordons.json"
LOCK_FILE = "cordons.lock"
VERSION = 1
CORDONED = "cordoned"
MAX_FILE_BYTES = 4 * 1024 * 1024  # some 20,000 cordons with long reasons; a bigger file is not ours
MAX_REASON = 500
MAX_WHO = 64


@dataclass(frozen=True)
class Cordon:
    host: str
    who: str
    when: datetime  # UTC
    why: str = ""

    def describe(self) -> str:
        """`cordoned by alice 2026-12-03T06:00Z (kernel update)`."""
        why = f" ({self.why})" if self.why else ""
        return f"cordoned by {self.who} {self.when.astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%MZ')}{why}"


def cordons_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / CORDON_FILE


def current_user() -> str:
    """Who is cordoning: the sudo caller when run through sudo, else the login of this uid."""
    for name in (os.environ.get("SUDO_USER"), os.environ.get("USER"), os.environ.get("LOGNAME")):
        if name and len(name) <= MAX_WHO and name.isprintable():
            return name
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def read_cordons(state_dir: str | Path) -> Mapping[str, Cordon]:
    """Host → its cordon; {} when the state directory or the file does not exist."""
    path = cordons_path(state_dir)
    if not path.exists():
        return MappingProxyType({})
    return MappingProxyType(_parse(_read(path), str(path)))


def cordon_of(state_dir: str | Path) -> Callable[[str], str]:
    """The executor's question before each step (ApplyOptions.closed_to): the destination's cordon,
    described, or "". Read afresh each time, so a cordon made while a plan runs counts at once."""
    def closed_to(host: str) -> str:
        cordon = read_cordons(state_dir).get(host)
        return cordon.describe() if cordon else ""
    return closed_to


def add_cordons(state_dir: str | Path, hosts: Iterable[str], who: str, why: str,
                now: datetime | None = None) -> tuple[Cordon, ...]:
    """Record each host as cordoned (a host cordoned again gets the new who/when/why)."""
    when = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    who, why = _line(who, "who", MAX_WHO), _line(why, "--reason", MAX_REASON)
    made = tuple(Cordon(check_name(host, "HOST"), who, when, why) for host in hosts)
    with _locked(state_dir) as path:
        cordons = _parse(_read(path), str(path)) if path.exists() else {}
        cordons.update({c.host: c for c in made})
        _write(path, cordons)
    return made


def remove_cordons(state_dir: str | Path, hosts: Iterable[str]) -> tuple[str, ...]:
    """Lift the cordons of `hosts`; returns the ones that were cordoned."""
    names = [check_name(host, "HOST") for host in hosts]
    path = cordons_path(state_dir)
    if not path.exists():
        return ()
    with _locked(state_dir) as path:
        cordons = _parse(_read(path), str(path)) if path.exists() else {}
        lifted = tuple(name for name in names if cordons.pop(name, None) is not None)
        if lifted:
            _write(path, cordons)
    return lifted


@contextmanager
def _locked(state_dir: str | Path) -> Iterator[Path]:
    directory = private_dir(state_dir, "--state-dir")
    fd = open_private(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, "--state-dir")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held for a few milliseconds by another cordon command at most
        yield directory / CORDON_FILE
    finally:
        os.close(fd)  # closing releases the lock


def _read(path: Path) -> str:
    source = str(path)
    try:
        fd = open_private(path, os.O_RDONLY | os.O_NONBLOCK, source)
        with os.fdopen(fd, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise InputError("", f"cannot read file: {error.strerror}", source) from None
    if len(data) > MAX_FILE_BYTES:
        raise InputError("", f"is more than the {MAX_FILE_BYTES:,} bytes a cordon file may have", source)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError("", f"is not UTF-8 text: invalid byte at offset {error.start}", source) from None


def _parse(text: str, source: str) -> dict[str, Cordon]:
    raw = load_json(text, source)
    try:
        raw = expect_mapping(raw)
        check_keys(raw, ("version", "hosts"), required=("version", "hosts"))
        if raw["version"] != VERSION:
            raise InputError("version", f"must be {VERSION}, got {quote(raw['version'])}")
        hosts = expect_mapping(raw["hosts"], "hosts")
        return {check_name(name, "hosts"): _parse_cordon(name, entry) for name, entry in hosts.items()}
    except InputError as error:
        raise error.in_file(source) from None


def _parse_cordon(name: str, raw: Any) -> Cordon:
    try:
        raw = expect_mapping(raw)
        check_keys(raw, ("state", "who", "when", "why"), required=("state", "who", "when"))
        if raw["state"] != CORDONED:
            raise InputError("state", f"must be {CORDONED!r}, got {quote(raw['state'])}")
        return Cordon(name, _line(raw["who"], "who", MAX_WHO), parse_time(raw["when"], "when"),
                      _line(raw.get("why", ""), "why", MAX_REASON))
    except InputError as error:
        raise error.within(f"hosts.{name}") from None


def _line(value: Any, field: str, limit: int) -> str:
    """Who and why end up inside one-line messages: printable text only, no newline to forge a line."""
    text = check_text(value, field, limit=limit)
    if not text.isprintable():
        raise InputError(field, f"must be printable text on one line, got {quote(text)}")
    return text


def _write(path: Path, cordons: Mapping[str, Cordon]) -> None:
    document = {"version": VERSION, "hosts": {
        name: {"state": CORDONED, "who": c.who, "when": c.when.astimezone(timezone.utc).isoformat(), "why": c.why}
        for name, c in sorted(cordons.items())}}
    write_private(path, json.dumps(document, indent=2) + "\n", "--state-dir")
