"""Ad hoc: real time of the spread greedy's parts on a tight cluster."""
import sys, time, collections
from benchmarks.tight_generator import generate_tight_cluster, tight_policy
from planner.rules.resolve import resolve_rules
from planner.solver import peak_relief, exchange
from planner.solver.planning import make_plan

spent = collections.Counter(); calls = collections.Counter()
def timed(module, name):
    f = getattr(module, name)
    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            spent[name] += time.perf_counter() - t; calls[name] += 1
    setattr(module, name, wrapper)
for n in ("ranked_landing", "swap_relief", "exchange_relief", "chain_relief", "relieve", "hottest_on_peak", "coolness", "peak_view"):
    timed(peak_relief, n)
[timed(exchange, n) for n in ("_partners_for", "_returns_light_enough", "_light_enough", "_exchange") if hasattr(exchange, n)]

if __name__ == "__main__":
    size, fill, seed, limit = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    h, v = (int(x) for x in size.split("x"))
    cluster = generate_tight_cluster(h, v, fill, seed)
    policy = tight_policy(cluster, seed, limit, 1)
    rr = resolve_rules(cluster, policy)
    t = time.perf_counter()
    plan = make_plan(rr)
    print(size, fill, seed, "time", round(time.perf_counter() - t, 2), "peak", plan.metric.after, "moves", len(plan.moves))
    for n, s in spent.most_common():
        print(f"  {n:24s} {s:7.3f} s {calls[n]:8d} calls")
