"""PagerDuty's settings: its key and address from the environment (``SPEC``, in ``__init__.py``, says
how to read them and build the source: here it would make an import cycle with the client)."""

from __future__ import annotations

from collections.abc import Mapping

from slackgenie.sources.secrets import ApiKey, api_key

DEFAULT_URL = "https://api.pagerduty.com"

PagerDutySecrets = ApiKey


def load(env: Mapping[str, str], block: object = None) -> ApiKey:
    return api_key(env, "PAGERDUTY_API_TOKEN", "a PagerDuty REST API key (read-only is enough to sync)",
                   "PAGERDUTY_API_URL", DEFAULT_URL)
