"""Property: random plans applied while someone else boots, stops, deletes and migrates VMs, replayed
against an independent checker (tests/executor/live_checker.py): no migration start takes a host over
capacity, no VM is lost or on two hosts, every migration starts where its VM really is.

Each run is a real `apply_plan` on the simulated backend (worker threads, journal, lock); the
foreign changes land at the executor's reads (executor/sim_world.py says why), and the runner's
announced starts are forwarded to the backend as claims so that a change never lands between the
executor's decision and its start: the race nobody can prevent is not what is tested here.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from executor.config import ExecutorConfig
from executor.errors import UnsafePlanError
from executor.faults import Fault, FaultKind, load_faults
from executor.report import ApplyReport, EventKind, EventSink, RunEvent, StepStatus
from executor.runner import ApplyOptions, apply_plan
from executor.sim_world import World, WorldEventKind
from executor.simulated import DEFAULT_BANDWIDTH_MIB_S, SimulatedBackend
from planner.domain.errors import InputError, StalePlanError
from planner.domain.model import VM, Cluster, Host
from tests.executor.builders import host, make_plan, vm
from tests.executor.live_checker import describe_log, violations

RESERVED = 512
SCRATCH = "/dev/shm" if Path("/dev/shm").is_dir() else None  # the journal fsyncs: keep 2,000 runs off the disk


@dataclass(frozen=True)
class Case:
    cluster: Cluster
    target: dict[str, str]
    changes: tuple[Fault, ...]
    parallel: int
    per_host: int
    arrivals_visible: bool


@dataclass(frozen=True)
class Outcome:
    report: ApplyReport | None  # None: refused before anything ran
    backend: SimulatedBackend
    problems: list[str]

    def explain(self, cluster: Cluster) -> str:
        return "\n".join(self.problems) + "\n--- event log ---\n" + describe_log(self.backend.events(),
                                                                                 [h.name for h in cluster.hosts])


# -- running one case ----------------------------------------------------------------------------


def claims_for(backend: SimulatedBackend) -> EventSink:
    """Forward the runner's announced starts to the backend, as a placement claim would be seen."""

    def on_event(run_event: RunEvent) -> None:
        if run_event.kind is EventKind.STARTED:
            backend.claim(run_event.step.vm, run_event.step.destination)
        elif run_event.kind is EventKind.FINISHED:
            backend.withdraw(run_event.step.vm)

    return on_event


@contextmanager
def scratch_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="rebalance-prop-", dir=SCRATCH))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_case(cluster: Cluster, target: dict[str, str], changes: Sequence[Fault], parallel: int = 2,
             per_host: int = 1, arrivals_visible: bool = True, time_scale: float = 0.0,
             bandwidth_mib_s: float = DEFAULT_BANDWIDTH_MIB_S) -> Outcome:
    plan = make_plan(cluster, target)
    backend = SimulatedBackend(cluster, bandwidth_mib_s, time_scale=time_scale, faults=changes,
                               arrivals_visible=arrivals_visible)
    with scratch_dir() as directory:
        config = replace(ExecutorConfig().with_limits(parallel, per_host), room_wait_s=0.0,
                         lock_dir=str(directory / "locks"))
        try:
            report: ApplyReport | None = apply_plan(plan, directory / "plan.json", backend, ApplyOptions(config),
                                                    on_event=claims_for(backend))
        except (UnsafePlanError, StalePlanError):
            report = None
    backend.quiesce()
    return Outcome(report, backend, violations(cluster, backend.events(), [v.name for v in cluster.vms]))


# -- random cases --------------------------------------------------------------------------------


