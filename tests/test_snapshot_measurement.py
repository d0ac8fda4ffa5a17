"""A snapshot says when and how it was measured: `collected_at` (UTC), `interval_s` and `demand`
are written by collect and plan, read back, validated field by field (one line naming the file and
field, exit 2), and optional, so snapshots written before them still load."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from executor.hypervisor import LiveState, LiveVM
from rebalance.html_report import render_html
from executor.staleness import drift
from planner.domain.measurement import DemandBasis, Measurement
from planner.domain.model import VM, Cluster, Host
from planner.formats.scenario import cluster_record, load_cluster, parse_cluster
from tests.executor.builders import make_plan
from tests.hostile_files import assert_one_line_error, run

HOSTS = [{"name": "a", "cpus": 2, "memory_mib": 4096}, {"name": "b", "cpus": 2, "memory_mib": 4096}]
VMS = [{"name": "web", "host": "a", "vcpus": 1, "memory_mib": 512, "uuid": "u-web"}]
BASIS = DemandBasis("local history", "p95", 86_400.0, 1440, "allocated", "CPU p95 over the last 1d ...")
MEASURED = Measurement(datetime(2026, 5, 1, 2, 0, 7, tzinfo=timezone.utc), 1.0, BASIS)


def measured_cluster(memory: str = "allocated", memory_mib: int = 512) -> Cluster:
    basis = DemandBasis("local history", "p95", 3600.0, 60, memory, "")
    return Cluster((Host("a", 2, 4096), Host("b", 2, 4096)), (VM("web", "a", 1, memory_mib, uuid="u-web"),),
                   Measurement(MEASURED.collected_at, 1.0, basis))


def test_a_measured_snapshot_reads_back_as_written() -> None:
    cluster = Cluster(tuple(Host(**h) for h in HOSTS), tuple(VM(**v) for v in VMS), MEASURED)
    record = json.loads(json.dumps(cluster_record(cluster)))
    assert record["collected_at"] == "2026-05-01T02:00:07+00:00"
    assert record["interval_s"] == 1.0 and record["demand"]["statistic"] == "p95"
    assert parse_cluster(record) == cluster


def test_a_snapshot_from_before_the_fields_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"hosts": HOSTS, "vms": VMS}))
    cluster = load_cluster(path)
    assert cluster.measured is None and [vm.name for vm in cluster.vms] == ["web"]


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("words", {"collected_at": "yesterday"}, "collected_at: must be an ISO 8601 timestamp"),
    ("no-zone", {"collected_at": "2026-05-01T02:00:07"}, "collected_at: must carry a time zone"),
    ("number", {"collected_at": 1714528807}, "collected_at: must be an ISO 8601 timestamp"),
    ("interval-alone", {"interval_s": 1.0}, "collected_at: is required with interval_s"),
    ("interval-negative", {"collected_at": "2026-05-01T02:00:07Z", "interval_s": -1}, "interval_s: must be within"),
    ("interval-text", {"collected_at": "2026-05-01T02:00:07Z", "interval_s": "1s"}, "interval_s: must be a number"),
    ("demand-source", {"collected_at": "2026-05-01T02:00:07Z", "demand": {"source": "guess"}}, "demand.source"),
    ("demand-field", {"collected_at": "2026-05-01T02:00:07Z", "demand": {"source": "sample", "p": 1}}, "demand.p"),
    ("demand-samples", {"collected_at": "2026-05-01T02:00:07Z", "demand": {"source": "sample", "samples": "x"}},
     "demand.samples"),
    ("demand-memory", {"collected_at": "2026-05-01T02:00:07Z", "demand": {"source": "sample", "memory": "rss"}},
     "demand.memory"),
    ("demand-list", {"collected_at": "2026-05-01T02:00:07Z", "demand": ["p95"]}, "demand: must be a mapping"),
]


@pytest.mark.parametrize("fields,message", [pytest.param(f, m, id=i) for i, f, m in CASES])
def test_a_bad_measurement_field_is_one_line_naming_it(fields: dict[str, Any], message: str, tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps({**fields, "hosts": HOSTS, "vms": VMS}))
    line = assert_one_line_error(run("plan", "--snapshot", str(path)), path)
    assert message in line


def test_a_plan_keeps_the_measurement_and_the_schema_accepts_it(tmp_path: Path) -> None:
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(json.dumps({**json.loads(json.dumps(cluster_record(measured_cluster()))), "vms": [
        {**VMS[0], "name": f"v{i}", "uuid": f"u{i}", "cpu_load_millicores": 900} for i in range(2)]}))
    plan = tmp_path / "plan.json"
    result = run("plan", "--snapshot", str(snapshot), "--goal", "spread", "--time-limit", "1", "-o", str(plan))
    assert result.exit_code == 0, result.output
    document = json.loads(plan.read_text())
    assert document["cluster"]["collected_at"] == "2026-05-01T02:00:07+00:00"
    assert document["cluster"]["demand"]["source"] == "local history"
    document["cluster"]["demand"]["source"] = "guess"
    plan.write_text(json.dumps(document))
    assert_one_line_error(run("show", str(plan)), plan, "cluster.demand.source")


def test_drift_ignores_memory_when_the_plan_counted_memory_as_used() -> None:
    """The live figure is the allocation; a plan sized by use would otherwise always look stale."""
    live = LiveState({"web": LiveVM("web", "a", 512, 1)})
    assert drift(make_plan(measured_cluster("used", memory_mib=200), {}), live) == ()
    assert drift(make_plan(measured_cluster("allocated", memory_mib=200), {}), live) != ()
    grown = LiveState({"web": LiveVM("web", "a", 512, 2)})
    assert drift(make_plan(measured_cluster("used", memory_mib=200), {}), grown) != ()


def test_the_html_report_says_when_and_how_the_cluster_was_measured() -> None:
    cluster = Cluster(tuple(Host(**h) for h in HOSTS), tuple(VM(**v) for v in VMS), MEASURED)
    html = render_html(make_plan(cluster, {}))
    assert "Measured 2026-05-01T02:00:07+00:00; demand: CPU p95 over the last 1d ..." in html
    assert "Measured" not in render_html(make_plan(Cluster(cluster.hosts, cluster.vms), {}))


MEASURING_CALLS = ("getAllDomainStats", "domainListGetStats", "getCPUStats", "getMemoryStats")


def test_only_the_collector_reads_libvirts_measurements() -> None:
    """One collector path: collect, plan --inventory, run and apply's trust check all measure through
    cluster.collector.collect, and nothing else asks libvirt for load or sizes."""
    repo = Path(__file__).resolve().parent.parent
    sources = (path for package in ("planner", "cluster", "executor", "operations", "rebalance")
               for path in (repo / package).rglob("*.py"))
    callers = sorted(str(path.relative_to(repo)) for path in sources
                     if any(f".{call}(" in path.read_text() for call in MEASURING_CALLS))
    assert callers == ["cluster/collector.py"]
    users = {path: (repo / path).read_text() for path in ("operations/trusted_cluster.py", "cluster/demand_measure.py",
                                                         "rebalance/collect_command.py")}
    assert all("from cluster.collector import" in text and "collect(" in text for text in users.values())
    assert "measure_for_planning(" in (repo / "operations/cluster_access.py").read_text()
