"""Wiring: one validated Config -> the clients and the Reconciler that use them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from slack_sdk import WebClient

from slackgenie.clock import Clock, RealClock
from slackgenie.daemon import BACKLOG_GUARD
from slackgenie.config import Config
from slackgenie.metrics import Metrics
from slackgenie.model import Action, GroupOutcome, GroupPlan, PassReport
from slackgenie.reconcile import Reconciler
from slackgenie.slack.client import make_web_client
from slackgenie.slack.directory import Directory
from slackgenie.slack.notify import Notifier
from slackgenie.slack.pacer import TIERS, Pacer
from slackgenie.slack.target import WRITE, SlackTarget
from slackgenie.retry import STOPPING
from slackgenie.state import Busy, StateStore
from slackgenie.sources.providers import PROVIDERS
from slackgenie.sources.routed import RoutedSource


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
            try:
                with self.state.exclusive(timeout=self.config.file.pass_deadline):
                    report = self.reconciler.run_pass()
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
        while report.backlog_in is not None and not STOPPING.is_set():
            wait = report.backlog_in + BACKLOG_GUARD
            if time.monotonic() + wait > stop_waiting:
                break
            if waiting is not None:
                waiting(report, wait)
            if STOPPING.wait(wait):
                break
            report = self.run_pass()
            report_to(report)
        return report

    def next_handoff(self, after: datetime) -> datetime | None:
        return self.source.next_handoff(self.schedule_keys, after)

    def close(self) -> None:
        self.source.close()


def sources(config: Config, clock: Clock, observer: Metrics | None = None) -> RoutedSource:
    """One source per provider some sync reads (the only ones with credentials)."""
    return RoutedSource({name: PROVIDERS[name].build(secrets, config, clock, observer)
                         for name, secrets in config.secrets.providers.items()})


def build(config: Config, metrics: Metrics | None = None, clock: Clock | None = None) -> Service:
    policy = config.file.retry
    secrets = config.secrets
    clock = clock or RealClock()
    metrics = metrics or Metrics(config.file.interval)
    metrics.expect_groups(s.usergroup for s in config.syncs)
    pacer = Pacer({**TIERS, WRITE: config.file.slack_writes_per_minute})  # shared by every write of this process
    slack = make_web_client(secrets.slack_bot_token, secrets.slack_api_url, policy, observer=metrics, pacer=pacer)
    # Relative paths are taken from the working directory: the config often sits read-only in
    # /etc or a ConfigMap, while the service runs in a writable state directory.
    cache = Path(config.file.cache_file) if config.file.cache_file else None
    directory = Directory(slack, cache)
    source = sources(config, clock, metrics)
    state = StateStore(Path(config.file.state_file))
    notifier = Notifier(slack, directory, state, lambda keys: source.next_handoff(keys, clock.now()))
    reconciler = Reconciler(config, source, SlackTarget(slack, directory, pacer), directory, notifier, clock.now)
    return Service(config, slack, metrics, reconciler, clock, state, source, directory)
