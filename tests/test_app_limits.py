"""The app at its limits: a person with hundreds of shifts (`/oncall me` and the App Home within
Block Kit's limits, warnings kept and first), a mention of thousands of words (bounded matching),
and a long Retry-After on one app read (it holds the other reads back for at most the budget).

Expected shifts are worked out by hand. The emulators' clock stands at DEMO_START (Mon 2026-11-23
08:58:00 UTC), so `/oncall me` looks at 2026-11-23 08:58 to 2026-12-07 08:58. Two hourly
schedules are added, with turns from 2026-11-02 00:00 (turn k starts k hours later):

- "Hourly A_schedule", alice then bob: alice holds the even turns. 2026-11-23 08:00 is turn 512
  (21 days and 8 hours), so alice is on call now until 09:00, then from 10:00, 12:00, … up to the
  turn of 2026-12-07 08:00 (turn 848), which runs to the window's end "or later": turns 512..848
  step 2, 169 shifts.
- "Hourly B_schedule", bob then alice: alice holds the odd turns, 513 (09:00 today) to 847
  (2026-12-07 07:00): 168 shifts.
- Delivery (the sample organisation): alice's daily turns on Nov 23, 26, 29, Dec 2 and 5: 5 shifts.

342 shifts in all: far more than one Slack message holds. Payments_schedule's shifts cannot be
read (its overrides answer 503), which `/oncall me` must say, first.
"""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from slack_bolt.request import BoltRequest

from slackgenie.app.home import mine
from slackgenie.app.runner import SlackApp
from slackgenie.app.snapshot import Snapshot
from slackgenie.core.clock import SteppedClock
from slackgenie.settings import load
from slackgenie.core.model import OnCall
from slackgenie.retry import RetryPolicy
from slackgenie.wiring import build
from slackgenie.sources.http import SourceError
from slackgenie.sources.opsgenie import OpsgenieClient
from slackgenie_emulators import Emulators
from slackgenie_emulators.injector import (app_home_opened, app_mention, form_body, json_body, signed_headers,
                                           slash_command)
from slackgenie_emulators.sample import OPSGENIE_KEY, SAMPLE_CONFIG

import conftest

UTC = timezone.utc
SIGNING = "limits-test-signing-secret-00001"
SHIFTS = 342  # alice's shifts over the 14 days, counted by hand above
HOURLY = """\
  - usergroup: hourly-a
    schedules: [Hourly A_schedule]
  - usergroup: hourly-b
    schedules: [Hourly B_schedule]
"""
UNREAD = ":warning: Opsgenie schedule 'Payments_schedule' could not be read"
WINDOW_END = int(datetime(2026, 12, 7, 8, 58, tzinfo=UTC).timestamp())


def uid(emu: Emulators, email: str) -> str:
    user = emu.slack.state.user_by_email(email)
    assert user is not None
    return user.id


def dispatch(app: SlackApp, body: str, content_type: str) -> dict[str, Any]:
    headers: dict[str, str | Sequence[str]] = {**signed_headers(SIGNING, body, content_type)}
    response = app.bolt.dispatch(BoltRequest(body=body, headers=headers))
    return json.loads(response.body) if response.body else {}


def wait(predicate: Any, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # bounded by the time
        if predicate():
            return True
        time.sleep(0.02)
    return False


def schedule_id(emu: Emulators, name: str) -> str:
    return next(s.id for s in emu.opsgenie.state.schedules.values() if s.name == name)


@pytest.fixture
def busy_app(emulators: Emulators, tmp_path: Path) -> Iterator[SlackApp]:
    """The sample organisation with alice on two hourly rotations, and Payments unreadable."""
    state = emulators.opsgenie.state
    for name, people in (("Hourly A_schedule", ["alice", "bob"]), ("Hourly B_schedule", ["bob", "alice"])):
        state.add_schedule(name, "UTC", rotations=[{
            "name": "Hourly", "type": "hourly", "startDate": "2026-11-02T00:00:00Z",
            "participants": [{"type": "user", "username": f"{p}@example.com"} for p in people]}])
    emulators.opsgenie.inject(rf"^/v2/schedules/{schedule_id(emulators, 'Payments_schedule')}/overrides$",
                              status=503)
    config = "provider: opsgenie\n" + SAMPLE_CONFIG.replace("users:\n", HOURLY + "users:\n", 1)
    service = conftest.service_for(emulators, tmp_path, config, {"SLACK_SIGNING_SECRET": SIGNING})
    try:
        app = SlackApp(service)
        app.refresh(service.run_pass())
        yield app
    finally:
        service.close()


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    out = []
    for block in blocks:
        if block["type"] in ("section", "header"):
            out.append(block["text"]["text"])
        elif block["type"] == "context":
            out += [e["text"] for e in block["elements"]]
    return out


def assert_within_block_kit(blocks: list[dict[str, Any]], most: int) -> None:
    assert len(blocks) <= most, f"{len(blocks)} blocks"
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000


def shift_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("\u2022", ":large_green_circle:"))]


