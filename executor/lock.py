"""One mutating command per cluster: an flock per host, taken by `apply`, `run` and anything that moves VMs.

Every host a command may touch is locked, so two plans for the same cluster, or `run` during an
`apply`, refuse each other whatever plan files they came from, while commands on disjoint clusters
run side by side. Lock file names are digests of host names, never text taken from a file, so no
name can point outside the lock directory. The directory is private (0700, ours, not a symlink)
and lock files are opened without following symlinks.

The kernel drops flocks when the process dies, so a crashed command never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from executor.errors import ApplyLockedError
from planner.formats.safe_files import open_private, private_dir

LOCK_DIR_ENV = "REBALANCE_LOCK_DIR"
ROOT_LOCK_DIR = "/run/rebalance"


def default_lock_dir() -> Path:
    """$REBALANCE_LOCK_DIR, else /run/rebalance for root, else the user's runtime directory."""
    if os.environ.get(LOCK_DIR_ENV):
        return Path(os.environ[LOCK_DIR_ENV])
    if os.geteuid() == 0:
        return Path(ROOT_LOCK_DIR)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "rebalance"
    return Path.home() / ".local" / "state" / "rebalance" / "locks"


def host_lock_name(host: str) -> str:
    return f"host-{hashlib.sha256(host.encode('utf-8')).hexdigest()[:24]}.lock"


class ClusterLock:
    """Exclusive, non-blocking flocks on every named host (and on `state_dir`'s run lock, when
    given: one history per state directory), all or none."""

    def __init__(self, hosts: Iterable[str], lock_dir: str | Path | None = None,
                 state_dir: str | Path | None = None) -> None:
        self.hosts = tuple(sorted(set(hosts)))
        self.lock_dir = Path(lock_dir) if lock_dir else default_lock_dir()
        self.state_dir = Path(state_dir) if state_dir else None
        self._fds: list[int] = []

    def __enter__(self) -> "ClusterLock":
        try:
            if self.state_dir is not None:
                self._take(private_dir(self.state_dir, "--state-dir") / "run.lock", f"state directory {self.state_dir}")
            directory = private_dir(self.lock_dir, "lock_dir")
            for host in self.hosts:
                self._take(directory / host_lock_name(host), f"host {host}")
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._release()

    def _take(self, path: Path, what: str) -> None:
        fd = open_private(path, os.O_RDWR | os.O_CREAT, "lock_dir")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise ApplyLockedError(f"another rebalance command holds {what} ({holder}); wait for it to "
                                   f"finish") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {_command_line()}\n".encode("utf-8", "replace"), 0)
        self._fds.append(fd)

    def _release(self) -> None:
        while self._fds:
            fd = self._fds.pop()
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _holder(fd: int) -> str:
    """What the holder wrote into the lock file (ours: a private directory), for the message."""
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return "holder unknown"
    return text.splitlines()[0] if text else "holder unknown"


def _command_line() -> str:
    words = [os.path.basename(sys.argv[0])] + sys.argv[1:3] if sys.argv else ["rebalance"]
    return " ".join(words)[:120]
