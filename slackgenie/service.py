"""Wiring: one validated Config -> the clients and the Reconciler that use them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from slack_sdk import WebClient

from slackgenie.config import Config
from slackgenie.metrics import Metrics
from slackgenie.model import PassReport
from slackgenie.reconcile import Reconciler
from slackgenie.slack.client import make_web_client
from slackgenie.slack.directory import Directory
from slackgenie.sources.opsgenie import OpsgenieClient, OpsgenieSource


@dataclass
class Service:
    config: Config
    opsgenie: OpsgenieClient
    slack: WebClient
    metrics: Metrics
    reconciler: Reconciler

    def run_pass(self, dry_run: bool = False, at: datetime | None = None) -> PassReport:
        """One pass, measured."""
        began = time.monotonic()
        report = self.reconciler.run_pass(dry_run=dry_run, at=at)
        self.metrics.observe_pass(report, time.monotonic() - began)
        return report

    def close(self) -> None:
        self.opsgenie.close()


def build(config: Config, metrics: Metrics | None = None) -> Service:
    policy = config.file.retry
    secrets = config.secrets
    metrics = metrics or Metrics()
    metrics.expect_groups(s.usergroup for s in config.syncs)
    opsgenie = OpsgenieClient(secrets.opsgenie_api_url, secrets.opsgenie_api_key, policy, observer=metrics)
    slack = make_web_client(secrets.slack_bot_token, secrets.slack_api_url, policy, observer=metrics)
    cache = Path(config.file.cache_file) if config.file.cache_file else None
    if cache is not None and not cache.is_absolute():
        cache = config.path.parent / cache
    directory = Directory(slack, cache)
    return Service(config, opsgenie, slack, metrics, Reconciler(config, OpsgenieSource(opsgenie), slack, directory))
