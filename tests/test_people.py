"""The people features end to end, on each provider: `/oncall me` (and the App Home), heads-up
DMs before shifts, taking a shift from Slack and giving it back.

Expected shifts are worked out by hand from the sample organisation (see test_providers_e2e.py's
header). From DEMO_START (Mon 2026-11-23 08:58 UTC), Delivery's daily turns run alice, bob, carol
from 2026-11-02 09:00: turn 21 (alice) starts Mon 23 09:00, and alice's turns come every third
day: Mon 23, Thu 26, Sun 29, Wed Dec 2 and Sat Dec 5, each 09:00 to 09:00, each after carol's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest
from slack_bolt.request import BoltRequest

from slackgenie.app.runner import SlackApp
from slackgenie.wiring import Service
from slackgenie_emulators import Emulators
from slackgenie_emulators.injector import app_home_opened, form_body, json_body, signed_headers, slash_command
from slackgenie_emulators.sample import SAMPLE_CONFIG

import conftest

UTC = timezone.utc
PROVIDERS = ["opsgenie", "jsm", "pagerduty"]
SIGNING = "people-test-signing-secret-00001"


def service_for(emu: Emulators, tmp_path: Path, text: str) -> Service:
    return conftest.service_for(emu, tmp_path, text, {"SLACK_SIGNING_SECRET": SIGNING})


@contextmanager
def app_on(emu: Emulators, tmp_path: Path, provider: str, settings: str = "") -> Iterator[SlackApp]:
    """The sample on ``provider``, in-process, with the Slack app on and refreshed by a first pass."""
    with app_with(emu, tmp_path, f"provider: {provider}\n{settings}" + SAMPLE_CONFIG) as app:
        yield app


@contextmanager
def app_with(emu: Emulators, tmp_path: Path, text: str) -> Iterator[SlackApp]:
    """The configuration ``text``, in-process, with the Slack app on and refreshed by a first pass."""
    service = service_for(emu, tmp_path, text)
    try:
        app = SlackApp(service)
        app.refresh(service.run_pass())
        yield app
    finally:
        service.close()


def uid(emu: Emulators, email: str) -> str:
    user = emu.slack.state.user_by_email(email)
    assert user is not None
    return user.id


def stamp(y: int, mo: int, d: int, h: int = 9) -> str:
    """How an answer writes an instant: a Slack date token for it."""
    return f"<!date^{int(datetime(y, mo, d, h, tzinfo=UTC).timestamp())}^"


def dispatch(app: SlackApp, body: str, content_type: str) -> dict:
    headers: dict[str, str | Sequence[str]] = {**signed_headers(SIGNING, body, content_type)}
    response = app.bolt.dispatch(BoltRequest(body=body, headers=headers))
    return json.loads(response.body) if response.body else {}


def ask_later(emu: Emulators, app: SlackApp, text: str, asker: str, key: str) -> tuple[str, str]:
    """(the ack's text, the answer posted later to the response_url)."""
    ack = dispatch(app, form_body(slash_command(text, asker, emu.slack.response_url(key))),
                   "application/x-www-form-urlencoded")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # bounded: the pool answers within its own deadline
        with emu.slack.state.lock:
            got = list(emu.slack.state.responses.get(key, []))
        if got:
            return str(ack.get("text")), str(got[-1].get("text"))
        time.sleep(0.02)
    raise AssertionError(f"no answer to {text!r} within 20 s")


# --- /oncall me ---------------------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_oncall_me_lists_the_askers_shifts_with_who_hands_over(emulators: Emulators, tmp_path: Path,
                                                               provider: str) -> None:
    with app_on(emulators, tmp_path, provider) as app:
        ack, text = ask_later(emulators, app, "me", uid(emulators, "alice@example.com"), "alice")
        assert ack == "Looking up your shifts\u2026"
        lines = [line for line in text.splitlines() if line.startswith("\u2022")]
        carol = f"<@{uid(emulators, 'carol@example.com')}>"
        starts = [(2026, 11, 23), (2026, 11, 26), (2026, 11, 29), (2026, 12, 2), (2026, 12, 5)]
        assert len(lines) == 5, text
        for line, day in zip(lines, starts):
            assert line.startswith(f"\u2022 {stamp(*day)}"), line
            assert "in @delivery-support" in line and f"taking over from {carol}" in line
        assert stamp(2026, 11, 24) in lines[0]  # until Tue 09:00

        _, text = ask_later(emulators, app, "me", uid(emulators, "carol@example.com"), "carol")
        first = text.splitlines()[1]
        assert first.startswith(":large_green_circle: *You are on call now* in @delivery-support")
        assert f"until {stamp(2026, 11, 23)}" in first  # carol's turn ends at 09:00 today


