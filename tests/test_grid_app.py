"""The Slack app from every workspace of an Enterprise Grid organisation (issue 20): `/oncall` typed in
Platform about groups of both workspaces, `/oncall me`, a mention in Payments (an org-wide event: its
authorization names no workspace, GRID §8.2) and the App Home, over the org-level token; the groups
span two workspaces, so each is named with its workspace's name (auth.teams.list). Expectations by
hand from ``slack_grid.sample_grid`` at DEMO_START (carol on call for Delivery Support, dave for
Payments, nobody for Platform: ivan is the fallback)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.request import BoltRequest

from slackgenie.app.runner import SlackApp
from slackgenie_emulators import Emulators
from slackgenie_emulators.injector import form_body, json_body, signed_headers
from slackgenie_emulators.sample import DEMO_START
from slackgenie_emulators.slack_grid import PAYMENTS, PLATFORM, grid_org, sample_grid

from test_people import SIGNING, app_with, uid



@pytest.fixture
def grid() -> Iterator[Emulators]:
    with Emulators(grid_org(), at=DEMO_START) as emu:
        yield emu


@pytest.fixture
def app(grid: Emulators, tmp_path: Path) -> Iterator[SlackApp]:
    with app_with(grid, tmp_path, grid.org.config_yaml) as slack_app:
        yield slack_app


def dispatch(app: SlackApp, body: str, content_type: str) -> dict[str, Any]:
    response = app.bolt.dispatch(BoltRequest(body=body, headers={**signed_headers(SIGNING, body, content_type)}))
    return json.loads(response.body) if response.body else {}


def command(emu: Emulators, app: SlackApp, text: str, asker: str, team: str, key: str) -> dict[str, Any]:
    """``/oncall text`` typed in workspace ``team`` (the organisation's form fields, GRID §8.1)."""
    fields = sample_grid().slash_command(text, asker, emu.slack.response_url(key), team)
    return dispatch(app, form_body(fields), "application/x-www-form-urlencoded")


def wait_for(predicate: Any, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # bounded
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_oncall_from_either_workspace_names_each_group_with_its_workspace(grid: Emulators, app: SlackApp) -> None:
    alice = uid(grid, "alice@example.com")  # a member of both workspaces
    text = command(grid, app, "", alice, PLATFORM, "all")["text"]
    assert "*@delivery-support (Payments)*" in text and "*@payments-oncall (Payments)*" in text
    assert "*@platform-oncall (Platform)*" in text
    assert f"<@{uid(grid, 'carol@example.com')}>" in text and f"<@{uid(grid, 'dave@example.com')}>" in text
    one = command(grid, app, "payments-oncall", alice, PAYMENTS, "one")["text"]
    assert one.startswith("*@payments-oncall (Payments)*") and f"<@{uid(grid, 'dave@example.com')}>" in one
    assert [c.method for c in grid.slack.api_calls("auth.teams.list")] == ["auth.teams.list"]  # once, at start
    assert [c for c in grid.slack.api_calls() if not c.ok] == []


def test_oncall_me_a_mention_and_the_home_tab_from_the_organisation(grid: Emulators, app: SlackApp) -> None:
    carol = uid(grid, "carol@example.com")
    ack = command(grid, app, "me", carol, PAYMENTS, "me")
    assert ack["text"] == "Looking up your shifts\u2026"
    assert wait_for(lambda: grid.slack.state.responses.get("me"))
    answer = str(grid.slack.state.responses["me"][-1]["text"])
    assert "*You are on call now* in @delivery-support" in answer, answer

    channel = grid.slack.state.channel("payments", team_id=PAYMENTS)
    assert channel is not None
    org = sample_grid()  # the organisation's payloads (its ids are the emulator's: the same sample)
    event = org.event_callback({"type": "app_mention", "user": carol, "channel": channel.id,
                                "text": f"<@{org.bot_user_id}> who is on call for payments-oncall?",
                                "ts": "1700000000.000100", "event_ts": "1700000000.000100"}, PAYMENTS)
    dispatch(app, json_body(event), "application/json")
    assert wait_for(lambda: any(m.get("thread_ts") == "1700000000.000100" for m in grid.slack.state.messages))
    reply = next(m for m in grid.slack.state.messages if m.get("thread_ts") == "1700000000.000100")
    assert f"<@{uid(grid, 'dave@example.com')}>" in reply["text"] and "@payments-oncall (Payments)" in reply["text"]

    home = org.event_callback({"type": "app_home_opened", "user": carol, "channel": "D0EMULATE1", "tab": "home",
                               "event_ts": "1700000000.000200"}, PLATFORM)
    dispatch(app, json_body(home), "application/json")
    assert wait_for(lambda: carol in grid.slack.state.views)
    blocks = str(grid.slack.state.views[carol]["blocks"])
    assert "@platform-oncall (Platform)" in blocks and "@delivery-support (Payments)" in blocks
    assert [c for c in grid.slack.api_calls() if not c.ok] == []
