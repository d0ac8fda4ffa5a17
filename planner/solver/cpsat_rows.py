"""CP-SAT rows that both engines' models state: the product's (cpsat_model.py) and the
reassignment sub-problems' (reassign/sub_families.py). One rule, one way of writing it down.

- `at_most_per_domain`: at most so many members in each domain — the product's anti-affinity (per
  group and label value, an affinity group counting its members) and ROADEF's conflict rule (per
  service and machine, one process).
- `domains_used_at_least`: members in at least so many domains — the product's min_spread (per
  group over label values) and ROADEF's spreadMin (per service over locations).
- `weighted_sum`: Σ coefficient · x in one call, zero coefficients left out — every capacity row and
  load of both models.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import TypeVar

from ortools.sat.python import cp_model

Key = TypeVar("Key", bound=Hashable)


def weighted_sum(terms: Iterable[tuple[int, cp_model.IntVar]]) -> cp_model.LinearExprT:
    """Σ coefficient · variable in one call (0 when no coefficient is non-zero): summing Python
    expressions term by term cost about as much as solving an LNS sub-problem."""
    pairs = [(c, v) for c, v in terms if c]
    if not pairs:
        return 0
    return cp_model.LinearExpr.weighted_sum([v for _, v in pairs], [c for c, _ in pairs])


def at_most_per_domain(model: cp_model.CpModel, rows: Mapping[Key, Sequence[tuple[int, cp_model.IntVar]]],
                       room: Callable[[Key], int]) -> None:
    """Σ count · x ≤ room(key) for each key's (count, x) terms; a room below 0 (what stays fixed
    already breaks the rule) lets nothing more in. Rows that can never bind (all the counts
    together fit the room) are left out; an at_most_one where every count is 1 and the room is 1,
    the common case, which CP-SAT propagates best."""
    for key, terms in rows.items():
        limit = room(key)
        if sum(count for count, _ in terms) <= limit:
            continue
        if limit == 1 and all(count == 1 for count, _ in terms):
            model.add_at_most_one(var for _, var in terms)
        else:
            model.add(cp_model.LinearExpr.weighted_sum([v for _, v in terms], [c for c, _ in terms]) <= max(limit, 0))


def domains_used_at_least(model: cp_model.CpModel, there: Mapping[int, Sequence[cp_model.IntVar]], needed: int,
                          name: str) -> dict[int, cp_model.IntVar]:
    """A Boolean per domain of `there` (in its order), true only if one of the domain's x is, and at
    least `needed` of them true. Returns them by domain, for hints."""
    used: dict[int, cp_model.IntVar] = {}
    for domain, landing in there.items():
        var = model.new_bool_var(f"{name}_{domain}")
        model.add(var <= sum(landing))
        used[domain] = var
    model.add(sum(used.values()) >= needed)
    return used
