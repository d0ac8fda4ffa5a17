"""Hostile input through the CLI: mutated scenarios, plans, policies, executor settings, journals and
histories, each run in-process the way an operator runs the command, and judged only by what an
operator sees: the exit code (0, 1 or 2), no traceback, no hang, a short message (one line for
bad input).

    python -m benchmarks.fuzz --examples 2000 --out benchmarks/results

writes fuzz.csv (one row per case) and fuzz.md (counts per target and exit code). The test suite
runs the same cases, fewer of them (tests/test_fuzz_cli.py).

Nothing here connects anywhere: every case runs with the commands' cluster access replaced by a
simulated cluster (tests/harness.py), so plans are applied with --dry-run or on the simulated
backend only; and no command that reads a real inventory (collect, doctor) is fuzzed, since a
mutated inventory could name a real address.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from click.testing import CliRunner

from rebalance.cli import cli
from tests.harness import simulated

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = sorted(p for p in (REPO / "scenarios").glob("*.yaml") if not p.name.startswith("large-"))
HANG_S = 20.0  # the bound: every case ends within 20 s
PLAN_OPTIONS = ["--time-limit", "0.3", "--workers", "1"]
MAX_STDERR_CHARS = 2000

HOSTILE_SCALARS: list[Any] = [
    -1, 0, 1, 2**31, 2**63, 2**70, 10**30, -(2**63), 1e308, -1e308, float("nan"), float("inf"), float("-inf"),
    0.5, True, False, None, "", "%s", "../../etc/passwd", "a\x00b", "é" * 3, "x" * 5000, "1", "[]", "{}",
    "qemu+ext:///system?command=/bin/true", "sha256:" + "0" * 64,
]


@dataclass(frozen=True)
class Case:
    target: str
    mutation: str
    exit_code: int
    traceback: str  # "" when the command ended the way the CLI means to end
    seconds: float
    stderr_chars: int
    stderr_lines: int = 0

    @property
    def ok(self) -> bool:
        one_line = self.exit_code != 2 or self.stderr_lines == 1  # bad input: one line naming file and field
        return not self.traceback and self.exit_code in (0, 1, 2) and self.stderr_chars <= MAX_STDERR_CHARS and one_line


# -- mutations -----------------------------------------------------------------------------------

def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _paths(value, (*prefix, index))


def _set(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return document


def _delete(document: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return {}
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return document


def _hostile_value(rng: random.Random) -> Any:
    choice = rng.random()
    if choice < 0.6:
        return rng.choice(HOSTILE_SCALARS)
    if choice < 0.75:
        return [rng.choice(HOSTILE_SCALARS) for _ in range(rng.randint(0, 3))]
    if choice < 0.9:
        return {rng.choice(["x", "name", "host", "cpus", ""]): rng.choice(HOSTILE_SCALARS)}
    nested: Any = 1
    for _ in range(rng.randint(50, 400)):  # deep nesting
        nested = [nested]
    return nested


def mutate_structure(document: Any, rng: random.Random) -> tuple[Any, str]:
    paths = list(_paths(document))
    path = rng.choice(paths)
    action = rng.choice(["replace", "replace", "replace", "delete", "add"])
    if action == "delete" and path:
        return _delete(document, path), f"delete {_shown(path)}"
    if action == "add":
        where = rng.choice([p for p in paths if isinstance(_get(document, p), dict)] or [()])
        target = _get(document, where)
        if isinstance(target, dict):
            target[rng.choice(["unknown_key", "cpus", "name", "x" * 40])] = rng.choice(HOSTILE_SCALARS)
            return document, f"add a key at {_shown(where)}"
    value = _hostile_value(rng)
    return _set(document, path, value), f"set {_shown(path)} = {_shown(value)}"


def _get(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        document = document[step]
    return document


def mutate_text(text: str, rng: random.Random) -> tuple[bytes, str]:
    data = text.encode("utf-8")
    action = rng.choice(["truncate", "bytes", "duplicate-line", "alias-bomb", "empty"])
    if action == "truncate":
        cut = rng.randint(0, len(data))
        return data[:cut], f"truncated at byte {cut}"
    if action == "bytes":
        at = rng.randint(0, len(data))
        junk = bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 8)))
        return data[:at] + junk + data[at:], f"{len(junk)} random bytes at {at}"
    if action == "duplicate-line":
        lines = data.split(b"\n")
        index = rng.randrange(len(lines))
        return b"\n".join(lines[:index + 1] + [lines[index]] + lines[index + 1:]), f"line {index + 1} twice"
    if action == "alias-bomb":
        bomb = "a: &a [1,1,1,1,1,1,1,1,1]\n" + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
            for i in range(9))
        return (bomb + text).encode("utf-8"), "a YAML alias bomb in front"
    return b"", "empty file"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


# -- targets: a file to mutate and the command that reads it ----------------------------------------

@dataclass(frozen=True)
class Target:
    name: str
    original: str  # the file's text
    suffix: str  # .yaml, .json, or .jsonl (one JSON document a line: journals, history)
    command: Callable[[Path, Path], list[str]]  # (mutated file, work dir) → CLI arguments


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def hang(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"no answer within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def invoke(arguments: list[str]) -> tuple[int, str, float, int, int]:
    """(exit code, traceback or "", seconds, stderr characters, stderr lines) of one in-process CLI run."""
    began = time.monotonic()
    try:
        with _alarm(HANG_S), simulated():
            result = CliRunner().invoke(cli, arguments, catch_exceptions=True)
    except TimeoutError as error:
        return -1, f"hang: {error}", time.monotonic() - began, 0, 0
    seconds = time.monotonic() - began
    problem = ""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        problem = f"{type(result.exception).__name__}: {str(result.exception)[:200]}"
    return result.exit_code, problem, seconds, len(result.stderr), len(result.stderr.strip().splitlines())


def _plan_file(scenario: Path, directory: Path) -> Path:
    plan = directory / f"{scenario.stem}.plan.json"
    exit_code, problem, *_ = invoke(["plan", "--scenario", str(scenario), *PLAN_OPTIONS, "-o", str(plan)])
    if exit_code != 0 or problem:
        raise RuntimeError(f"cannot make a plan from {scenario.name}: exit {exit_code} {problem}")
    return plan


def targets(directory: Path) -> list[Target]:
    """Every shipped scenario, plans the planner writes from some, and the other files apply reads."""
    found = [Target(f"scenario:{s.stem}", s.read_text(encoding="utf-8"), ".yaml",
                    lambda f, d: ["plan", "--scenario", str(f), *PLAN_OPTIONS, "-o", str(d / "out.json")])
             for s in SCENARIOS]
    for stem in ("nova-classic", "swap-deadlock", "anti-affinity-groups"):
        plan = _plan_file(REPO / "scenarios" / f"{stem}.yaml", directory)
        text = plan.read_text(encoding="utf-8")
        vm = json.loads(text)["cluster"]["vms"][0]["name"]
        found += [
            Target(f"plan-show:{stem}", text, ".json", lambda f, d: ["show", str(f)]),
            Target(f"plan-apply:{stem}", text, ".json", lambda f, d: ["apply", str(f), "--dry-run"]),
            Target(f"plan-explain:{stem}", text, ".json", lambda f, d, vm=vm: ["explain", str(f), vm]),
        ]
    nova = _plan_file(REPO / "scenarios" / "nova-classic.yaml", directory)
    found += _journal_and_history(nova, directory)
    config = "live_migration_bandwidth: 100\nlive_migration_completion_timeout: 800\nprogress_interval_s: 1.0\n"
    found.append(Target("executor-config", config, ".yaml",
                        lambda f, d: ["apply", str(nova), "--dry-run", "--config", str(f)]))
    policy = yaml.safe_dump(yaml.safe_load((REPO / "scenarios" / "hot-rack.yaml").read_text())["policy"])
    snapshot = json.dumps(yaml.safe_load((REPO / "scenarios" / "hot-rack.yaml").read_text())["cluster"])
    snapshot_file = directory / "hot-rack.snapshot.json"
    snapshot_file.write_text(snapshot, encoding="utf-8")
    found.append(Target("policy", policy, ".yaml",
                        lambda f, d: ["plan", "--snapshot", str(snapshot_file), "--policy", str(f), *PLAN_OPTIONS]))
    found.append(Target("snapshot", snapshot, ".json", lambda f, d: ["plan", "--snapshot", str(f), *PLAN_OPTIONS]))
    return found


def _journal_and_history(plan: Path, directory: Path) -> list[Target]:
    """A journal beside a plan applied on the simulated backend; the history a simulated run wrote."""
    applied = directory / "applied"
    applied.mkdir()
    plan_copy = applied / "plan.json"
    plan_copy.write_bytes(plan.read_bytes())
    invoke(["apply", str(plan_copy), "--yes"])
    journal = (applied / "plan.journal.jsonl").read_text(encoding="utf-8")
    state = directory / "state"
    night = yaml.safe_load((REPO / "scenarios" / "nightly-consolidate.yaml").read_text(encoding="utf-8"))
    snapshot, policy = directory / "night.snapshot.json", directory / "night.policy.yaml"
    snapshot.write_text(json.dumps(night["cluster"]), encoding="utf-8")  # the simulated cluster run acts on
    policy.write_text(yaml.safe_dump(night["policy"]), encoding="utf-8")
    invoke(["run", "--inventory", str(snapshot), "--policy", str(policy), "--state-dir", str(state),
            "--time-limit", "0.3", "--yes"])
    history = (state / "history.jsonl").read_text(encoding="utf-8")

    def resume(mutated: Path, work: Path) -> list[str]:
        (work / "plan.json").write_bytes(plan.read_bytes())
        mutated.rename(work / "plan.journal.jsonl")
        return ["apply", str(work / "plan.json"), "--yes"]

    def past_runs(mutated: Path, work: Path) -> list[str]:
        (work / "state").mkdir(mode=0o700)
        mutated.rename(work / "state" / "history.jsonl")
        return ["history", "--state-dir", str(work / "state")]

    return [Target("journal", journal, ".jsonl", resume), Target("history", history, ".jsonl", past_runs)]


def _mutate_document(target: Target, rng: random.Random) -> tuple[bytes, str]:
    if target.suffix == ".jsonl":
        lines = target.original.splitlines()
        index = rng.randrange(len(lines))
        line, description = mutate_structure(json.loads(lines[index]), rng)
        lines[index] = _dump(line, ".json").decode("utf-8", "replace").replace("\n", " ")
        return ("\n".join(lines) + "\n").encode("utf-8"), f"line {index + 1}: {description}"
    document = json.loads(target.original) if target.suffix == ".json" else yaml.safe_load(target.original)
    document, description = mutate_structure(document, rng)
    return _dump(document, target.suffix), description


def run_case(target: Target, rng: random.Random, directory: Path) -> Case:
    work = Path(tempfile.mkdtemp(dir=directory))
    mutated = work / f"input{target.suffix}"
    if rng.random() < 0.7:
        data, description = _mutate_document(target, rng)
        mutated.write_bytes(data)
    else:
        data, description = mutate_text(target.original, rng)
        mutated.write_bytes(data)
    exit_code, problem, seconds, stderr_chars, stderr_lines = invoke(target.command(mutated, work))
    return Case(target.name, description, exit_code, problem, round(seconds, 3), stderr_chars, stderr_lines)


def _dump(document: Any, suffix: str) -> bytes:
    try:
        if suffix == ".json":
            return json.dumps(document).encode("utf-8")
        return yaml.safe_dump(document, sort_keys=False, allow_unicode=True).encode("utf-8")
    except (RecursionError, ValueError, yaml.YAMLError):
        return b"[" * 5000  # a structure too deep even to write: send the reader the same shape as text


def campaign(examples: int, seed: int, directory: Path) -> list[Case]:
    rng = random.Random(seed)
    every = targets(directory)
    return [run_case(every[i % len(every)], rng, directory) for i in range(examples)]


def write_results(cases: list[Case], out: Path, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "fuzz.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["target", "mutation", "exit_code", "traceback", "seconds", "stderr_chars",
                         "stderr_lines"])
        for case in cases:
            writer.writerow([case.target, case.mutation, case.exit_code, case.traceback, case.seconds,
                             case.stderr_chars, case.stderr_lines])
    codes = Counter(c.exit_code for c in cases)
    lines = ["# Fuzzing the CLI with hostile input", "", f"`{command}`", "",
             f"- cases: {len(cases)}",
             "- exit codes: " + ", ".join(f"{code}: {count}" for code, count in sorted(codes.items())),
             f"- tracebacks: {sum(1 for c in cases if c.traceback and not c.traceback.startswith('hang'))}",
             f"- hangs (> {HANG_S:g} s): {sum(1 for c in cases if c.traceback.startswith('hang'))}",
             f"- messages over {MAX_STDERR_CHARS} characters: "
             f"{sum(1 for c in cases if c.stderr_chars > MAX_STDERR_CHARS)}",
             f"- exit 2 with more than one line on stderr: "
             f"{sum(1 for c in cases if c.exit_code == 2 and c.stderr_lines > 1)}",
             f"- slowest case: {max((c.seconds for c in cases), default=0):.1f} s", ""]
    bad = [c for c in cases if not c.ok]
    if bad:
        lines += ["| target | mutation | exit | problem |", "|---|---|---|---|"]
        lines += [f"| {c.target} | {c.mutation} | {c.exit_code} | {c.traceback} |" for c in bad[:50]]
    (out / "fuzz.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        cases = campaign(arguments.examples, arguments.seed, Path(directory))
    command = f"python -m benchmarks.fuzz --examples {arguments.examples} --seed {arguments.seed}"
    write_results(cases, arguments.out, command)
    print((arguments.out / "fuzz.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