def left_out(note: str) -> int:
    """N in the note "…and N more shifts, from … to …"."""
    return int(note.split(" more shift")[0].rsplit(" ", 1)[1])


# --- /oncall me and the App Home ----------------------------------------------------------------

def test_oncall_me_with_hundreds_of_shifts_fits_keeps_the_warning_first_and_says_what_is_left(
        busy_app: SlackApp, emulators: Emulators) -> None:
    dispatch(busy_app, form_body(slash_command("me", uid(emulators, "alice@example.com"),
                                               emulators.slack.response_url("many"))),
             "application/x-www-form-urlencoded")
    assert wait(lambda: emulators.slack.state.responses.get("many"))
    reply = emulators.slack.state.responses["many"][-1]
    text, blocks = reply["text"], reply["blocks"]

    assert_within_block_kit(blocks, 50)
    assert len(text) <= 40000
    shown_text = "\n".join(texts(blocks))
    for said in (text, shown_text):
        assert UNREAD in said and "your shifts there are not known" in said
        assert said.index(UNREAD) < said.index(":large_green_circle: *You are on call now* in @hourly-a")
    assert "/oncall <name>" not in text + shown_text  # not a hint that helps here

    shown = shift_lines(shown_text)
    assert shown == shift_lines(text)  # the text says what the blocks say
    note = texts(blocks)[-1]
    assert note.startswith("\u2026and ") and " more shifts, from " in note
    assert len(shown) + left_out(note) == SHIFTS
    assert 100 < len(shown) < SHIFTS
    assert f"<!date^{WINDOW_END}^" in note and note.endswith("or later: not shown, as one Slack message holds no more.")


def test_the_home_keeps_the_warning_first_and_points_to_oncall_me_for_the_rest(busy_app: SlackApp,
                                                                               emulators: Emulators) -> None:
    alice = uid(emulators, "alice@example.com")
    dispatch(busy_app, json_body(app_home_opened(alice)), "application/json")
    assert wait(lambda: alice in emulators.slack.state.views)
    blocks = emulators.slack.state.views[alice]["blocks"]

    assert_within_block_kit(blocks, 100)
    said = texts(blocks)
    home = "\n".join(said)
    assert home.index("*Your shifts*") < home.index(UNREAD) < home.index(":large_green_circle:")
    note = next(t for t in said if " more shifts, from " in t)
    assert note.endswith("or later: `/oncall me` lists more of them.")
    assert len(shift_lines(home)) + left_out(note) == SHIFTS
    assert home.index(note) < home.index("*@delivery-support*")  # every group still follows
    assert all(f"*@{h}*" in home for h in ("delivery-support", "payments-oncall", "hourly-a", "hourly-b"))


def test_hundreds_of_unreadable_schedules_are_counted_not_dropped() -> None:
    """The warnings alone overflow a message: those that fit come first, the rest are counted."""
    failed = [(f"opsgenie:Schedule {i:03d}", "Opsgenie: HTTP 503: " + "x" * 400) for i in range(300)]
    message = mine([], failed, Snapshot(), datetime(2026, 11, 23, 8, 58, tzinfo=UTC),
                   datetime(2026, 12, 7, 8, 58, tzinfo=UTC) - datetime(2026, 11, 23, 8, 58, tzinfo=UTC))
    assert_within_block_kit(message.blocks, 50)
    assert len(message.text) <= 40000
    warned = [line for line in message.text.splitlines() if line.startswith(":warning:")]
    note = texts(message.blocks)[-1]
    assert note.startswith("\u2026and ") and note.endswith(" more schedules could not be read (your shifts there "
                                                            "are not known).")
    assert len(warned) + int(note.split()[1]) == 300
    assert "no on-call shifts" not in message.text


# --- a mention of thousands of words ------------------------------------------------------------

