"""Is a host back after maintenance, without a lab: the boot id read through exec, the baseline
comparison of doctor failures, the order of the checks, and the poll loop with a fake clock
(tests/lab/test_lab_host_health.py runs host_health against real libvirtd daemons)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from cluster import host_health as hh
from cluster.doctor_checks import Check, CommandResult, Status
from cluster.host_health import Health, boot_id, doctor_failures, host_health, poll_until_healthy
from cluster.inventory import Inventory, parse_inventory
from planner.domain.errors import InputError

BOOT_1 = "0f3c1f36-8a43-4b6c-9d7e-2b1e5a4c9f10"
BOOT_2 = "6a1d2e3f-4b5c-4d7e-8f90-a1b2c3d4e5f6"


def _inventory(with_exec: bool = True) -> Inventory:
    hosts = [{"name": n, **({"exec": f"ssh root@{n}"} if with_exec else {})} for n in ("node1", "node2")]
    return parse_inventory({"defaults": {"live_migration_uri": "qemu+tls://%s/system"}, "hosts": hosts})


class Runner:
    """Answers `cat boot_id` with a fixed result and records every argv."""

    def __init__(self, result: CommandResult) -> None:
        self.result = result
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> CommandResult:
        self.calls.append(list(argv))
        return self.result


# -- boot id ------------------------------------------------------------------------------------------

def test_boot_id_is_read_through_the_hosts_exec_prefix() -> None:
    run = Runner(CommandResult(0, BOOT_1 + "\n"))
    assert boot_id(_inventory().host("node2"), run) == BOOT_1
    assert run.calls == [["ssh", "root@node2", "cat", "/proc/sys/kernel/random/boot_id"]]


@pytest.mark.parametrize("result", [CommandResult(255, "", "ssh: connect to host node2: No route to host"),
                                    CommandResult(0, ""), CommandResult(0, "Welcome to node2!\n" + BOOT_1)])
def test_boot_id_is_none_when_it_cannot_be_read(result: CommandResult) -> None:
    assert boot_id(_inventory().host("node2"), Runner(result)) is None


def test_boot_id_is_none_without_exec_and_runs_nothing() -> None:
    run = Runner(CommandResult(0, BOOT_1))
    assert boot_id(_inventory(with_exec=False).host("node2"), run) is None
    assert run.calls == []


# -- doctor baseline ----------------------------------------------------------------------------------

CHECKS = (Check("reach node1", Status.PASS, "connected"), Check("auth node1", Status.FAIL, "anonymous tcp"),
          Check("transport", Status.WARN, "PLAIN TCP"), Check("reach node2", Status.FAIL, "refused"))


def test_doctor_failures_are_the_failed_checks_by_name() -> None:
    assert doctor_failures(CHECKS) == {"auth node1": "anonymous tcp", "reach node2": "refused"}


@pytest.fixture
def reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hh, "_versions", lambda uri, timeout_s: "libvirt 9.0.0 QEMU 7.2.0")


def _doctor_says(monkeypatch: pytest.MonkeyPatch, checks: tuple[Check, ...]) -> list[int]:
    runs: list[int] = []

    def fake(inventory: Inventory, timeout_s: float, run: object) -> tuple[Check, ...]:
        runs.append(1)
        return checks

    monkeypatch.setattr(hh, "run_doctor", fake)
    return runs


def test_a_failure_already_in_the_baseline_does_not_block_a_new_one_does(
        reachable: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _doctor_says(monkeypatch, CHECKS)
    health = host_health(_inventory(), "node2", {"auth node1": "anonymous tcp"}, 5.0)
    assert not health.healthy
    assert health.problems == ("node2: new doctor failure: reach node2: refused",)
    assert health.versions == "libvirt 9.0.0 QEMU 7.2.0"

    healthy = host_health(_inventory(), "node2", {"auth node1": "x", "reach node2": "was down before"}, 5.0)
    assert healthy == Health(True, (), "libvirt 9.0.0 QEMU 7.2.0")


def test_an_unreachable_libvirtd_is_reported_without_running_the_doctor(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(uri: str, timeout_s: float) -> str:
        raise TimeoutError("no answer within 5 s")

    monkeypatch.setattr(hh, "_versions", refused)
    runs = _doctor_says(monkeypatch, ())
    health = host_health(_inventory(), "node2", {}, 5.0)
    assert health == Health(False, ("node2: libvirtd not reachable: no answer within 5 s",), "")
    assert runs == []


def test_a_bug_while_connecting_is_raised_not_reported_as_a_host_down(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(uri: str, timeout_s: float) -> str:
        raise KeyError("bug")

    monkeypatch.setattr(hh, "_versions", broken)
    with pytest.raises(KeyError):
        host_health(_inventory(), "node2", {}, 5.0)


def test_an_unchanged_boot_id_means_the_hook_did_not_reboot(reachable: None, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = _doctor_says(monkeypatch, ())
    health = host_health(_inventory(), "node2", {}, 5.0, boot_before=BOOT_1, run=Runner(CommandResult(0, BOOT_1)))
    assert not health.healthy
    assert health.problems == (f"node2: boot id unchanged ({BOOT_1}): the hook did not reboot it",)
    assert runs == []  # still the old boot: no point asking the doctor yet

    rebooted = host_health(_inventory(), "node2", {}, 5.0, boot_before=BOOT_1, run=Runner(CommandResult(0, BOOT_2)))
    assert rebooted.healthy and runs == [1]


def test_an_unreadable_boot_id_is_not_healthy(reachable: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _doctor_says(monkeypatch, ())
    health = host_health(_inventory(), "node2", {}, 5.0, boot_before=BOOT_1,
                         run=Runner(CommandResult(255, "", "Connection refused")))
    assert health.problems == ("node2: cannot read the boot id: exit 255: Connection refused",)


def test_without_exec_the_boot_id_is_not_checked(reachable: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _doctor_says(monkeypatch, ())
    run = Runner(CommandResult(0, BOOT_1))
    assert host_health(_inventory(with_exec=False), "node2", {}, 5.0, boot_before=BOOT_1, run=run).healthy
    assert run.calls == []


def test_a_host_outside_the_inventory_is_bad_input() -> None:
    with pytest.raises(InputError, match="'node9' is not a host of the inventory"):
        host_health(_inventory(), "node9", {}, 5.0)


# -- polling ------------------------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _probe(clock: Clock, answers: list[Health], cost_s: float = 0.5):  # noqa: ANN202
    def probe() -> Health:
        clock.now += cost_s
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return probe


DOWN = Health(False, ("node2: libvirtd not reachable: refused",))
NEW_FAIL = Health(False, ("node2: new doctor failure: reach node2: refused",), "libvirt 9.0.0 QEMU 7.2.0")
UP = Health(True, (), "libvirt 9.0.0 QEMU 7.2.0")


def test_polling_returns_at_the_first_healthy_answer() -> None:
    clock = Clock()
    answers = [DOWN, DOWN, UP, DOWN]
    assert poll_until_healthy(_probe(clock, answers), 60.0, 2.0, clock, clock.sleep) == UP
    assert clock.slept == [2.0, 2.0] and answers == [DOWN]


def test_polling_gives_up_at_the_deadline_with_the_last_problems() -> None:
    clock = Clock()
    probes = [DOWN, DOWN, NEW_FAIL]
    health = poll_until_healthy(_probe(clock, probes, cost_s=0.3), 10.0, 2.0, clock, clock.sleep)
    assert health == NEW_FAIL
    # probes at 100.3, 102.6, 104.9, 107.2, 109.5: the last sleep is cut to the deadline, then one last probe
    assert clock.slept == pytest.approx([2.0, 2.0, 2.0, 2.0, 0.5])
    assert clock.now == pytest.approx(110.3)


def test_a_zero_deadline_probes_once() -> None:
    clock = Clock()
    assert poll_until_healthy(_probe(clock, [DOWN]), 0.0, 2.0, clock, clock.sleep) == DOWN
    assert clock.slept == []


def test_wait_healthy_polls_host_health(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    seen: list[tuple[str, float, str | None]] = []
    answers = [DOWN, UP]

    def fake(inventory: Inventory, host: str, baseline: object, timeout_s: float, boot_before: str | None,
             run: object) -> Health:
        seen.append((host, timeout_s, boot_before))
        return answers.pop(0)

    monkeypatch.setattr(hh, "host_health", fake)
    health = hh.wait_healthy(_inventory(), "node2", {}, 30.0, poll_s=1.0, boot_before=BOOT_1, clock=clock,
                             sleep=clock.sleep, timeout_s=3.0)
    assert health == UP and seen == [("node2", 3.0, BOOT_1)] * 2 and clock.slept == [1.0]
