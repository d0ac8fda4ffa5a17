"""One peer-to-peer live migration over libvirt, watched until it ends or stops answering.

The blocking `migrateToURI3` runs on one connection to the source; a monitor thread polls
`jobStats` on a second connection (as the lab showed is needed), reports progress, and enforces
the completion timeout (abort, or switch to post-copy when permitted). The caller waits at most
the completion timeout plus the abort grace (from the abort, if one was asked for earlier): past
that, libvirt is not answering and the outcome is UNKNOWN. A domain whose XML carries Nova's
metadata is never migrated here (cluster/domain_metadata.py), whatever plan asked for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from cluster.domain_metadata import NOVA_REASON, is_nova_managed
from executor.hypervisor import MigrationOutcome, MigrationRequest, MigrationResult, ProgressCallback
from executor.libvirt_connections import Connections, bounded, close, quietly
from executor.libvirt_decisions import (
    TimeoutStep,
    completed_timing,
    migration_flags,
    migration_params,
    progress_from_stats,
    retrying,
    timeout_step,
)

_JOB_STATS_COMPLETED = 1  # VIR_DOMAIN_JOB_STATS_COMPLETED


def run_migration(links: Connections, request: MigrationRequest, progress: ProgressCallback,
                  abort: threading.Event, began: float) -> MigrationResult:
    """Runs the blocking migrateToURI3 in a daemon thread while the monitor watches it."""
    config = links.config
    try:
        control = bounded(config.call_timeout_s, f"connect {request.source}",
                          lambda: links.open(request.source))  # its own connection: migrateToURI3 blocks it
        domain = bounded(config.call_timeout_s, f"find {request.vm}", lambda: links.lookup(control, request))
        xml = bounded(config.call_timeout_s, f"read {request.vm}", lambda: domain.XMLDesc(0))
    except Exception as error:
        return MigrationResult(MigrationOutcome.FAILED, time.monotonic() - began, f"cannot start: {error}")
    if is_nova_managed(xml):  # the last word, whatever plan or snapshot got this far
        close(control)
        return MigrationResult(MigrationOutcome.FAILED, time.monotonic() - began, f"refused: {NOVA_REASON}")
    monitor = _Monitor(links, request, progress, abort)
    monitor.start()
    finished = threading.Event()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            retrying(lambda: domain.migrateToURI3(links.destination(request.destination), migration_params(config),
                                                  migration_flags(config, links.flag_values())),
                     config.live_migration_retry_count, links.transient, links.sleep)
        except Exception as error:  # noqa: BLE001 — judged below
            outcome["error"] = error
        finally:
            finished.set()

    threading.Thread(target=run, name=f"migrateToURI3-{request.vm}", daemon=True).start()
    answered = _wait(finished, abort, monitor, request.timeout_s, began, config.abort_grace_s)
    monitor.stop()
    if not answered:
        # Leave `control` open: closing it under a blocked call is not safe; the process exit ends it.
        return MigrationResult(MigrationOutcome.UNKNOWN, time.monotonic() - began,
                               f"libvirt did not return within {time.monotonic() - began:.0f} s, not even after "
                               f"an abort (a hung QEMU or daemon on {request.source} or {request.destination}?)")
    close(control)
    if "error" in outcome:
        kind, message = _failure(monitor, abort, outcome["error"])
        return MigrationResult(kind, time.monotonic() - began, message)
    elapsed_ms, downtime_ms = _timing(links, request)
    return MigrationResult(MigrationOutcome.COMPLETED, time.monotonic() - began, "", elapsed_ms, downtime_ms)


def _wait(finished: threading.Event, abort: threading.Event, monitor: _Monitor, timeout_s: float, began: float,
          grace_s: float) -> bool:
    """True once migrateToURI3 returned; False when it outlived every deadline."""
    aborted_at: float | None = None
    while not finished.wait(0.05):
        now = time.monotonic()
        if aborted_at is None and (abort.is_set() or monitor.timed_out):
            aborted_at = now
        limit = began + timeout_s + grace_s
        if aborted_at is not None:
            limit = min(limit, aborted_at + grace_s)
        if now > limit:
            return False
    return True


def _timing(links: Connections, request: MigrationRequest) -> tuple[int, int]:
    """The completed job as the destination recorded it; (0, 0) when it cannot say."""
    def ask() -> Mapping[str, Any]:
        return links.lookup(links.shared(request.destination), request).jobStats(_JOB_STATS_COMPLETED)
    return completed_timing(quietly(lambda: bounded(links.config.call_timeout_s, "job stats", ask)) or {})


def _failure(monitor: _Monitor, abort: threading.Event, error: Exception) -> tuple[MigrationOutcome, str]:
    if monitor.timed_out:
        return MigrationOutcome.TIMED_OUT, f"did not complete within {monitor.timeout_s:.0f} s; aborted ({error})"
    if abort.is_set():
        return MigrationOutcome.ABORTED, f"aborted on request ({error})"
    return MigrationOutcome.FAILED, str(error)


class _Monitor:
    """Polls jobStats on a second connection: progress, the completion timeout, abort requests."""

    def __init__(self, links: Connections, request: MigrationRequest, progress: ProgressCallback,
                 abort: threading.Event) -> None:
        self.links = links
        self.request = request
        self.progress = progress
        self.abort = abort
        self.timeout_s = request.timeout_s
        self.timed_out = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"watch-{request.vm}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=1)  # a monitor stuck in a hung libvirt call is abandoned (a daemon thread)

    def _watch(self) -> None:
        try:
            connection = self.links.open(self.request.source)
            domain = self.links.lookup(connection, self.request)
        except Exception:
            # No progress can be watched, but the timeout must still hold: the waiter in
            # `_wait` gives up at the completion timeout plus the abort grace.
            return
        try:
            self._poll(domain)
        finally:
            close(connection)

    def _poll(self, domain: Any) -> None:
        began = time.monotonic()
        switched = False
        config = self.links.config
        while not self._done.wait(config.progress_interval_s):
            if self.abort.is_set():
                quietly(domain.abortJob)
                continue
            stats = quietly(domain.jobStats) or {}
            if stats:
                self.progress(progress_from_stats(self.request.vm, stats))
            step = timeout_step(time.monotonic() - began, self.timeout_s, config, switched)
            if step is TimeoutStep.POST_COPY:
                switched = quietly(lambda: domain.migrateStartPostCopy(0) or True) is True
                if not switched:
                    self.timed_out = True
                    quietly(domain.abortJob)
            elif step is TimeoutStep.ABORT:
                self.timed_out = True
                quietly(domain.abortJob)
