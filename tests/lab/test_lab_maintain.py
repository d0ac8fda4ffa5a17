"""`rebalance maintain` against real libvirt: the hook is the lab's "reboot" (stop and start that
host's libvirtd, which destroys whatever still runs there). Every guest runs exactly once
throughout (sampled from each host's own libvirt), every host ends uncordoned, --return puts the
guests back, and the journal shows each phase; a SIGKILL mid-drain and a failing hook are both
resumed by running the command again, without running a finished hook twice; a guest that cannot
leave (local disk) is powered off for its host's hook and started again before the uncordon."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import libvirt

from lab.busy_guest import acpi_guest_sector, write_disk
from lab.control import HOSTS, SCRIPT, Lab
from operations.cordons import read_cordons
from operations.maintenance_journal import Phase, read_records, runs_dir
from tests.lab.helpers import rebalance, rebalance_process
from tests.lab.safety_checks import copies

EVERY_PHASE = [Phase.CORDONED, Phase.DRAIN_STARTED, Phase.DRAINED, Phase.HOOK_STARTED, Phase.HOOK_DONE,
               Phase.HEALTHY, Phase.UNCORDONED]


def restart_hook(lab: Lab, directory: Path) -> Path:
    """hook.sh HOST: notes the call, refuses a host flagged in directory/fail/, else restarts its libvirtd."""
    (directory / "fail").mkdir()
    script = directory / "hook.sh"
    lab_sh = f"env LAB={lab.root} NS={lab.prefix} TLS=0 {SCRIPT}"
    script.write_text(f"""#!/bin/sh
