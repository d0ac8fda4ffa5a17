"""Value checks shared by the readers; each raises an InputError naming the field.

Every size the domain sees has a documented range, chosen so that no input can overflow CP-SAT's
int64 arithmetic or the greedy's, and so that absurd values (a host with 10^30 CPUs) are refused
instead of planned. Numbers must be finite everywhere. The ranges, in one place:

    value                                   range
    host cpus                               1 .. 100,000
    host memory_mib                         1 .. 2**32 (4 PiB)
    host reserved_memory_mib                0 .. memory_mib − 1
    cpu/ram_allocation_ratio                finite, 0 < r ≤ 1,000
    VM vcpus                                1 .. 10,000
    VM memory_mib                           1 .. 2**32 (4 PiB)
    VM cpu_load_millicores                  0 .. 10**9
    extra resources (hosts, VMs)            ≤ 8 named per cluster; each amount 0 .. 10**9
    cluster                                 ≤ 100,000 hosts, ≤ 1,000,000 VMs, Σ VM memory ≤ 2**40 MiB
    spread cpu_weight / memory_weight       0 .. 1,000
    move_cost cross_factor / vms[].factor   1 .. 1,000
    percentages (thresholds, limits)        finite, 0 .. 100
    min_spread at_least                     1 .. 100,000
    limits max_moves                        0 .. 1,000,000
    limits max_moved_mib                    0 .. 2**50; max_moved_gib finite, 0 < g ≤ 2**40
    solver seed                             0 .. 2**31 − 1
    solver workers                          1 .. 256
    solver candidates_per_vm                0 .. 100,000
    solver time_limit_s                     finite, 0.1 .. 86,400

Why these bound the arithmetic: per-mille utilisation is 1000 × Σ memory ≤ 2**50, a goal is at most
two weights × a per-mille peak (≤ 2**10 × 2**50 × 2) and a move's weighted cost is memory × factor ×
cross factor ≤ 2**32 × 2**20: each stays below 2**62 with room for sums.

Values quoted in messages go through `quote`: at most ~80 characters, computed without building
the repr of a huge value (an alias bomb's repr took minutes and GiBs).
"""

from __future__ import annotations

import datetime
import math
import re
import reprlib
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from planner.domain.errors import InputError

# Host and VM names end up in libvirt URIs, file names and log lines: keep them to a safe alphabet
# (DNS labels plus '_' and '.'), so `qemu+tcp://%s/system` can never be turned into another URI.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,252}")

QUOTE_LIMIT = 80

MAX_HOST_CPUS = 100_000
MAX_MEMORY_MIB = 2**32
MAX_RATIO = 1000.0
MAX_VM_VCPUS = 10_000
MAX_LOAD_MILLICORES = 10**9
# Extra named resources (disk IOPS, network Mbit/s): few, so every host row stays short, and each
# amount small enough that 1000 × the sum over a million VMs stays far below 2**62.
MAX_EXTRA_RESOURCES = 8
MAX_RESOURCE_AMOUNT = 10**9
# Names the planner already measures: an extra resource may not shadow them.
BUILT_IN_RESOURCES = frozenset({"cpu", "cpus", "vcpus", "memory", "memory_mib", "load", "cpu_load_millicores"})
MAX_HOSTS = 100_000
MAX_VMS = 1_000_000
MAX_TOTAL_VM_MEMORY_MIB = 2**40
MAX_WEIGHT = 1000
MAX_MOVE_FACTOR = 1000
MAX_AT_LEAST = 100_000
MAX_MOVES = 1_000_000
MAX_MOVED_MIB = 2**50
MAX_MOVED_GIB = float(2**40)
MAX_SEED = 2**31 - 1
MAX_WORKERS = 256
MAX_CANDIDATES = 100_000
MIN_TIME_LIMIT_S = 0.1
MAX_TIME_LIMIT_S = 86_400.0


class _BoundedRepr(reprlib.Repr):
    """reprlib with small limits, and no full repr of a huge int or of bytes either."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxdict = self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = 4
        self.maxdeque = self.maxarray = 4
        self.maxstring = 60
        self.maxlong = 40
        self.maxother = 40

    def repr_int(self, value: int, level: int) -> str:
        # repr() of a 5,000-digit int raises (Python's int-to-str limit) and costs quadratic time.
        if value.bit_length() > 128:
            return f"<integer of {value.bit_length()} bits>"
        return super().repr_int(value, level)

    def repr_bytes(self, value: bytes, level: int) -> str:
        return repr(value[:40]) + ("..." if len(value) > 40 else "")

    def repr_instance(self, value: Any, level: int) -> str:
        if isinstance(value, (bool, float, type(None), datetime.date, datetime.time)):
            return repr(value)  # short by nature
        return f"<{type(value).__name__}>"


_REPR = _BoundedRepr()


def quote(value: Any) -> str:
    """A value for an error message: one line, at most ~80 characters, cheap for any size."""
    try:
        text = _REPR.repr(value)
    except Exception:  # noqa: BLE001 - a message must never fail because of the value it quotes
        text = f"<{type(value).__name__}>"
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= QUOTE_LIMIT else text[: QUOTE_LIMIT - 3] + "..."


def field_name(key: Any) -> str:
    """A mapping key as it appears in a field path: as written when short and printable, else quoted."""
    text = key if isinstance(key, str) else quote(key)
    return text if len(text) <= 64 and text.isprintable() else quote(text)


def known_names(names: Any, limit: int = 90) -> str:
    """The accepted field names for an 'unknown field' message, cut to keep the line short."""
    text = ", ".join(str(name) for name in names)
    return text if len(text) <= limit else text[: text.rfind(", ", 0, limit)] + ", ..."


def check_name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise InputError(field, f"must be a name of letters, digits, '.', '_' or '-', got {quote(value)}")
    return value


def check_int(value: Any, field: str, minimum: int = 0, maximum: int | None = None) -> int:
    # bool is an int in Python; `memory_mib: true` is a typo, not a size.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(field, f"must be an integer, got {quote(value)}")
    if value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise InputError(field, f"must be {what}, got {quote(value)}")
    if maximum is not None and value > maximum:
        raise InputError(field, f"must be at most {maximum:,}, got {quote(value)}")
    return value


def check_positive_int(value: Any, field: str, maximum: int | None = None) -> int:
    return check_int(value, field, minimum=1, maximum=maximum)


def check_number(value: Any, field: str, minimum: float, maximum: float) -> float:
    """A finite number within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(field, f"must be a number, got {quote(value)}")
    number = _as_float(value, field)
    if not math.isfinite(number) or not minimum <= number <= maximum:
        raise InputError(field, f"must be a finite number from {minimum:g} to {maximum:g}, got {quote(value)}")
    return number