@st.composite
def cases(draw: st.DrawFn) -> Case:
    hosts = draw(st.integers(2, 6))
    count = draw(st.integers(1, 14))
    memory = draw(st.lists(st.integers(1, 8), min_size=count, max_size=count))
    vcpus = draw(st.lists(st.integers(1, 4), min_size=count, max_size=count))
    start = draw(st.lists(st.integers(0, hosts - 1), min_size=count, max_size=count))
    target = draw(st.lists(st.integers(0, hosts - 1), min_size=count, max_size=count))
    slack = draw(st.lists(st.sampled_from([0, 0, 0, 1, 2, 4, 8]), min_size=hosts, max_size=hosts))

    def load(placement: list[int], values: list[int], h: int) -> int:
        return sum(v for v, where in zip(values, placement) if where == h)

    host_list = [_host(f"h{h}", max(load(target, memory, h), load(start, memory, h)) + slack[h],
                       max(load(target, vcpus, h), load(start, vcpus, h)) + slack[h]) for h in range(hosts)]
    vms = [VM(f"v{i}", f"h{start[i]}", vcpus[i], memory[i]) for i in range(count)]
    names = [v.name for v in vms]
    destinations = sorted({f"h{t}" for s, t in zip(start, target) if s != t}) or ["h0"]
    changes = []
    for index in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from([FaultKind.BOOT, FaultKind.BOOT, FaultKind.STOP, FaultKind.DELETE,
                                     FaultKind.FOREIGN_MOVE]))
        on = draw(st.sampled_from(destinations + [h.name for h in host_list]))
        after = draw(st.integers(0, 3))
        if kind is FaultKind.BOOT:
            names.append(f"new{index}")
            changes.append(Fault(kind, f"new{index}", on, after, draw(st.integers(1, 8)), draw(st.integers(1, 4))))
        else:
            changes.append(Fault(kind, draw(st.sampled_from(names)), on if kind is FaultKind.FOREIGN_MOVE else "",
                                 after))
    return Case(Cluster(host_list, vms), {f"v{i}": f"h{target[i]}" for i in range(count)}, tuple(changes),
                draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.booleans()))


def _host(name: str, memory: int, vcpus: int) -> Host:
    return Host(name, cpus=max(vcpus, 1), memory_mib=max(memory, 1) + RESERVED, reserved_memory_mib=RESERVED,
                cpu_allocation_ratio=1.0)


