"""Driving the lab from Python (the test fixture and the benchmark): lab.sh, guests, inventories.

Control connections go over the per-host unix sockets only (NETWORK RULE: never to 10.77.0.x from
the root namespace). The lab's hosts are lab-a, lab-b, lab-c; their migration URIs,
qemu+tcp://lab-X/system (or qemu+tls://lab-X/system in the TLS lab), are only ever opened by the
lab's own daemons.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab.guests import guest_xml

SCRIPT = Path(__file__).resolve().with_name("lab.sh")
HOSTS = ("lab-a", "lab-b", "lab-c")
FAT_DATA_MIB = 48  # random bytes loaded into a "fat" guest's RAM: a migration then has real work to do
TCP_MIGRATION_URI = "qemu+tcp://%s/system"
TLS_MIGRATION_URI = "qemu+tls://%s/system"
METRICS_TOOLS = ("prometheus-libvirt-exporter", "prometheus", "ss")  # Debian packages of the same names, iproute2


class LabError(RuntimeError):
    pass


def missing_prerequisites(tls: bool = False, metrics: bool = False) -> list[str]:
    """What the lab needs that this machine lacks (scripts/install-test-deps.sh installs it all)."""
    tools = ("virsh", "qemu-system-x86_64", "ip", "unshare", "nsenter") + (("certtool",) if tls else ())
    tools += METRICS_TOOLS if metrics else ()
    missing = [tool for tool in tools if not shutil.which(tool)]
    if not Path("/usr/sbin/libvirtd").exists():
        missing.append("libvirtd")
    try:
        import libvirt  # noqa: F401, PLC0415 — the lab's own checks talk to libvirt directly
    except ImportError:
        missing.append("libvirt-python")
    if os.geteuid() != 0:
        missing.append("root")
    return missing


@dataclass(frozen=True)
class Lab:
    root: Path  # all state: per-host configs, sockets, logs, the shared instances path
    prefix: str  # network namespace prefix: <prefix>-a, -b, -c, -ctl
    tls: bool = False  # the secure variant: libvirtd on TLS only, client certificates, encrypted migrations

    # -- lab.sh --------------------------------------------------------------------------------

    def sh(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(SCRIPT), *args], env=self._env(), capture_output=True, text=True,
                                timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise LabError(f"lab.sh {' '.join(args)} failed ({result.returncode}): {result.stderr or result.stdout}")
        return result

    def _env(self) -> dict[str, str]:
        return {**os.environ, "LAB": str(self.root), "NS": self.prefix, "TLS": "1" if self.tls else "0"}

    def up(self) -> None:
        self.sh("up")

    def down(self) -> None:
        self.sh("down", check=False)

    def crash(self, host: str) -> None:
        """SIGKILL the host's libvirtd (its guests keep running), as a daemon crash would."""
        self.sh("kill", letter(host))

    def start(self, host: str) -> None:
        self.sh("start", letter(host))

    def metrics_up(self, timeout_s: float = 30.0) -> str:
        """Start the exporters and Prometheus (lab/metrics.sh) and wait until Prometheus has
        scraped every exporter once; returns Prometheus' URL (on 127.0.0.1)."""
        self.sh("metrics-up")
        url = self.prometheus_url
        self.wait_for(lambda: self._scraped(url), timeout_s, "Prometheus to scrape every lab exporter")
        return url

    def _scraped(self, url: str) -> bool:
        from cluster.prometheus_api import PrometheusError, instant_query  # noqa: PLC0415 — metrics labs only

        try:
            up = instant_query(url, 'up{job="libvirt"} * on(instance) libvirt_up', time.time(), 2.0)
        except PrometheusError:
            return False
        return len(up) == len(HOSTS) and all(sample.value == 1 for sample in up)

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self._metrics_port('prometheus')}"

    def exporter_url(self, host: str) -> str:
        return f"http://127.0.0.1:{self._metrics_port(f'exporter-{letter(host)}')}"

    def metrics_pids(self) -> dict[str, int]:
        """Process name (exporter-a…, prometheus) → PID, for the metrics processes started."""
        return {p.stem: int(p.read_text()) for p in sorted((self.root / "metrics").glob("*.pid"))}

    def _metrics_port(self, name: str) -> int:
        path = self.root / "metrics" / f"{name}.port"
        if not path.exists():
            raise LabError(f"no {name} in this lab: call metrics_up() first")
        return int(path.read_text())

    def pids(self) -> set[int]:
        """Every process in the lab's namespaces (daemons and QEMUs) and of its metrics."""
        return {int(p) for p in self.sh("pids", check=False).stdout.split()}

    def namespaces(self) -> list[str]:
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
        return [line.split()[0] for line in listed.splitlines() if line.startswith(f"{self.prefix}-")]

    # -- addresses -----------------------------------------------------------------------------

    def socket(self, host: str) -> Path:
        return self.root / "hosts" / letter(host) / "run" / "libvirt-sock"

    def uri(self, host: str) -> str:
        return f"qemu+unix:///system?socket={self.socket(host)}"

    @property
    def migration_uri(self) -> str:
        """The template the source daemon fills with the destination's name."""
        return TLS_MIGRATION_URI if self.tls else TCP_MIGRATION_URI

    def pki(self, host: str) -> Path:
        """The host's certificates (TLS lab), seen by that host alone, at /etc/pki."""
        return self.root / "hosts" / letter(host) / "pki"

    def client_pki(self, directory: Path, common_name: str, issuer: str = "lab") -> Path:
        """A libvirt `pkipath` directory holding a client certificate for CN=common_name, signed
        by the lab CA (issuer "lab") or by a CA no lab host trusts (issuer "self")."""
        self.sh("client-pki", str(directory), common_name, issuer)
        return directory

    def on_host(self, host: str, *command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`command` as `host` sees the world (its network namespace, /etc/hosts and /etc/pki)."""
        return self.sh("exec", letter(host), *command, check=False, timeout=timeout)

    @property
    def instances_path(self) -> Path:
        return self.root / "shared" / "instances"

    def inventory(self, path: Path, cpus: int = 2, memory_mib: int = 512) -> Path:
        """The lab as an inventory: control over the unix sockets, migration over qemu+tcp://lab-X
        (qemu+tls://lab-X in the TLS lab).

        The sockets lie in <root>/hosts/<x>/run, not in /run/libvirt: each host declares its own
        run directory as its `unix_socket_dirs`, so its control URI may point there and nowhere
        else (the inventory refuses a socket outside the declared directories).
        The hosts share one kernel, so libvirt reports the same machine's CPUs and memory for all
        three: the inventory gives each a capacity of its own instead.
        """
        hosts = [{"name": h, "uri": self.uri(h), "unix_socket_dirs": [str(self.socket(h).parent)],
                  "cpus": cpus, "memory_mib": memory_mib,
                  "exec": ["env", f"LAB={self.root}", f"NS={self.prefix}", str(SCRIPT), "exec", letter(h)]}
                 for h in HOSTS]
        document = {"defaults": {"live_migration_uri": self.migration_uri, "reserved_memory_mib": 0,
                                 "instances_path": str(self.instances_path)},
                    "hosts": hosts}
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return path

    # -- guests --------------------------------------------------------------------------------

    def connect(self, host: str) -> Any:
        import libvirt  # noqa: PLC0415

        libvirt.registerErrorHandler(lambda *_: None, None)
        return libvirt.open(self.uri(host))

    def fat_data(self) -> Path:
        path = self.root / f"rand{FAT_DATA_MIB}m.bin"
        if not path.exists():
            path.write_bytes(os.urandom(FAT_DATA_MIB * 2**20))
        return path

    def start_guest(self, host: str, name: str, memory_mib: int = 32, vcpus: int = 1, fat: bool = False,
                    disk: Path | None = None) -> str:
        """Define and start a persistent TCG guest on `host`; returns its UUID."""
        xml = guest_xml(name, memory_mib, vcpus, loader=self.fat_data() if fat else None, disk=disk)
        connection = self.connect(host)
        try:
            domain = connection.defineXML(xml)
            domain.create()
            return domain.UUIDString()
        finally:
            connection.close()

    def running(self, host: str) -> set[str]:
        """Names of the guests `host` runs (an incoming migration's paused half does not count).

        libvirt filters by state itself, in the one listing call: asking each domain its state
        afterwards fails for one that vanished in between (a failed incoming migration's cleanup).
        """
        import libvirt  # noqa: PLC0415

        connection = self.connect(host)
        try:
            return {d.name() for d in connection.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_RUNNING)}
        finally:
            connection.close()

    def placement(self, hosts: tuple[str, ...] = HOSTS) -> dict[str, list[str]]:
        """Guest → every host that runs it (a list, so 'on two hosts' cannot hide)."""
        found: dict[str, list[str]] = {}
        for host in hosts:
            for name in self.running(host):
                found.setdefault(name, []).append(host)
        return found

    def clear(self) -> None:
        """No guests anywhere, every daemon up: the starting point of each lab test."""
        for host in HOSTS:
            if not self.socket(host).exists() or not self._answers(host):
                self.start(host)
            connection = self.connect(host)
            try:
                for domain in connection.listAllDomains(0):
                    if domain.isActive():
                        domain.destroy()
                    if domain.isPersistent():
                        domain.undefine()
            finally:
                connection.close()

    def _answers(self, host: str) -> bool:
        try:
            self.connect(host).close()
            return True
        except Exception:  # noqa: BLE001 — a dead daemon is the answer
            return False

    def wait_for(self, predicate: Any, timeout_s: float = 30.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise LabError(f"timed out waiting for {what}")


def letter(host: str) -> str:
    """lab-a → a (lab.sh's name for the host)."""
    if host not in HOSTS:
        raise LabError(f"unknown lab host {host!r}")
    return host[-1]
