"""plan.json ⇄ Plan. The format is versioned and described by `plan.schema.json` beside this file."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from planner.errors import InputError
from planner.metrics import HostUsage
from planner.plan import PLAN_FORMAT_VERSION, Bounds, GoalMetric, Move, Plan, SolverStats
from planner.policy_reader import parse_goal
from planner.records import build, check_keys, expect_mapping, nested, parse_list
from planner.scenario import cluster_record, parse_cluster, read_document, write_json

SCHEMA_PATH = Path(__file__).with_name("plan.schema.json")


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
        "before": [u.__dict__ for u in plan.before],
        "after": [u.__dict__ for u in plan.after],
        "notes": list(plan.notes),
        "cluster": cluster_record(plan.cluster),
    }


def plan_to_json(plan: Plan) -> str:
    return json.dumps(plan_record(plan), indent=2) + "\n"


def write_plan(plan: Plan, path: str | Path) -> None:
    write_json(path, plan_record(plan))


def parse_plan(raw: Any) -> Plan:
    raw = expect_mapping(raw)
    check_keys(raw, tuple(_FIELDS), required=tuple(_REQUIRED))
    if raw["version"] != PLAN_FORMAT_VERSION:
        raise InputError("version", f"plan format {raw['version']!r} is not supported (this rebalance reads {PLAN_FORMAT_VERSION})")
    summary = expect_mapping(raw.get("summary", {}), "summary")
    plan = Plan(
        goal=parse_goal(raw["goal"]),
        cluster=nested("cluster", lambda: parse_cluster(raw["cluster"])),
        moves=parse_list(raw["moves"], "moves", lambda item: build(Move, expect_mapping(item))),
        metric=nested("metric", lambda: build(GoalMetric, expect_mapping(raw["metric"]))),
        before=parse_list(raw["before"], "before", lambda item: build(HostUsage, expect_mapping(item))),
        after=parse_list(raw["after"], "after", lambda item: build(HostUsage, expect_mapping(item))),
        bounds=nested("bounds", lambda: _parse_bounds(raw["bounds"])),
        solver=nested("solver", lambda: build(SolverStats, expect_mapping(raw["solver"]))),
        created=_parse_time(raw["created"], "created"),
        expires=_parse_time(raw["expires"], "expires"),
        freed_hosts=tuple(summary.get("freed_hosts", ())),
        drained_hosts=tuple(summary.get("drained_hosts", ())),
        notes=tuple(raw.get("notes", ())),
        fingerprint=_parse_fingerprint(raw["fingerprint"]),
    )
    _check_moves_match_cluster(plan)
    return plan


def _parse_fingerprint(value: Any) -> str:
    """Never empty: an empty one would be silently recomputed from whatever the file's cluster says."""
    if not isinstance(value, str) or not value:
        raise InputError("fingerprint", f"must be the plan's sha256 fingerprint, got {str(value)[:80]!r}")
    return value


def _parse_bounds(raw: Any) -> Bounds:
    values = dict(expect_mapping(raw))
    values["notes"] = tuple(values.get("notes", ()))
    return build(Bounds, values)


def _parse_time(value: Any, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise InputError(field, f"must be an ISO 8601 timestamp, got {value!r}") from None
    if parsed.tzinfo is None:
        raise InputError(field, f"must carry a time zone, got {value!r}")
    return parsed


def _check_moves_match_cluster(plan: Plan) -> None:
    for index, move in enumerate(plan.moves):
        vm = plan.cluster.vm_by_name.get(move.vm)
        if vm is None:
            raise InputError(f"moves[{index}].vm", f"VM {move.vm!r} is not in the plan's cluster")
        if move.destination not in plan.cluster.host_by_name:
            raise InputError(f"moves[{index}].destination", f"unknown host {move.destination!r}")
        if move.source not in plan.cluster.host_by_name:
            raise InputError(f"moves[{index}].source", f"unknown host {move.source!r}")


def load_plan(path: str | Path) -> Plan:
    raw = read_document(path)
    try:
        return parse_plan(raw)
    except InputError as error:
        raise error.in_file(str(path)) from None


_REQUIRED = ("version", "goal", "created", "expires", "fingerprint", "metric", "moves", "bounds", "solver",
             "before", "after", "cluster")
_FIELDS = _REQUIRED + ("summary", "notes")
