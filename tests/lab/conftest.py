"""The lab for the real-libvirt tests: started once per session, always torn down.

Three libvirtd hosts in network namespaces (lab/lab.sh), control over their unix sockets;
`tls_lab` is the same with TLS only (tests/lab/test_lab_tls.py). Missing
packages are a FAILURE, not a skip: the README's test command (scripts/install-test-deps.sh)
installs them. Teardown runs `lab.sh down` whatever happened, and then checks that no daemon,
no QEMU and no namespace of the lab is left.
"""

from __future__ import annotations

import atexit
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lab.control import Lab, missing_prerequisites


def _alive(pid: int) -> bool:
    """Running, that is: a zombie waiting for init to reap it has already stopped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@contextmanager
def running_lab(root: Path, prefix: str, tls: bool = False, metrics: bool = False) -> Iterator[Lab]:
    """A lab up for the `with` block, then down whatever happened, with nothing of it left
    (with `metrics`, also its exporters and Prometheus: lab.sh's pids and down cover them)."""
    missing = missing_prerequisites(tls, metrics)
    if missing:
        pytest.fail(f"the libvirt lab needs {', '.join(missing)}: run `bash scripts/install-test-deps.sh` as root")
    started = Lab(root, prefix, tls=tls)
    atexit.register(started.down)  # if the session dies before the finalizer (lab.sh down is idempotent)
    try:
        started.up()
        if metrics:
            started.metrics_up()
        yield started
    finally:
        pids = started.pids()
        started.down()
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        leftovers = sorted(p for p in pids if _alive(p))
        assert not leftovers, f"lab processes still running after lab.sh down: {leftovers}"
        assert not started.namespaces(), f"lab namespaces left: {started.namespaces()}"


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    # A prefix of our own: another test run on this machine has its own namespaces and daemons.
    with running_lab(tmp_path_factory.mktemp("lab"), f"rb{os.getpid()}") as started:
        yield started


@pytest.fixture(scope="module")
def tls_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The TLS variant (lab.sh with TLS=1), up only for the module that asks for it; its own
    prefix, so it never meets the tcp lab's namespaces, cgroups or daemons."""
    with running_lab(tmp_path_factory.mktemp("tlslab"), f"rt{os.getpid()}", tls=True) as started:
        yield started


@pytest.fixture
def clean_lab(lab: Lab) -> Lab:
    """Every daemon up and no guest anywhere."""
    lab.clear()
    return lab


@pytest.fixture
def inventory(clean_lab: Lab, tmp_path: Path) -> Path:
    return clean_lab.inventory(tmp_path / "hosts.yaml")


@pytest.fixture(scope="module")
def metrics_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A lab of its own with prometheus-libvirt-exporter on each host and a Prometheus scraping
    them every second, all on 127.0.0.1 (lab.sh metrics-up), for the module that asks for it."""
    with running_lab(tmp_path_factory.mktemp("metricslab"), f"rp{os.getpid()}", metrics=True) as started:
        yield started
