"""Issue 19 against real libvirt: tampered plans, a hung destination QEMU, a crash mid-park, two
mutating commands at once, and a destination that fills up while apply runs.

Every test ends with every guest existing exactly once and no host over the capacity its
inventory gives it; the tests that migrate also sample every host's memory while apply runs
(a migrating guest counts on both hosts, its paused incoming half included).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libvirt
import pytest
import yaml

from executor.journal import JournalEntry, JournalEvent
from lab.control import HOSTS, Lab, letter
from planner.domain.plan import cluster_fingerprint
from planner.formats.scenario import parse_cluster
from tests.lab.helpers import PLAN_TIME_LIMIT, journal, outcomes, rebalance, rebalance_process, write_yaml

SAMPLE_EVERY_S = 0.2
FAT_MIB = 64  # a fat guest: 48 MiB of random RAM, so a migration at a few MiB/s takes seconds


# -- the lab as these tests see it ------------------------------------------------------------


def custom_inventory(lab: Lab, path: Path, memory_mib: dict[str, int] | None = None,
                     states: dict[str, str] | None = None) -> Path:
    """The lab's inventory with some hosts given another memory capacity or state."""
    lab.inventory(path)
    document = yaml.safe_load(path.read_text())
    for host in document["hosts"]:
        if memory_mib and host["name"] in memory_mib:
            host["memory_mib"] = memory_mib[host["name"]]
        if states and host["name"] in states:
            host["state"] = states[host["name"]]
    return write_yaml(path, document)


def capacities(inventory: Path) -> dict[str, int]:
    return {h["name"]: h["memory_mib"] for h in yaml.safe_load(inventory.read_text())["hosts"]}


def make_plan(inventory: Path, plan_file: Path, *options: Any) -> dict[str, Any]:
    result = rebalance("plan", "--inventory", inventory, *options, *PLAN_TIME_LIMIT, "-o", plan_file)
    assert result.exit_code == 0, result.output
    return json.loads(plan_file.read_text())


