"""Wiring: one validated Config -> the clients and the Reconciler that use them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from slack_sdk import WebClient

from slackgenie.clock import Clock, RealClock
from slackgenie.config import Config
from slackgenie.handoffs import Forecast
from slackgenie.metrics import Metrics
from slackgenie.model import Action, GroupOutcome, GroupPlan, PassReport
from slackgenie.reconcile import Reconciler
from slackgenie.slack.client import make_web_client
from slackgenie.slack.directory import Directory
from slackgenie.slack.notify import Notifier
from slackgenie.slack.target import SlackTarget
from slackgenie.state import Busy, StateStore
from slackgenie.sources.base import OnCallSource
from slackgenie.sources.opsgenie import OpsgenieClient, OpsgenieSource


@dataclass
class Service:
    config: Config
    opsgenie: OpsgenieClient
    slack: WebClient
    metrics: Metrics
    reconciler: Reconciler
    forecast: Forecast
    clock: Clock
    state: StateStore
    source: OnCallSource  # who should be on call: what the app, status and check ask too
    directory: Directory  # people <-> Slack users, shared with the app

    @property
    def schedule_refs(self) -> list[str]:
        return sorted({ref for s in self.config.syncs for ref in s.schedules})

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
            self.forecast.observe(report.reads, report.started)
        return report

    def next_handoff(self, after: datetime) -> datetime | None:
        return self.forecast.next_handoff(self.schedule_refs, after)

    def close(self) -> None:
        self.opsgenie.close()


def build(config: Config, metrics: Metrics | None = None, clock: Clock | None = None) -> Service:
    policy = config.file.retry
    secrets = config.secrets
    clock = clock or RealClock()
    metrics = metrics or Metrics(config.file.interval)
    metrics.expect_groups(s.usergroup for s in config.syncs)
    opsgenie = OpsgenieClient(secrets.opsgenie_api_url, secrets.opsgenie_api_key, policy, observer=metrics)
    slack = make_web_client(secrets.slack_bot_token, secrets.slack_api_url, policy, observer=metrics)
    # Relative paths are taken from the working directory: the config often sits read-only in
    # /etc or a ConfigMap, while the service runs in a writable state directory.
    cache = Path(config.file.cache_file) if config.file.cache_file else None
    directory = Directory(slack, cache)
    source = OpsgenieSource(opsgenie, config.file.concurrency)
    forecast = Forecast(source.schedules, clock.now, fetch_overrides=source.overrides)
    state = StateStore(Path(config.file.state_file))
    notifier = Notifier(slack, directory, state,
                        lambda refs: forecast.next_handoff(refs, clock.now()))
    reconciler = Reconciler(config, source, SlackTarget(slack, directory), directory, notifier, clock.now)
    return Service(config, opsgenie, slack, metrics, reconciler, forecast, clock, state, source, directory)
