"""A snapshot's measurement fields ⇄ Measurement: `collected_at`, `interval_s` and `demand`.

They sit beside `hosts` and `vms` at the top of a snapshot (and of a plan's `cluster`):

    collected_at: "2026-05-01T02:00:07+00:00"   # UTC, when the last reading was taken
    interval_s: 1.0                              # the sampling interval of each CPU reading
    demand: {source: local history, statistic: p95, window_s: 86400, samples: 1440,
             memory: allocated, summary: "CPU p95 over the last 24h from local history ..."}

All three are optional, so snapshots written before them still load; `interval_s` and `demand`
need `collected_at`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from planner.domain.errors import InputError
from planner.domain.measurement import DemandBasis, Measurement
from planner.formats.records import build, check_keys, expect_mapping, nested, parse_time

MEASUREMENT_FIELDS = ("collected_at", "interval_s", "demand")
DEMAND_FIELDS = ("source", "statistic", "window_s", "samples", "memory", "summary")


def parse_measurement(raw: Mapping[str, Any]) -> Measurement | None:
    """The measurement fields of a snapshot mapping (None when it has none)."""
    if not any(key in raw for key in MEASUREMENT_FIELDS):
        return None
    if "collected_at" not in raw:
        present = next(key for key in MEASUREMENT_FIELDS if key in raw)
        raise InputError("collected_at", f"is required with {present}")
    collected_at = parse_time(raw["collected_at"], "collected_at")
    demand = nested("demand", lambda: _parse_demand(raw["demand"])) if "demand" in raw else None
    return build(Measurement, {"collected_at": collected_at, "interval_s": raw.get("interval_s", 0.0),
                               "demand": demand})


def _parse_demand(raw: Any) -> DemandBasis:
    raw = expect_mapping(raw)
    check_keys(raw, DEMAND_FIELDS, required=("source",))
    return build(DemandBasis, raw)


def measurement_record(measured: Measurement | None) -> dict[str, Any]:
    """The fields to put at the top of a snapshot (none for a cluster that was not measured)."""
    if measured is None:
        return {}
    record: dict[str, Any] = {"collected_at": measured.collected_at.isoformat(), "interval_s": measured.interval_s}
    if measured.demand is not None:
        basis = measured.demand
        record["demand"] = {"source": basis.source, "statistic": basis.statistic, "window_s": basis.window_s,
                            "samples": basis.samples, "memory": basis.memory, "summary": basis.summary}
    return record
