"""Calendar feeds' settings: the file's ``ical:`` block (each feed by name: where its address is,
how people are read, how often it is read), and the feeds' addresses read from the environment.

A feed's address is a credential (most carry a token in the path or the query): it is read from
the variable ``url_env`` names, never shown in an error, and handed to the redaction with the
parts of it a server may echo (``IcalSecrets.values``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictInt, field_validator, model_validator

from slackgenie.environment import ConfigError, required_secret

DEFAULT_REFRESH = 300
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FEED_NAME = re.compile(r"^[^\s:][^:]*$")  # a schedule reference: no colon (``ical:payments`` is its key)
_ADDRESS = re.compile(r"^(https?|webcals?)://[^\s/?#]+[^\s]*$", re.I)
_SECRET_PART = 16  # a path segment or query value this long is taken for a token, and hidden too


class FeedOptions(BaseModel):
    """One feed under ``ical.feeds``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url_env: str | None = Field(None, description="the environment variable holding the feed's secret address")
    url: str | None = Field(None, description="the feed's address, where it is not secret")
    person: Literal["attendee", "summary"] = Field("attendee", description="who is on call: each event's ATTENDEE "
                                                                           "e-mails, or the person its SUMMARY names")
    pattern: str | None = Field(None, description="with person: summary, a regular expression whose (?P<person>…) "
                                                  "group names who is on call in the SUMMARY")
    refresh: StrictInt = Field(DEFAULT_REFRESH, ge=30, le=86400, description="seconds between reads of the feed")

    @field_validator("url_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME.match(value.strip()):
            raise ValueError(f"{value!r} is not an environment variable's name (letters, digits and _)")
        return value.strip() if value is not None else None

    @field_validator("url")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not _ADDRESS.match(value.strip()):  # not shown: a secret may have been pasted here
            raise ValueError("is not an https://, http:// or webcal:// address")
        return value.strip() if value is not None else None

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
        if "person" not in compiled.groupindex:
            raise ValueError(f"{value!r} has no (?P<person>...) group naming who is on call")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> FeedOptions:
        if (self.url_env is None) == (self.url is None):
            raise ValueError("give either url_env (the variable holding the feed's secret address) or url, not "
                             + ("both" if self.url_env else "neither"))
        if self.pattern is not None and self.person != "summary":
            raise ValueError("pattern reads the SUMMARY: it needs person: summary")
        return self

    @property
    def compiled(self) -> re.Pattern[str] | None:
        return re.compile(self.pattern) if self.pattern is not None else None


class IcalOptions(BaseModel):
    """The file's ``ical:`` block: the feeds, by the names syncs give them in ``schedules``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feeds: dict[str, FeedOptions] = Field(default_factory=dict, description="feed name -> where and how to read it")

    @field_validator("feeds")
    @classmethod
    def _names(cls, feeds: dict[str, FeedOptions]) -> dict[str, FeedOptions]:
        out: dict[str, FeedOptions] = {}
        for name, feed in feeds.items():
            key = str(name).strip()
            if not FEED_NAME.match(key):
                raise ValueError(f"{name!r} is not a feed name: give it a name without a colon")
            if key in out:
                raise ValueError(f"the feed {key!r} is named twice (the names differ only in spaces); keep one")
            out[key] = feed
        return out


@dataclass(frozen=True)
class FeedAddress:
    """Where one feed is read from: ``webcal://`` already read as ``https://``."""

    url: SecretStr
    given: SecretStr  # as written, for the redaction
    variable: str | None  # the variable it came from (None: the file's ``url:``)


@dataclass(frozen=True)
class IcalSecrets:
    """Each feed's address, by feed name."""

    feeds: Mapping[str, FeedAddress]

    def values(self) -> list[str]:
        """Each address as given and as fetched, and the parts of it a server may echo in an error
        (its path and query, and any segment or value long enough to be a token)."""
        out: list[str] = []
        for address in self.feeds.values():
            for url in (address.given.get_secret_value(), address.url.get_secret_value()):
                parts = urlsplit(url)
                out += [url, parts.path, parts.query, parts.path + ("?" + parts.query if parts.query else "")]
                out += [s for s in parts.path.split("/") if len(s) >= _SECRET_PART]
                out += [v for _, v in parse_qsl(parts.query) if len(v) >= _SECRET_PART]
        return [v for v in dict.fromkeys(out) if len(v) >= _SECRET_PART or v.startswith(("http", "webcal"))]


def fetched_form(url: str) -> str:
    """``webcal://`` (and ``webcals://``) as ``https://``: the scheme only says "subscribe over HTTP"."""
    scheme, sep, rest = url.partition("://")
    return f"https://{rest}" if scheme.lower() in ("webcal", "webcals") else url


def load(env: Mapping[str, str], block: object = None) -> IcalSecrets:
    """Each feed's address: its ``url_env`` variable (exit 2 naming it when unset or not an
    address; its value never shown), or its ``url``."""
    options = block if isinstance(block, IcalOptions) else IcalOptions()
    if not options.feeds:
        raise ConfigError("configuration", "ical.feeds", "no feed is configured, but a sync reads provider: ical",
                          "add each feed under ical.feeds, e.g. payments: {url_env: PAYMENTS_ICS_URL}")
    feeds: dict[str, FeedAddress] = {}
    for name, feed in options.feeds.items():
        if feed.url_env is None:
            given = feed.url or ""
        else:
            given = required_secret(env, feed.url_env, f"the address of the calendar feed {name!r}")
            if not _ADDRESS.match(given):
                raise ConfigError("environment", feed.url_env, "is not an https://, http:// or webcal:// address",
                                  f"set {feed.url_env} to the feed's address as its calendar shares it "
                                  "(its secret iCal / webcal link)")
        feeds[name] = FeedAddress(SecretStr(fetched_form(given)), SecretStr(given), feed.url_env)
    return IcalSecrets(feeds)


def check_schedules(block: object, refs: Collection[str]) -> None:
    """Every schedule an ``ical`` sync names is a feed under ``ical.feeds`` (exit 2 naming the
    first that is not, and the fix). For settings.py to call once the file is read: a block
    cannot see the syncs."""
    options = block if isinstance(block, IcalOptions) else IcalOptions()
    for ref in refs:
        if ref not in options.feeds:
            known = ", ".join(sorted(options.feeds)) or "none"
            raise ConfigError("configuration", "syncs[].schedules", f"{ref!r} is not a feed under ical.feeds "
                              f"(feeds: {known})", f"add {ref!r} under ical.feeds, or correct the schedule's name")
