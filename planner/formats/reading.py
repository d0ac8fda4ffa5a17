"""The one reader of YAML/JSON files: bounded, strict, and never a traceback.

Every file the tool reads as a document (scenario, snapshot, policy, inventory, plan, executor
config) comes through `read_document`, which refuses, as one InputError naming the file:

- files over `MAX_DOCUMENT_BYTES` (64 MiB: a 20,000-VM snapshot is about 6 MiB) and anything that
  is not a regular file (a FIFO or /dev/zero would hang the reader);
- bytes that are not UTF-8, naming the byte offset;
- duplicate keys, in JSON as in YAML (the last of two would silently win);
- nesting deeper than `MAX_DEPTH` (64; the project's files nest at most 7 levels), checked before
  any recursive construction: libyaml's composer recurses in C and crashes on a 100,000-deep
  document, and a RecursionError must never escape;
- YAML documents of more than `MAX_YAML_NODES` values (2 million; JSON has no such limit, it
  parses some 50 times faster);
- YAML aliases (`*name`), refused outright. No file the project ships or documents uses anchors
  (`defaults:` covers what they would repeat), while an alias bomb (nine levels of anchors) expands
  to billions of nodes for anything that walks it. Refusing aliases costs one event check and
  rejects a bomb in milliseconds;
- JSON's NaN/Infinity extensions, and integers or floats too large to parse.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from planner.domain.checks import quote
from planner.domain.errors import InputError

MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64
# YAML parses at about 5 µs a node: 2 million nodes (a 100,000-VM scenario) is some 10 s, while
# 64 MiB of `- 1` lines would be 16 million nodes and minutes. Snapshots and plans are JSON.
MAX_YAML_NODES = 2_000_000

_LOADER_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPENING = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSING = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


class _StrictLoader(_LOADER_BASE):  # type: ignore[misc,valid-type]
    """The C loader (10x faster on large scenarios) that refuses duplicate and unhashable keys.

    PyYAML keeps the last of two equal keys silently; in a hand-edited scenario that hides a
    whole section. Each key is constructed once (aliases are refused before construction).
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(None, None, "expected a mapping", node.start_mark)
        mapping: dict = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in mapping
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be a plain value, not a list or mapping", key_node.start_mark) from None
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {quote(key)}", key_node.start_mark)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping)


def read_document(path: str | Path) -> Any:
    """Parse a YAML or JSON file (JSON when it ends in .json); every failure is one InputError."""
    source = str(path)
    text = _read_text(Path(path), source)
    if not text.strip():
        raise InputError("", "the file is empty", source)
    if source.endswith(".json"):
        return load_json(text, source)
    return _load_yaml(text, source)


def _read_text(path: Path, source: str) -> str:
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise InputError("", "is a directory, not a file", source)
        if not stat.S_ISREG(info.st_mode):
            raise InputError("", "is not a regular file (a pipe or device would never end)", source)
        if info.st_size > MAX_DOCUMENT_BYTES:
            raise InputError("", f"is {info.st_size:,} bytes, more than the {MAX_DOCUMENT_BYTES:,} allowed", source)
        with open(path, "rb", opener=_no_block_opener) as file:
            data = file.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as error:
        raise InputError("", f"cannot read file: {error.strerror}", source) from None
    if len(data) > MAX_DOCUMENT_BYTES:  # it grew between stat and read
        raise InputError("", f"is more than the {MAX_DOCUMENT_BYTES:,} bytes allowed", source)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError("", f"is not UTF-8 text: invalid byte at offset {error.start}", source) from None


def _no_block_opener(name: str, flags: int) -> int:
    # The file was a regular file at stat(); if it was swapped for a FIFO since, do not wait on it.
    return os.open(name, flags | os.O_NONBLOCK)


def load_json(text: str, source: str) -> Any:
    try:
        document = json.loads(text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise InputError("", f"malformed JSON at line {error.lineno} column {error.colno}: {error.msg}",
                         source) from None
    except RecursionError:
        raise InputError("", f"nested deeper than {MAX_DEPTH} levels", source) from None
    except ValueError as error:  # a duplicate key, NaN, or an integer with thousands of digits
        raise InputError("", f"malformed JSON: {one_line(error)}", source) from None
    _check_depth(document, source)
    return document


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for key, value in pairs:
        if key in mapping:
            raise ValueError(f"duplicate key {quote(key)}")
        mapping[key] = value
    return mapping


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _check_depth(document: Any, source: str) -> None:
    """Iteratively (a recursive walk would itself hit the recursion limit)."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise InputError("", f"nested deeper than {MAX_DEPTH} levels", source)
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def _load_yaml(text: str, source: str) -> Any:
    try:
        _check_events(text, source)
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "cannot parse"
        if "nesting depth" in problem:  # PyYAML ≥ 6.0.4 stops deep flow collections while scanning ahead
            raise InputError("", f"nested deeper than {MAX_DEPTH} levels", source) from None
        raise InputError("", f"malformed YAML{where}: {one_line(problem)}", source) from None
    except RecursionError:
        raise InputError("", f"nested deeper than {MAX_DEPTH} levels", source) from None
    except (ValueError, TypeError, OverflowError) as error:  # e.g. a 5,000-digit integer, a bad date
        raise InputError("", f"malformed YAML: {one_line(error)}", source) from None


def _check_events(text: str, source: str) -> None:
    """Depth and aliases from libyaml's event stream, which is iterative (no recursion, no nodes)."""
    parser = _LOADER_BASE(text)
    depth = nodes = 0
    try:
        while parser.check_event():
            event = parser.get_event()
            nodes += 1
            if nodes > MAX_YAML_NODES:
                raise InputError("", f"{_line(event)}more than {MAX_YAML_NODES:,} YAML values: "
                                     "write a document this large as JSON", source)
            if isinstance(event, _OPENING):
                depth += 1
                if depth > MAX_DEPTH:
                    raise InputError("", f"{_line(event)}nested deeper than {MAX_DEPTH} levels", source)
            elif isinstance(event, _CLOSING):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                raise InputError("", f"{_line(event)}YAML aliases (*{one_line(event.anchor, 40)}) are not accepted: "
                                     "write the value out", source)
    finally:
        parser.dispose()


def _line(event: yaml.Event) -> str:
    mark = event.start_mark
    return f"line {mark.line + 1}: " if mark is not None else ""


def one_line(error: object, limit: int = 120) -> str:
    text = " ".join(str(error)[: limit * 2].split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = ["read_document", "load_json", "one_line", "MAX_DOCUMENT_BYTES", "MAX_DEPTH", "MAX_YAML_NODES"]
