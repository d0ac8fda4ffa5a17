"""plan.json ⇄ Plan. The format is versioned and described by `plan.schema.json` beside this file.

The published schema is the reader's own field specification: every plan read is validated
against it (plan_schema.py) before a dataclass is built, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from planner.domain.checks import quote
from planner.domain.errors import InputError
from planner.domain.metrics import HostUsage
from planner.domain.plan import PLAN_FORMAT_VERSION, Bounds, GoalMetric, Move, Plan, SolverStats
from planner.formats.measurement_record import MEASUREMENT_FIELDS
from planner.formats.plan_schema import SCHEMA_PATH, check_against_schema
from planner.formats.policy_reader import parse_goal
from planner.domain.model import Cluster
from planner.formats.records import build, check_keys, expect_mapping, nested, parse_list, parse_time
from planner.formats.scenario import cluster_record, parse_cluster, read_document, write_json

FINGERPRINT = re.compile(r"sha256:[0-9a-f]{64}")

__all__ = ["SCHEMA_PATH", "plan_record", "plan_to_json", "write_plan", "parse_plan", "load_plan"]


def plan_record(plan: Plan) -> dict[str, Any]:
    return {
        "version": plan.version,
        "goal": plan.goal.value,
        "created": plan.created.isoformat(),
        "expires": plan.expires.isoformat(),
        "fingerprint": plan.fingerprint,
        "metric": plan.metric.__dict__,
        "summary": {
            "moves": len(plan.moves),
            "moved_memory_mib": plan.moved_memory_mib,
            "freed_hosts": list(plan.freed_hosts),
            "drained_hosts": list(plan.drained_hosts),
        },
        "moves": [m.__dict__ for m in plan.moves],
        "bounds": {**plan.bounds.__dict__, "notes": list(plan.bounds.notes)},
        "solver": plan.solver.__dict__,
        "before": [usage_record(u) for u in plan.before],
        "after": [usage_record(u) for u in plan.after],
        "notes": list(plan.notes),
        "cluster": cluster_record(plan.cluster),
    }


def usage_record(usage: HostUsage) -> dict[str, Any]:
    """A host's usage row; the extra resources' fields only where the cluster declares some, so
    plans of clusters without them read exactly as before."""
    record = {key: value for key, value in usage.__dict__.items() if key not in ("extra", "extra_permille")}
    if usage.extra:
        record["extra"] = dict(usage.extra)
        record["extra_permille"] = dict(usage.extra_permille)
    return record


def plan_to_json(plan: Plan) -> str:
    return json.dumps(plan_record(plan), indent=2) + "\n"


def write_plan(plan: Plan, path: str | Path) -> None:
    write_json(path, plan_record(plan))


def parse_plan(raw: Any) -> Plan:
    """Check `raw` against the published schema (types and ranges of every field), then build the
    Plan and check what a schema cannot say: every host and VM a plan names is in its cluster."""
    raw = expect_mapping(raw)
    if "version" in raw and raw["version"] != PLAN_FORMAT_VERSION:
        raise InputError("version", f"plan format {quote(raw['version'])} is not supported "
                                    f"(this rebalance reads {PLAN_FORMAT_VERSION})")
    check_against_schema(raw)
    summary = raw.get("summary", {})
    plan = Plan(
        goal=parse_goal(raw["goal"]),
        cluster=nested("cluster", lambda: _parse_plan_cluster(raw["cluster"])),
        moves=parse_list(raw["moves"], "moves", lambda item: build(Move, item)),
        metric=build(GoalMetric, raw["metric"]),
        before=parse_list(raw["before"], "before", lambda item: build(HostUsage, item)),
        after=parse_list(raw["after"], "after", lambda item: build(HostUsage, item)),
        bounds=build(Bounds, {**raw["bounds"], "notes": tuple(raw["bounds"].get("notes", ()))}),
        solver=build(SolverStats, raw["solver"]),
        created=parse_time(raw["created"], "created"),
        expires=parse_time(raw["expires"], "expires"),
        freed_hosts=tuple(summary.get("freed_hosts", ())),
        drained_hosts=tuple(summary.get("drained_hosts", ())),
        notes=tuple(raw.get("notes", ())),
        fingerprint=_parse_fingerprint(raw["fingerprint"]),
    )
    _check_names_match_cluster(plan)
    return replace(plan, before=_known_rows(plan.before, plan), after=_known_rows(plan.after, plan))


def _known_rows(rows: tuple[HostUsage, ...], plan: Plan) -> tuple[HostUsage, ...]:
    """Usage rows of hosts the plan's cluster does not list are left out: usage is derived from the
    cluster, and a row no host backs would only break what renders it (KeyError)."""
    return tuple(row for row in rows if row.host in plan.cluster.host_by_name)


def _parse_plan_cluster(raw: Any) -> Cluster:
    """A snapshot as plan_record writes it: hosts and VMs written out, no `defaults`."""
    check_keys(expect_mapping(raw), ("hosts", "vms", *MEASUREMENT_FIELDS), required=("hosts", "vms"))
    return parse_cluster(raw)


def _parse_fingerprint(value: str) -> str:
    # The schema's pattern is searched with Python's `$`, which also matches before a final newline.
    if not FINGERPRINT.fullmatch(value):
        raise InputError("fingerprint", f"must be the plan's sha256 fingerprint, got {quote(value)}")
    return value


def _check_names_match_cluster(plan: Plan) -> None:
    hosts = plan.cluster.host_by_name
    for index, move in enumerate(plan.moves):
        if move.vm not in plan.cluster.vm_by_name:
            raise InputError(f"moves[{index}].vm", f"VM {quote(move.vm)} is not in the plan's cluster")
        for field in ("destination", "source"):
            if getattr(move, field) not in hosts:
                raise InputError(f"moves[{index}].{field}", f"unknown host {quote(getattr(move, field))}")
    for section in ("before", "after"):
        seen: set[str] = set()
        for index, usage in enumerate(getattr(plan, section)):
            if usage.host in seen:
                raise InputError(f"{section}[{index}].host", f"host {quote(usage.host)} is listed twice")
            seen.add(usage.host)
    # Rows of hosts outside the cluster are left out below; the rest must pair up before/after.
    before = {usage.host for usage in plan.before if usage.host in hosts}
    after = {usage.host for usage in plan.after if usage.host in hosts}
    for section, listed, other, other_name in (("before", before, after, "after"), ("after", after, before, "before")):
        missing = sorted(other - listed)
        if missing:
            raise InputError(section, f"has no row for host {quote(missing[0])}, which {other_name} lists")
    for section, names in (("freed_hosts", plan.freed_hosts), ("drained_hosts", plan.drained_hosts)):
        for index, name in enumerate(names):
            if name not in hosts:
                raise InputError(f"summary.{section}[{index}]", f"unknown host {quote(name)}")


def load_plan(path: str | Path) -> Plan:
    raw = read_document(path)
    try:
        return parse_plan(raw)
    except InputError as error:
        raise error.in_file(str(path)) from None

