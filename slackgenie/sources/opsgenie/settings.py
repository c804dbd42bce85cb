"""Opsgenie's settings: its API key and address from the environment (``SPEC``, in ``__init__.py``,
says how to read them and build the source)."""

from __future__ import annotations

from collections.abc import Mapping

from slackgenie.sources.secrets import ApiKey, api_key

DEFAULT_URL = "https://api.opsgenie.com"

OpsgenieSecrets = ApiKey


def load(env: Mapping[str, str], block: object = None) -> ApiKey:
    return api_key(env, "OPSGENIE_API_KEY", "an Opsgenie API key with read access", "OPSGENIE_API_URL", DEFAULT_URL)
