"""Policy YAML → Policy. Sizes an operator writes in GiB become MiB here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from planner.domain.checks import (
    MAX_AT_LEAST,
    MAX_CANDIDATES,
    MAX_EXTRA_RESOURCES,
    MAX_MOVE_FACTOR,
    MAX_MOVED_GIB,
    MAX_MOVED_MIB,
    MAX_MOVES,
    MAX_SEED,
    MAX_TIME_LIMIT_S,
    MAX_WEIGHT,
    MAX_WORKERS,
    MIN_TIME_LIMIT_S,
    check_int,
    check_labels,
    check_name,
    check_number,
    check_percent,
    check_positive_int,
    check_ratio,
    field_name,
    quote,
)
from planner.domain.errors import InputError
from planner.domain.policy import (
    DEFAULT_MIN_GAIN_PER_MOVED_GIB,
    HOST_SCOPE,
    MAX_GAIN_PER_MOVED_GIB,
    Affinity,
    AntiAffinity,
    ConsolidateSettings,
    Goal,
    HostGroup,
    Limits,
    MinSpread,
    MoveCosts,
    MoveFactor,
    Pin,
    Policy,
    ResourceBalance,
    Selector,
    SolverSettings,
    SpreadSettings,
)
from planner.formats.records import check_keys, expect_list, expect_mapping, nested, parse_list

POLICY_FIELDS = ("goal", "spread", "consolidate", "rules", "excluded_hosts", "drain_hosts", "limits", "move_cost",
                 "solver")
RULE_KINDS = ("anti_affinity", "affinity", "pin", "host_groups", "min_spread")


def parse_goal(value: Any, field: str = "goal") -> Goal:
    try:
        return Goal(value)
    except ValueError:
        choices = ", ".join(g.value for g in Goal)
        raise InputError(field, f"must be one of {choices}, got {quote(value)}") from None


def parse_policy(raw: Any) -> Policy:
    raw = expect_mapping(raw)
    check_keys(raw, POLICY_FIELDS)
    rules = nested("rules", lambda: _parse_rules(raw.get("rules") or {}))
    return Policy(
        goal=parse_goal(raw.get("goal", Goal.SPREAD.value)),
        spread=nested("spread", lambda: _parse_spread(raw.get("spread") or {})),
        consolidate=nested("consolidate", lambda: _parse_consolidate(raw.get("consolidate") or {})),
        excluded_hosts=_parse_names(raw.get("excluded_hosts") or [], "excluded_hosts"),
        drain_hosts=_parse_names(raw.get("drain_hosts") or [], "drain_hosts"),
        limits=nested("limits", lambda: _parse_limits(raw.get("limits") or {})),
        move_costs=nested("move_cost", lambda: _parse_move_costs(raw.get("move_cost") or {})),
        solver=nested("solver", lambda: _parse_solver(raw.get("solver") or {})),
        **rules,
    )


def _parse_rules(raw: Any) -> dict[str, tuple[Any, ...]]:
    raw = expect_mapping(raw)
    check_keys(raw, RULE_KINDS)
    return {
        "anti_affinity": parse_list(raw.get("anti_affinity") or [], "anti_affinity", _parse_anti_affinity),
        "affinity": parse_list(raw.get("affinity") or [], "affinity", _parse_affinity),
        "pins": parse_list(raw.get("pin") or [], "pin", _parse_pin),
        "host_groups": parse_list(raw.get("host_groups") or [], "host_groups", _parse_host_group),
        "min_spread": parse_list(raw.get("min_spread") or [], "min_spread", _parse_min_spread),
    }


def _rule(raw: Any, extra: tuple[str, ...], required: tuple[str, ...] = ("name", "vms")) -> Mapping[str, Any]:
    raw = expect_mapping(raw)
    check_keys(raw, ("name", "vms") + extra, required=required)
    check_name(raw["name"], "name")
    return raw


def _parse_anti_affinity(raw: Any) -> AntiAffinity:
    raw = _rule(raw, ("scope",))
    scope = raw.get("scope", HOST_SCOPE)
    if not isinstance(scope, str) or not scope or len(scope) > 253 or "\x00" in scope:
        raise InputError("scope", f"must be 'host' or a host label name such as 'rack', got {quote(scope)}")
    return AntiAffinity(raw["name"], parse_selector(raw["vms"], "vms"), scope)


def _parse_affinity(raw: Any) -> Affinity:
    raw = _rule(raw, ())
    return Affinity(raw["name"], parse_selector(raw["vms"], "vms"))


def _parse_pin(raw: Any) -> Pin:
    raw = _rule(raw, ())
    return Pin(raw["name"], parse_selector(raw["vms"], "vms"))


def _parse_host_group(raw: Any) -> HostGroup:
    raw = _rule(raw, ("hosts",), required=("name", "vms", "hosts"))
    return HostGroup(raw["name"], parse_selector(raw["vms"], "vms"), parse_selector(raw["hosts"], "hosts"))


def _parse_min_spread(raw: Any) -> MinSpread:
    raw = _rule(raw, ("label", "at_least"), required=("name", "vms", "label", "at_least"))
    return MinSpread(raw["name"], parse_selector(raw["vms"], "vms"), _label_name(raw["label"], "label"),
                     check_positive_int(raw["at_least"], "at_least", maximum=MAX_AT_LEAST))


def _label_name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 253 or "\x00" in value:
        raise InputError(field, f"must be a host label name such as 'rack', got {quote(value)}")
    return value


def parse_selector(raw: Any, field: str) -> Selector:
    """`[a, b]` (names), or `{names: [...], labels: {k: v}}`."""
    if isinstance(raw, list):
        return Selector(names=_parse_names(raw, field))

    def parse() -> Selector:
        mapping = expect_mapping(raw)
        check_keys(mapping, ("names", "labels"))
        selector = Selector(
            names=_parse_names(mapping.get("names") or [], "names"),
            labels=check_labels(mapping.get("labels") or {}, "labels"),
        )
        if not selector.names and not selector.labels:
            raise InputError("", "selects nothing: give names or labels")
        return selector

    return nested(field, parse)


def _parse_names(raw: Any, field: str) -> frozenset[str]:
    names = parse_list(raw, field, lambda item: check_name(item, ""))
    return frozenset(names)


def _parse_spread(raw: Any) -> SpreadSettings:
    raw = expect_mapping(raw)
    check_keys(raw, ("cpu_threshold_percent", "memory_threshold_percent", "cpu_weight", "memory_weight", "resources"))
    settings = SpreadSettings(
        resources=nested("resources", lambda: _parse_resource_balances(raw.get("resources") or {})),
        cpu_threshold_percent=check_percent(raw.get("cpu_threshold_percent", 0), "cpu_threshold_percent"),
        memory_threshold_percent=check_percent(raw.get("memory_threshold_percent", 0), "memory_threshold_percent"),
        cpu_weight=check_int(raw.get("cpu_weight", 1), "cpu_weight", maximum=MAX_WEIGHT),
        memory_weight=check_int(raw.get("memory_weight", 1), "memory_weight", maximum=MAX_WEIGHT),
    )
    if settings.cpu_weight + settings.memory_weight + sum(r.weight for r in settings.resources) == 0:
        raise InputError("cpu_weight", "cpu_weight and memory_weight cannot both be 0 (unless an extra resource "
                                       "under spread.resources has a weight)")
    return settings


def _parse_resource_balances(raw: Any) -> tuple[ResourceBalance, ...]:
    """`resources: {disk_iops: {weight: 1, threshold_percent: 70}}`: how spread weighs each extra
    resource the cluster declares (whether the cluster declares it is checked against the cluster)."""
    raw = expect_mapping(raw)
    if len(raw) > MAX_EXTRA_RESOURCES:
        raise InputError("", f"at most {MAX_EXTRA_RESOURCES} extra resources, got {len(raw)}")
    return tuple(nested(field_name(name), lambda name=name, item=item: _parse_resource_balance(name, item))
                 for name, item in sorted(raw.items(), key=lambda kv: str(kv[0])))


def _parse_resource_balance(name: Any, raw: Any) -> ResourceBalance:
    check_name(name, "")
    raw = expect_mapping(raw)
    check_keys(raw, ("weight", "threshold_percent"))
    return ResourceBalance(
        name=name,
        weight=check_int(raw.get("weight", 1), "weight", maximum=MAX_WEIGHT),
        threshold_percent=check_percent(raw.get("threshold_percent", 0), "threshold_percent"),
    )


def _parse_consolidate(raw: Any) -> ConsolidateSettings:
    raw = expect_mapping(raw)
    check_keys(raw, ("max_cpu_percent", "max_memory_percent"))
    return ConsolidateSettings(
        max_cpu_percent=check_percent(raw.get("max_cpu_percent", 80), "max_cpu_percent"),
        max_memory_percent=check_percent(raw.get("max_memory_percent", 90), "max_memory_percent"),
    )


def _optional(raw: Mapping[str, Any], key: str, check: Callable[[Any, str], Any]) -> Any:
    return None if raw.get(key) is None else check(raw[key], key)


def _parse_limits(raw: Any) -> Limits:
    raw = expect_mapping(raw)
    check_keys(raw, ("max_moves", "max_moved_gib", "max_moved_mib", "min_improvement_percent",
                     "min_gain_per_moved_gib"))
    moved_mib = _optional(raw, "max_moved_mib", lambda v, f: check_int(v, f, maximum=MAX_MOVED_MIB))
    moved_gib = _optional(raw, "max_moved_gib", lambda v, f: check_ratio(v, f, maximum=MAX_MOVED_GIB))
    if moved_mib is not None and moved_gib is not None:
        raise InputError("max_moved_gib", "give max_moved_gib or max_moved_mib, not both")
    if moved_gib is not None:
        moved_mib = int(moved_gib * 1024)
    return Limits(
        max_moves=_optional(raw, "max_moves", lambda v, f: check_int(v, f, maximum=MAX_MOVES)),
        max_moved_memory_mib=moved_mib,
        min_improvement_percent=check_percent(raw.get("min_improvement_percent", 5), "min_improvement_percent"),
        min_gain_per_moved_gib=check_number(raw.get("min_gain_per_moved_gib", DEFAULT_MIN_GAIN_PER_MOVED_GIB),
                                            "min_gain_per_moved_gib", 0.0, MAX_GAIN_PER_MOVED_GIB),
    )


def _parse_move_costs(raw: Any) -> MoveCosts:
    raw = expect_mapping(raw)
    check_keys(raw, ("cross_label", "cross_factor", "vms"))
    label = _optional(raw, "cross_label", _label_name)
    factor = _optional(raw, "cross_factor", lambda v, f: check_positive_int(v, f, maximum=MAX_MOVE_FACTOR))
    # One without the other is a half-written rule, not a default worth guessing.
    if label is not None and factor is None:
        raise InputError("cross_label", "needs cross_factor: how many times a move across it counts")
    if factor is not None and label is None:
        raise InputError("cross_factor", "needs cross_label: the host label a move must cross to cost more")
    return MoveCosts(cross_label=label, cross_factor=factor or 1,
                     vms=parse_list(raw.get("vms") or [], "vms", _parse_move_factor))


def _parse_move_factor(raw: Any) -> MoveFactor:
    raw = expect_mapping(raw)
    check_keys(raw, ("vms", "factor"), required=("vms", "factor"))
    return MoveFactor(parse_selector(raw["vms"], "vms"), check_positive_int(raw["factor"], "factor", maximum=MAX_MOVE_FACTOR))


def _parse_solver(raw: Any) -> SolverSettings:
    raw = expect_mapping(raw)
    check_keys(raw, ("time_limit_s", "workers", "seed", "candidates_per_vm", "deterministic"))
    deterministic = raw.get("deterministic", True)
    if not isinstance(deterministic, bool):
        raise InputError("deterministic", f"must be true or false, got {quote(deterministic)}")
    defaults = SolverSettings()
    return SolverSettings(
        time_limit_s=check_number(raw.get("time_limit_s", defaults.time_limit_s), "time_limit_s",
                                  MIN_TIME_LIMIT_S, MAX_TIME_LIMIT_S),
        workers=check_positive_int(raw.get("workers", defaults.workers), "workers", maximum=MAX_WORKERS),
        seed=check_int(raw.get("seed", defaults.seed), "seed", maximum=MAX_SEED),
        candidates_per_vm=check_int(raw.get("candidates_per_vm", defaults.candidates_per_vm), "candidates_per_vm",
                                    maximum=MAX_CANDIDATES),
        deterministic=deterministic,
    )


__all__ = ["parse_policy", "parse_goal", "parse_selector", "expect_list"]
