"""Errors a user can act on: each names where the problem is, in one line.

`InputError` carries a field path (``vms[12].memory_mib``) that readers extend as the error
bubbles up through nested structures (``within``) and finally prefix with the file name
(``in_file``), so the CLI can print ``scenario.yaml: vms[12].memory_mib: must be ...``.
"""

from __future__ import annotations


class RebalanceError(Exception):
    """Base class of every error the CLI reports without a traceback."""


class InputError(RebalanceError):
    """Bad user input: a file that cannot be read, a field with a bad value, an unknown name."""

    def __init__(self, field: str, message: str, source: str | None = None) -> None:
        self.field = field
        self.message = message
        self.source = source
        super().__init__(str(self))

    def within(self, prefix: str) -> "InputError":
        """The same error seen from the enclosing structure: ``hosts[3]`` + ``memory_mib``."""
        if not self.field:
            field = prefix
        elif self.field.startswith("["):
            field = f"{prefix}{self.field}"
        else:
            field = f"{prefix}.{self.field}"
        return InputError(field, self.message, self.source)

    def in_file(self, source: str) -> "InputError":
        return InputError(self.field, self.message, self.source or source)

    def __str__(self) -> str:
        parts = [p for p in (self.source, self.field) if p]
        return ": ".join(parts + [self.message])


class InfeasibleError(RebalanceError):
    """The goal cannot be reached without breaking a hard rule; the message says which and why."""


class StalePlanError(RebalanceError):
    """A plan no longer matches the cluster it is applied to, or it has expired."""
