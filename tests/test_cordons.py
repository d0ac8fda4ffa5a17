"""The cordon store (operations.cordons) and its overlay onto a cluster (operations.cordon_overlay)."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from datetime import datetime, timezone
from pathlib import Path

import pytest

from operations.cordon_overlay import check_plan_against_cordons, overlay_cordons
from operations.cordons import Cordon, add_cordons, cordons_path, read_cordons, remove_cordons
from planner.domain.errors import InputError
from planner.domain.model import HostState
from tests.builders import cluster, host, plan_for, policy, vm

NOON = datetime(2026, 12, 3, 6, 0, tzinfo=timezone.utc)


def test_a_cordon_round_trips_with_who_when_why(tmp_path: Path) -> None:
    add_cordons(tmp_path / "state", ["lab-a", "lab-b"], "alice", "kernel update", NOON)
    cordons = read_cordons(tmp_path / "state")
    assert sorted(cordons) == ["lab-a", "lab-b"]
    assert (cordons["lab-a"].who, cordons["lab-a"].when, cordons["lab-a"].why) == ("alice", NOON, "kernel update")
    assert cordons["lab-a"].describe() == "cordoned by alice 2026-12-03T06:00Z (kernel update)"
    assert remove_cordons(tmp_path / "state", ["lab-a", "lab-z"]) == ("lab-a",)
    assert sorted(read_cordons(tmp_path / "state")) == ["lab-b"]


def test_no_state_directory_means_no_cordons(tmp_path: Path) -> None:
    assert read_cordons(tmp_path / "missing") == {}
    assert remove_cordons(tmp_path / "missing", ["lab-a"]) == ()
    assert not (tmp_path / "missing").exists()


def test_the_file_is_replaced_whole_and_private(tmp_path: Path) -> None:
    add_cordons(tmp_path, ["lab-a"], "alice", "", NOON)
    before = os.stat(cordons_path(tmp_path)).st_ino
    add_cordons(tmp_path, ["lab-b"], "bob", "", NOON)
    info = os.stat(cordons_path(tmp_path))
    assert info.st_ino != before  # a new file renamed over the old one, never rewritten in place
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def _cordon_many(state_dir: str, start: int) -> None:
    for i in range(start, start + 15):
        add_cordons(state_dir, [f"h{i}"], "w", "", NOON)


def test_concurrent_writers_lose_no_cordon(tmp_path: Path) -> None:
    workers = [multiprocessing.Process(target=_cordon_many, args=(str(tmp_path), n * 100)) for n in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert len(read_cordons(tmp_path)) == 45


@pytest.mark.parametrize(("content", "field"), [
    ('{"version": 1, "hosts": {"lab-a": {"state": "cordoned", "who": "a"}}}', "hosts.lab-a.when"),
    ('{"version": 1, "hosts": {"lab-a": {"state": "drained", "who": "a", "when": "2026-01-01T00:00:00Z"}}}',
     "hosts.lab-a.state"),
    ('{"version": 1, "hosts": {"lab a": {}}}', "hosts"),
    ('{"version": 2, "hosts": {}}', "version"),
    ('{"version": 1, "hosts": {}, "extra": 1}', "extra"),
    ('{"version": 1, "hosts": {"lab-a": {"state": "cordoned", "who": "a\\nb", "when": "2026-01-01T00:00:00Z"}}}',
     "hosts.lab-a.who"),
    ('{"version": 1, "hosts": {"lab-a": {"state": "cordoned", "who": "a", "when": "yesterday"}}}',
     "hosts.lab-a.when"),
    ('[1, 2', ""),
])
def test_a_hostile_file_is_one_error_naming_file_and_field(tmp_path: Path, content: str, field: str) -> None:
    cordons_path(tmp_path).write_text(content)
    os.chmod(cordons_path(tmp_path), 0o600)
    with pytest.raises(InputError) as caught:
        read_cordons(tmp_path)
    assert caught.value.source == str(cordons_path(tmp_path))
    assert caught.value.field == field
    assert "\n" not in str(caught.value)


def test_an_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    cordons_path(tmp_path).write_text(" " * (5 * 1024 * 1024))
    with pytest.raises(InputError, match="bytes a cordon file may have"):
        read_cordons(tmp_path)


def test_a_symlinked_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.json").write_text(json.dumps({"version": 1, "hosts": {}}))
    cordons_path(tmp_path).symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(InputError, match="symbolic link"):
        read_cordons(tmp_path)


def test_a_reason_on_two_lines_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--reason"):
        add_cordons(tmp_path, ["lab-a"], "alice", "one\nfake line", NOON)


def test_overlay_disables_an_active_host_visibly_and_keeps_maintenance() -> None:
    clu = cluster([host("a"), host("b", state=HostState.MAINTENANCE), host("c")], [vm("v1", "a")])
    cordons = {"a": _cordon("a"), "b": _cordon("b"), "gone": _cordon("gone")}
    overlaid = overlay_cordons(clu, cordons)
    states = {h.name: h.state for h in overlaid.cluster.hosts}
    assert states == {"a": HostState.DISABLED, "b": HostState.MAINTENANCE, "c": HostState.ACTIVE}
    assert overlaid.lines == ("a: cordoned by alice 2026-12-03T06:00Z (kernel update): takes no VMs",
                              "b: cordoned by alice 2026-12-03T06:00Z (kernel update): takes no VMs "
                              "(declared maintenance, kept)")


def test_a_plan_onto_a_host_cordoned_since_is_refused_naming_it() -> None:
    clu = cluster([host("a"), host("b")], [vm("v1", "a", load=6000), vm("v2", "a", load=6000)])
    plan = plan_for(clu, policy())
    assert plan.moves and plan.moves[0].destination == "b"
    with pytest.raises(InputError, match="b is cordoned by alice .*kernel update.* since the plan was made"):
        check_plan_against_cordons(plan, {"b": _cordon("b")})
    check_plan_against_cordons(plan, {"a": _cordon("a")})  # leaving a cordoned host is fine


def _cordon(name: str) -> Cordon:
    return Cordon(name, "alice", NOON, "kernel update")
