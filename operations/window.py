"""`--window 01:00-05:00`: the hours of local time in which a run may start migrations.

A window may cross midnight (22:00-04:00). Times are compared in the time zone of the `now` they
are given, so a run at 04:30 local time with a 22:00-04:00 window is outside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from planner.domain.errors import InputError

_PATTERN = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class Window:
    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise InputError("--window", "start and end are the same time; leave --window out to allow any time")

    @property
    def crosses_midnight(self) -> bool:
        return self.end < self.start

    def opened_at(self, now: datetime) -> datetime | None:
        """When the window that contains `now` opened, or None if `now` is outside every window."""
        today = now.replace(hour=self.start.hour, minute=self.start.minute, second=0, microsecond=0)
        for opened in (today, today - timedelta(days=1)):
            if opened <= now < opened + self.length:
                return opened
        return None

    def contains(self, now: datetime) -> bool:
        return self.opened_at(now) is not None

    def closes_at(self, now: datetime) -> datetime:
        """The end of the window that contains `now` (ask `contains` first)."""
        opened = self.opened_at(now)
        if opened is None:
            raise ValueError(f"{now.isoformat()} is outside the window {self}")
        return opened + self.length

    @property
    def length(self) -> timedelta:
        minutes = (self.end.hour * 60 + self.end.minute) - (self.start.hour * 60 + self.start.minute)
        return timedelta(minutes=minutes % (24 * 60))

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def parse_window(text: str) -> Window:
    match = _PATTERN.match(text.strip())
    if not match:
        raise InputError("--window", f"must look like 01:00-05:00 (local time, HH:MM-HH:MM), got {text!r}")
    hour1, minute1, hour2, minute2 = (int(g) for g in match.groups())
    for hour, minute in ((hour1, minute1), (hour2, minute2)):
        if hour > 23 or minute > 59:
            raise InputError("--window", f"{hour:02d}:{minute:02d} is not a time of day (in {text!r})")
    return Window(time(hour1, minute1), time(hour2, minute2))
