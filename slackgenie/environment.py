"""The environment: where credentials and addresses come from, and the one error every bad
setting raises (``ConfigError``: exit code 2, naming where, what and the fix, before any API call).

Below ``settings.py`` and the providers alike: each provider reads its own credentials with these
helpers (``sources/<provider>/settings.py``), and ``settings.py`` reads Slack's and the YAML file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from dotenv import dotenv_values

SECRET_RE = re.compile(r"^[\x21-\x7e]+$")


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


def optional_secret(env: Mapping[str, str], name: str) -> str:
    """A secret's value ("" when unset), refused (without being shown) if it holds a space, a line
    break or a control character: such a value breaks the HTTP header it goes into, and the error
    that follows would print it."""
    value = (env.get(name) or "").strip()
    if value and not SECRET_RE.match(value):
        raise ConfigError("environment", name, "contains a space, line break or control character",
                          f"copy {name} again: one line, no quotes or spaces around or inside it")
    if value and len(value) < 8:  # too short to be real, and too short to redact wherever it is echoed
        raise ConfigError("environment", name, "is too short to be a real credential",
                          f"copy {name} again, whole")
    return value


def required_secret(env: Mapping[str, str], name: str, hint: str) -> str:
    """A secret the configuration needs: exit 2 naming the variable when it is not set."""
    value = optional_secret(env, name)
    if not value:
        raise ConfigError("environment", name, "is not set",
                          f"set {name} in the environment or in .env ({hint}; see .env.example)")
    return value


def url_var(env: Mapping[str, str], name: str, default: str) -> str:
    value = (env.get(name) or default).strip()
    if not re.match(r"^https?://[^\s/]+", value):  # the value is not shown: a key may have been pasted here
        raise ConfigError("environment", name, "is not an http(s) URL", f"set {name} to e.g. {default}")
    return value
