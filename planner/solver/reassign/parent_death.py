"""A worker process that ends when the process that started it ends, however that one ends.

Cooperative search workers and a runner's job processes search for minutes. Their parent stops
them when it finishes or raises, but a parent killed by a signal runs no clean-up, and its workers
would go on using the cores as orphans. On Linux the kernel sends them SIGTERM when the parent
dies (prctl PR_SET_PDEATHSIG), and a worker's own workers get the same from it; elsewhere nothing
is set up and the parent's own clean-up is all.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def end_with_parent(parent_pid: int) -> None:
    """Ask for SIGTERM when the parent goes, and exit now if it went already (before the request
    was in place the kernel would send nothing)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:
        raise SystemExit(0)
