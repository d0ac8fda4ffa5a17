"""The challenge-format reader: the specification's toy instance field by field, a round trip
through the writer, and one-line errors that name the file and the token on malformed input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from planner.solver.reassign.instance import Balance, ObjectiveWeights
from benchmarks.roadef.reader import RoadefFormatError, read_assignment, read_instance
from benchmarks.roadef.writer import format_assignment, format_model

# Specification §2.1, the example table, one value per line as printed there.
TOY_MODEL = """2
1 100
0 10
4
0 0 30 400 16 80 0 1 4 5
0 0 10 240 8 160 1 0 3 4
1 1 15 100 12 80 4 3 0 2
1 2 10 100 8 80 5 4 2 0
2
2 0
1 1 0
3
0 12 10 1000
0 10 20 100
1 6 200 1
1
0 1 20
10
1 10 100
"""


@pytest.fixture
def toy(write_file: Callable[[str, str], Path]) -> Path:
    return write_file("model_toy.txt", TOY_MODEL)


def test_toy_instance_fields(toy: Path) -> None:
    instance = read_instance(toy)
    assert instance.name == "toy"
    assert instance.resources.transient.tolist() == [True, False]
    assert instance.resources.load_weight.tolist() == [100, 10]
    assert instance.machines.neighborhood.tolist() == [0, 0, 1, 1]
    assert instance.machines.location.tolist() == [0, 0, 1, 2]
    assert instance.machines.capacity.tolist() == [[30, 400], [10, 240], [15, 100], [10, 100]]
    assert instance.machines.safety[2].tolist() == [12, 80]
    assert instance.machines.move_cost[3].tolist() == [5, 4, 2, 0]
    assert instance.services.spread_min.tolist() == [2, 1]
    assert instance.services.dependencies == ((), (0,))
    assert instance.processes.service.tolist() == [0, 0, 1]
    assert instance.processes.requirement.tolist() == [[12, 10], [10, 20], [6, 200]]
    assert instance.processes.move_cost.tolist() == [1000, 100, 1]
    assert instance.balances == (Balance(first=0, second=1, target=20, weight=10),)
    assert instance.weights == ObjectiveWeights(process=1, service=10, machine=100)


def test_arrays_are_read_only(toy: Path) -> None:
    instance = read_instance(toy)
    with pytest.raises(ValueError):
        instance.machines.capacity[0, 0] = 1


def test_assignment(toy: Path, write_file: Callable[[str, str], Path]) -> None:
    instance = read_instance(toy)
    assignment = read_assignment(write_file("assignment_toy.txt", "0 3 0\n"), instance)
    assert assignment.tolist() == [0, 3, 0]


def test_writer_round_trip(toy: Path, write_file: Callable[[str, str], Path]) -> None:
    instance = read_instance(toy)
    again = read_instance(write_file("model_again.txt", format_model(instance)))
    assert format_model(again) == format_model(instance)
    assert np.array_equal(again.machines.move_cost, instance.machines.move_cost)
    assert format_assignment(np.array([0, 2, 1])) == "0 2 1\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (TOY_MODEL.replace("0 10\n4", "0 x\n4", 1), "model_bad.txt: token 4: 'x' is not an integer"),
        (TOY_MODEL.rsplit("\n", 2)[0], "model_bad.txt: token 70: file ends after 70 tokens while reading the three move-cost weights"),
        (TOY_MODEL + "7\n", "model_bad.txt: token 73: 1 unexpected trailing tokens"),
        (TOY_MODEL.replace("1 100\n", "2 100\n", 1), "model_bad.txt: token 1: transient flag = 2 (record 0) is not below 2"),
        (TOY_MODEL.replace("1 6 200 1", "2 6 200 1"), "model_bad.txt: token 61: service = 2 (record 2) is not below 2"),
        (TOY_MODEL.replace("1 1 0\n", "1 1 5\n"), "model_bad.txt: token 51: dependency of service 1 = 5 (record 0) is not below 2"),
        (TOY_MODEL.replace("0 0 30 400 16 80 0 1", "0 0 30 400 16 80 3 1"), "model_bad.txt: token 12: MMC(0, 0) must be 0"),
        (TOY_MODEL.replace("0 0 10 240", "0 0 -10 240"), "model_bad.txt: token 18: negative value in machines"),
    ],
)
def test_malformed_model_names_file_and_token(write_file: Callable[[str, str], Path], text: str, message: str) -> None:
    with pytest.raises(RoadefFormatError) as error:
        read_instance(write_file("model_bad.txt", text))
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 3\n", "assignment_bad.txt: token 2: expected 3 machine indices (one per process), found 2"),
        ("0 3 4\n", "assignment_bad.txt: token 2: machine index = 4 (record 2) is not below 4"),
    ],
)
def test_malformed_assignment(toy: Path, write_file: Callable[[str, str], Path], text: str, message: str) -> None:
    with pytest.raises(RoadefFormatError) as error:
        read_assignment(write_file("assignment_bad.txt", text), read_instance(toy))
    assert str(error.value) == message


def test_value_beyond_the_format_range(toy: Path, write_file: Callable[[str, str], Path]) -> None:
    with pytest.raises(RoadefFormatError, match=r"^model_bad.txt: token 2: value out of range"):
        read_instance(write_file("model_bad.txt", TOY_MODEL.replace("1 100\n", "1 99999999999999999999\n", 1)))
