"""What a domain's `<metadata>` says about it: our own labels, and whether OpenStack Nova manages it.

Our labels live in a namespace of the project's own, written by `rebalance label` through
virDomainSetMetadata (libvirt stores them under the prefix LABELS_PREFIX):

    <metadata>
      <rebalance:labels xmlns:rebalance="https://rebalance.invalid/xmlns/labels/1">
        <rebalance:label key="app">web</rebalance:label>
      </rebalance:labels>
    </metadata>

Nova writes `<nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">` with the
instance's name, `<nova:flavor name=...>` and `<nova:owner><nova:project>`; the instance UUID is
the domain UUID. Any element of a Nova namespace (1.0, 1.1 or later) marks the domain as
Nova-managed: migrating it behind Nova's back would leave Nova's `instance.host`, its placement
allocations and the neutron port bindings on the source, so nothing here ever migrates it.

Pure and total: whatever the XML holds (anyone with write access to a domain can put anything in
its metadata), reading it never raises. A label that breaks the bounds of cluster.vm_labels makes
all of that source's labels ignored, with a problem to report; it never hides the Nova mark.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from xml.sax.saxutils import escape, quoteattr

from cluster.vm_labels import MAX_LABELS, check_vm_labels
from planner.domain.checks import quote
from planner.domain.errors import InputError

LABELS_NS = "https://rebalance.invalid/xmlns/labels/1"  # .invalid: a name that never resolves, ours alone
LABELS_PREFIX = "rebalance"
NOVA_NS_PREFIX = "http://openstack.org/xmlns/libvirt/nova/"
NOVA_REASON = "managed by OpenStack Nova: migrate through Nova (openstack server migrate --live-migration)"
NOVA_LABELS = ("nova.name", "nova.flavor", "nova.project")
_NO_LABELS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class NovaInstance:
    """The identity Nova recorded in the domain (empty strings where it recorded nothing usable)."""

    name: str = ""
    flavor: str = ""
    project: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: _NO_LABELS)  # nova.name, nova.flavor, nova.project


@dataclass(frozen=True)
class DomainMetadata:
    labels: Mapping[str, str] = field(default_factory=lambda: _NO_LABELS)  # ours, from LABELS_NS
    nova: NovaInstance | None = None  # None: not managed by Nova
    problems: tuple[str, ...] = ()  # what could not be read, one line each (its labels are ignored)


def read_metadata(domain_xml: str) -> DomainMetadata:
    try:
        root = ET.fromstring(domain_xml)
    except (ET.ParseError, ValueError) as error:
        # libvirt hands out well-formed XML; if it ever does not, still never miss a Nova domain.
        nova = NovaInstance() if NOVA_NS_PREFIX in domain_xml else None
        return DomainMetadata(nova=nova, problems=(f"its XML cannot be read ({_first_line(error)})",))
    metadata = root.find("metadata")
    if metadata is None:
        return DomainMetadata()
    labels, problems = _our_labels(metadata)
    nova, nova_problems = _nova(metadata)
    return DomainMetadata(labels, nova, problems + nova_problems)


def is_nova_managed(domain_xml: str) -> bool:
    return read_metadata(domain_xml).nova is not None


def labels_element(labels: Mapping[str, str]) -> str:
    """The element `rebalance label` hands to virDomainSetMetadata (libvirt adds the namespace)."""
    items = "".join(f"<label key={quoteattr(key)}>{escape(value)}</label>" for key, value in sorted(labels.items()))
    return f"<labels>{items}</labels>"


def _our_labels(metadata: ET.Element) -> tuple[Mapping[str, str], tuple[str, ...]]:
    found = [child for child in metadata if child.tag == f"{{{LABELS_NS}}}labels"]
    if not found:
        return _NO_LABELS, ()
    try:
        if len(found) > 1:
            raise InputError("", "more than one labels element")
        return check_vm_labels(_label_items(found[0]), "labels"), ()
    except InputError as error:
        return _NO_LABELS, (f"its rebalance labels metadata is invalid ({error}): those labels are ignored",)


def _label_items(element: ET.Element) -> dict[str, str]:
    if len(element) > MAX_LABELS:
        raise InputError("", f"at most {MAX_LABELS} labels, got {len(element)}")
    items: dict[str, str] = {}
    for child in element:
        if child.tag not in ("label", f"{{{LABELS_NS}}}label"):
            raise InputError("", f"unexpected element {quote(child.tag)}")
        key = child.get("key")
        if key is None:
            raise InputError("label", "has no key attribute")
        if len(child):
            raise InputError(f"label {quote(key)}", "must hold text only")
        if key in items:
            raise InputError(f"label {quote(key)}", "is given twice")
        items[key] = child.text or ""
    return items


def _nova(metadata: ET.Element) -> tuple[NovaInstance | None, tuple[str, ...]]:
    ours = [child for child in metadata if _namespace(child.tag).startswith(NOVA_NS_PREFIX)]
    if not ours:
        return None, ()
    instance = next((c for c in ours if c.tag.endswith("}instance")), None)
    if instance is None:
        return NovaInstance(), ()
    ns = _namespace(instance.tag)
    flavor = instance.find(f"{{{ns}}}flavor")
    name = instance.findtext(f"{{{ns}}}name") or ""
    flavor_name = (flavor.get("name") if flavor is not None else "") or ""
    project = instance.findtext(f"{{{ns}}}owner/{{{ns}}}project") or ""
    values = dict(zip(NOVA_LABELS, (name, flavor_name, project)))
    try:
        labels = check_vm_labels({key: value for key, value in values.items() if value}, "nova")
    except InputError as error:
        return NovaInstance(), (f"its Nova metadata gives an unusable label ({error}): Nova labels are ignored",)
    return NovaInstance(name, flavor_name, project, labels), ()


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:200]