@settings(max_examples=2000, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_concurrent_changes_never_overfill_a_host_nor_lose_a_vm(case: Case) -> None:
    outcome = run_case(case.cluster, case.target, case.changes, case.parallel, case.per_host, case.arrivals_visible)
    for kind in (WorldEventKind.LANDED, WorldEventKind.DROPPED):
        count = sum(e.kind is kind for e in outcome.backend.events())
        event("refused before running" if outcome.report is None else f"changes {kind.value}: {min(count, 3)}")
    assert outcome.problems == [], outcome.explain(case.cluster)


# -- one example per kind of change --------------------------------------------------------------

# d has room for two 6 GiB arrivals; a 6 GiB guest booted there leaves room for one.
FILLS = Cluster([host("a", 8), host("b", 8), host("d", 12)], [vm("v1", "a", 6), vm("v2", "b", 6)])


def statuses(outcome: Outcome) -> dict[str, StepStatus]:
    assert outcome.report is not None
    return {r.vm: r.status for r in outcome.report.records}


def landed(outcome: Outcome, kind: WorldEventKind = WorldEventKind.LANDED) -> list[str]:
    return [e.vm for e in outcome.backend.events() if e.kind is kind]


@pytest.mark.parametrize("arrivals_visible", [True, False])
def test_a_vm_booted_on_the_destination_after_apply_read_the_cluster_makes_a_move_wait_not_overfill(
        arrivals_visible: bool) -> None:
    """Issue 19 case 5: --per-host 2, both moves into d at once, a guest boots on d after the snapshot.
    Hidden arrivals: d does not list the first mover while it arrives (the scaled clock keeps it in
    flight for 0.12 s, so the second precheck sees it migrating), and the runner must count it itself."""
    boot = Fault(FaultKind.BOOT, "intruder", "d", after=0, memory_mib=6 * 1024, vcpus=1)
    outcome = run_case(FILLS, {"v1": "d", "v2": "d"}, [boot], parallel=2, per_host=2, arrivals_visible=arrivals_visible,
                       time_scale=0.02)
    assert outcome.problems == [], outcome.explain(FILLS)
    assert landed(outcome) == ["intruder"]
    assert sorted(s.value for s in statuses(outcome).values()) == ["blocked", "done"]
    blocked = next(r for r in outcome.report.records if r.status is StepStatus.BLOCKED)
    assert "no room on d" in blocked.reason
    assert outcome.backend.placement()[blocked.vm] == blocked.source


def test_a_boot_that_would_not_fit_is_dropped_and_logged() -> None:
    boot = Fault(FaultKind.BOOT, "huge", "d", after=0, memory_mib=13 * 1024, vcpus=1)
    outcome = run_case(FILLS, {"v1": "d"}, [boot])
    assert landed(outcome, WorldEventKind.DROPPED) == ["huge"] and "huge" not in outcome.backend.placement()
    assert statuses(outcome) == {"v1": StepStatus.DONE}
    assert outcome.problems == []


def test_a_stopped_guest_keeps_its_room_so_the_move_into_its_host_is_blocked() -> None:
    # v1 may go to b only once v2 has left it; v2 is shut off instead, and keeps b's memory reserved.
    cluster = Cluster([host("a", 8), host("b", 8), host("c", 8)], [vm("v1", "a", 8), vm("v2", "b", 8)])
    outcome = run_case(cluster, {"v1": "b", "v2": "c"}, [Fault(FaultKind.STOP, "v2")], parallel=1)
    assert outcome.problems == [], outcome.explain(cluster)
    assert statuses(outcome) == {"v2": StepStatus.SKIPPED, "v1": StepStatus.BLOCKED}
    assert outcome.backend.placement() == {"v1": "a", "v2": "b"}
    assert not outcome.backend.inventory().vms["v2"].active


def test_a_vm_deleted_while_it_waits_is_skipped_and_not_counted_as_lost() -> None:
    cluster = Cluster([host("a", 8), host("b", 8), host("c", 8)], [vm("v1", "a", 8), vm("v2", "b", 8)])
    outcome = run_case(cluster, {"v1": "b", "v2": "c"}, [Fault(FaultKind.DELETE, "v1", after=1)], parallel=1)
    assert outcome.problems == [], outcome.explain(cluster)
    assert statuses(outcome) == {"v2": StepStatus.DONE, "v1": StepStatus.SKIPPED}
    assert outcome.backend.placement() == {"v2": "c"}


def test_a_foreign_migration_into_the_destination_counts_there_from_its_start() -> None:
    # v1 may go to b once v2 has left for c; w, migrated to c by someone else, takes the room v2 needed.
    cluster = Cluster([host("a", 8), host("b", 8), host("c", 8), host("e", 8)],
                      [vm("v1", "a", 4), vm("v2", "b", 6), vm("w", "e", 4)])
    outcome = run_case(cluster, {"v1": "b", "v2": "c"}, [Fault(FaultKind.FOREIGN_MOVE, "w", "c")], parallel=1)
    assert outcome.problems == [], outcome.explain(cluster)
    assert landed(outcome) == ["w"] and landed(outcome, WorldEventKind.FOREIGN_ENDED) == ["w"]
    assert statuses(outcome) == {"v2": StepStatus.BLOCKED, "v1": StepStatus.BLOCKED}
    assert outcome.backend.placement() == {"v1": "a", "v2": "b", "w": "c"}


def test_a_vm_moved_elsewhere_before_its_turn_is_skipped() -> None:
    cluster = Cluster([host("a", 8), host("b", 8), host("c", 8)], [vm("v1", "a", 4), vm("v2", "a", 4)])
    outcome = run_case(cluster, {"v1": "b", "v2": "b"}, [Fault(FaultKind.FOREIGN_MOVE, "v2", "c")], parallel=1)
    assert outcome.problems == [], outcome.explain(cluster)
    assert statuses(outcome) == {"v1": StepStatus.DONE, "v2": StepStatus.SKIPPED}
    assert outcome.backend.placement() == {"v1": "b", "v2": "c"}


def test_a_guest_stopped_mid_migration_fails_that_migration_and_stays_on_its_source() -> None:
    # The stop lands at the read made for v2's start, while v1 is in flight (parallel 2, time runs).
    cluster = Cluster([host("a", 8), host("b", 8), host("c", 8), host("d", 8)], [vm("v1", "a", 8), vm("v2", "b", 4)])
    world = World(cluster, [Fault(FaultKind.STOP, "v1")])
    world.read(None, 0, frozenset())
    assert world.start_migration("v1", "a", "c") == ""
    world.read("d", 0, frozenset())
    assert world.end_migration("v1", succeed=True) == "domain 'v1' is not running"
    assert world.defined()["v1"] == "a" and not world.running("v1")
    assert violations(cluster, world.events, ["v1", "v2"]) == []


# -- the checker must be able to fail --------------------------------------------------------------


def test_the_checker_catches_a_start_into_a_full_host_a_wrong_source_and_a_lost_vm() -> None:
    cluster = Cluster([host("a", 8), host("b", 8), host("c", 8)], [vm("v1", "a", 8), vm("v2", "b", 8)])
    world = World(cluster)
    world.start_migration("v1", "a", "b")  # b is full: the backend does not refuse, the checker must
    world.end_migration("v1", succeed=True)
    found = violations(cluster, world.events, ["v1", "v2"])
    assert any("the start of v1 takes b at 16384/8192 MiB" in f for f in found)
    tampered = [replace(e, source="c") if e.kind is WorldEventKind.STARTED else e for e in world.events]
    assert any("v1 starts from c but is on a" in f for f in violations(cluster, tampered, ["v1"]))
    gone = [e for e in world.events if e.kind is not WorldEventKind.ENDED]  # the end never came
    assert any("v1 is still migrating" in f for f in violations(cluster, gone, ["v1"]))


def test_the_checker_catches_a_backend_that_misreports_usage() -> None:
    cluster = Cluster([host("a", 8), host("b", 8)], [vm("v1", "a", 4)])
    world = World(cluster, [Fault(FaultKind.STOP, "v1")])
    world.read(None, 0, frozenset())
    world.read("a", 0, frozenset())  # v1 is shut off: it still holds a's memory
    hidden = [replace(e, usage={**e.usage, "a": replace(e.usage["a"], memory_mib=0, domains=frozenset())})
              for e in world.events]
    found = violations(cluster, hidden, ["v1"])
    assert any("the backend reports a holding []" in f for f in found)


# -- the faults file -------------------------------------------------------------------------------


def test_foreign_changes_are_read_from_the_faults_file(tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text("faults:\n"
                    "  - {kind: boot, vm: n1, host: h2, memory_mib: 4096, vcpus: 2, after: 1}\n"
                    "  - {kind: stop, vm: web-1}\n"
                    "  - {kind: delete, vm: tmp-3, after: 2}\n"
                    "  - {kind: foreign-move, vm: db-2, host: h3}\n"
                    "  - {kind: fail, vm: web-1}\n")
    assert load_faults(path) == (Fault(FaultKind.BOOT, "n1", "h2", 1, 4096, 2), Fault(FaultKind.STOP, "web-1"),
                                 Fault(FaultKind.DELETE, "tmp-3", after=2), Fault(FaultKind.FOREIGN_MOVE, "db-2", "h3"),
                                 Fault(FaultKind.FAIL, "web-1"))


@pytest.mark.parametrize("line, message", [
    ("{kind: boot, vm: n1, host: h2, vcpus: 1}", "faults[0].memory_mib: is required for a boot fault"),
    ("{kind: foreign-move, vm: db-2}", "faults[0].host: is required for a foreign-move fault"),
    ("{kind: stop, vm: a, memory_mib: 5}", "faults[0].memory_mib: only a boot gives a size"),
    ("{kind: delete}", "faults[0].vm: is required for a delete fault"),
    ("{kind: boot, vm: n1, host: h2, memory_mib: -4, vcpus: 1}", "faults[0].memory_mib: must be an integer ≥ 0"),
])
def test_a_bad_foreign_change_names_its_field(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text(f"faults:\n  - {line}\n")
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_faults(path)


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_with_migrations_that_take_real_time_arrivals_in_flight_are_counted(case: Case) -> None:
    # At time_scale 0 a migration ends before the runner reads the next host, so an arrival is
    # rarely in flight during a precheck. Here each lasts 1-8 real milliseconds (1 MiB/s on a
    # clock a thousand times fast), two or three at once, and the destination does not list our
    # arrivals yet: the runner's own count of what heads there is all that keeps it from overfilling.
    outcome = run_case(case.cluster, case.target, case.changes, max(case.parallel, 2), 2, arrivals_visible=False,
                       time_scale=0.001, bandwidth_mib_s=1.0)
    assert outcome.problems == [], outcome.explain(case.cluster)
