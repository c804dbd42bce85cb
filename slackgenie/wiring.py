"""Wiring: one validated Config -> the clients and the Reconciler that use them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import structlog
from slack_sdk import WebClient

from slackgenie.core.clock import Clock, RealClock
from slackgenie.engine.daemon import BACKLOG_GUARD
from slackgenie.settings import Config
from slackgenie.engine.headsup import HeadsUps
from slackgenie.telemetry.metrics import Metrics
from slackgenie.core.model import Action, GroupOutcome, GroupPlan, PassReport, ReadFailure
from slackgenie.core.shifts import covered, gaps
from slackgenie.engine.reconcile import Reconciler
from slackgenie.slack.client import make_web_client
from slackgenie.slack.directory import Directory
from slackgenie.slack.notify import Notifier
from slackgenie.slack.pacer import TIERS, Pacer
from slackgenie.slack.target import WRITE, SlackTarget
from slackgenie.retry import Stop
from slackgenie.core.facts import LockUnavailable, StateNotSaved
from slackgenie.engine.state import Busy, StateStore
from slackgenie.sources.providers import PROVIDERS
from slackgenie.sources.routed import RoutedSource

log = structlog.get_logger("slackgenie.wiring")

GAPS_EVERY = 900.0  # seconds between two reads of every schedule's coverage, for the gap metric
GAPS_AHEAD = timedelta(days=7)


@dataclass
class Service:
    config: Config
    slack: WebClient
    metrics: Metrics
    reconciler: Reconciler
    clock: Clock
    state: StateStore
    source: RoutedSource  # who should be on call, by schedule key: what the app, status and check ask too
    directory: Directory  # people <-> Slack users, shared with the app
    headsups: HeadsUps
    stop: Stop  # asked on SIGTERM/SIGINT: every client, the pacer and the pass see it
    _gaps_read: float = field(default=float("-inf"), init=False)

    @property
    def schedule_keys(self) -> list[str]:
        return sorted({key for s in self.config.syncs for key in s.keys})

    def run_pass(self, dry_run: bool = False, at: datetime | None = None) -> PassReport:
        """One pass, measured; its on-call answers also check the handoff forecast. A pass that
        writes holds the cross-process pass lock, so overlapping runs take turns."""
        began = time.monotonic()
        if dry_run or at is not None:
            report = self.reconciler.run_pass(dry_run=dry_run, at=at)
        else:
            self.headsups.prefetch(self.clock.now())  # beside the pass's reads, not after them
            until = began + self.config.file.pass_deadline  # the lock's wait counts too
            try:
                with self.state.exclusive(timeout=self.config.file.pass_deadline):
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
        self.metrics.observe_pass(report, time.monotonic() - began)
        if at is None:
            self.source.observe(report.reads, report.started)
        return report

    def run_through_backlog(self, budget: float | None, report_to: Callable[[PassReport], None],
                            waiting: Callable[[PassReport, float], None] | None = None) -> PassReport:
        """A pass, then, while Slack's rate limit has writes queued, a wait for it and another
        pass (which writes them, oldest first): what a one-shot ``sync`` does. ``budget``:
        seconds it may wait in all (default: what the first backlog needs, at most an hour)."""
        report = self.run_pass()
        report_to(report)
        etas = [o.queued_in for o in report.outcomes if o.queued_in is not None]
        if budget is None:
            budget = min(3600.0, max(etas, default=0.0) * 1.5 + 120)
        stop_waiting = time.monotonic() + budget
        while report.backlog_in is not None and not self.stop.is_set():
            wait = report.backlog_in + BACKLOG_GUARD
            if time.monotonic() + wait > stop_waiting:
                break
            if waiting is not None:
                waiting(report, wait)
            if self.stop.wait(wait):
                break
            report = self.run_pass()
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

    def watch_gaps(self, wait: bool = False) -> None:
        """For the daemon, every ``GAPS_EVERY`` seconds: when the next gap in coverage starts in
        each schedule, as a metric (so an alert can show a hole before it opens). Read on its own
        thread (``wait``: on this one), never holding up a pass; one read at a time."""
        if time.monotonic() - self._gaps_read < GAPS_EVERY:
            return
        self._gaps_read = time.monotonic()
        if wait:
            self._read_gaps()
        else:
            threading.Thread(target=self._read_gaps, name="coverage", daemon=True).start()

    def _read_gaps(self) -> None:
        try:
            self._gap_metric()
        except Exception as exc:  # a metric must never stop the sync
            log.warning("coverage.unreadable", error=f"{type(exc).__name__}: {exc}", effect="gap metrics unchanged")

    def _gap_metric(self) -> None:
        now = self.clock.now().replace(microsecond=0)
        found = self.source.stretches(self.schedule_keys, now, now + GAPS_AHEAD)
        next_gap: dict[str, float | None] = {}
        for key, got in found.items():
            if isinstance(got, ReadFailure):
                log.warning("coverage.unreadable", schedule=key, error=got.error, effect="its gap metric is unchanged")
                continue
            future = [a for a, _ in gaps(covered(got), now, now + GAPS_AHEAD) if a > now]
            next_gap[key] = future[0].timestamp() if future else None
        self.metrics.gaps(next_gap)

    def next_handoff(self, after: datetime) -> datetime | None:
        """The daemon's next wake-up for the schedules: a handoff, or a heads-up falling due."""
        moments = [self.source.next_handoff(self.schedule_keys, after), self.headsups.next_at(after)]
        return min((m for m in moments if m is not None), default=None)

    def close(self) -> None:
        self.headsups.close()
        self.source.close()


def sources(config: Config, clock: Clock, observer: Metrics | None, stop: Stop) -> RoutedSource:
    """One source per provider some sync reads (the only ones with credentials)."""
    return RoutedSource({name: PROVIDERS[name].build(secrets, config.source_options(name), clock, observer, stop)
                         for name, secrets in config.secrets.providers.items()})


def build(config: Config, metrics: Metrics | None = None, clock: Clock | None = None) -> Service:
    policy = config.file.retry
    secrets = config.secrets
    clock = clock or RealClock()
    metrics = metrics or Metrics(config.file.interval)
    metrics.expect_groups(s.usergroup for s in config.syncs)
    stop = Stop()
    # shared by every write of this process
    pacer = Pacer({**TIERS, WRITE: config.file.slack_writes_per_minute}, stop=stop)
    slack = make_web_client(secrets.slack_bot_token, secrets.slack_api_url, policy, observer=metrics, pacer=pacer,
                            stop=stop)
    # Relative paths are taken from the working directory: the config often sits read-only in
    # /etc or a ConfigMap, while the service runs in a writable state directory.
    cache = Path(config.file.cache_file) if config.file.cache_file else None
    directory = Directory(slack, cache)
    source = sources(config, clock, metrics, stop)
    state = StateStore(Path(config.file.state_file), clock.now)
    notifier = Notifier(slack, directory, state, lambda keys: source.next_handoff(keys, clock.now()), clock.now)
    reconciler = Reconciler(config, source, SlackTarget(slack, directory, pacer), directory, notifier, clock.now, stop)
    headsups = HeadsUps(config, source, slack, directory, state, clock.monotonic, clock.now)
    return Service(config, slack, metrics, reconciler, clock, state, source, directory, headsups, stop)
