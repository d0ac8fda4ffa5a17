"""The number a goal minimises, from per-host usage alone: shared by the solver's plans and by
plans built without it (moving VMs back after maintenance), so both report the same metric."""

from __future__ import annotations

from collections.abc import Sequence

from planner.domain.goals import Goal
from planner.domain.metrics import HostUsage, hosts_in_use, weighted_peak
from planner.domain.plan import GoalMetric
from planner.domain.policy import SpreadSettings

_SPREAD_NAMES = {(True, True): "peak CPU‰ + peak memory‰", (True, False): "peak CPU", (False, True): "peak memory"}


def _floor(threshold_percent: float) -> int:
    """A spread threshold in per-mille."""
    return round(threshold_percent * 10)


def spread_floors(spread: SpreadSettings) -> tuple[int, int]:
    """The thresholds in per-mille: peaks below them count as the threshold."""
    return _floor(spread.cpu_threshold_percent), _floor(spread.memory_threshold_percent)


def extra_weighing(spread: SpreadSettings, resources: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Each extra resource's (weight, floor ‰) in the spread metric, in the order of `resources`."""
    balances = [spread.balance_of(name) for name in resources]
    return {b.name: (b.weight, _floor(b.threshold_percent)) for b in balances}


def goal_metric(goal: Goal, spread: SpreadSettings, before: Sequence[HostUsage],
                after: Sequence[HostUsage]) -> GoalMetric:
    """`before` and `after` are the usages of the hosts the metric looks at."""
    if goal.minimises_hosts:
        return GoalMetric("hosts in use", "hosts", hosts_in_use(before), hosts_in_use(after))
    wc, wm = spread.cpu_weight, spread.memory_weight
    fc, fm = spread_floors(spread)
    resources = sorted({name for usage in before for name in usage.extra_permille})
    extra = extra_weighing(spread, resources)
    name = _SPREAD_NAMES.get((bool(wc), bool(wm)), "")
    weighed = [f"peak {n}‰" for n, (weight, _) in extra.items() if weight]
    if weighed:
        name = " + ".join(([name] if name else []) + weighed)
    return GoalMetric(name, "‰", weighted_peak(before, wc, wm, fc, fm, extra), weighted_peak(after, wc, wm, fc, fm, extra))
