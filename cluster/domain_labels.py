"""`rebalance label`'s reach into libvirt: find a domain on the inventory's hosts, read its labels
with their sources, and write our metadata element with virDomainSetMetadata.

A domain defined on several hosts (a shut-off copy left behind by a migration) gets the same
labels in every definition, so the collector reads them wherever it places the VM. A running
domain is written live and, when persistent, in its configuration too; a shut-off one in its
configuration. A domain running on two hosts at once is migrating: it is refused, since a live
write on the source may not reach the destination.

libvirt comes through cluster.collector.connect (which loads it quietly); every call is bounded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cluster.bounded_call import within
from cluster.collector import NO_DOMAIN, close, connect
from cluster.domain_metadata import LABELS_NS, LABELS_PREFIX, DomainMetadata, labels_element, read_metadata
from cluster.inventory import Inventory
from cluster.vm_labels import MAX_LABELS, SourcedLabel, check_vm_labels, merged_labels
from planner.domain.errors import InputError, RebalanceError

METADATA_ELEMENT, AFFECT_LIVE, AFFECT_CONFIG = 2, 1, 2  # libvirt's stable ABI values, as in the collector


class LabelTargetError(RebalanceError):
    """The domain is on no reachable host, or cannot be labelled right now (exit 1)."""


@dataclass(frozen=True)
class Definition:
    host: str
    domain: Any
    active: bool
    persistent: bool


@dataclass(frozen=True)
class VMLabels:
    name: str
    uuid: str
    host: str  # where it runs (or, shut off, the first host defining it)
    labels: Mapping[str, SourcedLabel]
    nova_managed: bool
    warnings: tuple[str, ...] = ()


def show_labels(inventory: Inventory, vm: str, timeout_s: float) -> VMLabels:
    with _found(inventory, vm, timeout_s) as (definitions, warnings):
        return _describe(inventory, definitions, timeout_s, warnings)


def set_labels(inventory: Inventory, vm: str, settings: Mapping[str, str], removals: tuple[str, ...],
               timeout_s: float) -> VMLabels:
    """Set `settings`, remove `removals`, keep the rest of the domain's own labels."""
    with _found(inventory, vm, timeout_s) as (definitions, warnings):
        home = _home(definitions)
        current = _metadata(home, timeout_s)
        if current.problems:
            warnings += [f"{vm}: {'; '.join(current.problems)}: replaced by the labels given now"]
        warnings += [f"{vm} has no label {key!r} of its own to remove" for key in removals if key not in current.labels]
        wanted = {key: value for key, value in {**current.labels, **settings}.items() if key not in removals}
        if len(wanted) > MAX_LABELS:
            raise InputError("labels", f"{vm} would carry {len(wanted)} labels of its own, at most {MAX_LABELS}")
        element = labels_element(check_vm_labels(wanted, "labels")) if wanted else None
        for definition in definitions:
            _write(definition, element, timeout_s)
        return _describe(inventory, definitions, timeout_s, warnings)


@contextmanager
def _found(inventory: Inventory, vm: str, timeout_s: float) -> Iterator[tuple[list[Definition], list[str]]]:
    """Every definition of `vm` on the inventory's reachable hosts; connections closed afterwards."""
    connections: list[Any] = []
    definitions: list[Definition] = []
    unreachable: list[str] = []
    try:
        for host in inventory.hosts:
            try:
                connection = connect(host.uri, timeout_s)
            except Exception as error:  # noqa: BLE001 — reported below, as the collector does
                unreachable.append(f"{host.name} ({_first_line(error)})")
                continue
            connections.append(connection)
            found = _lookup(connection, vm, host.name, timeout_s)
            if found is not None:
                definitions.append(found)
        _check_found(vm, definitions, unreachable)
        yield definitions, [f"host {what} unreachable: not searched for {vm}" for what in unreachable]
    finally:
        for connection in connections:
            close(connection)


def _lookup(connection: Any, vm: str, host: str, timeout_s: float) -> Definition | None:
    def ask() -> Definition | None:
        try:
            domain = connection.lookupByName(vm)
        except Exception as error:
            if _code(error) != NO_DOMAIN:
                raise
            return None
        return Definition(host, domain, bool(domain.isActive()), bool(domain.isPersistent()))
    try:
        return within(timeout_s, ask, f"look up {vm} on {host}")
    except Exception as error:  # noqa: BLE001 — a host that stops answering is unreachable for this
        raise LabelTargetError(f"cannot ask {host} about {vm}: {_first_line(error)}") from None


def _check_found(vm: str, definitions: list[Definition], unreachable: list[str]) -> None:
    if not definitions:
        where = f" (unreachable: {', '.join(unreachable)})" if unreachable else ""
        raise LabelTargetError(f"no domain named {vm!r} on the reachable hosts of the inventory{where}")
    running = [d.host for d in definitions if d.active]
    if len(running) > 1:
        raise LabelTargetError(f"{vm} is running on {' and '.join(running)} (a migration in flight?): label it "
                               f"once it has ended")


def _home(definitions: list[Definition]) -> Definition:
    return next((d for d in definitions if d.active), definitions[0])


def _metadata(definition: Definition, timeout_s: float) -> DomainMetadata:
    try:
        xml = within(timeout_s, lambda: definition.domain.XMLDesc(0), f"read {definition.host}")
    except Exception as error:  # noqa: BLE001
        raise LabelTargetError(f"cannot read the domain on {definition.host}: {_first_line(error)}") from None
    return read_metadata(xml)


def _write(definition: Definition, element: str | None, timeout_s: float) -> None:
    flags = (AFFECT_LIVE | (AFFECT_CONFIG if definition.persistent else 0)) if definition.active else AFFECT_CONFIG
    try:
        within(timeout_s, lambda: definition.domain.setMetadata(METADATA_ELEMENT, element, LABELS_PREFIX, LABELS_NS,
                                                                flags), f"label on {definition.host}")
    except Exception as error:  # noqa: BLE001
        raise LabelTargetError(f"cannot write the labels on {definition.host}: {_first_line(error)}") from None


def _describe(inventory: Inventory, definitions: list[Definition], timeout_s: float,
              warnings: list[str]) -> VMLabels:
    home = _home(definitions)
    metadata = _metadata(home, timeout_s)
    name = within(timeout_s, home.domain.name, f"name on {home.host}")
    uuid = within(timeout_s, home.domain.UUIDString, f"uuid on {home.host}")
    nova = metadata.nova
    labels = merged_labels(name, nova.name if nova else "", nova.labels if nova else {}, inventory.vm_labels,
                           metadata.labels)
    problems = [f"{name}: {problem}" for problem in metadata.problems]
    return VMLabels(name, uuid, home.host, labels, nova is not None, tuple(warnings + problems))


def _code(error: BaseException) -> int | None:
    return error.get_error_code() if hasattr(error, "get_error_code") else None


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
