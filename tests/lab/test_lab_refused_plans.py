"""Issue 19 against real libvirt, what apply refuses before anything moves: a tampered plan (before
anything is even connected), and a second mutating command while an apply holds the hosts.

Every test ends with every guest existing exactly once and no host over the capacity its
inventory gives it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from executor.journal import JournalEvent
from lab.control import Lab
from planner.domain.plan import cluster_fingerprint
from planner.formats.scenario import parse_cluster
from tests.lab.helpers import PLAN_TIME_LIMIT, journal, rebalance, rebalance_process, write_yaml
from tests.lab.safety_checks import (
    FAT_MIB,
    MemorySampler,
    assert_each_guest_once_within_capacity,
    capacities,
    custom_inventory,
    end,
    make_plan,
    moves_of,
    pinned,
    started,
    wait_for_journal,
)

# -- a tampered plan is refused before anything is connected ---------------------------------


class StrangerSocket:
    """A unix socket that only records whether anyone connected to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(8)
        self.server.setblocking(False)

    def connected(self) -> bool:
        try:
            self.server.accept()[0].close()
            return True
        except BlockingIOError:
            return False

    def close(self) -> None:
        self.server.close()
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Tampering:
    field: str  # what the refusal must name
    edit: Callable[[dict[str, Any], Lab, Path], None]  # (plan document, lab, a private directory)
    # Whoever edits what the hash covers can recompute it; it does not cover URIs, so a plan with
    # an edited URI keeps a matching fingerprint (and one like qemu+ext would not even parse here).
    refingerprint: bool = True
    disabled: str = ""  # a host the inventory (and so the plan) declares disabled


def _index(document: dict[str, Any], host: str) -> int:
    return next(i for i, h in enumerate(document["cluster"]["hosts"]) if h["name"] == host)


def _host(document: dict[str, Any], host: str) -> dict[str, Any]:
    return document["cluster"]["hosts"][_index(document, host)]


def _run_a_script(document: dict[str, Any], lab: Lab, where: Path) -> None:
    script = where / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch {where / 'marker'}\n")
    script.chmod(0o755)
    _host(document, "lab-a")["uri"] = f"qemu+ext:///system?command={script}"


def _anothers_socket(document: dict[str, Any], lab: Lab, where: Path) -> None:
    _host(document, "lab-a")["uri"] = lab.uri("lab-b")


def _strangers_socket(document: dict[str, Any], lab: Lab, where: Path) -> None:
    # In lab-a's own socket directory, so only the comparison with the inventory can catch it.
    _host(document, "lab-a")["uri"] = f"qemu+unix:///system?socket={lab.socket('lab-a').parent / 'stranger-sock'}"


def _other_migration_uri(document: dict[str, Any], lab: Lab, where: Path) -> None:
    _host(document, "lab-b")["migration_uri"] = "qemu+tcp://lab-c/system"


def _more_memory(document: dict[str, Any], lab: Lab, where: Path) -> None:
    _host(document, "lab-b")["memory_mib"] *= 8


def _enabled(document: dict[str, Any], lab: Lab, where: Path) -> None:
    assert _host(document, "lab-c")["state"] == "disabled"
    _host(document, "lab-c")["state"] = "active"


def _added_host(document: dict[str, Any], lab: Lab, where: Path) -> None:
    document["cluster"]["hosts"].append({**_host(document, "lab-c"), "name": "lab-d"})


def _edited_fingerprint(document: dict[str, Any], lab: Lab, where: Path) -> None:
    fingerprint = document["fingerprint"]
    document["fingerprint"] = fingerprint[:-1] + ("0" if fingerprint[-1] != "0" else "1")


TAMPERINGS = {
    "uri-runs-a-command": Tampering("cluster.hosts[0].uri", _run_a_script, refingerprint=False),
    "uri-to-another-hosts-socket": Tampering("cluster.hosts[0].uri", _anothers_socket, refingerprint=False),
    "uri-to-a-strangers-socket": Tampering("cluster.hosts[0].uri", _strangers_socket, refingerprint=False),
    "migration-uri": Tampering("cluster.hosts[1].migration_uri", _other_migration_uri, refingerprint=False),
    "memory-raised": Tampering("cluster.hosts[1].memory_mib", _more_memory),
    "disabled-host-enabled": Tampering("cluster.hosts[2].state", _enabled, disabled="lab-c"),
    "host-added": Tampering("cluster.hosts[3]", _added_host),
    "fingerprint": Tampering("fingerprint", _edited_fingerprint, refingerprint=False),
}


