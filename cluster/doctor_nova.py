"""Doctor's word on OpenStack Nova: how many of the cluster's domains Nova manages.

rebalance never migrates a Nova-managed domain (cluster/domain_metadata.py): on such a cluster the
operator should know before planning that those VMs stay where they are, and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cluster.doctor_checks import Check, Status, first_line
from cluster.domain_metadata import NOVA_REASON, is_nova_managed

NAME = "openstack nova"


def nova_domains(connections: Mapping[str, Any]) -> Check:
    """Counts, over every reachable host, the defined domains whose metadata carries Nova's."""
    total = managed = 0
    for name, connection in connections.items():
        try:
            domains = connection.listAllDomains(0)
            xmls = [domain.XMLDesc(0) for domain in domains]
        except Exception as error:  # noqa: BLE001 — whatever libvirt says is the detail
            return Check(NAME, Status.WARN, f"{name}: cannot read the domains: {first_line(error)}")
        total += len(xmls)
        managed += sum(1 for xml in xmls if is_nova_managed(xml))
    if not managed:
        return Check(NAME, Status.PASS, f"no domain carries Nova metadata ({total} domains)")
    return Check(NAME, Status.WARN,
                 f"Nova-managed cluster: {managed} of {total} domains carry Nova metadata; rebalance never "
                 f"migrates them ({NOVA_REASON})",
                 "plans leave those VMs where they are; move them with openstack server migrate --live-migration")
