"""What ``check`` asks of Slack, read into typed values: who the token is and which scopes it
holds (``auth.test``'s answer and its ``x-oauth-scopes`` header), whether the user groups can be
read, and which scopes Slackgenie needs for what it is configured to do."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from slackgenie.core.model import ActualGroup
from slackgenie.slack.client import error_code
from slackgenie.slack.usergroups import list_groups

REQUIRED_SCOPES = {
    "usergroups:read": "read user groups and their members",
    "usergroups:write": "set a group's members",
    "users:read": "read users",
    "users:read.email": "match on-call people's e-mails to Slack users",
}

HEADS_UP_SCOPES = {  # only when some sync has `heads_up`
    "im:write": "open a direct message for each heads-up",
    "chat:write": "send the heads-up DMs",
}


def needed_scopes(heads_up: bool) -> dict[str, str]:
    """The scopes Slackgenie cannot work without (scope -> what for)."""
    return {**REQUIRED_SCOPES, **(HEADS_UP_SCOPES if heads_up else {})}


def history_scopes(announce: bool, heads_up: bool) -> dict[str, str]:
    """The scopes that let a pass look for a post whose answer was lost (slack/delivery.py):
    without them such a post is not repeated (at most once)."""
    out = {}
    if announce:
        out["channels:history"] = "an announcement whose answer was lost"
    if heads_up:
        out["im:history"] = "a heads-up DM whose answer was lost"
    return out


@dataclass(frozen=True)
class Token:
    """Who the token is. ``scopes``: those granted; None when Slack did not say (no header)."""

    bot: bool
    user: str | None
    team: str | None
    scopes: frozenset[str] | None

    @property
    def kind(self) -> str:
        return "bot" if self.bot else "user"


@dataclass(frozen=True)
class Refused:
    """Slack answered with an error: its code (or what stands for one)."""

    code: str


@dataclass(frozen=True)
class Unreachable:
    """No answer from Slack: the exception's type."""

    error: str


def granted_scopes(headers: Mapping[str, object] | None) -> frozenset[str] | None:
    """The scopes in an ``x-oauth-scopes`` header (any case; a list of values: the first), None
    when there is no such header."""
    header = next((v for k, v in (headers or {}).items() if k.lower() == "x-oauth-scopes"), None)
    if isinstance(header, list):
        header = header[0] if header else ""
    if header is None:
        return None
    return frozenset(s.strip() for s in str(header).split(",") if s.strip())


def token(client: WebClient) -> Token | Refused | Unreachable:
    """``auth.test``: who the token is and what it may do."""
    try:
        auth = client.auth_test()
    except SlackApiError as exc:
        return Refused(error_code(exc))
    except Exception as exc:
        return Unreachable(type(exc).__name__)
    user, team = auth.get("user"), auth.get("team")
    return Token(bool(auth.get("bot_id")), None if user is None else str(user), None if team is None else str(team),
                 granted_scopes(auth.headers))


def user_groups(client: WebClient) -> dict[str, ActualGroup] | Refused:
    """Every user group by handle, or Slack's refusal to list them."""
    try:
        return list_groups(client)
    except SlackApiError as exc:
        return Refused(error_code(exc))