def check_ratio(value: Any, field: str, maximum: float = MAX_RATIO) -> float:
    """A finite number > 0 and at most `maximum`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(field, f"must be a finite number > 0, got {quote(value)}")
    number = _as_float(value, field)
    if not math.isfinite(number) or not 0 < number <= maximum:
        raise InputError(field, f"must be a finite number > 0 and at most {maximum:g}, got {quote(value)}")
    return number


def check_percent(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(field, f"must be a percentage between 0 and 100, got {quote(value)}")
    number = _as_float(value, field)
    if not 0 <= number <= 100:  # NaN fails this too
        raise InputError(field, f"must be a percentage between 0 and 100, got {quote(value)}")
    return number


def _as_float(value: int | float, field: str) -> float:
    try:
        return float(value)
    except OverflowError:  # an int beyond the float range
        raise InputError(field, f"must be a finite number, got {quote(value)}") from None


def check_text(value: Any, field: str, limit: int = 4096) -> str:
    """Free text (reasons, notes): a string of printable characters, at most `limit` long."""
    if not isinstance(value, str):
        raise InputError(field, f"must be a string, got {quote(value)}")
    if len(value) > limit:
        raise InputError(field, f"must be at most {limit} characters, got {len(value)}")
    if "\x00" in value:
        raise InputError(field, f"must not contain NUL bytes, got {quote(value)}")
    return value


def check_labels(value: Any, field: str) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise InputError(field, f"must be a mapping of label names to values, got {quote(value)}")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, (str, int)) or isinstance(item, bool):
            raise InputError(f"{field}.{field_name(key)}", f"label values must be strings, got {quote(item)}")
        check_text(key, f"{field}.{field_name(key)}", limit=253)
        check_text(str(item), f"{field}.{field_name(key)}", limit=253)
    # Frozen dataclasses still hold a mutable dict unless we wrap it.
    return MappingProxyType({key: str(item) for key, item in value.items()})


def check_resources_declared(hosts: Sequence[tuple[str, Mapping[str, int]]],
                             demands: Sequence[Mapping[str, int]], demand_field: str) -> tuple[str, ...]:
    """The extra resources the hosts declare, sorted; every host must declare each of them (a missing
    capacity is a typo, not a zero), and each of `demands` (a VM's, or a rule's, at
    `demand_field`[i]) may only name declared ones."""
    names = tuple(sorted({name for _, resources in hosts for name in resources}))
    if len(names) > MAX_EXTRA_RESOURCES:
        raise InputError("hosts", f"at most {MAX_EXTRA_RESOURCES} extra resources, got {len(names)}: "
                                  f"{', '.join(names)}")
    for index, (host, resources) in enumerate(hosts):
        missing = [name for name in names if name not in resources]
        if missing:
            raise InputError(f"hosts[{index}].resources.{missing[0]}",
                             f"host {host} gives no capacity for {missing[0]}, which other hosts declare "
                             "(set it, 0 if the host has none, or put it under defaults.resources)")
    for index, demand in enumerate(demands):
        unknown = [name for name in demand if name not in names]
        if unknown:
            raise InputError(f"{demand_field}[{index}].resources.{unknown[0]}",
                             f"no host declares a capacity for {unknown[0]}")
    return names


def check_resources(value: Any, field: str) -> Mapping[str, int]:
    """Extra named resources of a host (capacities) or a VM (demands): name → amount."""
    if not isinstance(value, Mapping):
        raise InputError(field, f"must be a mapping of resource names to amounts, got {quote(value)}")
    if len(value) > MAX_EXTRA_RESOURCES:
        raise InputError(field, f"at most {MAX_EXTRA_RESOURCES} extra resources, got {len(value)}")
    checked: dict[str, int] = {}
    for key, amount in value.items():
        where = f"{field}.{field_name(key)}"
        check_name(key, where)
        if key in BUILT_IN_RESOURCES:
            raise InputError(where, "is measured already; extra resources need a name of their own (e.g. disk_iops)")
        checked[key] = check_int(amount, where, maximum=MAX_RESOURCE_AMOUNT)
    return MappingProxyType(dict(sorted(checked.items())))
