"""plan.json's published JSON Schema, used by the reader itself: one source for both.

`plan.schema.json` types and bounds every field of a plan. Its cluster section is the snapshot
format, which parse_cluster reads with the ranges of planner/domain/checks.py; the schema states the same
ranges (tests/test_reading_layer.py holds them equal, and checks that every plan the planner
writes validates against the published file and reads back). jsonschema reports the
first violation; it is turned here into the project's one-line InputError naming the field, with
any quoted value bounded (jsonschema's own messages repr the whole offending value).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from planner.domain.checks import field_name, known_names, quote
from planner.domain.errors import InputError

SCHEMA_PATH = Path(__file__).with_name("plan.schema.json")


def _is_integer(_checker: Any, instance: Any) -> bool:
    # JSON Schema calls 1.0 an integer and Python calls True one; a plan's counts are neither.
    return isinstance(instance, int) and not isinstance(instance, bool)


_StrictValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


@cache
def plan_schema() -> Mapping[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@cache
def _validator() -> Any:
    # The cluster section is the snapshot format, read field by field by parse_cluster with the
    # ranges of planner/domain/checks.py (the schema states the same ranges; a test holds them equal).
    # Validating its thousands of VMs twice would double the time `apply` takes to read a plan.
    schema = json.loads(json.dumps(plan_schema()))
    schema["properties"]["cluster"] = {"type": "object"}
    return _StrictValidator(schema)


def check_against_schema(document: Any) -> None:
    """Raise an InputError for the first field of `document` the schema refuses."""
    error = next(iter(_validator().iter_errors(document)), None)
    if error is not None:
        field, message = describe(error)
        raise InputError(field, message)


def describe(error: ValidationError) -> tuple[str, str]:
    """(field path, one-line explanation) of a schema violation."""
    field = field_path(error.absolute_path)
    keyword, expected, value = error.validator, error.validator_value, error.instance
    if keyword == "required" and isinstance(value, Mapping):
        missing = next((key for key in expected if key not in value), "?")
        return _join(field, missing), "is required"
    if keyword == "additionalProperties" and isinstance(value, Mapping):
        known = error.schema.get("properties", {})
        extra = next((key for key in value if key not in known), "?")
        return _join(field, field_name(extra)), f"unknown field (known: {known_names(known)})"
    return field, f"{_expectation(str(keyword), expected)}, got {quote(value)}"


def _expectation(keyword: str, expected: Any) -> str:
    phrases = {
        "type": lambda: f"must be of type {expected if isinstance(expected, str) else ' or '.join(expected)}",
        "enum": lambda: f"must be one of {', '.join(str(item) for item in expected)}",
        "const": lambda: f"must be {quote(expected)}",
        "minimum": lambda: f"must be at least {expected}",
        "maximum": lambda: f"must be at most {expected}",
        "exclusiveMinimum": lambda: f"must be more than {expected}",
        "pattern": lambda: f"must match {expected}",
        "maxLength": lambda: f"must be at most {expected} characters",
        "minItems": lambda: f"must have at least {expected} item(s)",
        "maxItems": lambda: f"must have at most {expected} items",
        "maxProperties": lambda: f"must have at most {expected} fields",
        "propertyNames": lambda: "must have names of letters, digits, '.', '_' or '-'",
        "anyOf": lambda: "must be an integer or null",
    }
    return phrases.get(keyword, lambda: f"does not satisfy '{keyword}'")()


def field_path(parts: Iterable[Any]) -> str:
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = _join(path, field_name(part))
    return path


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


__all__ = ["SCHEMA_PATH", "plan_schema", "check_against_schema", "describe", "field_path"]
