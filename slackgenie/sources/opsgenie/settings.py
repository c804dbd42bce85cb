"""Opsgenie's settings from the environment (an API key, the API's address) and the provider's
entry for the registry (``SPEC``): how to read them and how to build the source from them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from slackgenie.core.clock import Clock
from slackgenie.retry import ApiObserver, Stop
from slackgenie.environment import required_secret, url_var
from slackgenie.sources.base import ProviderSpec, SourceOptions
from slackgenie.sources.opsgenie.client import OpsgenieClient
from slackgenie.sources.opsgenie.source import OpsgenieSource


DEFAULT_URL = "https://api.opsgenie.com"


@dataclass(frozen=True)
class OpsgenieSecrets:
    api_key: SecretStr
    api_url: str

    def values(self) -> list[str]:
        return [self.api_key.get_secret_value()]


def load(env: Mapping[str, str], block: object = None) -> OpsgenieSecrets:
    key = required_secret(env, "OPSGENIE_API_KEY", "an Opsgenie API key with read access")
    return OpsgenieSecrets(SecretStr(key), url_var(env, "OPSGENIE_API_URL", DEFAULT_URL).rstrip("/"))


def build(secrets: OpsgenieSecrets, options: SourceOptions, clock: Clock, observer: ApiObserver | None,
          stop: Stop) -> OpsgenieSource:
    client = OpsgenieClient(secrets.api_url, secrets.api_key, options.retry, observer=observer, stop=stop)
    return OpsgenieSource(client, options.concurrency, clock.now)


SPEC = ProviderSpec("opsgenie", load, build, credentials="OPSGENIE_API_KEY",
                    urls="OPSGENIE_API_URL (EU accounts: https://api.eu.opsgenie.com)")
