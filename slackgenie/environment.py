"""The environment: where credentials and addresses come from, and the one error every bad
setting raises (``ConfigError``: exit code 2, naming where, what and the fix, before any API call).

Below ``settings.py`` and the providers alike: each provider reads its own credentials with these
helpers (``sources/<provider>/settings.py``); Slack's variables are read here, through one
pydantic-settings model (``SlackEnvironment``), and ``settings.py`` reads the YAML file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

SECRET_RE = re.compile(r"^[\x21-\x7e]+$")
DEFAULT_SLACK_URL = "https://slack.com/api/"


class ConfigError(Exception):
    """A usage or configuration problem: exit code 2, reported before any API call."""

    def __init__(self, source: str, key: str, problem: str, fix: str):
        self.source, self.key, self.problem, self.fix = source, key, problem, fix
        super().__init__(f"{source}: {key}: {problem}\n  fix: {fix}")


class ProviderSecrets(Protocol):
    """One provider's credentials (each provider package defines its own)."""

    def values(self) -> list[str]:
        """Its secret values, in every form they travel in."""


def environment(cwd: Path | None = None) -> dict[str, str]:
    """The process environment over a ``.env`` file in the working directory (real variables win)."""
    env_file = (cwd or Path.cwd()) / ".env"
    merged: dict[str, str] = {}
    if env_file.is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ)
    return merged


def checked_secret(name: str, raw: object) -> str:
    """A secret's value ("" when unset), refused (without being shown) if it holds a space, a line
    break or a control character: such a value breaks the HTTP header it goes into, and the error
    that follows would print it."""
    value = (raw if isinstance(raw, str) else "").strip()
    if value and not SECRET_RE.match(value):
        raise ConfigError("environment", name, "contains a space, line break or control character",
                          f"copy {name} again: one line, no quotes or spaces around or inside it")
    if value and len(value) < 8:  # too short to be real, and too short to redact wherever it is echoed
        raise ConfigError("environment", name, "is too short to be a real credential",
                          f"copy {name} again, whole")
    return value


def optional_secret(env: Mapping[str, str], name: str) -> str:
    """A secret's value from ``env`` ("" when unset), checked as ``checked_secret`` says."""
    return checked_secret(name, env.get(name))


def required_secret(env: Mapping[str, str], name: str, hint: str) -> str:
    """A secret the configuration needs: exit 2 naming the variable when it is not set."""
    return _required(name, env.get(name), hint)


def checked_url(name: str, raw: object, default: str) -> str:
    value = ((raw if isinstance(raw, str) else "") or default).strip()
    if not re.match(r"^https?://[^\s/]+", value):  # the value is not shown: a key may have been pasted here
        raise ConfigError("environment", name, "is not an http(s) URL", f"set {name} to e.g. {default}")
    return value


def url_var(env: Mapping[str, str], name: str, default: str) -> str:
    return checked_url(name, env.get(name), default)


def _required(name: str, raw: object, hint: str) -> str:
    value = checked_secret(name, raw)
    if not value:
        raise ConfigError("environment", name, "is not set",
                          f"set {name} in the environment or in .env ({hint}; see .env.example)")
    return value


class SlackEnvironment(BaseSettings):
    """Slack's variables. Each bad value raises ``ConfigError`` (never pydantic's own error, so
    the words are ours), in this order: the fields as declared, then how they fit together.
    Read from the environment handed in (``environment()``: ``.env`` under the process's), never
    from ``os.environ`` behind the caller's back: ``read`` is the one way in."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    bot_token: SecretStr = Field(SecretStr(""), validation_alias="SLACK_BOT_TOKEN", validate_default=True)
    api_url: str = Field("", validation_alias="SLACK_API_URL", validate_default=True)
    signing_secret: SecretStr | None = Field(None, validation_alias="SLACK_SIGNING_SECRET", validate_default=True)
    app_token: SecretStr | None = Field(None, validation_alias="SLACK_APP_TOKEN", validate_default=True)
    app_bot_token: SecretStr | None = Field(None, validation_alias="SLACK_APP_BOT_TOKEN", validate_default=True)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)  # what ``read`` hands in, and nothing else

    @classmethod
    def read(cls, env: Mapping[str, str]) -> SlackEnvironment:
        names = [f.validation_alias for f in cls.model_fields.values()]
        given: dict[str, Any] = {name: env[name] for name in names if isinstance(name, str) and name in env}
        return cls(**given)

    @field_validator("bot_token", mode="before")
    @classmethod
    def _bot_token(cls, raw: object) -> str:
        token = _required("SLACK_BOT_TOKEN", raw, "a Slack bot (xoxb-) or user (xoxp-) token")
        if not token.startswith(("xoxb-", "xoxp-")):
            raise ConfigError("environment", "SLACK_BOT_TOKEN", "does not look like a bot or user token",
                              "use the Bot User OAuth Token (xoxb-…) or a user token (xoxp-…)")
        return token

    @field_validator("api_url", mode="before")
    @classmethod
    def _api_url(cls, raw: object) -> str:
        url = checked_url("SLACK_API_URL", raw, DEFAULT_SLACK_URL)
        return url if url.endswith("/") else url + "/"

    @field_validator("signing_secret", "app_token", "app_bot_token", mode="before")
    @classmethod
    def _optional(cls, raw: object, info: ValidationInfo) -> str | None:
        name = str(cls.model_fields[info.field_name or ""].validation_alias)
        value = checked_secret(name, raw)
        if value and name == "SLACK_APP_BOT_TOKEN" and not value.startswith("xoxb-"):
            raise ConfigError("environment", name, "is not a bot token",
                              "use the app's Bot User OAuth Token (xoxb-…)")
        return value or None

    @model_validator(mode="after")
    def _together(self) -> SlackEnvironment:
        token = self.bot_token.get_secret_value()
        if (self.signing_secret or self.app_token) and token.startswith("xoxp-") and not self.app_bot_token:
            raise ConfigError("environment", "SLACK_BOT_TOKEN",
                              "is a user token (xoxp-): it may change user groups, but the Slack app needs a bot "
                              "token to answer mentions and publish the App Home",
                              "also set SLACK_APP_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-…)")
        if self.app_token and not self.app_token.get_secret_value().startswith("xapp-"):
            raise ConfigError("environment", "SLACK_APP_TOKEN", "is not an app-level token",
                              "use the app-level token (xapp-…) with connections:write from Basic Information")
        return self
