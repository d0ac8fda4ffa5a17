"""A durable, append-only JSON-lines file: each line fsync'd before the caller goes on, a torn last
line (left by a crash mid-write) cut off before the next append and ignored when reading.

The executor's journal (one line per migration step) and the maintenance journal (one line per
host phase) are both this file; each owns its own records and how to parse them.
"""

from __future__ import annotations

import os
from pathlib import Path

from planner.domain.errors import InputError, RebalanceError
from planner.formats.safe_files import open_private

MAX_LOG_BYTES = 256 * 2**20  # about a million lines: far beyond any plan's or maintenance run's


class LogWriteError(RebalanceError):
    """The file could not be written (disk full, I/O error): the caller must not go on."""


class AppendLog:
    """Appends lines durably (0600, never through a symlink). Use as a context manager.

    On open, a torn last line is cut off, so the next line starts on a line of its own instead of
    being glued to the fragment. A failed write truncates back to the last good line and breaks
    the log: every later write raises.
    """

    def __init__(self, path: Path, error: type[RebalanceError] = LogWriteError, what: str = "log") -> None:
        self.path = path
        self.repaired_bytes = 0  # how much of a torn last line was cut off on open
        self._error = error
        self._what = what
        self._fd: int | None = None
        self._good_size = 0
        self._broken = ""

    def __enter__(self) -> "AppendLog":
        self._fd = open_private(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, str(self.path))
        try:
            self.repaired_bytes = _cut_torn_tail(self._fd)
            self._good_size = os.fstat(self._fd).st_size
        except OSError as error:
            self.__exit__()
            raise self._error(f"cannot repair the {self._what} {self.path}: {error.strerror}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def broken(self) -> str:
        """Why writing failed ("" while the log works)."""
        return self._broken

    def append(self, line: str) -> None:
        assert self._fd is not None, "AppendLog.append outside its context"
        if self._broken:
            raise self._error(self._broken)
        data = (line + "\n").encode("utf-8")
        try:
            _write_all(self._fd, data)
            os.fsync(self._fd)  # the line survives a crash before the work it announces starts
        except OSError as error:
            self._broken = f"cannot write the {self._what} {self.path}: {error.strerror}"
            _quietly_truncate(self._fd, self._good_size)
            raise self._error(self._broken) from None
        self._good_size += len(data)


def complete_lines(path: Path, what: str = "log") -> list[tuple[int, str]]:
    """(line number, text) of every complete, non-blank line; a missing file has none, and text
    after the last newline (never finished being written) is dropped."""
    if not os.path.lexists(path):
        return []
    lines = _read_text(path, what).split("\n")[:-1]
    return [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]


def _read_text(path: Path, what: str) -> str:
    fd = open_private(path, os.O_RDONLY, str(path))
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_LOG_BYTES + 1)
    if len(data) > MAX_LOG_BYTES:
        raise InputError("", f"the {what} is larger than {MAX_LOG_BYTES // 2**20} MiB", str(path))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError("", f"the {what} is not UTF-8 text (byte {error.start})", str(path)) from None


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
