"""Ad hoc: real seconds of the spread greedy's improving passes per modelled ms, with and without extra resources."""
import sys, time
from benchmarks.tight_generator import generate_tight_cluster, tight_policy
from benchmarks.generator import generate_cluster
from benchmarks.extra_resources import with_extra_resources
from benchmarks.solve import benchmark_policy
from planner.domain.policy import Goal
from planner.instance.problem import build_problem
from planner.rules.resolve import resolve_rules
from planner.solver import greedy as G
from planner.solver import greedy_budget as gb
from planner.solver.greedy_budget import GreedyBudget
spent = {}
orig = G.spread_greedy
def timed(state, budget):
    t = time.perf_counter(); r = orig(state, budget); spent["s"] = time.perf_counter() - t; return r
G.spread_greedy = timed
if __name__ == "__main__":
    work = float(sys.argv[1])
    for spec in sys.argv[2:]:
        kind, size, rest = spec.split(":")
        h, v = map(int, size.split("x"))
        if kind == "tight":
            fill, seed = rest.split("/")
            c = generate_tight_cluster(h, v, float(fill), int(seed)); pol = tight_policy(c, int(seed), 10.0)
        else:
            extra, seed = rest.split("/")
            c = with_extra_resources(generate_cluster(h, v, seed=int(seed)), int(extra)); pol = benchmark_policy(c, Goal.SPREAD, int(seed), h)
        problem = build_problem(resolve_rules(c, pol))
        b = GreedyBudget(deadline=None, work_ms=work)
        G.greedy_placement(problem, b)
        c = b.counted
        extra_ms = gb.EXTRA_MS * c.extra
        print(f"{spec:26s} passes_s {spent['s']:.3f} used_ms {b.used_ms:.0f} extra_ms {extra_ms:.0f} base_ms {b.used_ms - extra_ms:.0f} extra_count {c.extra}", flush=True)