def wait(predicate, seconds: float = 20) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # bounded in count by the time
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_oncall_me_finds_a_person_through_the_users_map_and_home_shows_it(emulators: Emulators,
                                                                            tmp_path: Path) -> None:
    """frank is frank.og in the providers (the `users:` map). Platform is covered 09:00-17:00
    on weekdays by daily turns of frank.og and heidi from Tue 2026-11-03: frank.og holds Mon 23,
    Wed 25, Fri 27, Tue Dec 1 and Thu Dec 3 (the weekend turns are outside the hours), each after
    a night nobody covers."""
    with app_on(emulators, tmp_path, "jsm") as app:
        frank = uid(emulators, "frank@example.com")
        _, text = ask_later(emulators, app, "me", frank, "frank")
        lines = [line for line in text.splitlines() if line.startswith("\u2022")]
        days = [(2026, 11, 23), (2026, 11, 25), (2026, 11, 27), (2026, 12, 1), (2026, 12, 3)]
        assert [line[:len("\u2022 ") + len(stamp(*d))] for line, d in zip(lines, days)] == \
            [f"\u2022 {stamp(*d)}" for d in days] and len(lines) == 5, text
        assert all(f"to {stamp(*d, h=17)}" in line and "@platform-oncall" in line
                   and "taking over from nobody" in line for line, d in zip(lines, days))

        dispatch(app, json_body(app_home_opened(frank)), "application/json")
        assert wait(lambda: frank in emulators.slack.state.views)
        home = json.dumps(emulators.slack.state.views[frank]["blocks"])
        assert "*Your shifts*" in home and stamp(2026, 11, 25) in home
        assert home.index("Your shifts") < home.index("@delivery-support*")  # first, then every group


def test_oncall_me_never_says_none_when_a_schedule_cannot_be_read(emulators: Emulators, tmp_path: Path) -> None:
    emulators.jsm.inject(r"/timeline$", status=503)
    with app_on(emulators, tmp_path, "jsm") as app:
        _, text = ask_later(emulators, app, "me", uid(emulators, "alice@example.com"), "alice")
    assert "no on-call shifts" not in text
    assert ":warning: JSM Ops schedule 'Delivery Support_schedule' could not be read" in text
    assert "your shifts there are not known" in text


def test_oncall_me_for_someone_in_no_schedule(emulators: Emulators, opsgenie_app: tuple[Service, SlackApp]) -> None:
    _, app = opsgenie_app
    _, text = ask_later(emulators, app, "me", uid(emulators, "ivan@example.com"), "ivan")
    assert "You have no on-call shifts in the next 14 days" in text


# --- heads-up DMs ---------------------------------------------------------------------------------

HEADS_UP = SAMPLE_CONFIG.replace("interval: 60\n", "interval: 60\nheads_up: 1h\n")