def moves_of(plan: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {m["vm"]: (m["source"], m["destination"]) for m in plan["moves"]}


def pinned(tmp_path: Path, where: dict[str, str], drain: tuple[str, ...] = ()) -> Path:
    """A policy that puts each named VM on its host (a hard rule the planner must meet)."""
    groups = [{"name": f"pin-{vm}", "vms": [vm], "hosts": [host]} for vm, host in where.items()]
    document: dict[str, Any] = {"rules": {"host_groups": groups}}
    if drain:
        document["drain_hosts"] = list(drain)
    return write_yaml(tmp_path / "policy.yaml", document)


def domains(lab: Lab, host: str) -> dict[str, tuple[int, bool, int]]:
    """name → (libvirt state, active, memory MiB) of every domain defined or running on `host`."""
    connection = lab.connect(host)
    try:
        found = {}
        for domain in connection.listAllDomains(0):
            try:
                found[domain.name()] = (domain.state()[0], bool(domain.isActive()), domain.maxMemory() // 1024)
            except libvirt.libvirtError:  # it went away while listed (a migration ended)
                continue
        return found
    finally:
        connection.close()


def copies(lab: Lab) -> dict[str, list[tuple[str, int, bool]]]:
    """Guest → every (host, state, active) where some copy of it is defined or running."""
    found: dict[str, list[tuple[str, int, bool]]] = {}
    for host in HOSTS:
        for name, (state, active, _) in domains(lab, host).items():
            found.setdefault(name, []).append((host, state, active))
    return found


def settled(lab: Lab) -> bool:
    """No migration half anywhere: every guest defined on one host and running there."""
    return all(len(where) == 1 and where[0][1] == libvirt.VIR_DOMAIN_RUNNING for where in copies(lab).values())


def used_mib(lab: Lab, host: str) -> int:
    """Memory of the guests active on `host`, a paused incoming migration's half included."""
    return sum(memory for _, active, memory in domains(lab, host).values() if active)


def assert_each_guest_once_within_capacity(lab: Lab, guests: set[str], capacity: dict[str, int]) -> None:
    lab.wait_for(lambda: settled(lab), 60, "every migration to settle")
    where = copies(lab)
    assert set(where) == guests, where
    assert all(len(hosts) == 1 for hosts in where.values()), where
    placement = lab.placement()
    assert sorted(placement) == sorted(guests) and all(len(h) == 1 for h in placement.values()), placement
    for host in HOSTS:
        assert used_mib(lab, host) <= capacity[host], (host, domains(lab, host))


class MemorySampler:
    """Every host's used memory every 0.2 s in a thread: the peak each host reached during a run."""

    def __init__(self, lab: Lab, hosts: tuple[str, ...] = HOSTS) -> None:
        self.lab, self.hosts = lab, hosts
        self.peak: dict[str, int] = dict.fromkeys(hosts, 0)
        self.peak_domains: dict[str, dict[str, Any]] = {h: {} for h in hosts}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for host in self.hosts:
                try:
                    seen = domains(self.lab, host)
                except libvirt.libvirtError:
                    continue  # a daemon that does not answer for a moment: the next sample counts
                used = sum(memory for _, active, memory in seen.values() if active)
                if used > self.peak[host]:
                    self.peak[host], self.peak_domains[host] = used, seen
            self.samples += 1
            self._stop.wait(SAMPLE_EVERY_S)

    @contextmanager
    def running(self) -> Iterator["MemorySampler"]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(30)

    def assert_within(self, capacity: dict[str, int]) -> None:
        assert self.samples > 0
        for host in self.hosts:
            assert self.peak[host] <= capacity[host], (host, self.peak[host], self.peak_domains[host])


def wait_for_journal(plan_file: Path, process: subprocess.Popen[str], match: Callable[[JournalEntry], bool],
                     timeout_s: float = 30) -> JournalEntry:
    deadline = time.monotonic() + timeout_s
    while True:
        found = [e for e in journal(plan_file) if match(e)]
        if found:
            return found[0]
        assert process.poll() is None, f"apply ended early ({process.returncode}): {process.communicate()[0]}"
        assert time.monotonic() < deadline, f"no such journal entry within {timeout_s} s: {journal(plan_file)}"
        time.sleep(0.05)


def started(vm: str, kind: str | None = None) -> Callable[[JournalEntry], bool]:
    return lambda e: e.event is JournalEvent.STEP_STARTED and e.vm == vm and (kind is None or e.kind == kind)


def arriving(lab: Lab, host: str, vm: str) -> bool:
    """`host` holds the paused incoming half of `vm`'s migration."""
    return domains(lab, host).get(vm, (0, False, 0))[0] == libvirt.VIR_DOMAIN_PAUSED


def end(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.communicate(timeout=30)


# -- 1. a tampered plan is refused before anything is connected ------------------------------


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


# -- 2. a destination QEMU that stops answering ends apply within its hard deadline ----------


def incoming_qemu(lab: Lab, host: str, vm: str) -> int | None:
    """The PID of the QEMU running `vm` in `host`'s network namespace (the incoming half)."""
    listed = subprocess.run(["ip", "netns", "pids", f"{lab.prefix}-{letter(host)}"], capture_output=True, text=True,
                            check=False).stdout.split()
    for pid in map(int, listed):
        try:
            words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(w.startswith(f"guest={vm},".encode()) or w == f"guest={vm}".encode() for w in words):
            return pid
    return None


def test_a_hung_destination_qemu_ends_apply_as_unknown_within_the_hard_deadline(clean_lab: Lab, inventory: Path,
                                                                               tmp_path: Path) -> None:
    clean_lab.start_guest("lab-a", "hung", memory_mib=FAT_MIB, fat=True)
    plan_file = tmp_path / "plan.json"
    planned = make_plan(inventory, plan_file, "--policy", pinned(tmp_path, {"hung": "lab-b"}, drain=("lab-a",)),
                        "--goal", "drain")
    assert moves_of(planned) == {"hung": ("lab-a", "lab-b")}
    settings = {"live_migration_bandwidth": 2, "live_migration_completion_timeout": 2, "abort_grace_s": 5,
                "call_timeout_s": 5, "progress_interval_s": 0.2}
    config = write_yaml(tmp_path / "executor.yaml", settings)
    hard_deadline_s = (settings["live_migration_completion_timeout"] + settings["abort_grace_s"]
                       + 4 * settings["call_timeout_s"])

    began = time.monotonic()
    apply = rebalance_process("apply", plan_file, "--inventory", inventory, "--yes", "--config", config)
    stopped: int | None = None
    try:
        wait_for_journal(plan_file, apply, started("hung"))
        clean_lab.wait_for(lambda: arriving(clean_lab, "lab-b", "hung"), 10, "the incoming half of hung on lab-b")
        stopped = incoming_qemu(clean_lab, "lab-b", "hung")
        assert stopped is not None and stopped != incoming_qemu(clean_lab, "lab-a", "hung")
        os.kill(stopped, signal.SIGSTOP)
        output, _ = apply.communicate(timeout=hard_deadline_s + 30 - (time.monotonic() - began))
        took = time.monotonic() - began
    finally:
        if stopped is not None:
            os.kill(stopped, signal.SIGCONT)
        end(apply)

    assert apply.returncode == 1, output
    assert took < hard_deadline_s + 30, took
    assert outcomes(plan_file) == {}  # unknown is no outcome: resuming must look before acting
    unknown = [e for e in journal(plan_file) if e.event is JournalEvent.STEP_UNKNOWN]
    assert [(e.vm, e.source, e.destination) for e in unknown] == [("hung", "lab-a", "lab-b")]
    report = output.lower()
    assert "unknown" in report and "lab-a" in report and "lab-b" in report, output
    assert_each_guest_once_within_capacity(clean_lab, {"hung"}, capacities(inventory))


# -- 3. apply killed during a parking migration resumes to the destination -------------------


def swap_policy(tmp_path: Path) -> Path:
    """Spread by memory alone over lab-a and lab-b (lab-c may only serve as a parking spot), the
    fillers pinned: the one way to lower the peak is to swap x and y."""
    return write_yaml(tmp_path / "policy.yaml", {
        "goal": "spread",
        "spread": {"cpu_weight": 0, "memory_weight": 1},
        "excluded_hosts": ["lab-c"],
        "rules": {"host_groups": [{"name": "stay-a", "vms": ["fill-a"], "hosts": ["lab-a"]},
                                  {"name": "stay-b", "vms": ["fill-b"], "hosts": ["lab-b"]}]},
        "limits": {"min_improvement_percent": 1},
    })


def test_apply_killed_during_a_park_resumes_every_guest_to_its_destination(clean_lab: Lab, tmp_path: Path) -> None:
    # lab-a: x 96 + fill-a 32 = 128 of 130 MiB (985 per mille); lab-b: y 64 + fill-b 88 = 152 of 200.
    # Swapped, lab-a holds 96 and lab-b 184 (920): better, but x does not fit on lab-b while y is
    # there (248) nor y on lab-a while x is (192), so one of them takes a detour through lab-c.
    # Both are fat: whichever parks, its migration takes seconds.
    inventory = custom_inventory(clean_lab, tmp_path / "hosts.yaml", memory_mib={"lab-a": 130, "lab-b": 200})
    capacity = capacities(inventory)
    clean_lab.start_guest("lab-a", "x", memory_mib=96, fat=True)
    clean_lab.start_guest("lab-a", "fill-a", memory_mib=32)
    clean_lab.start_guest("lab-b", "y", memory_mib=FAT_MIB, fat=True)
    clean_lab.start_guest("lab-b", "fill-b", memory_mib=88)
    final = {"x": "lab-b", "y": "lab-a", "fill-a": "lab-a", "fill-b": "lab-b"}
    plan_file = tmp_path / "plan.json"
    planned = make_plan(inventory, plan_file, "--policy", swap_policy(tmp_path))
    assert moves_of(planned) == {"x": ("lab-a", "lab-b"), "y": ("lab-b", "lab-a")}
    preview = rebalance("apply", plan_file, "--inventory", inventory, "--dry-run")
    assert preview.exit_code == 0 and "lab-c" in preview.output, preview.output  # the detour through lab-c
    slow = write_yaml(tmp_path / "slow.yaml", {"live_migration_bandwidth": 4, "progress_interval_s": 0.2})

    sampler = MemorySampler(clean_lab)
    with sampler.running():
        apply = rebalance_process("apply", plan_file, "--inventory", inventory, "--yes", "--config", slow)
        try:
            park = wait_for_journal(plan_file, apply, lambda e: e.event is JournalEvent.STEP_STARTED and e.kind == "park")
            assert park.destination == "lab-c", park
            clean_lab.wait_for(lambda: arriving(clean_lab, "lab-c", park.vm), 10, f"{park.vm} arriving on lab-c")
            time.sleep(1)  # well into the transfer
            apply.send_signal(signal.SIGKILL)
            apply.communicate(timeout=30)
        finally:
            end(apply)
        clean_lab.wait_for(lambda: settled(clean_lab), 60, "libvirt to finish or abort the park")
        rerun = rebalance("apply", plan_file, "--inventory", inventory, "--yes")
    sampler.assert_within(capacity)

    assert rerun.exit_code == 0, rerun.output
    assert clean_lab.placement() == {vm: [host] for vm, host in final.items()}
    assert clean_lab.running("lab-c") == set()
    assert_each_guest_once_within_capacity(clean_lab, set(final), capacity)


# -- 4. two mutating commands on one cluster refuse each other -------------------------------


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


# -- 5. a destination that fills up while apply runs -----------------------------------------


def test_a_guest_booted_on_the_destination_mid_run_blocks_the_move_that_no_longer_fits(
        clean_lab: Lab, tmp_path: Path) -> None:
    # lab-c takes both 64 MiB guests (128 of 160 MiB) unless something else arrives there.
    inventory = custom_inventory(clean_lab, tmp_path / "hosts.yaml", memory_mib={"lab-c": 160})
    capacity = capacities(inventory)
    for name in ("m1", "m2"):
        clean_lab.start_guest("lab-a", name, memory_mib=FAT_MIB, fat=True)
    plan_file = tmp_path / "plan.json"
    planned = make_plan(inventory, plan_file, "--policy", pinned(tmp_path, {"m1": "lab-c", "m2": "lab-c"}),
                        "--goal", "spread")
    assert moves_of(planned) == {"m1": ("lab-a", "lab-c"), "m2": ("lab-a", "lab-c")}
    # Two may arrive on lab-c at once, one leaves lab-a at a time: the second starts after the boot.
    config = write_yaml(tmp_path / "executor.yaml", {
        "live_migration_bandwidth": 4, "progress_interval_s": 0.2, "room_wait_s": 3,
        "max_concurrent_incoming_migrations": 2, "max_concurrent_live_migrations": 1})

    sampler = MemorySampler(clean_lab)
    with sampler.running():
        apply = rebalance_process("apply", plan_file, "--inventory", inventory, "--yes", "--config", config)
        try:
            first = wait_for_journal(plan_file, apply, lambda e: e.event is JournalEvent.STEP_STARTED)
            clean_lab.start_guest("lab-c", "intruder", memory_mib=48)  # 64 + 48 fit; 64 + 48 + 64 do not
            output, _ = apply.communicate(timeout=90)
        finally:
            end(apply)
    sampler.assert_within(capacity)

    second = "m2" if first.vm == "m1" else "m1"
    assert apply.returncode == 1, output
    assert outcomes(plan_file) == {first.vm: JournalEvent.STEP_DONE, second: JournalEvent.STEP_BLOCKED}
    blocked = [e for e in journal(plan_file) if e.event is JournalEvent.STEP_BLOCKED]
    assert "no room" in blocked[0].reason and "no room" in output, output
    assert clean_lab.placement() == {first.vm: ["lab-c"], second: ["lab-a"], "intruder": ["lab-c"]}
    assert_each_guest_once_within_capacity(clean_lab, {"m1", "m2", "intruder"}, capacity)


def test_a_move_that_fits_only_without_this_runs_other_arrival_waits_then_is_blocked(
        clean_lab: Lab, tmp_path: Path) -> None:
    # Booted after the plan read the cluster: 48 + 64 fit on lab-c, 48 + 64 + 64 do not; with
    # --per-host 2 both moves could start at once, so the precheck must count the one in flight.
    inventory = custom_inventory(clean_lab, tmp_path / "hosts.yaml", memory_mib={"lab-c": 160})
    capacity = capacities(inventory)
    clean_lab.start_guest("lab-a", "m1", memory_mib=FAT_MIB, fat=True)
    clean_lab.start_guest("lab-b", "m2", memory_mib=FAT_MIB, fat=True)
    plan_file = tmp_path / "plan.json"
    planned = make_plan(inventory, plan_file, "--policy", pinned(tmp_path, {"m1": "lab-c", "m2": "lab-c"}),
                        "--goal", "spread")
    assert moves_of(planned) == {"m1": ("lab-a", "lab-c"), "m2": ("lab-b", "lab-c")}
    clean_lab.start_guest("lab-c", "intruder", memory_mib=48)
    config = write_yaml(tmp_path / "executor.yaml", {
        "live_migration_bandwidth": 4, "progress_interval_s": 0.2, "room_wait_s": 3})

    sampler = MemorySampler(clean_lab)
    with sampler.running():
        apply = rebalance_process("apply", plan_file, "--inventory", inventory, "--yes", "--config", config,
                                  "--per-host", "2", "--force")  # --force: the intruder is drift
        try:
            output, _ = apply.communicate(timeout=90)
        finally:
            end(apply)
    sampler.assert_within(capacity)

    assert apply.returncode == 1, output
    ended = outcomes(plan_file)
    assert sorted(ended.values()) == sorted([JournalEvent.STEP_DONE, JournalEvent.STEP_BLOCKED]), output
    done = next(vm for vm, event in ended.items() if event is JournalEvent.STEP_DONE)
    waited = next(vm for vm, event in ended.items() if event is JournalEvent.STEP_BLOCKED)
    blocked = [e for e in journal(plan_file) if e.event is JournalEvent.STEP_BLOCKED]
    assert "no room" in blocked[0].reason and "no room" in output, output
    assert clean_lab.placement() == {done: ["lab-c"], waited: [planned_source(planned, waited)],
                                     "intruder": ["lab-c"]}
    assert_each_guest_once_within_capacity(clean_lab, {"m1", "m2", "intruder"}, capacity)


def planned_source(plan: dict[str, Any], vm: str) -> str:
    return moves_of(plan)[vm][0]
