"""Value checks shared by the domain dataclasses; each raises an InputError naming the field."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from planner.errors import InputError

# Host and VM names end up in libvirt URIs, file names and log lines: keep them to a safe alphabet
# (DNS labels plus '_' and '.'), so `qemu+tcp://%s/system` can never be turned into another URI.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,252}$")


def check_name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise InputError(field, f"must be a name of letters, digits, '.', '_' or '-', got {value!r}")
    return value


def check_int(value: Any, field: str, minimum: int = 0) -> int:
    # bool is an int in Python; `memory_mib: true` is a typo, not a size.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(field, f"must be an integer, got {value!r}")
    if value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise InputError(field, f"must be {what}, got {value}")
    return value


def check_positive_int(value: Any, field: str) -> int:
    return check_int(value, field, minimum=1)


def check_ratio(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not value > 0:
        raise InputError(field, f"must be a finite number > 0, got {value!r}")
    return float(value)


def check_percent(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise InputError(field, f"must be a percentage between 0 and 100, got {value!r}")
    return float(value)


def check_labels(value: Any, field: str) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise InputError(field, f"must be a mapping of label names to values, got {value!r}")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, (str, int)) or isinstance(item, bool):
            raise InputError(f"{field}.{key}", f"label values must be strings, got {item!r}")
    # Frozen dataclasses still hold a mutable dict unless we wrap it.
    return MappingProxyType({key: str(item) for key, item in value.items()})
