"""The policy's move costs applied to one cluster: each VM's factor and each host's label value.

The solver weighs a move as memory × VM factor × cross factor (when the move changes the label's
value). Only the tie-break among equally good plans uses it: limits and reports stay in plain MiB.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from planner.rules.host_labels import label_domains
from planner.domain.model import VM, Cluster
from planner.domain.policy import Policy, Selector


@dataclass(frozen=True)
class MoveCostTable:
    factor_of: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))  # VM → factor (absent: 1)
    domain_of: Mapping[str, str] | None = None  # host → its value of the cross label
    cross_factor: int = 1

    @property
    def weighted(self) -> bool:
        """False when every move costs its plain memory: then nothing downstream does extra work."""
        return bool(self.factor_of) or (self.domain_of is not None and self.cross_factor != 1)


def resolve_move_costs(cluster: Cluster, policy: Policy,
                       select: Callable[[Cluster, Selector, str], tuple[VM, ...]]) -> MoveCostTable:
    costs = policy.move_costs
    factor_of: dict[str, int] = {}
    for index, entry in enumerate(costs.vms):
        for vm in select(cluster, entry.vms, f"move_cost.vms[{index}].vms"):
            # A VM several entries select costs the largest of their factors (order does not matter).
            factor_of[vm.name] = max(factor_of.get(vm.name, 1), entry.factor)
    factor_of = {name: f for name, f in factor_of.items() if f != 1}
    domain_of = None
    if costs.cross_label is not None:
        domain_of = MappingProxyType(label_domains(cluster, costs.cross_label, "move_cost.cross_label"))
    return MoveCostTable(MappingProxyType(factor_of), domain_of, costs.cross_factor)
