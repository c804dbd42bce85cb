"""PagerDuty's settings: its credentials from the environment, and the ``ProviderSpec`` that tells
the rest of Slackgenie how to read them and how to build the source."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from slackgenie.core.clock import Clock
from slackgenie.retry import ApiObserver
from slackgenie.settings import Config, required_secret, url_var
from slackgenie.sources.base import ProviderSpec
from slackgenie.sources.pagerduty.client import PagerDutyClient
from slackgenie.sources.pagerduty.source import PagerDutySource

DEFAULT_URL = "https://api.pagerduty.com"


@dataclass(frozen=True)
class PagerDutySecrets:
    api_token: SecretStr
    api_url: str

    def values(self) -> list[str]:
        return [self.api_token.get_secret_value()]


def load(env: Mapping[str, str]) -> PagerDutySecrets:
    token = required_secret(env, "PAGERDUTY_API_TOKEN", "a PagerDuty REST API key (read-only is enough to sync)")
    return PagerDutySecrets(SecretStr(token), url_var(env, "PAGERDUTY_API_URL", DEFAULT_URL).rstrip("/"))


def build(secrets: PagerDutySecrets, config: Config, clock: Clock, observer: ApiObserver | None) -> PagerDutySource:
    return PagerDutySource(PagerDutyClient(secrets, config.file.retry, observer=observer), config.file.concurrency,
                           clock.now, user_map=config.file.users, pass_deadline=config.file.pass_deadline)


SPEC = ProviderSpec("pagerduty", load, build, credentials="PAGERDUTY_API_TOKEN",
                    urls="PAGERDUTY_API_URL (EU accounts: https://api.eu.pagerduty.com)")
