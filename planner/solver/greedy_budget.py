"""How long the spread heuristic may keep improving, within `--time-limit`.

The repair that makes a placement valid always runs to the end; only the improving passes after it
are capped. In deterministic mode the cap counts work, not time, so a seed gives the same plan on a
busy machine: each kind of work (a step, a landing search, a swap search, a placement a chain
tries, an exchange tried, and what extra named resources add to steps and landings) is counted, and charged what it
costs on this machine by a linear model (WorkCount.milliseconds). On a machine too slow for that
model the passes are shortened in proportion to end in time (pace.py); the wall-clock deadline at
the limit itself stays the backstop. Either way the plan says it may not repeat.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from planner.domain.policy import SolverSettings
from planner.solver.pace import PACED_SHARE, Pace
from planner.solver.time_budget import modelled_allowance

# Share of the modelled allowance (time_budget.modelled_allowance) the improving passes may work
# for; the search after them gets the rest (and the whole allowance when the passes end early, as
# they mostly do on small clusters).
GREEDY_SHARE = 0.9
# What each kind of work costs, in milliseconds of this machine (2 cores) on its reference day
# (2026-12-05, when the margins of time_budget were set; a seed must repeat on a day that slow):
# the fit of `python -m benchmarks.greedy_cost --reference-day … --reference-now …` (the command in
# docs/benchmarks-tight.md; non-negative least squares over sixteen uncapped greedy runs on
# generated clusters with 0-2 extra resources and on memory-tight ones, the first 2 s of two
# 1000-host ones and the first 8 s of a 5000-host one, which tells a step's fixed cost from its
# per-host cost), each run's time brought back to the reference day first (2.16-2.55 × longer then
# for the same work; docs/experiments/greedy-cost-reference), times its SAFETY margin of 1.2.
# Predictions 0.65-1.10 × the runs' reference-day times, the lowest the longest memory-tight run,
# whose last-resort swaps over every host the fit charges least well; benchmarks/results/
# greedy_cost.md has each run. A zero is what the fit found: that work's time is carried by the
# others (a step's landings are one compiled pass, a swap search's pairs one compiled screen).
STEP_MS = 0.220  # a step's fixed part: the calls a step makes, whatever the cluster's size
STEP_MS_PER_1000_HOSTS = 0.069  # and its part that grows with the hosts: passes over every host
LANDING_MS = 0.0  # one leaver tried by a landing search
SWAP_MS = 0.0  # one swap search: its fixed part
SWAP_MS_PER_1000_PAIRS = 0.0  # and per 1000 (leaver, partner) pairs it checks at once
CHAIN_PLACEMENT_MS = 0.085  # one placement a chain search tries
EXCHANGE_MS = 0.288  # one exchange tried (a VM to a partner host, partner VMs back)
# One exchange search's partner checks (over every host, then per partner): the fit's 2.364 ms times
# 0.405, the median over six tight clusters (1000x20000 and 200x4000, fills 0.88-0.90) of what a
# search took once its last check was compiled (compiled_cover.py) over what it took before, both
# timed the same day (0.29-0.49 per cluster, 0.38 over all searches).
EXCHANGE_SEARCH_MS = 0.957
# Per extra named resource, per step and landing: their caps and peaks. The fit's 0.088 ms was for
# a landing search over extra resources in numpy; compiled (compiled_relief.first_landing), the
# greedy's passes on six clusters with one or two extra resources ran 0.20-0.26 s per modelled
# second where four without ran 0.32-0.47 (median 0.357, 2026-12-06): 0.040 ms (0.037-0.043 per
# cluster) brings them to that median.
EXTRA_MS = 0.040
# Consolidation's host emptying (host_emptying.py): per pass over every host's sizes (a fixed part
# and one per 1000 hosts), per roomy host looked at for an ejection (its VMs listed and sorted) and
# per move. The fit of `python -m benchmarks.emptying_cost` (docs/benchmarks-emptying-cost.md:
# relative least squares over uncapped emptyings of the tight clusters, 1,000 to 10,000 hosts at
# fills 0.80 and 0.88, 100 hosts at a time; whole runs predicted at 0.86-1.08 × measured, their
# first tenths 0.77-1.27 ×), times its REFERENCE_DAY factor and SAFETY: priced, like the spread's
# passes, for a slow day, so that on an ordinary one the pace (pace.py) reads the emptying as well
# within its model and leaves the modelled plan.
EMPTYING_SCAN_MS = 0.0382
EMPTYING_SCAN_MS_PER_1000_HOSTS = 0.0126
EMPTYING_TARGET_MS = 0.0225
EMPTYING_MOVE_MS = 0.0622
# Consolidation's keep-k search (keep_k.py): per 1000 hosts set up for a try, per VM looked at, per
# eviction placed, per full scan over the kept hosts and per host asked whether it takes a VM. Fit
# (least relative squares) to 17 uncapped searches on the tight clusters, 100x2000 to 5000x100000
# at fills 0.70-0.88, 4 ms to 5 s: predictions 0.64-1.33 × measured; times 1.2.
KEEP_MS_PER_1000_HOST_ROWS = 3.2
KEEP_LISTED_MS = 0.00015
KEEP_PLACEMENT_MS = 0.0077
KEEP_SCAN_MS = 0.118
KEEP_CHECK_MS = 0.0017
# The spread plan's homecoming pass (homecoming.py): per VM tried at home (sent, kept or undone),
# and per VM its home's shedding tries to land, per 1000 hosts (its room on every host). Fit (least
# relative squares) to nine uncapped passes after the greedy on the tight clusters, 200x4000 to
# 5000x100000 at fills 0.80 and 0.88, 0.37-2.9 s: predictions 0.61-1.31 × measured; times 1.2.
HOME_TRIAL_MS = 0.29
HOME_TRIED_MS_PER_1000_HOSTS = 0.008
MS_PER_SECOND = 1000.0


@dataclass
class WorkCount:
    """The improving passes' work so far, by kind (the features of the cost model)."""

    steps: int = 0
    host_steps: float = 0.0  # Σ over steps of hosts / 1000
    landings: int = 0
    swaps: int = 0
    swap_pairs: float = 0.0  # Σ over swap searches of (leavers × partners) / 1000
    chain_placements: int = 0
    extra: int = 0  # (steps + landings) × extra named resources
    exchanges: int = 0  # exchanges tried
    exchange_searches: int = 0  # partner lists an exchange search drew up (exchange.py's checks)

    def milliseconds(self) -> float:
        return (STEP_MS * self.steps + STEP_MS_PER_1000_HOSTS * self.host_steps
                + LANDING_MS * self.landings + SWAP_MS * self.swaps + SWAP_MS_PER_1000_PAIRS * self.swap_pairs
                + CHAIN_PLACEMENT_MS * self.chain_placements
                + EXTRA_MS * self.extra + EXCHANGE_MS * self.exchanges
                + EXCHANGE_SEARCH_MS * self.exchange_searches)


