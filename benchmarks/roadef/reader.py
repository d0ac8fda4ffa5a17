"""Readers for the challenge's model and assignment files (specification §2.1 and §2.2).

Every file is a flat list of whitespace-separated integers, so the whole file is converted to one
int64 array at once (the 3.4 MB model of b_9 loads in ~0.2 s) and the fixed-stride sections (machines,
processes, balances) are reshaped instead of parsed value by value. Errors name the file, the
token index (0-based) and the field being read.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from planner.solver.reassign.instance import (
    Balance,
    Instance,
    Machines,
    ObjectiveWeights,
    Processes,
    Resources,
    Services,
    frozen_array,
)


MAX_VALUE = 2**62  # far above the spec's 32-bit values; leaves headroom for sums


class RoadefFormatError(ValueError):
    """A malformed model or assignment file; the message names the file and the token."""


class Tokens:
    """A cursor over a file's integers that knows where it is, for error messages."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.values = _parse_integers(path)
        self.position = 0

    def error(self, message: str, index: int | None = None) -> RoadefFormatError:
        at = self.position if index is None else index
        return RoadefFormatError(f"{self.path.name}: token {at}: {message}")

    def take(self, count: int, what: str) -> np.ndarray:
        end = self.position + count
        if end > len(self.values):
            raise self.error(f"file ends after {len(self.values)} tokens while reading {what}", len(self.values))
        chunk = self.values[self.position : end]
        self.position = end
        return chunk

    def one(self, what: str, low: int = 0, high: int | None = None) -> int:
        value = int(self.take(1, what)[0])
        if value < low or (high is not None and value > high):
            raise self.error(f"{what} = {value} is outside [{low}, {high if high is not None else '...'}]", self.position - 1)
        return value

    def table(self, rows: int, columns: int, what: str) -> np.ndarray:
        """`rows` records of `columns` integers each, all non-negative (the spec's values are unsigned)."""
        start = self.position
        block = self.take(rows * columns, what).reshape(rows, columns)
        negative = np.flatnonzero(block.ravel() < 0)
        if negative.size:
            index = start + int(negative[0])
            raise self.error(f"negative value in {what} (record {int(negative[0]) // max(columns, 1)})", index)
        return block

    def check_below(self, values: np.ndarray, start: int, stride: int, bound: int, what: str) -> None:
        """Indices read from a table column must be < bound; `start`/`stride` locate them in the file."""
        bad = np.flatnonzero(values >= bound)
        if bad.size:
            record = int(bad[0])
            raise self.error(f"{what} = {int(values[record])} (record {record}) is not below {bound}", start + record * stride)

    def finish(self) -> None:
        if self.position != len(self.values):
            raise self.error(f"{len(self.values) - self.position} unexpected trailing tokens")


def _parse_integers(path: Path) -> np.ndarray:
    """All integers of the file, parsed in C: no per-token Python objects, so a 5,000-machine
    model (25M move costs) needs the text plus the int64 array and nothing else."""
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError as error:
        raise RoadefFormatError(f"{path.name}: byte {error.start}: not an ASCII integer file") from None
    try:
        values = np.fromstring(text, dtype=np.int64, sep=" ")
    except ValueError:
        raise _first_bad_token(path, text) from None
    huge = np.flatnonzero(np.abs(values) >= MAX_VALUE)  # numpy saturates instead of failing
    if huge.size:
        raise RoadefFormatError(f"{path.name}: token {int(huge[0])}: value out of range (the format's values are 32-bit)")
    return values


def _first_bad_token(path: Path, text: str) -> RoadefFormatError:
    """Only on the error path: walk the words lazily to name the first one that is no integer."""
    for index, word in enumerate(match.group() for match in re.finditer(r"\S+", text)):
        if not re.fullmatch(r"[-+]?\d+", word):
            return RoadefFormatError(f"{path.name}: token {index}: {word[:40]!r} is not an integer")
    return RoadefFormatError(f"{path.name}: not a list of integers")


def read_instance(model: Path, name: str | None = None) -> Instance:
    tokens = Tokens(Path(model))
    resources = _read_resources(tokens)
    machines = _read_machines(tokens, resources.count)
    services = _read_services(tokens)
    processes = _read_processes(tokens, resources.count, services.count)
    balances = _read_balances(tokens, resources.count)
    weights = tokens.table(1, 3, "the three move-cost weights")[0]
    tokens.finish()
    return Instance(
        name=name or _instance_name(Path(model)),
        resources=resources,
        machines=machines,
        services=services,
        processes=processes,
        balances=balances,
        weights=ObjectiveWeights(process=int(weights[0]), service=int(weights[1]), machine=int(weights[2])),
    )


