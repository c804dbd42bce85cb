"""Exactly once, for real (issue 18): side effects under a state file that cannot be saved,
several processes sharing it, lost answers and Slack outages, and takes past their deadline.

Expected values are worked out by hand from the sample organisation (see test_people.py's
header): at DEMO_START (Mon 2026-11-23 08:58 UTC) @delivery-support goes from bob to carol at
once (its group still holds bob), and alice (Delivery), grace (Payments' override) and frank
(Platform) start shifts at 09:00, so with ``heads_up: 1h`` each is due one DM.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from slackgenie.app.runner import SlackApp
from slackgenie.wiring import Service
from slackgenie.core.facts import StateNotSaved
from slackgenie.engine.state import StateStore
from slackgenie_emulators import Emulators
from slackgenie_emulators.injector import form_body, signed_headers, slash_command
from slackgenie_emulators.sample import BOT_TOKEN, SAMPLE_CONFIG

from conftest import CliResult, clean_env, output, spawn, write_config
from providers_fixtures import run_main
from test_edges import ANNOUNCE_DELIVERY
from test_operations import free_port, wait_for
from test_people import (SIGNING, ask_later, dm_texts, join_syncs, offered_button, press, service_for, uid)

UTC = timezone.utc
HEADS_UP_AND_ANNOUNCE = (SAMPLE_CONFIG.replace("interval: 60\n", "interval: 60\nheads_up: 1h\n")
                         .replace("    users: [dana.lead@example.com]\n",
                                  "    users: [dana.lead@example.com]\n    announce: '#delivery'\n"))
NOW = ["carol@example.com", "dana.lead@example.com"]


def announcements(emu: Emulators) -> list[dict[str, Any]]:
    channel = emu.slack.state.channel("delivery").id  # type: ignore[union-attr]
    return [m for m in emu.slack.state.messages if m["channel"] == channel and "is now" in m["text"]]


def all_dms(emu: Emulators) -> int:
    return sum(len(emu.slack.dms_to(uid(emu, e))) for e in ("alice@example.com", "grace@example.com",
                                                              "frank@example.com"))


def sync(emu: Emulators, tmp_path: Path, config: str = HEADS_UP_AND_ANNOUNCE) -> CliResult:
    """`slackgenie sync` in-process: a fresh service each time, as a new process would build."""
    write_config(tmp_path, config)
    return run_main(["sync"], emu.env())


# --- 1. a state file that cannot be saved stops the side effects it guards, loudly --------------

def test_a_state_file_that_cannot_be_saved_repeats_nothing_and_fails_the_pass(emulators: Emulators,
                                                                              tmp_path: Path) -> None:
    (tmp_path / ".slackgenie-state.json.tmp").mkdir()  # every save fails (as on a full or read-only volume)
    for _ in range(3):  # three cron runs at 08:58: before the fix, three DMs each and three posts
        result = sync(emulators, tmp_path)
        assert result.code == 1, result.both
        assert "FAILED: the state file" in result.out and "could not be saved" in result.out
        assert "state.not_saved" in result.err and "Traceback" not in result.both
    assert emulators.slack.state.emails_of("delivery-support") == NOW  # the groups are synced all the same
    assert all_dms(emulators) == 0 and announcements(emulators) == []
    assert emulators.slack.calls(r"chat\.postMessage") == 0

    (tmp_path / ".slackgenie-state.json.tmp").rmdir()  # the volume is fixed: each heads-up goes once
    assert sync(emulators, tmp_path).code == 0
    assert sync(emulators, tmp_path).code == 0
    assert [len(dm_texts(emulators, e)) for e in ("alice@example.com", "grace@example.com", "frank@example.com")] \
        == [1, 1, 1]


def test_a_failed_save_is_counted_for_the_alert(emulators: Emulators, tmp_path: Path) -> None:
    (tmp_path / ".slackgenie-state.json.tmp").mkdir()
    service = service_for(emulators, tmp_path, HEADS_UP_AND_ANNOUNCE)
    try:
        report = service.run_pass()
        assert not report.ok and report.exit_code == 1 and report.faults
        metrics = service.metrics.exposition().decode()
        assert "slackgenie_state_not_saved_total 2.0" in metrics  # the announcement and the heads-ups
        assert 'slackgenie_passes_total{result="partial"} 1.0' in metrics
    finally:
        service.close()


def test_a_take_that_cannot_be_recorded_changes_nothing(emulators: Emulators,
                                                        tmp_path: Path,
                                                        opsgenie_app: tuple[Service, SlackApp]) -> None:
    _, app = opsgenie_app
    bob = uid(emulators, "bob@example.com")
    ask_later(emulators, app, "take 1h delivery-support", bob, "t")
    (tmp_path / ".slackgenie-state.json.tmp").mkdir()
    answer = press(emulators, app, bob, offered_button(emulators, "t", "take_confirm"), "t")
    assert answer.startswith(":warning: Slackgenie could not record this take"), answer
    assert "nothing was changed" in answer
    assert not [r for r in emulators.opsgenie.requests if r.method == "POST"]  # no override


def test_an_unreadable_state_file_is_never_written_over(emulators: Emulators, tmp_path: Path) -> None:
    (tmp_path / ".slackgenie-state.json").write_text('{"facts": {"announced:delivery-support": ')  # cut short
    result = sync(emulators, tmp_path)
    assert result.code == 1 and "cannot be read" in result.out
    assert (tmp_path / ".slackgenie-state.json").read_text() == '{"facts": {"announced:delivery-support": '
    assert all_dms(emulators) == 0 and announcements(emulators) == []


# --- 2. serve never writes ------------------------------------------------------------------------

def test_serve_takes_a_shift_but_writes_no_group_no_dm_no_post(emulators: Emulators, tmp_path: Path) -> None:
    """`slackgenie serve` as a real process, over HTTP: bob takes 1 h of Delivery. The override is
    made (that is the app's job); no group is written, no heads-up or announcement is sent."""
    port = free_port()
    write_config(tmp_path, HEADS_UP_AND_ANNOUNCE.replace("interval: 60", "interval: 1"))
    proc = spawn([sys.executable, "-m", "slackgenie", "serve", "--bind", "127.0.0.1", "--port", str(port)],
                 {**emulators.env(), "SLACK_SIGNING_SECRET": SIGNING}, tmp_path, "serve")
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: _ready(base), 30)
        bob = uid(emulators, "bob@example.com")
        body = form_body(slash_command("take 1h delivery-support", bob, emulators.slack.response_url("t")))
        httpx.post(base + "/slack/events", content=body, timeout=10,
                   headers=signed_headers(SIGNING, body, "application/x-www-form-urlencoded"))
        assert wait_for(lambda: any("blocks" in r for r in emulators.slack.state.responses.get("t", [])), 20)
        button = offered_button(emulators, "t", "take_confirm")
        payload = {"type": "block_actions", "user": {"id": bob, "team_id": "T0EMULATE1"},
                   "team": {"id": "T0EMULATE1"}, "api_app_id": "A0EMULATE1", "trigger_id": "1.2",
                   "token": "legacy-verification-token", "response_url": emulators.slack.response_url("p"),
                   "container": {"type": "message", "is_ephemeral": True},
                   "actions": [{**button, "block_id": "b", "type": "button", "action_ts": "1700000000.1"}]}
        body = form_body({"payload": json.dumps(payload)})
        httpx.post(base + "/slack/events", content=body, timeout=10,
                   headers=signed_headers(SIGNING, body, "application/x-www-form-urlencoded"))
        assert wait_for(lambda: any(str(r.get("text", "")).startswith(":white_check_mark:")
                                    for r in emulators.slack.state.responses.get("p", [])), 20)
        assert wait_for(lambda: output(tmp_path, "serve")[0].count("Plan (dry run") >= 3, 20)  # passes after the take
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert len([r for r in emulators.opsgenie.requests if r.method == "POST"]) == 1  # the override
    assert emulators.slack.calls(r"usergroups\.users\.update") == 0
    assert emulators.slack.calls(r"conversations\.open") == 0 and emulators.slack.calls(r"chat\.postMessage") == 0
    assert emulators.slack.state.emails_of("delivery-support") == ["bob@example.com", "dana.lead@example.com"]


