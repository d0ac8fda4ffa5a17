"""Keeping a local demand history while lab guests run: `rebalance collect --every 1s` in its own
process, stopped as systemd stops it, what it stored, read back from the state directory, and a
policy under which only CPU demand decides whether a plan moves anything."""

from __future__ import annotations

import signal
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cluster.demand_history import VMHistory, open_store, store_path
from tests.lab.helpers import rebalance_process

BUSY_MC = 200  # a spinning (or half-spinning) guest measures well above this, an idle one well below IDLE_MC
IDLE_MC = 60
# Hosts under 20 % CPU are fine and memory has no weight: with one core per host in the inventory,
# whether a plan moves anything depends on the guests' CPU demand alone.
CPU_POLICY = {"goal": "spread", "spread": {"cpu_threshold_percent": 20, "memory_threshold_percent": 90,
                                           "memory_weight": 0}}


def start_collecting(inventory: Path, state: Path) -> subprocess.Popen[str]:
    return rebalance_process("collect", "--inventory", inventory, "--state-dir", state, "--every", "1s",
                             "--interval", "0.8")


def stop_collecting(collector: subprocess.Popen[str]) -> str:
    """SIGTERM, as systemd stops the unit: the loop ends after its round, exit 0."""
    collector.send_signal(signal.SIGTERM)
    output, _ = collector.communicate(timeout=60)
    assert collector.returncode == 0, output
    assert output.splitlines()[-1].startswith("stopped by a signal after "), output
    return output


def history(state: Path, uuid: str) -> VMHistory:
    store = open_store(store_path(state), create=False)
    if store is None:
        return VMHistory()
    with store:
        now = datetime.now(timezone.utc)
        return store.history([uuid], now - timedelta(hours=1), now + timedelta(minutes=1)).of(uuid)


def busy_then_idle_seen(state: Path, uuid: str, idle_samples: int = 3) -> bool:
    """The history holds a busy stretch of this guest, followed by `idle_samples` idle ones."""
    loads = history(state, uuid).cpu_millicores
    busy = [i for i, load in enumerate(loads) if load >= BUSY_MC]
    tail = loads[busy[-1] + 1:] if busy else []
    return len(busy) >= 3 and len(tail) >= idle_samples and all(x <= IDLE_MC for x in tail[-idle_samples:])