def read_assignment(path: Path, instance: Instance) -> np.ndarray:
    """One machine index per process; read-only int32 array of length P."""
    tokens = Tokens(Path(path))
    count = instance.processes.count
    if len(tokens.values) != count:
        raise tokens.error(f"expected {count} machine indices (one per process), found {len(tokens.values)}", min(count, len(tokens.values)))
    machines = tokens.table(count, 1, "the assignment")[:, 0]
    tokens.check_below(machines, 0, 1, instance.machines.count, "machine index")
    return frozen_array(machines, np.int32)


def _instance_name(model: Path) -> str:
    stem = model.stem
    return stem[len("model_") :] if stem.startswith("model_") else stem


def _read_resources(tokens: Tokens) -> Resources:
    count = tokens.one("number of resources", low=1)
    start = tokens.position
    rows = tokens.table(count, 2, "resources (transient flag, load-cost weight)")
    tokens.check_below(rows[:, 0], start, 2, 2, "transient flag")
    return Resources(transient=frozen_array(rows[:, 0] == 1, bool), load_weight=frozen_array(rows[:, 1], np.int64))


def _read_machines(tokens: Tokens, resources: int) -> Machines:
    count = tokens.one("number of machines", low=1)
    stride = 2 + 2 * resources + count
    start = tokens.position
    rows = tokens.table(count, stride, "machines (neighborhood, location, capacities, safety capacities, move costs)")
    move_cost = rows[:, 2 + 2 * resources :]
    if np.any(np.diagonal(move_cost) != 0):
        machine = int(np.flatnonzero(np.diagonal(move_cost))[0])
        raise tokens.error(f"MMC({machine}, {machine}) must be 0", start + machine * stride + 2 + 2 * resources + machine)
    if move_cost.max(initial=0) > np.iinfo(np.int32).max:
        raise tokens.error("a machine move cost does not fit in int32", start)
    return Machines(
        neighborhood=frozen_array(rows[:, 0], np.int32),
        location=frozen_array(rows[:, 1], np.int32),
        capacity=frozen_array(rows[:, 2 : 2 + resources], np.int64),
        safety=frozen_array(rows[:, 2 + resources : 2 + 2 * resources], np.int64),
        move_cost=frozen_array(move_cost, np.int32),
    )


def _read_services(tokens: Tokens) -> Services:
    # Variable-length records (a dependency list each): the one section read record by record.
    count = tokens.one("number of services")
    spread_min = np.empty(count, dtype=np.int32)
    dependencies: list[tuple[int, ...]] = []
    for service in range(count):
        spread_min[service] = tokens.one(f"spreadMin of service {service}")
        size = tokens.one(f"dependency count of service {service}", high=count)
        start = tokens.position
        targets = tokens.table(size, 1, f"dependencies of service {service}")[:, 0]
        tokens.check_below(targets, start, 1, count, f"dependency of service {service}")
        dependencies.append(tuple(int(target) for target in targets))
    return Services(spread_min=frozen_array(spread_min, np.int32), dependencies=tuple(dependencies))


def _read_processes(tokens: Tokens, resources: int, services: int) -> Processes:
    count = tokens.one("number of processes", low=1)
    stride = 2 + resources
    start = tokens.position
    rows = tokens.table(count, stride, "processes (service, requirements, move cost)")
    tokens.check_below(rows[:, 0], start, stride, services, "service")
    return Processes(
        service=frozen_array(rows[:, 0], np.int32),
        requirement=frozen_array(rows[:, 1 : 1 + resources], np.int64),
        move_cost=frozen_array(rows[:, 1 + resources], np.int64),
    )


def _read_balances(tokens: Tokens, resources: int) -> tuple[Balance, ...]:
    count = tokens.one("number of balance objectives")
    start = tokens.position
    rows = tokens.table(count, 4, "balance objectives (r1, r2, target, weight)")
    tokens.check_below(rows[:, 0], start, 4, resources, "balance resource r1")
    tokens.check_below(rows[:, 1], start + 1, 4, resources, "balance resource r2")
    return tuple(Balance(first=int(r[0]), second=int(r[1]), target=int(r[2]), weight=int(r[3])) for r in rows)


def instance_files(data_dir: Path, name: str) -> tuple[Path, Path]:
    """(model, original assignment) of instance `name` (e.g. "a1_1", "b_3") under DATA_DIR/A or /B."""
    folder = Path(data_dir) / ("B" if name.startswith("b") else "A")
    return folder / f"model_{name}.txt", folder / f"assignment_{name}.txt"
