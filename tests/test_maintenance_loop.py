"""The rolling maintenance loop (operations/maintenance.py) on a recorded fake site: phase order,
stopping on a failed hook or an unhealthy host, and resuming from the journal without redoing a
hook recorded done. The live site is covered by tests/lab/test_lab_maintain.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cluster.host_health import Health
from operations.cordons import add_cordons, read_cordons
from operations.maintenance import Drained, run_maintenance
from operations.maintenance_hook import HookResult
from operations.maintenance_journal import (
    JOURNAL_FILE,
    Phase,
    RunDefinition,
    read_definition,
    read_records,
    unfinished_run,
    write_definition,
)
from planner.domain.errors import InputError

HOSTS = ("h1", "h2", "h3")


class Crash(BaseException):
    """The tool dying mid-phase (SIGKILL, power loss): nothing after it runs."""


@dataclass
class FakeSite:
    vms: dict[str, tuple[str, ...]] = field(default_factory=lambda: {h: (f"{h}-vm",) for h in HOSTS})
    failing_hooks: set[str] = field(default_factory=set)
    unhealthy: set[str] = field(default_factory=set)
    crash_draining: str = ""
    unmovable: dict[str, tuple[str, ...]] = field(default_factory=dict)  # powered off by the drain
    crash_powering_on: str = ""
    calls: list[tuple[str, str]] = field(default_factory=list)
    barrier: threading.Barrier | None = None

    def drain(self, hosts: tuple[str, ...]) -> Drained:
        for host in hosts:
            self.calls.append(("drain", host))
            if host == self.crash_draining:
                raise Crash()
            self.vms[host] = ()
        return Drained("", {h: self.unmovable.get(h, ()) for h in hosts})

    def power_on(self, host: str, vm: str) -> str:
        self.calls.append(("power-on", vm))
        if vm == self.crash_powering_on:
            raise Crash()
        return ""

    def vms_on(self, hosts: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
        return {h: self.vms[h] for h in hosts}

    def boot_id(self, host: str) -> str | None:
        return f"boot-{host}"

    def run_hook(self, host: str) -> HookResult:
        self.calls.append(("hook", host))
        if self.barrier is not None:
            self.barrier.wait(timeout=5)  # both hooks of a group must be running at once
        return HookResult(3 if host in self.failing_hooks else 0, 0.1, "boom" if host in self.failing_hooks else "")

    def wait_healthy(self, host: str, boot_before: str | None) -> Health:
        self.calls.append(("health", host))
        assert boot_before == f"boot-{host}"
        if host in self.unhealthy:
            return Health(False, (f"{host}: libvirtd not reachable",), "")
        return Health(True, (), "libvirt 9.0.0 QEMU 7.2.0")

    def give_back(self, host: str, vms: tuple[str, ...]) -> str:
        self.calls.append(("return", host))
        self.vms[host] = vms
        return ""


def definition(groups: tuple[tuple[str, ...], ...] = tuple((h,) for h in HOSTS), returning: bool = True,
               hook: str = "patch {host}") -> RunDefinition:
    return RunDefinition(tuple(h for g in groups for h in g), groups, hook, returning, True, 60.0, 60.0, {})


def start(tmp_path: Path, made: RunDefinition) -> tuple[Path, Path]:
    state, run_dir = tmp_path / "state", tmp_path / "state" / "maintenance" / "20261203T000000Z"
    run_dir.mkdir(parents=True, mode=0o700)
    state.chmod(0o700)
    write_definition(run_dir, made)
    return state, run_dir


def phases(run_dir: Path, host: str) -> list[Phase]:
    return [r.phase for r in read_records(run_dir) if r.host == host]


def test_each_host_goes_through_every_phase_in_order_and_ends_uncordoned(tmp_path: Path) -> None:
    made = definition()
    state, run_dir = start(tmp_path, made)
    site = FakeSite()

    assert run_maintenance(run_dir, made, site, state, lambda _: None) is None

    for host in HOSTS:
        assert phases(run_dir, host) == [Phase.CORDONED, Phase.DRAIN_STARTED, Phase.DRAINED, Phase.HOOK_STARTED,
                                         Phase.HOOK_DONE, Phase.HEALTHY, Phase.UNCORDONED, Phase.RETURNED]
        assert [c for c in site.calls if c[1] == host] == [("drain", host), ("hook", host), ("health", host),
                                                            ("return", host)]
    assert [c[1] for c in site.calls if c[0] == "hook"] == list(HOSTS)  # one host after the other
    assert read_cordons(state) == {}
    assert site.vms == {h: (f"{h}-vm",) for h in HOSTS}
    assert unfinished_run(state) is None
    records = read_records(run_dir)
    assert all(r.time.endswith("+00:00") for r in records)
    assert next(r for r in records if r.host == "h1" and r.phase is Phase.DRAIN_STARTED).vms == ("h1-vm",)


def test_a_failed_hook_stops_at_that_host_which_stays_cordoned_and_a_rerun_resumes_there(tmp_path: Path) -> None:
    made = definition()
    state, run_dir = start(tmp_path, made)
    site = FakeSite(failing_hooks={"h2"})

    stopped = run_maintenance(run_dir, made, site, state, lambda _: None)

    assert stopped is not None and stopped.host == "h2" and "exited 3" in stopped.reason
    assert set(read_cordons(state)) == {"h2"}
    assert ("hook", "h3") not in site.calls and ("drain", "h3") not in site.calls
    assert unfinished_run(state) == run_dir

    site.failing_hooks.clear()
    site.calls.clear()
    assert run_maintenance(run_dir, made, site, state, lambda _: None, resumed=True) is None
    assert not [c for c in site.calls if c[1] == "h1"]  # the first host's work stands
    assert [c for c in site.calls if c[1] == "h2"] == [("drain", "h2"), ("hook", "h2"), ("health", "h2"),
                                                        ("return", "h2")]
    assert read_cordons(state) == {} and unfinished_run(state) is None
    # The original VMs are the ones seen at the first drain, not the empty host of the re-run.
    assert site.vms["h2"] == ("h2-vm",)


def test_a_crash_during_the_second_drain_resumes_without_running_the_first_hook_again(tmp_path: Path) -> None:
    made = definition()
    state, run_dir = start(tmp_path, made)
    site = FakeSite(crash_draining="h2")

    with pytest.raises(Crash):
        run_maintenance(run_dir, made, site, state, lambda _: None)
    assert set(read_cordons(state)) == {"h2"}

    site.crash_draining = ""
    site.calls.clear()
    assert run_maintenance(run_dir, made, site, state, lambda _: None, resumed=True) is None
    assert ("hook", "h1") not in site.calls and ("hook", "h2") in site.calls and ("hook", "h3") in site.calls
    assert [r.phase for r in read_records(run_dir) if not r.host] == [Phase.RUN_STARTED, Phase.RUN_RESUMED,
                                                                       Phase.RUN_FINISHED]


def test_a_host_that_does_not_come_back_is_waited_for_again_without_rerunning_its_hook(tmp_path: Path) -> None:
    made = definition(returning=False)
    state, run_dir = start(tmp_path, made)
    site = FakeSite(unhealthy={"h1"})

    stopped = run_maintenance(run_dir, made, site, state, lambda _: None)
    assert stopped is not None and stopped.host == "h1" and "libvirtd not reachable" in stopped.reason
    assert "h1" in read_cordons(state)

    site.unhealthy.clear()
    site.calls.clear()
    assert run_maintenance(run_dir, made, site, state, lambda _: None, resumed=True) is None
    assert ("hook", "h1") not in site.calls and site.calls[0] == ("health", "h1")
    assert not [c for c in site.calls if c[0] == "return"]


def test_a_host_cordoned_before_the_run_keeps_that_cordon_and_gets_nothing_back(tmp_path: Path) -> None:
    made = definition()
    state, run_dir = start(tmp_path, made)
    add_cordons(state, ["h3"], "alice", "disk swap")
    site = FakeSite()

    assert run_maintenance(run_dir, made, site, state, lambda _: None) is None

    assert read_cordons(state)["h3"].who == "alice" and read_cordons(state)["h3"].why == "disk swap"
    assert ("return", "h3") not in site.calls and ("hook", "h3") in site.calls


def test_the_hosts_of_a_group_run_their_hooks_at_the_same_time(tmp_path: Path) -> None:
    made = definition(groups=(("h1", "h2"), ("h3",)))
    state, run_dir = start(tmp_path, made)
    site = FakeSite(barrier=threading.Barrier(2))

    def hook(host: str) -> HookResult:
        site.calls.append(("hook", host))
        if host != "h3":
            site.barrier.wait(timeout=5)  # raises BrokenBarrierError unless both run at once
        return HookResult(0, 0.1, "")

    site.run_hook = hook  # type: ignore[method-assign]
    assert run_maintenance(run_dir, made, site, state, lambda _: None) is None
    assert {c[1] for c in site.calls if c[0] == "hook"} == set(HOSTS)


def test_guests_powered_off_by_the_drain_are_started_again_before_the_uncordon_and_only_once(
        tmp_path: Path) -> None:
    made = definition(returning=False)
    state, run_dir = start(tmp_path, made)
    site = FakeSite(unmovable={"h2": ("db-1", "db-2")}, crash_powering_on="db-2")

    with pytest.raises(Crash):
        run_maintenance(run_dir, made, site, state, lambda _: None)
    assert "h2" in read_cordons(state)  # not uncordoned while a guest is still off

    site.crash_powering_on = ""
    site.calls.clear()
    assert run_maintenance(run_dir, made, site, state, lambda _: None, resumed=True) is None
    assert [c for c in site.calls if c[0] == "power-on"] == [("power-on", "db-2")]  # db-1 was started already
    assert phases(run_dir, "h2")[:4] == [Phase.CORDONED, Phase.DRAIN_STARTED, Phase.POWERED_OFF, Phase.DRAINED]
    assert [r.vms for r in read_records(run_dir) if r.phase is Phase.POWERED_ON] == [("db-1",), ("db-2",)]
    assert read_cordons(state) == {}


def test_a_hostile_journal_line_is_one_error_naming_file_and_line(tmp_path: Path) -> None:
    made = definition()
    state, run_dir = start(tmp_path, made)
    run_maintenance(run_dir, made, FakeSite(failing_hooks={"h1"}), state, lambda _: None)
    journal = run_dir / JOURNAL_FILE
    lines = journal.read_text().splitlines() + ['{"time": "x", "phase": "hook-done", "host": "../../etc"}']
    journal.write_text("\n".join(lines) + "\n")

    with pytest.raises(InputError) as caught:
        read_records(run_dir)
    assert str(journal) in str(caught.value) and f"line {len(lines)}" in str(caught.value)


def _edited(**changes: object) -> Callable[[str], str]:
    def edit(text: str) -> str:
        document = json.loads(text)
        document.update(changes)
        return json.dumps(document)
    return edit


@pytest.mark.parametrize("edit", [
    _edited(returning="yes"),
    _edited(groups=[["h1"], ["h2"], ["h1"]]),
    _edited(hosts=["h1", "h2", "h3", "h3"]),
    _edited(health_timeout_s=-1),
    _edited(version=9),
    _edited(hook=["rm", "-rf", "/"]),
    _edited(doctor_baseline={"reach h1": 7}),
    lambda text: text[:40],
])
def test_an_edited_run_file_is_refused_naming_it(tmp_path: Path, edit: Callable[[str], str]) -> None:
    _, run_dir = start(tmp_path, definition())
    path = run_dir / "run.json"
    edited = edit(path.read_text())
    path.write_text(edited)

    with pytest.raises(InputError) as caught:
        read_definition(run_dir)
    assert str(path) in str(caught.value)
