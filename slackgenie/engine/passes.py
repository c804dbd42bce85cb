"""A pass as a running service makes it: measured; a pass that writes holds the cross-process pass
lock (overlapping runs take turns) and sends the heads-ups due within it; and, for the one-shot,
the passes that write what Slack's rate limit queued."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import structlog

from slackgenie.core.clock import Clock
from slackgenie.core.facts import Busy, FactStore, LockUnavailable, StateNotSaved
from slackgenie.core.model import Action, GroupOutcome, GroupPlan, PassReport
from slackgenie.engine.daemon import BACKLOG_GUARD
from slackgenie.engine.headsup import HeadsUps
from slackgenie.engine.reconcile import Reconciler
from slackgenie.retry import Stop
from slackgenie.sources.routed import RoutedSource
from slackgenie.telemetry.metrics import Metrics

log = structlog.get_logger("slackgenie.engine.passes")

Waiting = Callable[[PassReport, float], None]


class Passes:
    def __init__(self, reconciler: Reconciler, headsups: HeadsUps, state: FactStore, source: RoutedSource,
                 metrics: Metrics, clock: Clock, stop: Stop):
        self.reconciler, self.headsups, self.state, self.source = reconciler, headsups, state, source
        self.metrics, self.clock, self.stop = metrics, clock, stop
        self.config = reconciler.config

    def run(self, dry_run: bool = False, at: datetime | None = None) -> PassReport:
        """One pass, measured; its on-call answers also check the handoff forecast. A pass that
        writes holds the cross-process pass lock, so overlapping runs take turns."""
        began = time.monotonic()
        if dry_run or at is not None:
            report = self.reconciler.run_pass(dry_run=dry_run, at=at)
        else:
            report = self._locked(began)
        self.metrics.observe_pass(report, time.monotonic() - began)
        if at is None:
            self.source.observe(report.reads, report.started)
        return report

    def _locked(self, began: float) -> PassReport:
        deadline = self.config.file.pass_deadline
        self.headsups.prefetch(self.clock.now())  # beside the pass's reads, not after them
        until = began + deadline  # the lock's wait counts too
        try:
            with self.state.exclusive(timeout=deadline):
                report = self.reconciler.run_pass(until=until)
                report.notes += self._heads_ups(report, until)
        except LockUnavailable as exc:
            # No lock can be had here (a read-only volume): the groups are synced all the
            # same (writes are level-triggered); nothing that must happen once is done.
            report = self.reconciler.run_pass(notify=False, until=until)
            report.faults.append(f"{exc}: the groups were synced; announcements, topics and heads-ups stop "
                                 "until it can be opened")
        except Busy as exc:
            report = PassReport(outcomes=[GroupOutcome(GroupPlan(handle=s.usergroup, action=Action.FAILED,
                                                                 errors=(f"{exc}; group left as it is",)))
                                          for s in self.config.syncs],
                                dry_run=False, started=self.clock.now(), ran=False)
        return report

    def through_backlog(self, budget: float | None, report_to: Callable[[PassReport], None],
                        waiting: Waiting | None = None, may_write: Callable[[], bool] = lambda: True) -> PassReport:
        """A pass, then, while Slack's rate limit has writes queued, a wait for it and another
        pass (which writes them, oldest first): what a one-shot ``sync`` does. ``budget``:
        seconds it may wait in all (default: what the first backlog needs, at most an hour);
        ``may_write``: whether this process still writes (leader_election: it holds the lease)."""
        report = self.run()
        report_to(report)
        etas = [o.queued_in for o in report.outcomes if o.queued_in is not None]
        if budget is None:
            budget = min(3600.0, max(etas, default=0.0) * 1.5 + 120)
        stop_waiting = time.monotonic() + budget
        while report.backlog_in is not None and not self.stop.is_set() and may_write():
            wait = report.backlog_in + BACKLOG_GUARD
            if time.monotonic() + wait > stop_waiting:
                break
            if waiting is not None:
                waiting(report, wait)
            if self.stop.wait(wait) or not may_write():
                break
            report = self.run()
            report_to(report)
        return report

    def _heads_ups(self, report: PassReport, until: float) -> list[str]:
        """Heads-ups due now (within the pass lock: one process sends each), sent by the pass
        deadline (``until``, monotonic); those left are due still and wait for the next pass. A
        heads-up that could not be recorded is not sent, and fails the pass."""
        before = (self.headsups.sent, self.headsups.failed)
        try:
            notes = self.headsups.run(self.clock.now(), until)
        except StateNotSaved as exc:
            notes = []
            report.faults.append(f"{exc}: heads-ups stop until it can be saved")
        except Exception as exc:
            log.warning("headsup.run_failed", error=f"{type(exc).__name__}: {exc}")
            notes = [f"heads-ups not sent this pass: {type(exc).__name__}"]
        self.metrics.heads_ups(self.headsups.sent - before[0], self.headsups.failed - before[1])
        return notes