def _ready(base: str) -> bool:
    try:
        return httpx.get(base + "/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


# --- 3. processes sharing the state file never erase each other's facts ------------------------

def test_two_stores_on_one_file_merge_and_never_go_back(tmp_path: Path) -> None:
    """The app's store (run) and a cron sync's store, loaded at the same time: each one's facts
    survive the other's saves, and neither ever reads an older file over its memory."""
    path = tmp_path / "state.json"
    app, cron = StateStore(path), StateStore(path)
    app.put("take:n1", "U1")
    app.put("override:opsgenie:Delivery:o1", "U1")
    cron.put("announced:delivery-support", "U3")  # it loaded an empty file before the take
    assert app.get("take:n1") == "U1" and cron.get("take:n1") == "U1"
    assert app.get("override:opsgenie:Delivery:o1") == "U1"
    assert app.get("announced:delivery-support") == "U3"
    assert cron.claim("take:n1", "U1") is False  # the button was used, whichever process sees it
    assert json.loads(path.read_text())["facts"] == {"take:n1": "U1", "override:opsgenie:Delivery:o1": "U1",
                                                     "announced:delivery-support": "U3"}


WRITER = """
import sys
from pathlib import Path
from slackgenie.engine.state import StateStore
store = StateStore(Path(sys.argv[1]))
for i in range(int(sys.argv[3])):
    store.put(f"{sys.argv[2]}:{i}", "x")
"""


def test_four_processes_putting_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"p{n}", "150"], env=clean_env())
             for n in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    facts = json.loads(path.read_text())["facts"]
    assert len(facts) == 600 and all(f"p{n}:{i}" in facts for n in range(4) for i in range(150))


