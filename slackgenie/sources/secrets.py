"""A provider's credentials when they are one key at one address (Opsgenie, PagerDuty), read
from the environment the same way (exit 2 naming the variable)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from slackgenie.environment import required_secret, url_var


@dataclass(frozen=True)
class ApiKey:
    key: SecretStr
    api_url: str

    def values(self) -> list[str]:
        return [self.key.get_secret_value()]


def api_key(env: Mapping[str, str], name: str, hint: str, url_name: str, default_url: str) -> ApiKey:
    """The key in ``name`` (``hint``: what it must be) and the API's address in ``url_name``."""
    return ApiKey(SecretStr(required_secret(env, name, hint)), url_var(env, url_name, default_url).rstrip("/"))
