"""Errors of execution that the CLI reports in one line (exit 1 unless stated)."""

from __future__ import annotations

from planner.domain.errors import RebalanceError


class UnsafePlanError(RebalanceError):
    """No order of the moves keeps every host within capacity, even with parking: nothing was run."""


class ApplyLockedError(RebalanceError):
    """Another `rebalance apply` holds the lock for this plan or cluster."""



