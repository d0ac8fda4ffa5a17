"""Reading untyped mappings (parsed YAML/JSON) field by field, with errors that name the field."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from planner.domain.checks import field_name, known_names, quote
from planner.domain.errors import InputError

T = TypeVar("T")


def expect_mapping(raw: Any, field: str = "") -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise InputError(field, f"must be a mapping (key: value), got {type(raw).__name__}")
    return raw


def expect_list(raw: Any, field: str) -> list[Any]:
    if not isinstance(raw, list):
        raise InputError(field, f"must be a list, got {type(raw).__name__}")
    return raw


def check_keys(raw: Mapping[str, Any], allowed: Iterable[str], required: Iterable[str] = ()) -> None:
    """Unknown keys are typos until proven otherwise: refuse them and suggest the closest name."""
    allowed = list(allowed)
    for key in raw:
        if key not in allowed:
            # A 400 KB key must neither be echoed nor fed to difflib (quadratic in its length).
            name = field_name(key)
            close = difflib.get_close_matches(key, allowed, n=1) if name == key else []
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {known_names(allowed)})"
            raise InputError(name, f"unknown field{hint}")
    for key in required:
        if key not in raw:
            raise InputError(key, "is required")


def parse_list(raw: Any, field: str, parse_item: Callable[[Any], T]) -> tuple[T, ...]:
    items = []
    for index, item in enumerate(expect_list(raw, field)):
        try:
            items.append(parse_item(item))
        except InputError as error:
            raise error.within(f"{field}[{index}]") from None
    return tuple(items)


def build(factory: Callable[..., T], values: Mapping[str, Any]) -> T:
    """Construct a dataclass; errors already name the field, TypeErrors mean a missing field."""
    try:
        return factory(**values)
    except TypeError as error:
        raise InputError("", f"cannot build {getattr(factory, '__name__', 'record')}: {error}") from None


def nested(field: str, parse: Callable[[], T]) -> T:
    """Run `parse` and prefix any field error with `field`."""
    try:
        return parse()
    except InputError as error:
        raise error.within(field) from None


def parse_time(value: Any, field: str) -> datetime:
    """An ISO 8601 timestamp with its zone (a time without one means nothing on another host)."""
    if not isinstance(value, str) or len(value) > 64:
        raise InputError(field, f"must be an ISO 8601 timestamp, got {quote(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(field, f"must be an ISO 8601 timestamp, got {quote(value)}") from None
    if parsed.tzinfo is None:
        raise InputError(field, f"must carry a time zone, got {quote(value)}")
    return parsed
