"""Run every doctor check over an inventory with real connections: each host gets `timeout_s` to
accept one, and every connection opened is closed afterwards, whatever the checks did (used by
`rebalance doctor` and by the maintenance health check, cluster/host_health.py)."""

from __future__ import annotations

from typing import Any

from cluster.collector import close, connect
from cluster.doctor import Check, Runner, diagnose, run_command
from cluster.inventory import Inventory


def run_doctor(inventory: Inventory, timeout_s: float, run: Runner = run_command) -> tuple[Check, ...]:
    opened: list[Any] = []

    def connector(uri: str) -> Any:
        connection = connect(uri, timeout_s)
        opened.append(connection)
        return connection

    try:
        return diagnose(inventory, connector, run)
    finally:
        for connection in opened:
            close(connection)
