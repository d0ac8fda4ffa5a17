"""One apply at a time: an flock beside the plan and one per cluster (by the plan's fingerprint).

The kernel drops flocks when the process dies, so a crashed apply never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

from executor.errors import ApplyLockedError


def lock_paths(plan_path: str | Path, fingerprint: str, lock_dir: str = "") -> tuple[Path, ...]:
    digest = fingerprint.split(":")[-1][:16] or "unknown"
    shared = Path(lock_dir or tempfile.gettempdir()) / "rebalance-locks"
    return (Path(plan_path).with_suffix(".lock"), shared / f"cluster-{digest}.lock")


class ApplyLock:
    def __init__(self, paths: tuple[Path, ...]) -> None:
        self.paths = paths
        self._fds: list[int] = []

    def __enter__(self) -> "ApplyLock":
        try:
            for path in self.paths:
                self._take(path)
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._release()

    def _take(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ApplyLockedError(
                f"another rebalance apply is already running on this plan or cluster (lock {path} is held); "
                f"wait for it to finish") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fds.append(fd)

    def _release(self) -> None:
        while self._fds:
            fd = self._fds.pop()
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
