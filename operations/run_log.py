"""Log lines on stderr for unattended runs: one event per line, fit for cron mail, syslog and journald.

Under systemd (JOURNAL_STREAM set) each line starts with the sd-daemon priority prefix (`<6>`),
which journald turns into the entry's priority and strips; elsewhere a line reads
`2026-11-26T01:00:03+01:00 rebalance[4242]: info: planned 3 moves`. `--quiet` keeps warnings and
errors only, so a cron job mails nothing on a good night.
"""

from __future__ import annotations

import enum
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO


class Level(int, enum.Enum):
    ERROR = 3
    WARNING = 4
    INFO = 6


@dataclass
class RunLog:
    quiet: bool = False
    clock: Callable[[], datetime] = lambda: datetime.now().astimezone()
    stream: TextIO | None = None
    journald: bool = field(default_factory=lambda: bool(os.environ.get("JOURNAL_STREAM")))
    problems: int = 0

    def info(self, message: str) -> None:
        self._line(Level.INFO, message)

    def warning(self, message: str) -> None:
        self.problems += 1
        self._line(Level.WARNING, message)

    def error(self, message: str) -> None:
        self.problems += 1
        self._line(Level.ERROR, message)

    def _line(self, level: Level, message: str) -> None:
        if self.quiet and level is Level.INFO:
            return
        text = " ".join(message.split())  # one event, one line
        if self.journald:
            line = f"<{level.value}>{text}"
        else:
            stamp = self.clock().isoformat(timespec="seconds")
            line = f"{stamp} rebalance[{os.getpid()}]: {level.name.lower()}: {text}"
        print(line, file=self.stream or sys.stderr, flush=True)
