"""Migration overhead: one real live migration through `rebalance apply` vs the same with `virsh migrate`.

Starts its own lab (lab/lab.sh: three libvirtd hosts in network namespaces, root needed), runs a
32 MiB TCG guest back and forth between lab-a and lab-b, and times each migration:

- `virsh migrate --live --p2p --undefinesource --persistent` (the flags apply uses), as a process;
- `rebalance apply plan.json --yes`, as a process: load the plan, read the live cluster, check
  staleness, precheck both hosts, migrate, verify on both hosts, journal — the whole command;
- the step's own duration from the journal (migrate + verify, without process start-up);
- libvirt's own `time_elapsed` of the job (from the journal).

Rounds alternate the methods so load on the (shared) machine hits both alike. Medians per method
and direction, and the overhead ratio (rebalance apply / virsh migrate), go to
benchmarks/results/migration_overhead.{csv,md}. The lab is always torn down.

    python -m benchmarks.migration_overhead [--rounds 5]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from executor.journal import JournalEvent, journal_path, read_journal
from lab.control import Lab, missing_prerequisites

RESULTS = Path(__file__).with_name("results")
GUEST = "bench"
DIRECTIONS = (("lab-a", "lab-b"), ("lab-b", "lab-a"))
REBALANCE = [sys.executable, "-c", "from rebalance.cli import main; main()"]


@dataclass(frozen=True)
class Sample:
    method: str  # virsh | rebalance
    direction: str
    round: int
    wall_s: float
    step_s: float | None = None  # rebalance only: the journaled step (migrate + verify)
    libvirt_elapsed_ms: int | None = None


def run(argv: list[str]) -> float:
    began = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - began
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}… failed: {done.stdout}{done.stderr}")
    return elapsed


def make_plan(lab: Lab, inventory: Path, source: str, destination: str, folder: Path) -> Path:
    """A one-move plan source → destination, made by `rebalance plan` itself (drain + host group)."""
    policy = folder / f"policy-{destination}.yaml"
    policy.write_text(yaml.safe_dump({"drain_hosts": [source], "rules": {"host_groups": [
        {"name": "target", "vms": [GUEST], "hosts": [destination]}]}}))
    plan = folder / f"plan-{source}-{destination}.json"
    run([*REBALANCE, "plan", "--inventory", str(inventory), "--policy", str(policy), "--goal", "drain",
         "--time-limit", "5", "--workers", "1", "-o", str(plan)])
    return plan


def by_rebalance(plan: Path, folder: Path, index: int, direction: str) -> Sample:
    copy = folder / f"run-{index}-{plan.name}"  # its own journal: a fresh run, not a resume
    shutil.copy(plan, copy)
    wall = run([*REBALANCE, "apply", str(copy), "--yes"])
    done = [e for e in read_journal(journal_path(copy)) if e.event is JournalEvent.STEP_DONE]
    if len(done) != 1:
        raise RuntimeError(f"expected one completed step in {journal_path(copy)}")
    return Sample("rebalance", direction, index, wall, done[0].duration_s, done[0].time_elapsed_ms)


def by_virsh(lab: Lab, source: str, destination: str, index: int, direction: str) -> Sample:
    wall = run(["virsh", "-q", "-c", lab.uri(source), "migrate", "--live", "--p2p", "--undefinesource",
                "--persistent", GUEST, f"qemu+tcp://{destination}/system"])
    return Sample("virsh", direction, index, wall)


def measure(lab: Lab, rounds: int, folder: Path) -> list[Sample]:
    inventory = lab.inventory(folder / "hosts.yaml")
    lab.clear()
    lab.start_guest("lab-a", GUEST, memory_mib=32)
    plans = {}
    for source, destination in DIRECTIONS:  # each plan is made with the guest where it starts
        plans[(source, destination)] = make_plan(lab, inventory, source, destination, folder)
        run(["virsh", "-q", "-c", lab.uri(source), "migrate", "--live", "--p2p", "--undefinesource", "--persistent",
             GUEST, f"qemu+tcp://{destination}/system"])  # also warms both directions up
    samples = []
    for index in range(rounds):
        for source, destination in DIRECTIONS:
            direction = f"{source}→{destination}"
            samples.append(by_rebalance(plans[(source, destination)], folder, index, direction))
        for source, destination in DIRECTIONS:
            samples.append(by_virsh(lab, source, destination, index, f"{source}→{destination}"))
    return samples


def median(samples: list[Sample], method: str, direction: str | None, field: str) -> float:
    values = [getattr(s, field) for s in samples if s.method == method and direction in (None, s.direction)]
    return statistics.median(values)


def write_results(samples: list[Sample], rounds: int) -> str:
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / "migration_overhead.csv").open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(asdict(samples[0])))
        writer.writeheader()
        for sample in samples:
            writer.writerow(asdict(sample))
    lines = [
        "# Migration overhead: `rebalance apply` vs `virsh migrate`",
        "",
        "Lab: three libvirtd hosts in network namespaces on one 2-core machine (shared), a 32 MiB TCG guest,",
        f"peer-to-peer live migration over qemu+tcp inside the lab. {rounds} rounds per method and direction,",
        "methods alternating; medians. Command: `python -m benchmarks.migration_overhead --rounds "
        f"{rounds}`.",
        "",
        "| direction | virsh migrate (s) | rebalance apply (s) | its step: migrate + verify (s) | libvirt time_elapsed (ms) | ratio apply / virsh |",
        "|---|---|---|---|---|---|",
    ]
    for direction in [f"{s}→{d}" for s, d in DIRECTIONS] + [None]:
        virsh = median(samples, "virsh", direction, "wall_s")
        tool = median(samples, "rebalance", direction, "wall_s")
        step = median(samples, "rebalance", direction, "step_s")
        libvirt = median(samples, "rebalance", direction, "libvirt_elapsed_ms")
        lines.append(f"| {direction or 'both'} | {virsh:.2f} | {tool:.2f} | {step:.2f} | {libvirt:.0f} | "
                     f"{tool / virsh:.2f} |")
    lines += [
        "",
        "`rebalance apply` is the whole command as a process (Python start-up and imports, plan load, live",
        "inventory and staleness check, prechecks, the migration, verification on both hosts, journal fsyncs).",
        "The step column is the part the journal times: migrate + verify.",
    ]
    text = "\n".join(lines) + "\n"
    (RESULTS / "migration_overhead.md").write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    missing = missing_prerequisites()
    if missing:
        raise SystemExit(f"the lab needs {', '.join(missing)}: run scripts/install-test-deps.sh as root")
    folder = Path(tempfile.mkdtemp(prefix="rebalance-bench-"))
    lab = Lab(folder / "lab", f"rbb{os.getpid()}")
    try:
        lab.up()
        samples = measure(lab, args.rounds, folder)
    finally:
        lab.down()
    print(write_results(samples, args.rounds))
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
