"""Files the tool writes as root: private, never through a symlink, never left half written.

State lives beside plans and under state and lock directories that an operator may point into a
shared place (a plan saved in /tmp, a lock directory an attacker pre-created). So every write here
refuses to follow a symlink at the last component, refuses a file or directory owned by another
user, creates files 0600 and directories 0700, and replaces whole files by rename (a rename
replaces a planted symlink instead of writing through it).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from planner.domain.errors import InputError

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
_OPEN_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC


def private_dir(path: str | Path, field: str = "") -> Path:
    """`path` as a directory only this user can write: created 0700 if missing (with its parents),
    tightened to 0700 if it is ours, refused if it is a symlink or belongs to someone else."""
    directory = Path(path)
    try:
        directory.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | _OPEN_FLAGS)
    except OSError as error:
        raise InputError(field, f"cannot use directory {directory}: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid():
            raise InputError(field, f"directory {directory} belongs to uid {info.st_uid}, not to this user: refusing "
                                    f"to keep state there")
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.fchmod(fd, PRIVATE_DIR_MODE)  # ours, merely too open: close it rather than fail
    finally:
        os.close(fd)
    return directory


def open_private(path: str | Path, flags: int, field: str = "") -> int:
    """os.open with O_NOFOLLOW, mode 0600 on creation, and a check that the file is a regular file
    of ours (an existing file planted by someone else is refused, not appended to)."""
    try:
        fd = os.open(path, flags | _OPEN_FLAGS, PRIVATE_FILE_MODE)
    except OSError as error:
        reason = "it is a symbolic link" if error.errno == 40 else error.strerror  # ELOOP
        raise InputError(field, f"cannot open {path}: {reason}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
        os.close(fd)
        raise InputError(field, f"refusing {path}: not a regular file owned by this user")
    return fd


def write_private(path: str | Path, text: str, field: str = "", mode: int = PRIVATE_FILE_MODE) -> None:
    """Replace `path` atomically with `text`: a unique temporary file (0600, or `mode` for a file
    another service must read), fsync'd, renamed over it."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise InputError(field, f"cannot write {target}: {error.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            if mode != PRIVATE_FILE_MODE:
                os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except OSError as error:
        _remove_quietly(temporary)
        raise InputError(field, f"cannot write {target}: {error.strerror}") from None


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
