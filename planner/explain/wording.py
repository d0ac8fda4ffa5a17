"""Small pieces of the sentences the explanations build: lists of names, places, percentages.

Every list is cut short: a rule over 300 VMs must not produce a reason of 300 names (a plan's
reason is capped at MAX_REASON characters, well inside the 4096 plan.schema.json allows).
"""

from __future__ import annotations

from collections.abc import Iterable

from planner.domain.policy import HOST_SCOPE, Selector

MAX_NAMES = 4
MAX_REASON = 1000


def pct(permille: int) -> str:
    return f"{permille / 10:.0f}%"


def gib(mib: int) -> str:
    return f"{mib / 1024:.1f}"


def names(items: Iterable[str], limit: int = MAX_NAMES) -> str:
    """'a', 'a and b', 'a, b and c', 'a, b, c, d and 3 more'."""
    listed = sorted(set(items))
    if len(listed) > limit:
        return f"{', '.join(listed[:limit])} and {len(listed) - limit} more"
    if len(listed) <= 1:
        return "".join(listed)
    return f"{', '.join(listed[:-1])} and {listed[-1]}"


def place(label: str, value: str) -> str:
    """Where a value of a host label is: 'on b', 'in rack r1', 'on c (no rack label)'.

    planner/rules/host_labels.py gives a host without the label the value `host:<name>`."""
    if label == HOST_SCOPE:
        return f"on {value}"
    if value.startswith("host:"):
        return f"on {value[5:]} (no {label} label)"
    return f"in {label} {value}"


def hosts_of(selector: Selector) -> str:
    """The hosts a host group selects, as its rule says: by name, by labels, or both."""
    parts = []
    if selector.names:
        parts.append(names(selector.names))
    if selector.labels:
        parts.append("hosts with " + " ".join(f"{k}={v}" for k, v in sorted(selector.labels.items())))
    return " or ".join(parts) or "no host"


def bounded(text: str, limit: int = MAX_REASON) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
