"""PagerDuty's settings: its credentials from the environment (``SPEC``, in ``__init__.py``, says
how to read them and build the source: here it would make an import cycle with the client)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from slackgenie.environment import required_secret, url_var

DEFAULT_URL = "https://api.pagerduty.com"


@dataclass(frozen=True)
class PagerDutySecrets:
    api_token: SecretStr
    api_url: str

    def values(self) -> list[str]:
        return [self.api_token.get_secret_value()]


def load(env: Mapping[str, str], block: object = None) -> PagerDutySecrets:
    token = required_secret(env, "PAGERDUTY_API_TOKEN", "a PagerDuty REST API key (read-only is enough to sync)")
    return PagerDutySecrets(SecretStr(token), url_var(env, "PAGERDUTY_API_URL", DEFAULT_URL).rstrip("/"))
