"""VM labels and where each one comes from: Nova, the inventory's `vm_labels` rules, and the
domain's own metadata written by `rebalance label`.

Precedence, lowest first: Nova-derived labels (`nova.name`, `nova.flavor`, `nova.project`) <
inventory rules (in file order, a later rule overriding an earlier one) < the domain's metadata.
The most specific statement wins: metadata is about this one domain and written by its operator,
a rule is about every domain its pattern matches, and Nova's labels are what Nova happened to record.

An inventory rule's `match` is a shell-style pattern (fnmatch, case-sensitive) tried against the
libvirt domain name and, for a Nova-managed domain, against its Nova instance name too (under Nova
libvirt names are `instance-0000xxxx`; the operator thinks in instance names).

Every label, whatever its source, has a key of letters, digits, '.', '_', '-' and '/' (at most 63
characters, starting and ending with a letter or digit, not under the reserved `rebalance/`
prefix) and a value of at most 253 printable characters; a VM carries at most MAX_LABELS of them
from one source.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import Any

from planner.domain.checks import check_labels, check_text, field_name, quote
from planner.domain.errors import InputError
from planner.formats.records import check_keys, expect_mapping

MAX_LABELS = 64
MAX_PATTERN = 253
LABEL_KEY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.\-/]{0,61}[A-Za-z0-9])?")
RESERVED_PREFIX = "rebalance/"  # the collector's own labels (placeholders) live here


class LabelSource(str, enum.Enum):
    NOVA = "nova"
    INVENTORY = "inventory"
    METADATA = "metadata"


@dataclass(frozen=True)
class NamePatternRule:
    """An inventory rule about the domains whose name (libvirt's, or Nova's instance name) matches
    the shell-style pattern `match`."""

    match: str

    def matches(self, names: Iterable[str]) -> bool:
        return any(fnmatchcase(name, self.match) for name in names if name)


@dataclass(frozen=True)
class VMLabelRule(NamePatternRule):
    """Inventory `vm_labels` entry: the labels every domain whose name matches `match` gets."""

    labels: Mapping[str, str]


@dataclass(frozen=True)
class SourcedLabel:
    value: str
    source: LabelSource
    detail: str = ""  # which inventory rule ("vm_labels[2] web-*"); empty for the others

    def describe(self) -> str:
        return f"{self.source.value} {self.detail}".rstrip()


def check_vm_labels(value: Any, field: str) -> Mapping[str, str]:
    """A mapping of label keys to values within the bounds above (InputError naming the label)."""
    labels = check_labels(value, field)
    if len(labels) > MAX_LABELS:
        raise InputError(field, f"at most {MAX_LABELS} labels, got {len(labels)}")
    for key, item in labels.items():
        where = f"{field}.{field_name(key)}"
        check_label_key(key, where)
        if not item.isprintable():
            raise InputError(where, f"label values must be printable text, got {quote(item)}")
    return labels


def check_label_key(key: Any, field: str) -> str:
    if not isinstance(key, str) or not LABEL_KEY.fullmatch(key):
        raise InputError(field, f"label keys are letters, digits, '.', '_', '-' or '/' (at most 63, starting and "
                                f"ending with a letter or digit), got {quote(key)}")
    if key.startswith(RESERVED_PREFIX):
        raise InputError(field, f"the prefix {RESERVED_PREFIX!r} is reserved for rebalance's own labels")
    return key


def check_match(value: Any) -> str:
    """A rule's `match`: a shell-style pattern of printable characters."""
    match = check_text(value, "match", limit=MAX_PATTERN)
    if not match.strip() or not match.isprintable():
        raise InputError("match", f"must be a non-empty pattern of printable characters, got {quote(match)}")
    return match


def parse_pattern_rule(raw: Any, payload: str, check: Callable[[Any, str], Mapping[str, Any]],
                       what: str) -> tuple[str, Mapping[str, Any]]:
    """An inventory rule by VM name pattern: {match: PATTERN, `payload`: {...}} with at least one `what`."""
    raw = expect_mapping(raw)
    check_keys(raw, ("match", payload), required=("match", payload))
    match = check_match(raw["match"])
    value = check(raw[payload], payload)
    if not value:
        raise InputError(payload, f"must give at least one {what}")
    return match, value


def parse_vm_label_rule(raw: Any) -> VMLabelRule:
    """One inventory `vm_labels` entry: {match: "web-*", labels: {app: web}}."""
    return VMLabelRule(*parse_pattern_rule(raw, "labels", check_vm_labels, "label"))


def merged_labels(name: str, nova_name: str, nova: Mapping[str, str], rules: Iterable[VMLabelRule],
                  metadata: Mapping[str, str]) -> dict[str, SourcedLabel]:
    """Every label of one domain with the source that set it, by the precedence above."""
    merged = {key: SourcedLabel(value, LabelSource.NOVA) for key, value in nova.items()}
    for index, rule in enumerate(rules):
        if rule.matches((name, nova_name)):
            detail = f"vm_labels[{index}] {rule.match}"
            merged.update({key: SourcedLabel(value, LabelSource.INVENTORY, detail) for key, value in rule.labels.items()})
    merged.update({key: SourcedLabel(value, LabelSource.METADATA) for key, value in metadata.items()})
    return merged


def plain(merged: Mapping[str, SourcedLabel]) -> Mapping[str, str]:
    return MappingProxyType({key: label.value for key, label in sorted(merged.items())})


def parse_assignments(words: Iterable[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """`rebalance label` arguments: key=value sets a label, key- removes one."""
    settings: dict[str, str] = {}
    removals: list[str] = []
    for word in words:
        if "=" in word:
            key, value = word.split("=", 1)
            settings[check_label_key(key, f"label {quote(word)}")] = value
        elif word.endswith("-"):
            removals.append(check_label_key(word[:-1], f"label {quote(word)}"))
        else:
            raise InputError(f"label {quote(word)}", "must be key=value (set) or key- (remove)")
    clash = sorted(set(settings) & set(removals))
    if clash:
        raise InputError(f"label {clash[0]}", "is both set and removed")
    return dict(check_vm_labels(settings, "labels")), tuple(removals)
