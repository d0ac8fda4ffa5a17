"""The local demand history (cluster/demand_history.py): what a collection stores, what retention
and the row bound forget, two processes writing at once, and a damaged or foreign file refused in
one line (exit 2) by every command that opens it."""

from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from cluster.demand_history import DemandStore, open_store, store_path
from planner.domain.errors import InputError
from rebalance.cli import cli
from tests.demand_fakes import FakeCluster, faked, inventory, uuid_of, write_inventory

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def opened(path: Path) -> DemandStore:
    store = open_store(path)
    assert store is not None
    return store


def test_a_collection_stores_each_running_vm_and_reads_back_within_the_window(tmp_path: Path) -> None:
    fake = FakeCluster({"web": ("a", 700), "db": ("b", 20)}, used={"db": 100})
    hosts = inventory(tmp_path)
    with opened(tmp_path / "demand.sqlite") as store:
        for minutes, load in ((30, 100), (20, 900), (10, 300)):
            fake.loads["web"] = ("a", load)
            assert store.append(fake.collect(hosts, NOW - timedelta(minutes=minutes))) == 2
        history = store.history([uuid_of("web"), uuid_of("db")], NOW - timedelta(minutes=25), NOW)
        assert store.counts() == (6, 6)  # 3 rounds × (2 VMs, 2 hosts)

    assert history.of(uuid_of("web")).cpu_millicores == (900, 300)  # the one 30 minutes ago is outside
    assert history.of(uuid_of("db")).memory_used_mib == (100, 100)
    assert history.of(uuid_of("web")).memory_used_mib == ()  # no balloon statistics: not guessed
    assert history.of("uuid-never-seen").cpu_millicores == ()


def test_retention_forgets_older_samples_when_the_next_one_is_added(tmp_path: Path) -> None:
    fake = FakeCluster({"web": ("a", 500)})
    hosts = inventory(tmp_path)
    with opened(tmp_path / "demand.sqlite") as store:
        store.append(fake.collect(hosts, NOW - timedelta(days=20)), retention_s=14 * 86_400)
        store.append(fake.collect(hosts, NOW - timedelta(days=10)), retention_s=14 * 86_400)
        assert store.counts() == (2, 4)
        store.append(fake.collect(hosts, NOW), retention_s=14 * 86_400)
        assert store.counts() == (2, 4)  # the 20-day-old round is gone, the 10-day-old one kept
        store.append(fake.collect(hosts, NOW + timedelta(seconds=1)), retention_s=60)
        everything = store.history([uuid_of("web")], NOW - timedelta(days=30), NOW + timedelta(days=1))
    assert len(everything.of(uuid_of("web")).cpu_millicores) == 2  # only the last minute's two


def test_the_row_bound_drops_the_oldest_samples_first(tmp_path: Path) -> None:
    fake = FakeCluster({"web": ("a", 0)})
    hosts = inventory(tmp_path)
    with opened(tmp_path / "demand.sqlite") as store:
        for second in range(10):
            fake.loads["web"] = ("a", second)
            store.append(fake.collect(hosts, NOW + timedelta(seconds=second)), max_rows=4)
        kept = store.history([uuid_of("web")], NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert kept.of(uuid_of("web")).cpu_millicores == (6, 7, 8, 9)


def _writer(path: str, name: str, rounds: int) -> None:
    fake = FakeCluster({name: ("a", 100)})
    hosts = inventory(Path(path).parent / name)
    for index in range(rounds):
        with opened(Path(path)) as store:
            store.append(fake.collect(hosts, NOW + timedelta(seconds=index)))


def _first_opener(paths: list[str], barrier) -> None:
    for path in paths:
        barrier.wait(30)
        with opened(Path(path)) as store:
            assert store.counts() == (0, 0)


def test_two_processes_creating_one_store_at_once_both_open_it(tmp_path: Path) -> None:
    """Both first runs on a new state directory, released together 30 times: SQLite refuses the
    switch to WAL at once while the other process makes it, which failed about four rounds in ten."""
    paths = [str(tmp_path / f"state{k}" / "demand.sqlite") for k in range(30)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    openers = [context.Process(target=_first_opener, args=(paths, barrier)) for _ in range(2)]
    for opener in openers:
        opener.start()
    for opener in openers:
        opener.join(120)
    assert [o.exitcode for o in openers] == [0, 0]
    assert all(sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal" for path in paths)


def test_two_processes_append_at_once_and_every_sample_arrives(tmp_path: Path) -> None:
    """As a `collect --every` loop and a nightly `run` would: each its own process and connection."""
    for name in ("loop", "run"):
        (tmp_path / name).mkdir()
    path = str(tmp_path / "demand.sqlite")
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_writer, args=(path, name, 40)) for name in ("loop", "run")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(120)
    assert [w.exitcode for w in writers] == [0, 0]
    with opened(Path(path)) as store:
        assert store.counts() == (80, 160)
        history = store.history([uuid_of("loop"), uuid_of("run")], NOW, NOW + timedelta(minutes=1))
    assert [len(history.of(uuid_of(n)).cpu_millicores) for n in ("loop", "run")] == [40, 40]
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_store_is_private(tmp_path: Path) -> None:
    with opened(tmp_path / "state" / "demand.sqlite"):
        pass
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "state" / "demand.sqlite").stat().st_mode & 0o777 == 0o600


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database\n" * 100)


def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE photos (id INTEGER, blob BLOB)")


def _damaged(path: Path) -> None:
    """A real store with its later pages overwritten: the header still says SQLite."""
    fake = FakeCluster({f"vm{i}": ("a", i) for i in range(200)})
    with opened(path) as store:
        store.append(fake.collect(inventory(path.parent), NOW))
    sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    data[4096:] = b"\xde\xad" * ((len(data) - 4096) // 2)
    path.write_bytes(bytes(data))


def _other_format(path: Path) -> None:
    with opened(path):
        pass
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE store SET value = 'rebalance demand history 99' WHERE key = 'format'")


BAD_FILES = {"garbage": _garbage, "foreign": _foreign, "damaged": _damaged, "other-format": _other_format}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_a_bad_store_is_an_input_error_naming_the_file(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "demand.sqlite"
    BAD_FILES[kind](path)
    with pytest.raises(InputError) as raised:
        with opened(path) as store:
            store.history([uuid_of(f"vm{i}") for i in range(200)], NOW - timedelta(days=1), NOW)
            store.append(FakeCluster({"x": ("a", 1)}).collect(inventory(tmp_path), NOW))
    assert str(path) in str(raised.value)


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
@pytest.mark.parametrize("command", ["collect", "plan", "collect-every"])
def test_every_command_refuses_a_bad_store_in_one_line_exit_2(kind: str, command: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    state.mkdir()
    BAD_FILES[kind](store_path(state))
    hosts = str(write_inventory(tmp_path / "hosts.yaml"))
    args = {"collect": ["collect", "--inventory", hosts],
            "collect-every": ["collect", "--inventory", hosts, "--every", "1s", "--count", "2"],
            "plan": ["plan", "--inventory", hosts, "--time-limit", "1", "--workers", "1"]}[command]
    with faked(monkeypatch, FakeCluster({f"vm{i}": ("a", 5) for i in range(200)})):
        result = CliRunner().invoke(cli, [*args, "--state-dir", str(state)])
    assert result.exit_code == 2, result.output
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and str(store_path(state)) in errors[0], result.stderr
    assert "Traceback" not in result.output
