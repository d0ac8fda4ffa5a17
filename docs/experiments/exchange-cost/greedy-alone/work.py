"""Ad hoc: where the spread greedy's modelled budget goes on a tight cluster."""
import sys, time
from dataclasses import replace
from benchmarks.tight_generator import generate_tight_cluster, tight_policy
from planner.rules.resolve import resolve_rules
from planner.solver import greedy_budget as gb
from planner.solver.planning import make_plan

budgets = []
orig = gb.GreedyBudget.of
def spy(*a, **k):
    b = orig(*a, **k); budgets.append(b); return b
gb.GreedyBudget.of = staticmethod(spy)

if __name__ == "__main__":
    size, fill, seed, limit = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    h, v = (int(x) for x in size.split("x"))
    cluster = generate_tight_cluster(h, v, fill, seed)
    policy = tight_policy(cluster, seed, limit, 1)
    t = time.perf_counter()
    plan = make_plan(resolve_rules(cluster, policy))
    print("time", round(time.perf_counter() - t, 2), "peak", plan.metric.after, "moves", len(plan.moves), plan.solver.method, plan.solver.status,
          "GiB", round(plan.moved_memory_mib / 1024))
    for b in budgets:
        c = b.counted
        print("budget work_ms", b.work_ms, "used", round(b.used_ms))
        parts = dict(step=gb.STEP_MS * c.steps, host_steps=gb.STEP_MS_PER_1000_HOSTS * c.host_steps,
                     chain=gb.CHAIN_PLACEMENT_MS * c.chain_placements, exch=gb.EXCHANGE_MS * c.exchanges,
                     exsearch=gb.EXCHANGE_SEARCH_MS * c.exchange_searches, priced=b.priced.ms)
        print({k: round(x) for k, x in parts.items()}, c)
