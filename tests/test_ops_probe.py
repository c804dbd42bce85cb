"""The scope probe `check` stands on (slack/probe.py): Slack's answers read into typed values,
without a server (stand-in clients answer as Slack's method reference documents)."""

from __future__ import annotations

from typing import Any, cast

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from slackgenie.core.model import Resolution
from slackgenie.slack import probe
from slackgenie.slack.directory import needs_scope


def _response(data: dict[str, Any], headers: dict[str, Any] | None = None, status: int = 200) -> SlackResponse:
    return SlackResponse(client=None, http_verb="POST", api_url="https://slack.test/api/auth.test", req_args={},
                         data=data, headers=headers or {}, status_code=status)


class Answers:
    """A stand-in WebClient: auth.test and usergroups.list answer as given, or raise."""

    def __init__(self, auth: SlackResponse | Exception, groups: SlackResponse | Exception | None = None):
        self.auth, self.groups = auth, groups

    def auth_test(self) -> SlackResponse:
        if isinstance(self.auth, Exception):
            raise self.auth
        return self.auth

    def usergroups_list(self, **_: Any) -> SlackResponse:
        if isinstance(self.groups, Exception):
            raise self.groups
        assert self.groups is not None
        return self.groups


def answers(auth: SlackResponse | Exception, groups: SlackResponse | Exception | None = None) -> WebClient:
    return cast(WebClient, Answers(auth, groups))


def test_granted_scopes_from_the_header() -> None:
    assert probe.granted_scopes({"X-OAuth-Scopes": "usergroups:read, users:read,,users:read.email "}) == \
        frozenset({"usergroups:read", "users:read", "users:read.email"})
    assert probe.granted_scopes({"x-oauth-scopes": ["chat:write,im:write", "ignored"]}) == \
        frozenset({"chat:write", "im:write"})
    assert probe.granted_scopes({"x-oauth-scopes": ""}) == frozenset()  # said, and none granted
    assert probe.granted_scopes({"content-type": "application/json"}) is None  # not said: cannot tell
    assert probe.granted_scopes(None) is None


def test_the_scopes_needed_follow_the_configuration() -> None:
    assert list(probe.needed_scopes(heads_up=False)) == ["usergroups:read", "usergroups:write", "users:read",
                                                         "users:read.email"]
    assert list(probe.needed_scopes(heads_up=True))[-2:] == ["im:write", "chat:write"]
    assert list(probe.history_scopes(announce=True, heads_up=True)) == ["channels:history", "im:history"]
    assert probe.history_scopes(announce=False, heads_up=False) == {}


def test_token_of_a_bot_with_its_scopes() -> None:
    answer = _response({"ok": True, "user": "slackgenie", "team": "Acme", "bot_id": "B0123"},
                       {"x-oauth-scopes": "usergroups:read,users:read"})
    assert probe.token(answers(answer)) == probe.Token(bot=True, user="slackgenie", team="Acme",
                                                       scopes=frozenset({"usergroups:read", "users:read"}))
    user = probe.token(answers(_response({"ok": True, "user": "admin", "team": "Acme"})))
    assert isinstance(user, probe.Token) and user.kind == "user" and user.scopes is None


def test_a_refused_token_and_an_unreachable_slack() -> None:
    refused = SlackApiError("invalid_auth", _response({"ok": False, "error": "invalid_auth"}))
    assert probe.token(answers(refused)) == probe.Refused("invalid_auth")
    assert probe.token(answers(ConnectionRefusedError())) == probe.Unreachable("ConnectionRefusedError")


def test_user_groups_or_the_refusal() -> None:
    listed = _response({"ok": True, "usergroups": [{"id": "S01", "handle": "ops", "users": ["U1", "U2"]}]})
    groups = probe.user_groups(answers(_response({"ok": True}), listed))
    assert isinstance(groups, dict) and sorted(groups["ops"].members) == ["U1", "U2"]
    paid = SlackApiError("paid_teams_only", _response({"ok": False, "error": "paid_teams_only"}))
    assert probe.user_groups(answers(_response({"ok": True}), paid)) == probe.Refused("paid_teams_only")


def test_a_lookup_refused_for_a_scope_is_told_apart() -> None:
    assert needs_scope(Resolution("a@x.io", problem="Slack lookup failed: missing_scope", transient=True))
    assert not needs_scope(Resolution("a@x.io", problem="Slack lookup failed: ratelimited", transient=True))
    assert not needs_scope(Resolution("a@x.io", problem="no Slack user with this e-mail"))
