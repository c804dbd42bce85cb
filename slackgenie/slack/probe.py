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
from slackgenie.slack.workspaces import deployed, read_kind

REQUIRED_SCOPES = {
    "usergroups:read": "read user groups and their members",
    "usergroups:write": "set a group's members (and create, update, enable or disable a group)",
    "users:read": "read users",
    "users:read.email": "match on-call people's e-mails to Slack users",
}

HEADS_UP_SCOPES = {  # only when some sync has `heads_up`
    "im:write": "open a direct message for each heads-up",
    "chat:write": "send the heads-up DMs",
}


CHANNEL_NAME_SCOPES = {  # only when some sync's `channels` names a channel by #name
    "channels:read": "find the default channels named by '#name' under 'channels'",
}


def needed_scopes(heads_up: bool, channel_names: bool = False) -> dict[str, str]:
    """The scopes Slackgenie cannot work without (scope -> what for)."""
    return {**REQUIRED_SCOPES, **(HEADS_UP_SCOPES if heads_up else {}),
            **(CHANNEL_NAME_SCOPES if channel_names else {})}


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
    org: bool = False  # an org-level token (is_enterprise_install): the app installed on an organisation
    team_id: str | None = None  # the token's own workspace (None for an org-level token)

    @property
    def kind(self) -> str:
        return "org" if self.org else "bot" if self.bot else "user"


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
    kind = read_kind(auth)
    return Token(bool(auth.get("bot_id")), None if user is None else str(user), None if team is None else str(team),
                 granted_scopes(auth.headers), kind.org, kind.team)


def workspaces(client: WebClient) -> dict[str, str] | Refused:
    """The workspaces the app is deployed to (``auth.teams.list``): id -> name; or Slack's refusal."""
    try:
        return deployed(client)
    except SlackApiError as exc:
        return Refused(error_code(exc))
    except Exception as exc:
        return Refused(type(exc).__name__)


def user_groups(client: WebClient, team: str | None = None) -> dict[str, ActualGroup] | Refused:
    """Every user group of a workspace (None: the token's own) by handle, or Slack's refusal to list them."""
    try:
        return list_groups(client, team)
    except SlackApiError as exc:
        return Refused(error_code(exc))
