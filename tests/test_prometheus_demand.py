"""What `prometheus_demand` asks Prometheus and how it reads the answers (the queries as text,
the values as samples; the real exporter and Prometheus are in tests/lab/test_lab_prometheus.py)."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from cluster.demand import DemandSpec
from cluster.prometheus_api import Sample
from cluster.prometheus_demand import (
    _millicores,
    _mib,
    cpu_query,
    domain_uuids,
    duration,
    memory_query,
    prometheus_demand,
    step_for,
    summary,
    uuid_matcher,
    values_by_uuid,
)
from planner.domain.errors import InputError

U1 = "6f1b0c7e-1111-4a2b-9c3d-000000000001"
U2 = "6f1b0c7e-2222-4a2b-9c3d-000000000002"
SELECTOR = f'libvirt_domain_info_cpu_time_seconds_total{{uuid=~"{U1}|{U2}"}}'


def test_a_percentile_is_quantile_over_time_of_per_step_rates_summed_by_uuid() -> None:
    assert cpu_query([U1, U2], DemandSpec("p95", 86400), 60) == (
        f"quantile_over_time(0.95, (sum by (uuid) (rate({SELECTOR}[60s])))[86400s:60s])")


@pytest.mark.parametrize("statistic, function", [("max", "max_over_time("), ("avg", "avg_over_time("),
                                                 ("p50", "quantile_over_time(0.5, "),
                                                 ("p66", "quantile_over_time(0.66, ")])
def test_every_statistic_has_its_function_over_the_same_points(statistic: str, function: str) -> None:
    assert cpu_query([U1, U2], DemandSpec(statistic, 300), 30) == (
        f"{function}(sum by (uuid) (rate({SELECTOR}[30s])))[300s:30s])")


def test_memory_is_the_largest_balloon_size_over_the_window() -> None:
    assert memory_query([U1], DemandSpec("p50", 3600), 60) == (
        f'max_over_time((max by (uuid) (libvirt_domain_info_memory_usage_bytes{{uuid=~"{U1}"}}))[3600s:60s])')


@pytest.mark.parametrize("window_s, step_s", [(86400, 60), (3600, 60), (300, 30), (70, 7), (5, 1)])
def test_the_step_is_a_minute_or_a_tenth_of_a_short_window(window_s: float, step_s: float) -> None:
    assert step_for(window_s) == step_s


@pytest.mark.parametrize("seconds, text", [(60, "60s"), (86400, "86400s"), (1.5, "1500ms"), (0.0001, "1ms")])
def test_durations_are_whole_promql_units(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_only_well_formed_uuids_reach_the_query() -> None:
    hostile = ['x"}) or vector(1) #', "", U1.upper(), U1, "not-a-uuid", U2]
    assert domain_uuids(hostile) == [U1, U2]
    assert uuid_matcher(hostile) == f'uuid=~"{U1}|{U2}"'


def test_values_are_millicores_rounded_up_and_unusable_ones_left_out() -> None:
    other = "6f1b0c7e-3333-4a2b-9c3d-000000000003"
    samples = [Sample({"uuid": U1}, 0.0075), Sample({"uuid": U1.upper()}, 0.5),  # one domain twice: the larger
               Sample({"uuid": U2}, math.nan), Sample({"uuid": other}, 1.0), Sample({}, 2.0)]
    assert values_by_uuid(samples, [U1, U2], _millicores) == {U1: 500}
    assert [_millicores(v) for v in (0.0075, 1.0000000000002, 0.0, -0.1, math.inf, 1e12)] == \
        [8, 1000, 0, None, None, None]
    assert [_mib(v) for v in (33554432.0, 1.0, 0.0, math.nan, 1e300)] == [32, 1, None, None, None]


def test_the_summary_names_statistic_window_server_and_what_is_missing() -> None:
    line = summary("http://127.0.0.1:9090", DemandSpec("p95", 6 * 3600), 3, {U1: 1, U2: 2}, {})
    assert line == ("CPU p95 over the last 6h from Prometheus at http://127.0.0.1:9090 (2 series); "
                    "no series for 1 of 3 domains (they keep their sampled load)")


def test_a_bad_url_fails_before_anything_is_asked() -> None:
    with pytest.raises(InputError, match="--prometheus-url: must start with http:// or https://"):
        prometheus_demand("gopher://127.0.0.1:70", [U1], DemandSpec(), datetime.now(timezone.utc))


def test_domains_without_a_uuid_ask_nothing_and_are_counted_missing() -> None:
    demand = prometheus_demand("http://127.0.0.1:9", ["", "web-1"], DemandSpec("avg", 600),
                               datetime.now(timezone.utc))
    assert dict(demand.cpu_millicores) == {} and dict(demand.memory_used_mib) == {}
    assert demand.summary.endswith("(0 series); no series for 2 of 2 domains (they keep their sampled load)")
