"""apply under the faults that used to hang it or strand VMs: a migration libvirt never returns from,
an operator who gives up waiting, a disk that fills mid-run, a torn journal line after a crash.

The simulated backend is the ground truth; where a fault needs behaviour it does not have (a call
that never returns), a thin wrapper around it adds just that.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from executor.config import ExecutorConfig
from executor.faults import Fault, FaultKind
from executor.hypervisor import HostStatus, MigrationRequest, MigrationResult, ProgressCallback
from executor.journal import JournalEvent, journal_path, read_journal
from executor.report import EventKind, RunEvent, StepStatus
from executor.runner import ApplyOptions, apply_plan
from executor.simulated import SimulatedBackend
from executor.steps import StepKind
from planner.domain.errors import InputError
from planner.domain.model import Cluster
from planner.formats.plan_io import write_plan
from tests.executor.builders import host, make_plan, vm

# v1 and v2 leave a; v3 goes b → c and is independent of a.
CLUSTER = Cluster([host("a", 16), host("b", 16), host("c", 16)],
                  [vm("v1", "a", 1), vm("v2", "a", 1), vm("v3", "b", 1)])
TARGET = {"v1": "b", "v2": "c", "v3": "c"}
QUICK = ExecutorConfig(live_migration_completion_timeout=1, abort_grace_s=1.0, call_timeout_s=1.0,
                       max_parallel_migrations=1)


class DeafBackend(SimulatedBackend):
    """Migrations of the named VMs never return, whatever is asked (a stopped QEMU behind libvirt)."""

    def __init__(self, cluster: Cluster, deaf: set[str]) -> None:
        super().__init__(cluster)
        self.deaf = deaf
        self.released = threading.Event()
        self.called: list[str] = []

    def migrate(self, request: MigrationRequest, progress: ProgressCallback) -> MigrationResult:
        self.called.append(request.vm)
        if request.vm in self.deaf:
            self.released.wait(120)
        return super().migrate(request, progress)


def statuses(records: tuple) -> dict[str, StepStatus]:
    return {r.vm: r.status for r in records}


def test_a_migration_that_never_returns_ends_unknown_at_the_hard_deadline_and_its_hosts_are_left_alone(
        tmp_path: Path) -> None:
    backend = DeafBackend(CLUSTER, {"v1"})
    plan = make_plan(CLUSTER, TARGET)
    began = time.monotonic()
    try:
        report = apply_plan(plan, tmp_path / "plan.json", backend, ApplyOptions(QUICK))
    finally:
        backend.released.set()
    took = time.monotonic() - began

    assert took < QUICK.hard_deadline_s(1024) + 5
    assert statuses(report.records)["v1"] is StepStatus.UNKNOWN
    assert "check v1 on a and b" in next(r.reason for r in report.records if r.vm == "v1")
    assert not report.ok
    # Nothing else touched a or b once v1's fate was unknown, and the run stopped.
    assert backend.called == ["v1"]
    events = [e.event for e in read_journal(journal_path(tmp_path / "plan.json"))]
    assert JournalEvent.STEP_UNKNOWN in events and events[-1] is JournalEvent.RUN_FINISHED


def test_abandon_ends_the_run_at_once_even_while_libvirt_has_not_returned(tmp_path: Path) -> None:
    backend = DeafBackend(CLUSTER, {"v1"})
    plan = make_plan(CLUSTER, TARGET)
    stop, abort, abandon = threading.Event(), threading.Event(), threading.Event()
    config = ExecutorConfig(abort_grace_s=600.0, max_parallel_migrations=1)  # grace alone would take 10 min
    threading.Timer(0.3, lambda: (stop.set(), abort.set(), abandon.set())).start()
    began = time.monotonic()
    try:
        report = apply_plan(plan, tmp_path / "plan.json", backend, ApplyOptions(config), stop=stop, abort=abort,
                            abandon=abandon)
    finally:
        backend.released.set()

    assert time.monotonic() - began < 5
    assert statuses(report.records)["v1"] is StepStatus.UNKNOWN
    assert report.interrupted


def test_a_torn_last_journal_line_is_cut_before_the_next_run_appends(tmp_path: Path) -> None:
    plan_path = tmp_path / "plan.json"
    plan = make_plan(CLUSTER, TARGET)
    backend = SimulatedBackend(CLUSTER)
    journal = journal_path(plan_path)
    journal.write_text('{"event": "run-started", "run": 1, "plan": "x"}\n{"event": "step-sta', encoding="utf-8")
    os.chmod(journal, 0o600)

    report = apply_plan(plan, plan_path, backend)

    assert report.ok
    text = journal.read_text(encoding="utf-8")
    assert '"step-sta\n' not in text and '"step-sta{' not in text
    assert all(line.startswith("{") and line.endswith("}") for line in text.splitlines())
    assert "torn last journal line of" in read_journal(journal)[1].reason
    assert apply_plan(plan, plan_path, backend).ok  # a third run reads the journal fine


def test_every_migration_that_ran_had_its_intent_journaled_before_it_started(tmp_path: Path) -> None:
    plan_path = tmp_path / "plan.json"
    plan = make_plan(CLUSTER, TARGET)
    seen_before_start: list[bool] = []

    class Watching(SimulatedBackend):
        def migrate(self, request: MigrationRequest, progress: ProgressCallback) -> MigrationResult:
            intents = [e for e in read_journal(journal_path(plan_path))
                       if e.event is JournalEvent.STEP_STARTED and e.vm == request.vm]
            seen_before_start.append(bool(intents))
            return super().migrate(request, progress)

    assert apply_plan(plan, plan_path, Watching(CLUSTER)).ok
    assert seen_before_start == [True, True, True]


def test_a_journal_file_planted_by_another_user_or_as_a_symlink_is_refused(tmp_path: Path) -> None:
    plan_path = tmp_path / "plan.json"
    target = tmp_path / "victim"
    target.write_text("precious\n", encoding="utf-8")
    journal_path(plan_path).symlink_to(target)
    with pytest.raises(Exception, match="symbolic link"):
        apply_plan(make_plan(CLUSTER, TARGET), plan_path, SimulatedBackend(CLUSTER))
    assert target.read_text(encoding="utf-8") == "precious\n"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs (root only, as the suite runs), so 'disk full' is the kernel's ENOSPC."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.fail("this test needs root and mount(8) (the suite runs as root; see scripts/install-test-deps.sh)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(directory: Path, leave_bytes: int) -> Path:
    filler = directory / "filler"
    free = os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize
    filler.write_bytes(b"\0" * max(0, free - leave_bytes))
    return filler


def test_a_full_disk_stops_dispatch_with_nothing_run_unjournaled_and_a_rerun_finishes(tiny_disk: Path) -> None:
    hosts = [host(f"h{i}", 16) for i in range(4)]
    vms = [vm(f"v{i}", f"h{i % 2}", 1) for i in range(24)]
    cluster = Cluster(hosts, vms)
    plan = make_plan(cluster, {f"v{i}": f"h{2 + i % 2}" for i in range(24)})
    plan_path = tiny_disk / "plan.json"
    write_plan(plan, plan_path)
    backend = SimulatedBackend(cluster)
    filler = _fill(tiny_disk, leave_bytes=4096)  # one page: room for a dozen journal lines

    first = apply_plan(plan, plan_path, backend, ApplyOptions(ExecutorConfig(max_parallel_migrations=1)))

    assert "No space left" in first.journal_error and not first.ok
    started = {e.vm for e in read_journal(journal_path(plan_path)) if e.event is JournalEvent.STEP_STARTED}
    ran = {vm for vm, _, _ in backend.attempted_migrations}
    assert ran and ran <= started  # write-ahead: nothing ran that the journal does not name
    assert len(ran) < 24  # and dispatch stopped when the journal could not be written

    filler.unlink()
    second = apply_plan(plan, plan_path, backend)

    assert second.ok
    assert backend.placement() == plan.target_placement
    assert all(isinstance(e.run, int) for e in read_journal(journal_path(plan_path)))


def test_a_parked_vm_whose_destination_never_frees_goes_back_to_its_source(tmp_path: Path) -> None:
    # x and y swap between two full hosts, so x parks on p; y's migration fails, so b never frees
    # for x: x must not stay on p, a host the plan never chose for it.
    swap = Cluster([host("a", 8), host("b", 8), host("p", 16)], [vm("x", "a", 8), vm("y", "b", 8)])
    plan = make_plan(swap, {"x": "b", "y": "a"})
    backend = SimulatedBackend(swap, faults=[Fault(FaultKind.FAIL, vm="y")])

    report = apply_plan(plan, tmp_path / "plan.json", backend, ApplyOptions(ExecutorConfig(room_wait_s=0.2)))

    assert backend.placement() == {"x": "a", "y": "b"}
    kinds = [(r.vm, r.kind, r.status) for r in report.records]
    assert ("x", StepKind.PARK, StepStatus.DONE) in kinds and ("x", StepKind.RETURN, StepStatus.DONE) in kinds
    assert not report.ok  # the plan itself did not happen, and says so
    returned = [e for e in read_journal(journal_path(tmp_path / "plan.json")) if e.kind == "return"]
    assert [e.event for e in returned] == [JournalEvent.STEP_STARTED, JournalEvent.STEP_DONE]


def test_a_stop_is_obeyed_while_a_precheck_waits_on_a_host_that_does_not_answer(tmp_path: Path) -> None:
    class Mute(SimulatedBackend):
        """Reads of host b hang (each within the backend's own bound, here a long one)."""

        def __init__(self, cluster: Cluster) -> None:
            super().__init__(cluster)
            self.released = threading.Event()
            self.armed = False

        def host_status(self, host: str) -> HostStatus:
            if self.armed and host == "b":
                self.released.wait(30)
            return super().host_status(host)

    backend = Mute(CLUSTER)
    stop = threading.Event()

    def arm_then_stop(event: RunEvent) -> None:
        if event.kind is EventKind.FINISHED and not backend.armed:
            backend.armed = True
            threading.Timer(0.3, stop.set).start()

    began = time.monotonic()
    try:
        report = apply_plan(make_plan(CLUSTER, TARGET), tmp_path / "plan.json", backend,
                            ApplyOptions(ExecutorConfig(max_parallel_migrations=1)), on_event=arm_then_stop, stop=stop)
    finally:
        backend.released.set()

    assert time.monotonic() - began < 3
    assert report.interrupted and StepStatus.NOT_STARTED in statuses(report.records).values()


@pytest.mark.parametrize("line", ['{"event": "run-started", "run": "one"}', "[]",
                                  '{"event": "run-started", "run": 1, "run": 2}', "[" * 5000 + "]" * 5000,
                                  '{"event": "nope", "run": 1}'])
def test_a_hostile_journal_line_is_one_error_naming_the_line(tmp_path: Path, line: str) -> None:
    journal = journal_path(tmp_path / "plan.json")
    journal.write_text(f"{line}\n", encoding="utf-8")
    os.chmod(journal, 0o600)
    with pytest.raises(InputError, match="line 1: unreadable journal entry") as raised:
        read_journal(journal)
    assert len(str(raised.value)) < 300 and "\n" not in str(raised.value)