@pytest.mark.parametrize("case", TAMPERINGS.values(), ids=TAMPERINGS.keys())
def test_a_tampered_plan_is_refused_before_anything_is_connected(clean_lab: Lab, tmp_path: Path,
                                                                  case: Tampering) -> None:
    inventory = custom_inventory(clean_lab, tmp_path / "hosts.yaml", states={case.disabled: "disabled"}
                                 if case.disabled else None)
    for name in ("g1", "g2", "g3"):
        clean_lab.start_guest("lab-a", name, memory_mib=32)
    plan_file = tmp_path / "plan.json"
    document = make_plan(inventory, plan_file, "--goal", "spread")
    assert document["moves"], "the untampered plan must have something to do"
    before = clean_lab.placement()
    private = tmp_path / "private"
    private.mkdir()
    case.edit(document, clean_lab, private)
    if case.refingerprint:
        document["fingerprint"] = cluster_fingerprint(parse_cluster(document["cluster"]))
    plan_file.write_text(json.dumps(document, indent=2))
    stranger = StrangerSocket(clean_lab.socket("lab-a").parent / "stranger-sock")
    try:
        result = rebalance("apply", plan_file, "--inventory", inventory, "--yes")
        someone_connected = stranger.connected()
    finally:
        stranger.close()

    assert result.exit_code == 2, result.output
    # One line names the field (the inventory's own warnings, e.g. about plain TCP, may precede it).
    refusal = [line for line in result.output.splitlines() if line.strip() and not line.startswith("warning:")]
    assert len(refusal) == 1 and case.field in refusal[0], result.output
    assert not (private / "marker").exists()  # the plan's command never ran
    assert not someone_connected
    assert not [e for e in journal(plan_file) if e.event is JournalEvent.STEP_STARTED]
    assert clean_lab.placement() == before  # nothing moved
    assert_each_guest_once_within_capacity(clean_lab, {"g1", "g2", "g3"}, capacities(inventory))


# -- two mutating commands on one cluster refuse each other ----------------------------------


def test_a_second_apply_and_a_run_refuse_while_an_apply_holds_the_hosts(clean_lab: Lab, inventory: Path,
                                                                         tmp_path: Path) -> None:
    clean_lab.start_guest("lab-a", "slow", memory_mib=FAT_MIB, fat=True)
    clean_lab.start_guest("lab-c", "other", memory_mib=32)
    plan_a, plan_b = tmp_path / "a" / "plan.json", tmp_path / "b" / "plan.json"
    plan_a.parent.mkdir()
    plan_b.parent.mkdir()
    assert moves_of(make_plan(inventory, plan_a, "--policy", pinned(tmp_path, {"slow": "lab-b"}, drain=("lab-a",)),
                              "--goal", "drain")) == {"slow": ("lab-a", "lab-b")}
    assert set(moves_of(make_plan(inventory, plan_b, "--drain", "lab-c"))) == {"other"}
    slow = write_yaml(tmp_path / "slow.yaml", {"live_migration_bandwidth": 3, "progress_interval_s": 0.2})
    capacity = capacities(inventory)

    sampler = MemorySampler(clean_lab)
    with sampler.running():
        apply_a = rebalance_process("apply", plan_a, "--inventory", inventory, "--yes", "--config", slow)
        try:
            wait_for_journal(plan_a, apply_a, started("slow"))
            apply_b = rebalance_process("apply", plan_b, "--inventory", inventory, "--yes")
            output_b, _ = apply_b.communicate(timeout=60)
            run = rebalance_process("run", "--inventory", inventory, "--yes", "--state-dir", tmp_path / "state",
                                    "--drain", "lab-c", *PLAN_TIME_LIMIT)
            output_run, _ = run.communicate(timeout=60)
            a_still_running = apply_a.poll() is None
            output_a, _ = apply_a.communicate(timeout=120)
        finally:
            end(apply_a)
    sampler.assert_within(capacity)

    assert a_still_running, "apply A ended before the others tried: slow it down"
    assert apply_b.returncode == 1 and "holds host" in output_b, output_b
    assert run.returncode == 3 and "holds host" in output_run, output_run
    assert not [e for e in journal(plan_b) if e.event is JournalEvent.STEP_STARTED]
    assert apply_a.returncode == 0, output_a
    assert clean_lab.placement() == {"slow": ["lab-b"], "other": ["lab-c"]}  # A moved, B did nothing
    assert_each_guest_once_within_capacity(clean_lab, {"slow", "other"}, capacity)
