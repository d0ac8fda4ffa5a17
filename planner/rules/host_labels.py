"""A host label as the rules read it: every host's value of the label ("rack" → "r1").

Anti-affinity scopes, min_spread labels and the move-cost cross label all mean the same thing by
a label, so they share this reading: `host` names each host itself, and a host without the label
is a value of its own (`host:<name>`, the validator's convention). A label no host has is refused,
because a typo ('rak') would otherwise make every host its own value and the rule toothless.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from planner.domain.errors import InputError
from planner.domain.model import Cluster
from planner.domain.policy import HOST_SCOPE


def label_domains(cluster: Cluster, label: str, field: str) -> dict[str, str]:
    """host → its value of `label`; InputError on `field` when no host has the label."""
    if label == HOST_SCOPE:
        return {h.name: h.name for h in cluster.hosts}
    if not any(label in h.labels for h in cluster.hosts):
        raise InputError(field, f"no host has a label {label!r}; use 'host' or a host label such as 'rack'")
    return {h.name: h.labels.get(label, f"host:{h.name}") for h in cluster.hosts}


class LabelDomains:
    """label_domains read once per label for many rules: thousands of anti-affinity groups share a
    handful of scopes, and one read is a walk over every host. Rules with the same label get the
    same read-only mapping (build_problem numbers each distinct mapping once too). The first rule
    to name a label is the one an error names."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._read: dict[str, Mapping[str, str]] = {}

    def of(self, label: str, field: str) -> Mapping[str, str]:
        if label not in self._read:
            self._read[label] = MappingProxyType(label_domains(self.cluster, label, field))
        return self._read[label]
