"""Wiring: one validated Config -> the clients and the Reconciler that use them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from slackgenie.config import Config
from slackgenie.reconcile import Reconciler
from slackgenie.slack.client import make_web_client
from slackgenie.slack.directory import Directory
from slackgenie.sources.opsgenie import OpsgenieClient, OpsgenieSource


@dataclass
class Service:
    config: Config
    opsgenie: OpsgenieClient
    reconciler: Reconciler

    def close(self) -> None:
        self.opsgenie.close()


def build(config: Config) -> Service:
    policy = config.file.retry
    secrets = config.secrets
    opsgenie = OpsgenieClient(secrets.opsgenie_api_url, secrets.opsgenie_api_key, policy)
    slack = make_web_client(secrets.slack_bot_token, secrets.slack_api_url, policy)
    cache = Path(config.file.cache_file) if config.file.cache_file else None
    if cache is not None and not cache.is_absolute():
        cache = config.path.parent / cache
    directory = Directory(slack, cache)
    return Service(config, opsgenie, Reconciler(config, OpsgenieSource(opsgenie), slack, directory))