def test_a_cron_sync_beside_run_with_its_app_keeps_the_take(emulators: Emulators, tmp_path: Path) -> None:
    """run's app takes a shift while a slow cron `sync` (a real process, which loaded the state
    file before the take) records its announcement after it. run's next pass reads the file:
    give-back still finds the take, and the used button still says so (no second override)."""
    config = "provider: opsgenie\n" + HEADS_UP_AND_ANNOUNCE.replace("heads_up: 1h\n", "")
    service = service_for(emulators, tmp_path, config)
    try:
        app = SlackApp(service)
        app.refresh(service.run_pass(dry_run=True))
        bob = uid(emulators, "bob@example.com")
        emulators.slack.inject(r"chat\.postMessage", kind="latency", delay=2.5, times=1)  # its post is slow
        write_config(tmp_path, config)
        cron = subprocess.Popen([sys.executable, "-m", "slackgenie", "sync"], cwd=tmp_path,
                                env=clean_env(emulators.env()), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # The cron run is posting its announcement (and records it once Slack answers, 2.5 s on).
        assert wait_for(lambda: any(p.endswith("chat.postMessage") for _, p in list(emulators.slack.arrivals)), 20)
        ask_later(emulators, app, "take 1h delivery-support", bob, "t")
        button = offered_button(emulators, "t", "take_confirm")
        assert press(emulators, app, bob, button, "first").startswith(":white_check_mark:")
        join_syncs(app)
        assert cron.wait(timeout=60) == 0
        assert announcements(emulators)  # the cron run announced, and saved that, after the take
        service.run_pass()  # run's next pass reads the file the cron run saved
        assert press(emulators, app, bob, button, "second") == \
            "This button was used already; `/oncall me` shows your shifts."
        _, back = ask_later(emulators, app, "give-back", bob, "back")
        assert back.startswith(":leftwards_arrow_with_hook: Given back"), back
        assert len([r for r in emulators.opsgenie.requests if r.method == "POST"]) == 1
    finally:
        service.close()


# --- 4. a take past the pool's deadline may still be made; asking again makes no second --------

def test_a_slow_take_says_it_may_still_be_made_and_a_second_take_finds_the_first(emulators: Emulators,
                                                                                 opsgenie_app: tuple[Service, SlackApp]) -> None:
    _, app = opsgenie_app
    app.pool.deadline = 1.0  # the provider is slower than the pool waits (17 s in the field)
    bob = uid(emulators, "bob@example.com")
    ask_later(emulators, app, "take 1h delivery-support", bob, "t1")
    button = offered_button(emulators, "t1", "take_confirm")
    emulators.opsgenie.inject(r"/overrides$", kind="latency", delay=2.0, times=1, method="POST")  # the create
    answer = press(emulators, app, bob, button, "p1")
    assert "may still be taken" in answer and "try again" not in answer.lower(), answer
    assert wait_for(lambda: len([r for r in emulators.opsgenie.requests if r.method == "POST"]) == 1, 15)
    join_syncs(app)
    app.pool.deadline = 20.0
    ask_later(emulators, app, "take 1h delivery-support", bob, "t2")  # asked again, a new button
    again = press(emulators, app, bob, offered_button(emulators, "t2", "take_confirm"), "p2")
    assert again.startswith(":white_check_mark: You are on call in @delivery-support"), again
    assert len([r for r in emulators.opsgenie.requests if r.method == "POST"]) == 1  # one override
    _, back = ask_later(emulators, app, "give-back", bob, "back")  # and it can be given back
    assert back.startswith(":leftwards_arrow_with_hook: Given back"), back


# --- 5. announcements: a definite "not done" is retried; a lost answer is looked for ------------

@pytest.mark.parametrize("fault,posts,calls", [
    ({"status": 503, "times": 1}, 1, 2),  # an outage at Slack's door: retried at once
    ({"status": 503, "times": 6}, 1, None),  # a longer outage (attempts within the budget): the next pass
    ({"kind": "drop", "times": 1}, 1, 2),  # nothing reached Slack: not there, so posted again
    ({"kind": "lost", "times": 1}, 1, 1),  # posted, the answer lost: found, not posted again
    ({"kind": "latency", "delay": 4.0, "times": 1}, 1, 1),  # posted after the 3 s timeout: found
    ({"kind": "transform", "times": 1, "transform": lambda b: {"ok": False, "error": "internal_error"}}, 1, 1),
])
def test_an_announcement_is_posted_exactly_once_whatever_slack_answers(emulators: Emulators, tmp_path: Path,
                                                                       fault: dict[str, Any], posts: int,
                                                                       calls: int | None) -> None:
    emulators.slack.inject(r"chat\.postMessage", **fault)
    first = sync(emulators, tmp_path, ANNOUNCE_DELIVERY)
    assert first.code == 0 and "Traceback" not in first.both
    time.sleep(fault.get("delay", 0))  # let a slow post land
    second = sync(emulators, tmp_path, ANNOUNCE_DELIVERY)
    sync(emulators, tmp_path, ANNOUNCE_DELIVERY)
    assert len(announcements(emulators)) == posts, (first.out, second.out)
    if calls is not None:
        assert emulators.slack.calls(r"chat\.postMessage") == calls
    if fault.get("kind") in ("lost", "latency", "transform"):
        assert "not confirmed" in first.out and "was posted by an earlier attempt" in second.out


def test_without_history_scope_a_lost_announcement_is_not_repeated_and_the_fix_is_named(
        emulators: Emulators, tmp_path: Path) -> None:
    token = emulators.slack.state.tokens[BOT_TOKEN]
    token.scopes = [s for s in token.scopes if s != "channels:history"]
    emulators.slack.inject(r"chat\.postMessage", kind="drop", times=1)  # not posted, but who can tell
    sync(emulators, tmp_path, ANNOUNCE_DELIVERY)
    second = sync(emulators, tmp_path, ANNOUNCE_DELIVERY)
    assert "may have been posted by an earlier attempt; not repeated" in second.out
    assert "add channels:history to the Slack app" in second.out
    assert emulators.slack.calls(r"chat\.postMessage") == 1  # at most once


@pytest.mark.parametrize("fault,dms,calls", [({"kind": "lost", "times": 1}, 1, 1), ({"kind": "drop", "times": 1}, 1, 2),
                                             ({"status": 503, "times": 1}, 1, 2)])
def test_a_heads_up_is_sent_exactly_once_whatever_slack_answers(emulators: Emulators, tmp_path: Path,
                                                                fault: dict[str, Any], dms: int, calls: int) -> None:
    config = SAMPLE_CONFIG.replace("interval: 60\n", "interval: 60\n").replace(
        "  - usergroup: delivery-support\n", "  - usergroup: delivery-support\n    heads_up: 1h\n")
    emulators.slack.inject(r"chat\.postMessage", **fault)  # alice's is the only heads-up
    for _ in range(3):
        assert sync(emulators, tmp_path, config).code == 0
    assert len(dm_texts(emulators, "alice@example.com")) == dms
    assert emulators.slack.calls(r"chat\.postMessage") == calls


# --- 13, 14: give-back asks which, and ends an override whose create answer was lost -----------

def test_give_back_with_shifts_in_two_groups_asks_which(emulators: Emulators, tmp_path: Path) -> None:
    og, slack = emulators.opsgenie.state, emulators.slack.state
    og.add_schedule("Release_schedule", "UTC", rotations=[{
        "name": "Daily", "type": "daily", "length": 1, "startDate": "2026-11-02T09:00:00Z",
        "participants": [{"type": "user", "username": "bob@example.com"},
                         {"type": "user", "username": "erin@example.com"}]}])
    slack.add_group("release-oncall", "Release on-call", [])
    config = "provider: opsgenie\n" + SAMPLE_CONFIG.replace(
        "users:\n", "  - usergroup: release-oncall\n    schedules: [Release_schedule]\nusers:\n")
    service = service_for(emulators, tmp_path, config)
    try:
        app = SlackApp(service)
        app.refresh(service.run_pass())
        bob = uid(emulators, "bob@example.com")
        for group in ("delivery-support", "release-oncall"):
            ask_later(emulators, app, f"take 1h {group}", bob, f"t-{group}")
            answer = press(emulators, app, bob, offered_button(emulators, f"t-{group}", "take_confirm"), f"p-{group}")
            assert answer.startswith(":white_check_mark:"), answer
        join_syncs(app)
        _, asked = ask_later(emulators, app, "give-back", bob, "back")
        assert asked.startswith("You have shifts taken in more than one group: name one of"), asked
        assert "`delivery-support`" in asked and "`release-oncall`" in asked
        assert not [r for r in emulators.opsgenie.requests if r.method == "DELETE"]  # nothing ended unasked
        _, back = ask_later(emulators, app, "give-back release-oncall", bob, "back2")
        assert back.startswith(":leftwards_arrow_with_hook: Given back: your shift in @release-oncall"), back
    finally:
        service.close()


def test_an_override_whose_create_answer_was_lost_is_found_and_can_be_given_back(emulators: Emulators,
                                                                                 opsgenie_app: tuple[Service, SlackApp]) -> None:
    _, app = opsgenie_app
    bob = uid(emulators, "bob@example.com")
    ask_later(emulators, app, "take 1h delivery-support", bob, "t")
    button = offered_button(emulators, "t", "take_confirm")
    emulators.opsgenie.inject(r"/overrides$", kind="lost", times=1, method="POST")  # made, the answer lost
    answer = press(emulators, app, bob, button, "p")
    assert answer.startswith(":white_check_mark: You are on call in @delivery-support"), answer
    join_syncs(app)
    assert emulators.slack.state.emails_of("delivery-support") == ["bob@example.com", "dana.lead@example.com"]
    _, back = ask_later(emulators, app, "give-back", bob, "back")
    assert back.startswith(":leftwards_arrow_with_hook: Given back"), back
    assert len([r for r in emulators.opsgenie.requests if r.method == "POST"]) == 1


# --- 16: records do not grow for ever ------------------------------------------------------------

def test_facts_with_an_expiry_are_dropped_by_the_next_change(tmp_path: Path) -> None:
    clock = [datetime(2026, 11, 23, 9, 0, tzinfo=UTC)]
    store = StateStore(tmp_path / "state.json", lambda: clock[0])
    store.put("take:n1", "U1", keep_until=clock[0] + timedelta(hours=3))
    store.put("announced:g", "U2")  # no expiry: kept
    clock[0] += timedelta(hours=2)
    store.put("x", "1")
    assert store.get("take:n1") == "U1"
    clock[0] += timedelta(hours=2)
    store.put("y", "1")
    assert store.get("take:n1") is None and store.get("announced:g") == "U2"
    assert "take:n1" not in json.loads((tmp_path / "state.json").read_text())["facts"]


def test_a_fact_that_cannot_be_saved_is_not_kept_in_memory_either(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    store.put("a", "1")
    (tmp_path / "state.json.tmp").mkdir()
    with pytest.raises(StateNotSaved):
        store.put("b", "2")
    assert store.get("b") is None and store.get("a") == "1"
    with pytest.raises(StateNotSaved):
        store.claim("c", "3")
    assert store.get("c") is None
