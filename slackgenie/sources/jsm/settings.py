"""JSM Ops credentials and addresses from the environment: the Atlassian site (Jira's user API,
and where the cloud id is read), the account's e-mail and API token, the Ops API's host."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictInt

from slackgenie.core.ids import UUID
from slackgenie.environment import ConfigError, required_secret, url_var
DEFAULT_API_URL = "https://api.atlassian.com"


class JsmOptions(BaseModel):
    """The file's `jsm:` block: how JSM Ops is read (it has no all-schedules on-call answer: each
    schedule costs a call)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recheck: StrictInt = Field(300, ge=0, le=3600,
                               description="seconds a schedule's on-call answer is reused while its timeline "
                                           "foresees no handoff (0: read every schedule every pass)")


@dataclass(frozen=True)
class JsmSecrets:
    site_url: str  # https://acme.atlassian.net: Jira's user API, and the cloud id
    email: str
    api_token: SecretStr
    api_url: str  # https://api.atlassian.com: the JSM Ops API
    cloud_id: str | None = None  # otherwise read from {site_url}/_edge/tenant_info

    def basic(self) -> str:
        """The Basic credential as it travels (base64): a secret too, wherever it is echoed."""
        return base64.b64encode(f"{self.email}:{self.api_token.get_secret_value()}".encode()).decode()

    def values(self) -> list[str]:
        return [self.api_token.get_secret_value(), self.basic()]


def load(env: Mapping[str, str], block: object = None) -> JsmSecrets:
    site = (env.get("JSM_SITE_URL") or "").strip()
    if not site:
        raise ConfigError("environment", "JSM_SITE_URL", "is not set",
                          "set JSM_SITE_URL to your Atlassian site, e.g. https://acme.atlassian.net")
    site = url_var(env, "JSM_SITE_URL", "https://acme.atlassian.net").rstrip("/")
    parts = urlsplit(site)
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ConfigError("environment", "JSM_SITE_URL", "has a path: it must name the site alone",
                          "set JSM_SITE_URL to the site's root, e.g. https://acme.atlassian.net")
    email = (env.get("JSM_EMAIL") or "").strip()
    if not re.match(r"^[^@\s:]+@[^@\s:]+$", email):
        raise ConfigError("environment", "JSM_EMAIL", "is not set" if not email else "is not an e-mail address",
                          "set JSM_EMAIL to the e-mail of the Atlassian account that owns JSM_API_TOKEN")
    token = required_secret(env, "JSM_API_TOKEN", "an Atlassian API token of that account (id.atlassian.com → API tokens)")
    cloud_id = (env.get("JSM_CLOUD_ID") or "").strip() or None
    if cloud_id is not None and not UUID.match(cloud_id):
        raise ConfigError("environment", "JSM_CLOUD_ID", "is not a cloud id (a UUID)",
                          "unset it (it is read from the site), or copy the id from admin.atlassian.com")
    return JsmSecrets(site, email, SecretStr(token), url_var(env, "JSM_API_URL", DEFAULT_API_URL).rstrip("/"), cloud_id)
