"""The operator's maintenance hook (`rebalance maintain --hook 'CMD {host}'`), run safely.

No shell is involved: the template is split into words like a shell would split them
(`shlex.split`: quotes group, backslashes escape) and `{host}` is replaced inside each word with
the host's name — so `;`, `&&`, `|`, `$VAR` and globs stay literal arguments, and a host name can
never become a command. A template without `{host}` is allowed: the host is also in the hook's
environment as REBALANCE_HOST. The hook runs on this machine; operators who want a shell say so
themselves, e.g. `--hook 'sh -c "ssh root@$REBALANCE_HOST apt-get -y upgrade && ssh root@$REBALANCE_HOST
reboot"'`, or let the host's shell read one quoted word: `--hook "ssh root@{host} 'apt-get -y upgrade && reboot'"`.

The hook runs with stdin closed (/dev/null: a prompt fails instead of waiting for nobody), its
output appended to a log file of its own (mode 0600: upgrade output may name secrets), and in a
process group of its own, so that at the timeout the whole group — the hook and whatever it
started — gets SIGTERM, then SIGKILL a few seconds later. A hook that exits normally leaves its
background children alone (a `reboot &` must be allowed to happen).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType

from planner.domain.errors import InputError, RebalanceError
from planner.formats.safe_files import PRIVATE_FILE_MODE, open_private

HOST_PLACEHOLDER = "{host}"
HOST_VARIABLE = "REBALANCE_HOST"
KILL_GRACE_S = 5.0  # between SIGTERM and SIGKILL to the hook's process group
TAIL_LINES = 20
TAIL_BYTES = 64 * 1024  # the tail is read from at most this much of the end of the log
MISSING, NOT_RUNNABLE = 127, 126  # a shell's exit codes for the same two failures
_NO_ENV: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class HookResult:
    returncode: int | None  # None = killed at the timeout
    seconds: float
    tail: str  # the last lines of its output (or why it could not start), for the error message

    def ok(self) -> bool:
        return self.returncode == 0


def hook_argv(template: str, host: str) -> tuple[str, ...]:
    try:
        words = shlex.split(template)
    except ValueError as error:
        raise InputError("--hook", f"cannot split {template!r} into words: {error}") from None
    if not words:
        raise InputError("--hook", "is empty: give the command to run on each host, e.g. 'ssh root@{host} reboot'")
    return tuple(word.replace(HOST_PLACEHOLDER, host) for word in words)


def run_hook(argv: Sequence[str], log_path: Path, timeout_s: float, env_extra: Mapping[str, str] = _NO_ENV,
             *, host: str | None = None) -> HookResult:
    """Run `argv` to completion or `timeout_s`. `host` (when given) goes into the environment as
    REBALANCE_HOST, then `env_extra` on top. The log's directory must exist."""
    env = {**os.environ, **({HOST_VARIABLE: host} if host is not None else {}), **env_extra}
    log = _open_log(log_path)
    try:
        os.write(log, f"=== {_now()} {shlex.join(argv)}\n".encode())
        start_offset = os.lseek(log, 0, os.SEEK_END)
        began = time.monotonic()
        returncode, why_not = _run(argv, log, timeout_s, env)
        seconds = time.monotonic() - began
        tail = why_not or _tail(log, start_offset)
        ending = "killed at the timeout" if returncode is None else f"exit {returncode}"
        footer = f"{why_not}\n" if why_not else ""
        os.write(log, f"{footer}=== {ending} after {seconds:.1f} s\n".encode())
    finally:
        os.close(log)
    return HookResult(returncode, seconds, tail)


def _open_log(path: Path) -> int:
    """Appended to (and read back for the tail), created 0600; an existing log is tightened to
    0600 too. A symlink, or a file that is not ours, is refused (safe_files.open_private)."""
    try:
        fd = open_private(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, "hook log")
    except InputError as error:
        raise RebalanceError(f"cannot open the hook log {path}: {error.message}") from None
    os.fchmod(fd, PRIVATE_FILE_MODE)
    return fd


def _run(argv: Sequence[str], log: int, timeout_s: float, env: Mapping[str, str]) -> tuple[int | None, str]:
    """(exit code or None when killed, "" or why it could not start)."""
    try:
        process = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   env=dict(env), start_new_session=True, close_fds=True)
    except FileNotFoundError as error:
        return MISSING, f"cannot run {argv[0]}: {error.strerror or error}"
    except OSError as error:  # not executable, a directory, ...
        return NOT_RUNNABLE, f"cannot run {argv[0]}: {error.strerror or error}"
    try:
        return process.wait(timeout=timeout_s), ""
    except subprocess.TimeoutExpired:
        _kill_group(process)
        return None, ""


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole group, KILL_GRACE_S for the leader to go, then SIGKILL to whatever of
    the group is left (a grandchild may ignore SIGTERM or outlive its parent). The group id stays
    reserved while any member lives, so the signal cannot reach a stranger."""
    _signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()


def _signal_group(group: int, number: signal.Signals) -> None:
    try:
        os.killpg(group, number)
    except ProcessLookupError:
        pass  # the group is already empty


def _tail(log: int, start_offset: int) -> str:
    """The last lines this run wrote to the log."""
    end = os.lseek(log, 0, os.SEEK_END)
    begin = max(start_offset, end - TAIL_BYTES)
    lines = os.pread(log, end - begin, begin).decode("utf-8", errors="replace").splitlines()
    return "\n".join(lines[-TAIL_LINES:])


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