def test_a_mention_of_thousands_of_words_is_answered_with_bounded_matching(
        emulators: Emulators, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service = conftest.service_for(emulators, tmp_path, "provider: opsgenie\n" + SAMPLE_CONFIG,
                                   {"SLACK_SIGNING_SECRET": SIGNING})
    try:
        app = SlackApp(service)
        app.refresh(service.run_pass())
        made = {"matchers": 0}

        class Counting(difflib.SequenceMatcher):  # type: ignore[type-arg]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                made["matchers"] += 1
                super().__init__(*args, **kwargs)

        monkeypatch.setattr(difflib, "SequenceMatcher", Counting)
        filler = " ".join(f"{w}{i % 97}" for i, w in zip(range(5000), ["lorem", "ipsum", "dolor", "sit", "amet"] * 1000))
        channel = emulators.slack.state.channel("payments").id
        dispatch(app, json_body(app_mention(f"<@U00000001> who is on call for payments? {filler}", "U00000002",
                                            channel, ts="1700000000.000200")), "application/json")
        assert wait(lambda: any(m.get("thread_ts") == "1700000000.000200" for m in emulators.slack.state.messages))
        reply = next(m for m in emulators.slack.state.messages if m.get("thread_ts") == "1700000000.000200")
        assert f"<@{uid(emulators, 'dave@example.com')}>" in reply["text"]  # Payments, as for the short question
        # The sample organisation has about 15 names; 5,000 words scored against each took over 100,000.
        assert made["matchers"] <= 1000, made
    finally:
        service.close()


# --- a long Retry-After on one read ---------------------------------------------------------------

def test_a_long_retry_after_holds_the_client_back_for_at_most_the_budget(emulators: Emulators) -> None:
    emulators.opsgenie.inject(r"^/v2/schedules/on-calls$", status=429, retry_after=300, times=1)
    client = OpsgenieClient(emulators.opsgenie.url, SecretStr(OPSGENIE_KEY),
                            RetryPolicy(attempts=3, budget=1.5, timeout=3, backoff=0.05))
    try:
        with pytest.raises(SourceError, match="429"):
            client.list_on_calls()  # Opsgenie asks for 300 s: more than the budget, so this call fails
        assert 0 < client.throttled_for() <= 1.5
        answered = None
        for _ in range(100):  # bounded: 100 tries, 0.1 s apart
            try:
                answered = client.list_on_calls()
                break
            except SourceError:
                time.sleep(0.1)
        assert answered, "still held back after 10 s"
        assert emulators.opsgenie.calls(r"^/v2/schedules/on-calls$") == 2  # nothing was sent while held
    finally:
        client.close()


def test_an_app_reads_long_retry_after_does_not_fail_the_syncs_groups_for_minutes(emulators: Emulators,
                                                                                  tmp_path: Path) -> None:
    emulators.opsgenie.state.add_schedule("Security_schedule", "UTC", team="Platform", rotations=[{
        "name": "Weekly", "type": "weekly", "startDate": "2026-11-02T09:00:00Z",
        "participants": [{"type": "user", "username": "heidi@example.com"}]}])
    path = conftest.write_config(tmp_path, "provider: opsgenie\n" + SAMPLE_CONFIG
                                 + "retry: {attempts: 3, budget: 1.5, backoff: 0.05, max_backoff: 0.2, timeout: 3}\n",
                                 fast_retry=False)
    service = build(load(str(path), {**emulators.env(), "SLACK_SIGNING_SECRET": SIGNING}),
                    clock=SteppedClock(emulators.clock))
    try:
        app = SlackApp(service)
        app.refresh(service.run_pass())
        emulators.opsgenie.inject(r"^/v2/schedules/on-calls$", status=429, retry_after=300, times=1)
        dispatch(app, form_body(slash_command("security", uid(emulators, "alice@example.com"),
                                              emulators.slack.response_url("sec"))),
                 "application/x-www-form-urlencoded")
        assert wait(lambda: emulators.slack.state.responses.get("sec"))
        assert "429" in emulators.slack.state.responses["sec"][-1]["text"]  # the app's read was refused

        report = None
        for _ in range(40):  # bounded: 40 passes, 0.25 s apart
            report = service.run_pass()
            if report.reads and all(isinstance(r, OnCall) for r in report.reads.values()):
                break
            time.sleep(0.25)
        assert report is not None and all(isinstance(r, OnCall) for r in report.reads.values()), report.reads
        assert report.ok
    finally:
        service.close()