def emptying_ms(scans: int, targets: int, moves: int, hosts: int) -> float:
    """The modelled milliseconds of host emptying's work (GreedyBudget.host_emptying)."""
    return ((EMPTYING_SCAN_MS + EMPTYING_SCAN_MS_PER_1000_HOSTS * hosts / 1000) * scans
            + EMPTYING_TARGET_MS * targets + EMPTYING_MOVE_MS * moves)


@dataclass
class PricedWork:
    """Consolidation's passes (host emptying, keep-k), priced in milliseconds as they go: apart from
    WorkCount, whose fields are the features benchmarks.greedy_cost fits."""

    ms: float = 0.0


@dataclass
class GreedyBudget:
    """Deadline (time.monotonic()) and, in deterministic mode, the modelled milliseconds of work
    left for the improving passes."""

    deadline: float | None = None
    work_ms: float | None = None
    wall_clock_cut: bool = False
    counted: WorkCount = field(default_factory=WorkCount)
    priced: PricedWork = field(default_factory=PricedWork)
    pace: Pace | None = None  # deterministic mode's watch on the wall clock (pace.py)

    @staticmethod
    def of(settings: SolverSettings, started: float, setup_s: float = 0.0, after_s: float = 0.0) -> GreedyBudget:
        """The budget of passes in a planning call that began at `started`, after `setup_s` modelled
        seconds of setup (time_budget.modelled_setup_s) and before `after_s` modelled seconds of
        writing up the plan that the limit reserves beyond `settings.time_limit_s`."""
        if not settings.deterministic:
            return GreedyBudget(started + settings.time_limit_s, None)
        work = modelled_allowance(settings, setup_s) * GREEDY_SHARE * MS_PER_SECOND
        pace = Pace(work, started + PACED_SHARE * settings.time_limit_s, after_s)
        return GreedyBudget(started + settings.time_limit_s, work, pace=pace)

    @property
    def modelled_ms(self) -> float:
        """The modelled work done, as a machine within the model's margin charges it."""
        return self.counted.milliseconds() + self.priced.ms

    @property
    def used_ms(self) -> float:
        """The work charged, the pace's part included (pace.py): what the passes' shares, progress
        checks and the re-packs' budgets are decided on."""
        raw = self.modelled_ms
        return raw if self.pace is None else self.pace.read(raw)

    @property
    def paced(self) -> bool:
        """Did the machine's pace shape the passes (pace.py)? The plan may then not repeat."""
        return self.pace is not None and self.pace.shaped

    def landings(self, count: int, resources: int) -> None:
        self.counted.landings += count
        self.counted.extra += count * resources

    def swap_search(self, pairs: int) -> None:
        self.counted.swaps += 1
        self.counted.swap_pairs += pairs / 1000

    def chain_placements(self, count: int) -> None:
        self.counted.chain_placements += count

    def share(self, fraction: float) -> GreedyBudget:
        """A budget for one pass: `fraction` of what is left of this one (its work, else its wall
        clock), counting into this one's work."""
        work = None if self.work_ms is None else self.used_ms + fraction * max(0.0, self.work_ms - self.used_ms)
        deadline = self.deadline
        if work is None and deadline is not None:
            now = time.monotonic()
            deadline = now + fraction * max(0.0, deadline - now)
        return GreedyBudget(deadline, work, counted=self.counted, priced=self.priced, pace=self.pace)

    def host_emptying(self, scans: int, targets: int, moves: int, hosts: int) -> None:
        """Charge consolidation's host emptying: `scans` passes over `hosts` hosts' sizes, `targets`
        roomy hosts looked at for an ejection, `moves` moves."""
        self.priced.ms += emptying_ms(scans, targets, moves, hosts)

    def keep_k_work(self, host_rows: int, listed: int, placements: int, scans: int, checks: int) -> None:
        """Charge keep-k's tries: hosts set up, VMs listed for eviction, placements made, full
        scans, hosts asked."""
        self.priced.ms += (KEEP_MS_PER_1000_HOST_ROWS * host_rows / 1000 + KEEP_LISTED_MS * listed
                           + KEEP_PLACEMENT_MS * placements + KEEP_SCAN_MS * scans + KEEP_CHECK_MS * checks)

    def homecoming(self, tried: int, hosts: int, resources: int) -> None:
        """Charge one VM tried at home and the `tried` VMs its home's shedding tried to land."""
        self.priced.ms += HOME_TRIAL_MS + tried * (HOME_TRIED_MS_PER_1000_HOSTS * hosts / 1000 + EXTRA_MS * resources)

    def exchange_search(self, tried: int) -> None:
        self.counted.exchange_searches += 1
        self.counted.exchanges += tried

    def step(self, hosts: int, resources: int = 0) -> bool:
        """Charge one step over `hosts` hosts; False once the budget is spent (stop improving)."""
        self.counted.steps += 1
        self.counted.host_steps += hosts / 1000
        self.counted.extra += resources
        return not self.spent()

    def mark(self) -> tuple[float, float]:
        """Where the budget stands now (work used, wall clock), for fraction_since."""
        return self.used_ms, time.monotonic()

    def fraction_since(self, mark: tuple[float, float]) -> float | None:
        """The share of what was left at `mark` that has been spent since: of the work in
        deterministic mode, else of the time to the deadline; None when the budget is unlimited."""
        used, at = mark
        if self.work_ms is not None:
            return (self.used_ms - used) / max(self.work_ms - used, 1e-9)
        if self.deadline is not None:
            return (time.monotonic() - at) / max(self.deadline - at, 1e-9)
        return None

    def work_ran_out(self) -> bool:
        """Did the passes use all of their modelled work (deterministic mode)? They were then cut
        while they could still change the plan; where they stopped repeats on any machine. A budget
        of no work is spent before anything is charged to it: the wall clock did not stop passes
        that were never allowed to run."""
        if self.work_ms is None:
            return False
        raw = self.modelled_ms
        if self.work_ms <= 0 or raw > self.work_ms:
            return True
        if self.pace is None or self.pace.charged(raw) <= self.work_ms:
            return False
        self.pace.shaped = True  # the pace, not the modelled work, ended them
        return True

    def spent(self) -> bool:
        """Is the work (or, failing that, the wall clock) used up?"""
        if self.pace is not None:
            self.pace.update(self.modelled_ms, time.monotonic())
        if self.work_ran_out():
            return True
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.wall_clock_cut = True
            return True
        return False