def dm_texts(emu: Emulators, email: str) -> list[str]:
    return [m["text"] for m in emu.slack.dms_to(uid(emu, email))]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_heads_up_goes_once_before_a_shift(emulators: Emulators, tmp_path: Path, provider: str) -> None:
    """heads_up: 1h. At 08:58 alice's Delivery turn starts at 09:00, within the hour: she gets a
    DM naming the group, the times and carol, whom she takes over from. carol (on call now) and
    bob (tomorrow 09:00, beyond the hour) get none. A second pass, and a second process sharing
    the state file, send nothing more."""
    text = f"provider: {provider}\n" + HEADS_UP
    service = service_for(emulators, tmp_path, text)
    try:
        report = service.run_pass()
        assert any(n.startswith("heads-up sent to alice@example.com for @delivery-support") for n in report.notes)
        [dm] = dm_texts(emulators, "alice@example.com")
        assert "your on-call shift in @delivery-support starts " + stamp(2026, 11, 23) in dm
        assert f"until {stamp(2026, 11, 24)}" in dm and "(in about 2 min)" in dm  # sent at 08:58 for 09:00
        assert f"You take over from <@{uid(emulators, 'carol@example.com')}>." in dm
        assert "Delivery Support_schedule" in dm
        assert dm_texts(emulators, "carol@example.com") == [] and dm_texts(emulators, "bob@example.com") == []
        # Payments: grace's override starts at 09:00 too, after dave.
        [grace] = dm_texts(emulators, "grace@example.com")
        assert "@payments-oncall" in grace and f"<@{uid(emulators, 'dave@example.com')}>" in grace
        # Platform: frank.og (frank in Slack, via `users:`) from 09:00, after a night nobody covers.
        [frank] = dm_texts(emulators, "frank@example.com")
        assert "@platform-oncall" in frank and "Nobody is on call just before you." in frank

        service.run_pass()
        again = service_for(emulators, tmp_path, text)  # another process, the same state file
        try:
            again.run_pass()
        finally:
            again.close()
        assert len(dm_texts(emulators, "alice@example.com")) == 1
        assert len(emulators.slack.dms_to(uid(emulators, "grace@example.com"))) == 1
    finally:
        service.close()


def test_heads_up_waits_for_its_moment_and_the_daemon_wakes_for_it(emulators: Emulators, tmp_path: Path) -> None:
    """bob's turn starts Tue 09:00: with heads_up 1h his DM falls due at Tue 08:00, and the
    daemon's next wake-up after a pass on Mon afternoon is then (no handoff comes before it)."""
    text = "provider: opsgenie\n" + HEADS_UP
    service = service_for(emulators, tmp_path, text)
    try:
        service.run_pass()  # Mon 08:58: alice's heads-up
        emulators.clock.set(datetime(2026, 11, 23, 18, 30, tzinfo=UTC))  # after grace's override ended
        service.run_pass()
        assert dm_texts(emulators, "bob@example.com") == []
        wake = service.next_handoff(emulators.clock.now())
        assert wake == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
        emulators.clock.set(datetime(2026, 11, 24, 8, 0, 3, tzinfo=UTC))
        service.run_pass()
        [dm] = dm_texts(emulators, "bob@example.com")
        assert f"starts {stamp(2026, 11, 24)}" in dm and f"<@{uid(emulators, 'alice@example.com')}>" in dm
    finally:
        service.close()


def test_no_heads_up_in_a_dry_run_or_for_a_shift_already_under_way(emulators: Emulators, tmp_path: Path) -> None:
    service = service_for(emulators, tmp_path, "provider: opsgenie\n" + HEADS_UP)
    try:
        service.run_pass(dry_run=True)
        assert emulators.slack.calls(r"conversations\.open$") == 0 and emulators.slack.calls(r"chat\.postMessage$") == 0
    finally:
        service.close()
    # Started at 09:30: alice's turn began at 09:00, before Slackgenie learnt of it.
    emulators.clock.set(datetime(2026, 11, 23, 9, 30, tzinfo=UTC))
    service = service_for(emulators, tmp_path, "provider: opsgenie\n" + HEADS_UP)
    try:
        service.run_pass()
        assert dm_texts(emulators, "alice@example.com") == []
    finally:
        service.close()


def test_heads_up_without_im_write_is_loud_and_check_names_the_scope(emulators: Emulators, tmp_path: Path) -> None:
    from slackgenie_emulators.sample import BOT_TOKEN
    from providers_fixtures import run_main
    scopes = [s for s in emulators.slack.state.tokens[BOT_TOKEN].scopes if s != "im:write"]
    emulators.slack.state.tokens[BOT_TOKEN].scopes = scopes
    service = service_for(emulators, tmp_path, "provider: opsgenie\n" + HEADS_UP)
    try:
        report = service.run_pass()
        assert report.ok  # the groups are synced all the same
        assert ("heads-up for alice@example.com not sent: Slack said missing_scope (add im:write and chat:write "
                "to the app, then reinstall it)") in report.notes
        metrics = service.metrics.exposition().decode()
        assert 'slackgenie_heads_ups_total{result="failed"} 3.0' in metrics
    finally:
        service.close()
    result = run_main(["check"], emulators.env())
    assert "\u2717 Slack scope im:write is missing (needed to open a direct message for each heads-up)" in result.out


