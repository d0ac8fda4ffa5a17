"""What one nightly run is asked to do (RunRequest) and how it ended (RunResult).

The request is plain data: `rebalance run` builds it from its options, a test or another program
can build it directly, and operations.nightly.run_nightly carries it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cluster.demand_measure import Measuring
from operations.disruption_budget import Budget
from operations.run_outcome import RunOutcome
from operations.window import Window
from planner.domain.policy import Goal

DEFAULT_COOLDOWN_HOURS = 24.0


@dataclass(frozen=True)
class RunSource:
    """Where the cluster and its rules come from."""

    inventory: str | None  # the hosts to measure and migrate on
    policy: str | None = None  # rules, limits, solver settings (YAML); none: the defaults
    skip_unreachable: bool = False  # plan without the hosts that do not answer
    allow_insecure: bool = False  # accept plain qemu+tcp control connections
    measuring: Measuring = field(default_factory=Measuring)  # demand history, statistic, window, interval


@dataclass(frozen=True)
class SolverOverrides:
    time_limit_s: float | None = None
    workers: int | None = None
    seed: int | None = None


@dataclass(frozen=True)
class RunRequest:
    source: RunSource
    state_dir: Path  # history, lock, and each run's plan, journal and report
    goal: Goal | None = None  # None: the policy's
    drain: tuple[str, ...] = ()
    window: Window | None = None  # local hours in which migrations may start
    budget: Budget = field(default_factory=Budget)
    cooldown_hours: float = DEFAULT_COOLDOWN_HOURS
    on_freed: str | None = None  # shell command per emptied host, {host} filled in
    metrics_file: str | None = None  # Prometheus textfile
    html: str | None = None  # a copy of the run's HTML report
    config_path: str | None = None  # executor settings (YAML)
    max_parallel: int | None = None
    per_host: int | None = None
    solver: SolverOverrides = field(default_factory=SolverOverrides)
    dry_run: bool = False  # plan and report; migrate nothing, record nothing
    strict: bool = False  # a policy rule that selects no VM is a configuration error, not a warning


@dataclass(frozen=True)
class RunResult:
    outcome: RunOutcome | None  # None: nothing recorded (outside the window, a dry run, locked out)
    failed: bool = False  # a migration, an --on-freed command, the plan or the cluster failed
    locked: bool = False  # another run holds the lock: nothing was done