set -e
echo "$1" >> {directory}/calls
if [ -e {directory}/fail/"$1" ]; then echo "patch failed on $1" >&2; exit 7; fi
{lab_sh} stop "${{1#lab-}}"
{lab_sh} start "${{1#lab-}}"
""")
    script.chmod(0o755)
    return script


class Sampler(threading.Thread):
    """Every copy of every guest, asked of every host every ~0.3 s while the command works. The
    hosts are asked one after the other, so a migration finishing between two answers could show a
    guest running twice or nowhere: a sample counts only when two readings in a row agree, and
    every host answered (a host whose libvirtd is down for its hook is unreadable for that while)."""

    def __init__(self, lab: Lab) -> None:
        super().__init__(daemon=True)
        self.lab, self.samples, self.done = lab, [], threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                first, second = copies(self.lab), copies(self.lab)
            except Exception:  # noqa: BLE001 — a daemon being restarted by the hook
                continue
            if first == second:
                self.samples.append(first)
            time.sleep(0.3)


def exists_once(sample: dict[str, list[tuple[str, int, bool]]]) -> bool:
    """Running on at most one host, and alive somewhere (running, or paused for a migration's
    switch-over, when neither half runs for a moment)."""
    return all(sum(state == libvirt.VIR_DOMAIN_RUNNING for _, state, _ in where) <= 1
               and any(active for _, _, active in where) for where in sample.values())


def maintain(inventory: Path, state: Path, hook: Path, *extra: str) -> list[str]:
    return ["maintain", "lab-a", "lab-b", "lab-c", "--hook", f"{hook} {{host}}", "--inventory", str(inventory),
            "--state-dir", str(state), "--keep-order", "--yes", "--time-limit", "5", "--health-timeout", "60",
            "--shutdown-timeout", "30", *extra]


def calls(directory: Path) -> list[str]:
    return (directory / "calls").read_text().split()


def test_maintain_restarts_each_host_in_turn_and_returns_its_guests(clean_lab: Lab, inventory: Path,
                                                                     tmp_path: Path) -> None:
    start = {"g-a": "lab-a", "g-b": "lab-b", "g-c": "lab-c"}
    for name, host in start.items():
        clean_lab.start_guest(host, name, memory_mib=32)
    state, hook = tmp_path / "state", restart_hook(clean_lab, tmp_path)
    sampler = Sampler(clean_lab)
    sampler.start()
    try:
        process = rebalance_process(*maintain(inventory, state, hook, "--return"))
        output, _ = process.communicate(timeout=400)
    finally:
        sampler.done.set()
        sampler.join()

    assert process.returncode == 0, output
    assert calls(tmp_path) == ["lab-a", "lab-b", "lab-c"]
    assert len(sampler.samples) >= 10
    for sample in sampler.samples:
        assert sorted(sample) == sorted(start) and exists_once(sample), sample
    assert clean_lab.placement() == {name: [host] for name, host in start.items()}  # --return put them back
    assert read_cordons(state) == {}
    (run_dir,) = runs_dir(state).iterdir()
    records = read_records(run_dir)
    for host in HOSTS:
        assert [r.phase for r in records if r.host == host] == EVERY_PHASE + [Phase.RETURNED]
    times = [r.time for r in records]
    assert times == sorted(times) and records[-1].phase is Phase.RUN_FINISHED
    assert "Expected: about" in output and "order: lab-a" in output


def test_a_kill_mid_drain_and_a_failing_hook_resume_without_a_finished_hook_running_again(
        clean_lab: Lab, inventory: Path, tmp_path: Path) -> None:
    for name, host in {"g-a": "lab-a", "g-b": "lab-b"}.items():
        clean_lab.start_guest(host, name, memory_mib=32)
    # A local disk keeps db on lab-c: powered off for the hook, started again before the uncordon.
    clean_lab.start_guest("lab-c", "db", memory_mib=32, disk=write_disk(tmp_path / "db.img", acpi_guest_sector()))
    state, hook = tmp_path / "state", restart_hook(clean_lab, tmp_path)
    process = rebalance_process(*maintain(inventory, state, hook, "--unmigratable", "shutdown"))
    try:
        clean_lab.wait_for(lambda: _drain_started(state, "lab-b"), timeout_s=200, what="lab-b's drain")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert calls(tmp_path) == ["lab-a"]

    (tmp_path / "fail" / "lab-b").touch()
    failed = rebalance(*maintain(inventory, state, hook, "--unmigratable", "shutdown"))
    assert failed.exit_code == 1, failed.output
    assert "Maintenance stopped at lab-b: the hook exited 7" in failed.stderr
    assert "lab-b stays cordoned" in failed.stderr
    assert set(read_cordons(state)) == {"lab-b"}
    assert calls(tmp_path) == ["lab-a", "lab-b"]  # lab-a's hook, recorded done, did not run again

    (tmp_path / "fail" / "lab-b").unlink()
    resumed = rebalance(*maintain(inventory, state, hook, "--unmigratable", "shutdown"))
    assert resumed.exit_code == 0, resumed.output
    assert "lab-a: done in an earlier run" in resumed.output
    assert calls(tmp_path) == ["lab-a", "lab-b", "lab-b", "lab-c"]
    assert read_cordons(state) == {}
    placement = clean_lab.placement()
    assert sorted(placement) == ["db", "g-a", "g-b"] and all(len(hosts) == 1 for hosts in placement.values())
    assert placement["db"] == ["lab-c"]  # running again where its disk is
    (run_dir,) = runs_dir(state).iterdir()
    lab_c = [r.phase for r in read_records(run_dir) if r.host == "lab-c"]
    assert lab_c.index(Phase.POWERED_OFF) < lab_c.index(Phase.HOOK_STARTED) < lab_c.index(Phase.POWERED_ON) \
        < lab_c.index(Phase.UNCORDONED)


def test_a_sequence_that_cannot_fit_is_refused_before_anything_moves(clean_lab: Lab, inventory: Path,
                                                                      tmp_path: Path) -> None:
    for host in HOSTS:
        clean_lab.start_guest(host, f"big-{host}", memory_mib=200)
    state = tmp_path / "state"

    result = rebalance("maintain", *HOSTS, "--hook", "true", "--parallel", "2", "--inventory", inventory,
                       "--state-dir", state, "--yes", "--time-limit", "5")

    assert result.exit_code == 1, result.output
    assert "cannot fit: 88 MiB of memory short" in result.stderr
    assert "lab-a, lab-b" in result.stderr
    assert read_cordons(state) == {} and not runs_dir(state).exists()
    assert clean_lab.placement() == {f"big-{h}": [h] for h in HOSTS}


def _drain_started(state: Path, host: str) -> bool:
    root = runs_dir(state)
    if not root.exists():
        return False
    return any(r.phase is Phase.DRAIN_STARTED and r.host == host
               for run_dir in root.iterdir() for r in read_records(run_dir))