# --- the gap metric -------------------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_daemon_exports_when_the_next_gap_opens(emulators: Emulators, tmp_path: Path, provider: str) -> None:
    """Platform is covered 09:00-17:00 on weekdays: at Mon 08:58 the hole under way (until 09:00)
    is not a coming one; the next opens Mon 17:00. Delivery and Payments have none in 7 days."""
    service = service_for(emulators, tmp_path, f"provider: {provider}\n" + SAMPLE_CONFIG)
    try:
        service.watch_gaps(wait=True)
        metrics = service.metrics.exposition().decode()
        series = [line for line in metrics.splitlines() if line.startswith("slackgenie_schedule_next_gap")]
        at = datetime(2026, 11, 23, 17, 0, tzinfo=UTC).timestamp()
        assert len(series) == 1, series
        name, value = series[0].rsplit(" ", 1)
        assert name == f'slackgenie_schedule_next_gap_timestamp_seconds{{schedule="{provider}:Platform_schedule"}}'
        assert float(value) == at
    finally:
        service.close()


# --- taking a shift from Slack ----------------------------------------------------------------------

def press(emu: Emulators, app: SlackApp, user: str, action: dict, key: str) -> str:
    """Press a button of an ephemeral message, as Slack sends it (a signed block_actions payload)."""
    payload = {"type": "block_actions", "user": {"id": user, "team_id": "T0EMULATE1"}, "team": {"id": "T0EMULATE1"},
               "api_app_id": "A0EMULATE1", "token": "legacy-verification-token", "trigger_id": "1.2",
               "container": {"type": "message", "is_ephemeral": True}, "response_url": emu.slack.response_url(key),
               "actions": [{**action, "block_id": "b", "type": "button", "action_ts": "1700000000.1"}]}
    dispatch(app, form_body({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # bounded: the pool answers within its deadline
        with emu.slack.state.lock:
            got = [r.get("text", "") for r in emu.slack.state.responses.get(key, [])]
        if got and not got[-1].endswith("\u2026"):
            return str(got[-1])
        time.sleep(0.02)
    raise AssertionError("no answer to the button within 20 s")


def offered_button(emu: Emulators, key: str, action_id: str) -> dict:
    with emu.slack.state.lock:
        blocks = emu.slack.state.responses[key][-1]["blocks"]
    return next(e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] == action_id)


def join_syncs(app: SlackApp) -> None:
    for thread in app.syncs:
        thread.join(timeout=30)
        assert not thread.is_alive()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_take_a_shift_then_give_it_back(emulators: Emulators, tmp_path: Path, provider: str) -> None:
    """At Mon 08:58 bob takes 2 h of Delivery: until 10:58, instead of carol (until 09:00) and
    alice (from 09:00). After the button, the provider holds his override and the group is bob's
    at once; give-back deletes it and the group is carol's again."""
    slack = emulators.slack.state
    with app_on(emulators, tmp_path, provider) as app:
        bob, carol, alice = (uid(emulators, f"{n}@example.com") for n in ("bob", "carol", "alice"))
        ack, offer = ask_later(emulators, app, "take 2h delivery-support", bob, "take")
        assert ack == "Checking the schedule\u2026"
        assert offer.startswith("Take the on-call shift in @delivery-support")
        assert f"<!date^{int(datetime(2026, 11, 23, 8, 58, tzinfo=UTC).timestamp())}^" in offer
        assert f"<!date^{int(datetime(2026, 11, 23, 10, 58, tzinfo=UTC).timestamp())}^" in offer
        assert f"instead of <@{alice}>, <@{carol}>?" in offer or f"instead of <@{carol}>, <@{alice}>?" in offer
        assert slack.emails_of("delivery-support") == ["carol@example.com", "dana.lead@example.com"]  # not yet

        done = press(emulators, app, bob, offered_button(emulators, "take", "take_confirm"), "take")
        assert done.startswith(":white_check_mark: You are on call in @delivery-support"), done
        join_syncs(app)
        assert slack.emails_of("delivery-support") == ["bob@example.com", "dana.lead@example.com"]

        _, back = ask_later(emulators, app, "give-back", bob, "back")
        assert back.startswith(":leftwards_arrow_with_hook: Given back: your shift in @delivery-support"), back
        join_syncs(app)
        assert slack.emails_of("delivery-support") == ["carol@example.com", "dana.lead@example.com"]
        _, again = ask_later(emulators, app, "give-back", bob, "again")
        assert again == "You have no shift taken with `/oncall take` to give back."


def test_only_people_in_the_rotation_may_take_and_only_the_asker_may_confirm(
        emulators: Emulators, opsgenie_app: tuple[Service, SlackApp]) -> None:
    _, app = opsgenie_app
    _, answer = ask_later(emulators, app, "take 1h payments-oncall", uid(emulators, "bob@example.com"), "no")
    assert answer.startswith("You are not in the rotations of *payments-oncall*"), answer
    _, offer = ask_later(emulators, app, "take 1h delivery-support", uid(emulators, "bob@example.com"), "yes")
    button = offered_button(emulators, "yes", "take_confirm")
    other = press(emulators, app, uid(emulators, "carol@example.com"), button, "other")
    assert other == "Only the person who asked can confirm taking this shift."
    assert not [r for r in emulators.opsgenie.requests if r.method == "POST"]  # no override was made


def test_a_provider_refusing_the_write_is_said_plainly(emulators: Emulators, tmp_path: Path) -> None:
    emulators.pagerduty.inject(r"/overrides$", status=403, method="POST")  # a read-only key: reads work
    with app_on(emulators, tmp_path, "pagerduty") as app:
        bob = uid(emulators, "bob@example.com")
        ask_later(emulators, app, "take 1h delivery-support", bob, "t")
        answer = press(emulators, app, bob, offered_button(emulators, "t", "take_confirm"), "t")
        assert answer.startswith(":no_entry: PagerDuty refused to create the override: the API key Slackgenie uses "
                                 "may not change schedules"), answer
        assert "nothing was changed" in answer
        assert emulators.slack.state.emails_of("delivery-support") == ["carol@example.com", "dana.lead@example.com"]


def test_a_button_works_once(emulators: Emulators, opsgenie_app: tuple[Service, SlackApp]) -> None:
    _, app = opsgenie_app
    bob = uid(emulators, "bob@example.com")
    ask_later(emulators, app, "take 1h delivery-support", bob, "t")
    button = offered_button(emulators, "t", "take_confirm")
    assert press(emulators, app, bob, button, "first").startswith(":white_check_mark:")
    join_syncs(app)
    assert press(emulators, app, bob, button, "second") == \
        "This button was used already; `/oncall me` shows your shifts."
    assert len([r for r in emulators.opsgenie.requests if r.method == "POST"]) == 1  # one override, not two


def test_an_override_whose_answer_does_not_fit_is_looked_for_and_found(emulators: Emulators,
                                                                      opsgenie_app: tuple[Service, SlackApp]) -> None:
    """Opsgenie makes the override, but its answer is not one to read: the schedule's overrides
    are read to find out (never written again), the asker is told it is theirs, the group is
    synced, and give-back can end it."""
    def break_create(body: dict) -> dict:  # the list of overrides is answered as it is
        created = isinstance(body.get("data"), dict) and "alias" in body["data"]
        return {"result": "?"} if created else body

    _, app = opsgenie_app  # its first pass read no override
    emulators.opsgenie.inject(r"/overrides$", kind="transform", transform=break_create)
    bob = uid(emulators, "bob@example.com")
    ask_later(emulators, app, "take 1h delivery-support", bob, "t")
    answer = press(emulators, app, bob, offered_button(emulators, "t", "take_confirm"), "t")
    assert answer.startswith(":white_check_mark: You are on call in @delivery-support"), answer
    join_syncs(app)
    assert emulators.slack.state.emails_of("delivery-support") == ["bob@example.com", "dana.lead@example.com"]
    _, back = ask_later(emulators, app, "give-back", bob, "back")
    assert back.startswith(":leftwards_arrow_with_hook: Given back"), back
    assert len([r for r in emulators.opsgenie.requests if r.method == "POST"]) == 1
