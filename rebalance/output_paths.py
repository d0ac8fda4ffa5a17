"""Can the command write there? Asked of every output path before any work starts, so a typo in
`--metrics-file` is refused before the migrations, not reported after them.

A check, not a guarantee: the writes themselves (planner/formats/safe_files.py) still refuse symlinks and
other users' files, and a directory can change between the check and the write. What the check
catches is the common case: a missing or read-only directory, a file where a directory should be.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

_WRITE_INTO = os.W_OK | os.X_OK  # create an entry in a directory: write and search permission


def check_writable(option: str, path: str | Path | None, directory: bool = False) -> None:
    """Refuse, as a usage error naming `option` (exit 2, one line), an output path that cannot be
    written; no path (the option was not given) is fine."""
    problem = None if path is None else output_problem(path, directory)
    if problem:
        raise click.BadParameter(problem, param_hint=f"'{option}'")


def output_problem(path: str | Path, directory: bool = False) -> str | None:
    """Why `path` cannot be written (None: it can). A file's directory must exist and be writable;
    a directory (`directory=True`) must be writable or creatable under a writable ancestor."""
    return _directory_problem(Path(path)) if directory else _file_problem(str(path))


def _file_problem(text: str) -> str | None:
    target = Path(text)
    if text.endswith(os.sep) or target.is_dir():
        return f"{text} is a directory, not a file"
    parent = target.parent
    if not parent.is_dir():
        return f"{parent} is not a directory" if parent.exists() else f"directory {parent} does not exist"
    if not os.access(parent, _WRITE_INTO):
        return f"directory {parent} is not writable"
    return None


def _directory_problem(directory: Path) -> str | None:
    if directory.exists():
        if not directory.is_dir():
            return f"{directory} is not a directory"
        return None if os.access(directory, _WRITE_INTO) else f"directory {directory} is not writable"
    existing = next(a for a in directory.absolute().parents if a.exists())  # "/" always exists
    if not existing.is_dir():
        return f"cannot create {directory}: {existing} is not a directory"
    if not os.access(existing, _WRITE_INTO):
        return f"cannot create {directory}: directory {existing} is not writable"
    return None
