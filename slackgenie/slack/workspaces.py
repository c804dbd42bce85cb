"""Which Slack the token speaks for: one workspace, or an Enterprise Grid organisation.

``auth.test`` says whether the token is an org-level token (``is_enterprise_install``: the app is
installed on the whole organisation): then every call that acts in one workspace must name it
(``team_id``), and ``auth.teams.list`` lists the workspaces the app was added to. The answer is
kept beside the user cache (``Directory.kept``), by the token's fingerprint, for a day: a steady
state asks nothing more.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from slackgenie.slack.directory import Directory

KEPT = "token"
MAX_TEAM_PAGES = 100  # auth.teams.list: 100,000 workspaces at 1,000 a page


@dataclass(frozen=True)
class TokenKind:
    """Who the token is, as ``auth.test`` says."""

    org: bool  # an org-level token (is_enterprise_install): every workspace call names its workspace
    bot: bool
    team: str | None  # the token's own workspace (None for an org-level token: it has none)
    enterprise: str | None = None

    @property
    def kind(self) -> str:
        return "org" if self.org else "bot" if self.bot else "user"

    def as_dict(self) -> dict[str, Any]:
        return {"org": self.org, "bot": self.bot, "team": self.team, "enterprise": self.enterprise}


def fingerprint(token: str | None) -> str:
    """A token's fingerprint, to know the kept answer is this token's (never the token itself)."""
    return hashlib.sha256((token or "").encode()).hexdigest()[:24]


def read_kind(auth: Any) -> TokenKind:
    """``auth.test``'s answer -> TokenKind (a missing ``is_enterprise_install`` is false, GRID §1.2;
    an org-level token's ``team_id`` is no workspace to act in)."""
    org = auth.get("is_enterprise_install") is True
    team = auth.get("team_id")
    enterprise = auth.get("enterprise_id")
    return TokenKind(org=org, bot=bool(auth.get("bot_id")),
                     team=None if org or not isinstance(team, str) else team,
                     enterprise=enterprise if isinstance(enterprise, str) else None)


def token_kind(client: WebClient, directory: Directory) -> TokenKind | None:
    """The token's kind: kept from an earlier run, else one ``auth.test``; None when Slack does not
    answer (a refused token or an outage: the pass says so in its own words)."""
    key = f"{KEPT}:{fingerprint(client.token)}"
    kept = directory.kept(key)
    if kept is not None:
        try:
            return TokenKind(org=bool(kept["org"]), bot=bool(kept["bot"]), team=kept.get("team"),
                             enterprise=kept.get("enterprise"))
        except (KeyError, TypeError):
            pass
    try:
        found = read_kind(client.auth_test())
    except Exception:
        return None
    directory.keep(key, found.as_dict())
    directory.save()
    return found


def deployed(client: WebClient) -> dict[str, str]:
    """The workspaces the app may act in (``auth.teams.list``, paged): id -> name."""
    teams: dict[str, str] = {}
    cursor: str | None = None
    for _ in range(MAX_TEAM_PAGES):
        page = client.auth_teams_list(limit=1000, cursor=cursor)
        for team in page.get("teams") or []:
            if isinstance(team, dict) and isinstance(team.get("id"), str):
                teams[team["id"]] = str(team.get("name") or team["id"])
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            break
    return teams
