"""The local demand history: every collection's per-VM samples in one SQLite file in the state directory.

`rebalance collect` (once, or `--every 60s` from cron or a service) and every `rebalance run` append
what they measured; `plan --inventory` and `run` read a statistic over a window of it
(cluster/local_demand.py). One row per VM and collection: time (UTC), host, domain UUID and name,
CPU load in milli-cores over the sampling interval, allocated memory, the memory the guest says it
uses where its balloon driver reports it (NULL otherwise), and one row per host with its CPU busy
share.

Several writers at once (a `collect --every` loop and a nightly `run`) are fine: the file is in WAL
mode and a writer waits up to BUSY_TIMEOUT_S for another's transaction. Each append also forgets
what is older than the retention (default 14 days) and keeps at most MAX_VM_ROWS samples (oldest
dropped first; about 60 bytes each), so the file stays bounded whatever the cron does.

The file is ours but still checked: a file that is not SQLite, is damaged, or is another
program's database is an InputError naming it (one line, exit 2), never a traceback.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cluster.collector import Collection
from cluster.domain_presence import Presence
from planner.domain.errors import InputError, RebalanceError
from planner.formats.safe_files import open_private, private_dir

STORE_FILE = "demand.sqlite"
FORMAT = "rebalance demand history 1"
DEFAULT_RETENTION_S = 14 * 86_400.0
MAX_VM_ROWS = 20_000_000  # 1,000 VMs sampled every minute for two weeks; about 1.2 GB
BUSY_TIMEOUT_S = 30.0
RETRY_S = 0.05  # between tries of what SQLite refuses at once rather than waiting (_wal_mode)
_QUERY_CHUNK = 500  # SQLite's bound-parameter limit is 999 on old builds

_SCHEMA = """
CREATE TABLE IF NOT EXISTS store (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hosts (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS domains (id INTEGER PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vm_samples (
    at REAL NOT NULL, host_id INTEGER NOT NULL, domain_id INTEGER NOT NULL,
    cpu_millicores INTEGER NOT NULL, memory_mib INTEGER NOT NULL, memory_used_mib INTEGER,
    interval_s REAL NOT NULL);
CREATE INDEX IF NOT EXISTS vm_samples_by_domain ON vm_samples (domain_id, at);
CREATE TABLE IF NOT EXISTS host_samples (
    at REAL NOT NULL, host_id INTEGER NOT NULL, cpus INTEGER NOT NULL, cpu_busy_fraction REAL NOT NULL);
"""


class StoreBusy(RebalanceError):
    """Another writer held the store longer than BUSY_TIMEOUT_S: try again (exit 1, not bad input)."""


@dataclass(frozen=True)
class VMHistory:
    """One VM's samples within a window, oldest first."""

    cpu_millicores: tuple[int, ...] = ()
    memory_used_mib: tuple[int, ...] = ()  # only the samples where the balloon reported it


@dataclass(frozen=True)
class History:
    by_uuid: dict[str, VMHistory] = field(default_factory=dict)

    def of(self, uuid: str) -> VMHistory:
        return self.by_uuid.get(uuid, VMHistory())


def store_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / STORE_FILE


class DemandStore:
    """An open store; use as a context manager (`with open_store(path) as store:`)."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    def __enter__(self) -> DemandStore:
        return self

    def __exit__(self, *_: object) -> None:
        self._db.close()

    def append(self, collection: Collection, retention_s: float = DEFAULT_RETENTION_S,
               max_rows: int = MAX_VM_ROWS) -> int:
        """Store a collection's running domains (a shut-off or arriving domain uses no CPU of its
        own) and hosts; forget what retention and the row bound leave out. Returns the VM rows added."""
        at = collection.measurement.collected_at.timestamp()
        interval_s = collection.measurement.interval_s
        with self._transaction():
            rows = 0
            for sample in collection.samples:
                host_id = self._id("hosts", "name", sample.name)
                self._db.execute("INSERT INTO host_samples VALUES (?, ?, ?, ?)",
                                 (at, host_id, sample.cpus, sample.cpu_busy_fraction))
                for domain in sample.domains:
                    if domain.presence is not Presence.RUNNING or not domain.uuid:
                        continue
                    domain_id = self._domain_id(domain.uuid, domain.name)
                    self._db.execute("INSERT INTO vm_samples VALUES (?, ?, ?, ?, ?, ?, ?)",
                                     (at, host_id, domain_id, domain.cpu_load_millicores, domain.memory_mib,
                                      sample.memory_used_mib.get(domain.uuid), interval_s))
                    rows += 1
            self._forget(at - retention_s, max_rows)
        return rows

    def history(self, uuids: Sequence[str], since: datetime, until: datetime) -> History:
        """The samples of `uuids` taken in [since, until]."""
        found: dict[str, tuple[list[int], list[int]]] = {}
        with self._reading():
            for start in range(0, len(uuids), _QUERY_CHUNK):
                chunk = list(uuids[start:start + _QUERY_CHUNK])
                marks = ",".join("?" * len(chunk))  # the query holds only '?' marks, never a value
                rows = self._db.execute(
                    f"SELECT d.uuid, s.cpu_millicores, s.memory_used_mib FROM domains d "  # noqa: S608
                    f"JOIN vm_samples s ON s.domain_id = d.id WHERE d.uuid IN ({marks}) AND s.at BETWEEN ? AND ? "
                    f"ORDER BY s.at", (*chunk, since.timestamp(), until.timestamp()))
                for uuid, cpu, used in rows:
                    cpus, useds = found.setdefault(uuid, ([], []))
                    cpus.append(int(cpu))
                    if used is not None:
                        useds.append(int(used))
        return History({uuid: VMHistory(tuple(c), tuple(u)) for uuid, (c, u) in found.items()})

    def has_samples(self, since: datetime) -> bool:
        with self._reading():
            row = self._db.execute("SELECT 1 FROM host_samples WHERE at >= ? LIMIT 1", (since.timestamp(),)).fetchone()
        return row is not None

    def counts(self) -> tuple[int, int]:
        """(VM samples, host samples) held."""
        with self._reading():
            vms = self._db.execute("SELECT count(*) FROM vm_samples").fetchone()[0]
            hosts = self._db.execute("SELECT count(*) FROM host_samples").fetchone()[0]
        return int(vms), int(hosts)

    # -- inside ----------------------------------------------------------------------------------

    def _id(self, table: str, column: str, value: str) -> int:
        self._db.execute(f"INSERT OR IGNORE INTO {table} ({column}) VALUES (?)", (value,))  # noqa: S608 — fixed names
        return int(self._db.execute(f"SELECT id FROM {table} WHERE {column} = ?", (value,)).fetchone()[0])  # noqa: S608

    def _domain_id(self, uuid: str, name: str) -> int:
        self._db.execute("INSERT INTO domains (uuid, name) VALUES (?, ?) ON CONFLICT (uuid) DO UPDATE SET name = ?",
                         (uuid, name, name))
        return int(self._db.execute("SELECT id FROM domains WHERE uuid = ?", (uuid,)).fetchone()[0])

    def _forget(self, before: float, max_rows: int) -> None:
        """Samples come in time order, so the oldest have the lowest rowids: both cuts are ranges."""
        for table in ("vm_samples", "host_samples"):
            first_kept = self._db.execute(
                f"SELECT rowid FROM {table} WHERE at >= ? ORDER BY rowid LIMIT 1", (before,)).fetchone()  # noqa: S608
            if first_kept is None:
                self._db.execute(f"DELETE FROM {table} WHERE at < ?", (before,))  # noqa: S608
            else:
                self._db.execute(f"DELETE FROM {table} WHERE rowid < ?", (first_kept[0],))  # noqa: S608
        newest = self._db.execute("SELECT max(rowid) FROM vm_samples").fetchone()[0]
        if newest is not None and newest > max_rows:
            self._db.execute("DELETE FROM vm_samples WHERE rowid <= ?", (newest - max_rows,))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._guarded():
            self._db.execute("BEGIN IMMEDIATE")  # take the write lock now: no deadlock upgrading a read
            try:
                yield
            except BaseException:
                self._db.rollback()
                raise
            self._db.commit()

    @contextmanager
    def _reading(self) -> Iterator[None]:
        with self._guarded():
            yield

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as error:
            if "locked" in str(error) or "busy" in str(error):
                raise StoreBusy(f"{self.path}: another process held the demand history for "
                                f"{BUSY_TIMEOUT_S:g} s; try again") from None
            raise unreadable(self.path, error) from None
        except sqlite3.DatabaseError as error:
            raise unreadable(self.path, error) from None


def open_store(path: str | Path, create: bool = True) -> DemandStore | None:
    """The store at `path`, created (0600, in a 0700 directory) when missing and `create`; None when
    missing and not `create` (a plan reads history but never writes any)."""
    target = Path(path)
    try:
        present = target.exists()
    except OSError as error:  # a state directory this user may not enter
        raise InputError("--state-dir", f"cannot read {target}: {error.strerror}") from None
    if not present and not create:
        return None
    private_dir(target.parent, "--state-dir")
    os.close(open_private(target, os.O_RDWR | os.O_CREAT, str(target)))  # ours, regular, not a symlink
    try:
        connection = sqlite3.connect(target, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as error:
        raise unreadable(target, error) from None
    store = DemandStore(connection, target)
    try:
        with store._guarded():
            _prepare(connection, target)
    except BaseException:
        connection.close()
        raise
    return store


def _prepare(connection: sqlite3.Connection, path: Path) -> None:
    """WAL mode and the schema on a new file; on an existing one, our format marker."""
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and "store" not in tables:
        raise InputError("", "not a rebalance demand history (another program's SQLite database?): "
                             "move it away or point --state-dir elsewhere", str(path))
    _wal_mode(connection)
    connection.execute("PRAGMA synchronous = NORMAL")  # WAL keeps the file consistent; a crash loses a sample at most
    if not tables:  # one transaction, so a second writer starting now sees all of it or none
        connection.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} "
                                 f"INSERT OR IGNORE INTO store VALUES ('format', '{FORMAT}'); COMMIT;")
    marker = connection.execute("SELECT value FROM store WHERE key = 'format'").fetchone()
    if marker is None or marker[0] != FORMAT:
        found = "no format marker" if marker is None else f"format {str(marker[0])[:40]!r}"
        raise InputError("", f"not a demand history this rebalance reads ({found}; expected {FORMAT!r})", str(path))


def _wal_mode(connection: sqlite3.Connection) -> None:
    """Switch to WAL, waiting up to BUSY_TIMEOUT_S for another process doing the same. SQLite answers
    a journal-mode switch with "database is locked" at once, without its busy wait, while another
    connection holds the file: two processes opening a new store together (a `collect --every`
    loop's first run beside a nightly `run`) failed that way four times in ten."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(RETRY_S)


def unreadable(path: Path, error: BaseException) -> InputError:
    reason = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
    return InputError("", f"unreadable demand history ({reason}): move the file away to start a new history",
                      str(path))
