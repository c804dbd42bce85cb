"""PagerDuty, issue 18 items 6 and 8, end to end over loopback HTTP against the emulators.

Item 6: a schedule that makes ``GET /oncalls`` fail as a whole (a 403 for a schedule of a team the
key may not see, a 404 for one deleted since its id was listed, a 5xx) fails only its own groups:
the failed batch is split and asked again until the schedule at fault is alone. An error about the
whole request (a bad key, a rate limit, a dropped connection, no time left in the pass) is not
narrowed down. With it, PagerDuty's DELETE of an override under way, which truncates the override
to now and answers 200 (a future one is deleted: 204).

Item 8: a ``users:`` entry keyed by a PagerDuty user id wins over that user's PagerDuty e-mail.

Worked out by hand from the sample organisation (see test_providers_e2e.py): at DEMO_START (Mon
2026-11-23 08:58 UTC) carol is on call in Delivery, dave in Payments, nobody in Platform; at
DEMO_AFTER_HANDOFF (09:01) alice in Delivery, grace in Payments (her override), frank.og in
Platform (frank@example.com in Slack). The Slack groups start as: delivery-support bob and
dana.lead, payments-oncall dave, platform-oncall heidi.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from slackgenie.core.model import OnCall, ReadFailure
from slackgenie.engine.people import identities
from slackgenie.sources.pagerduty import PagerDutySource
from slackgenie_emulators import Emulators
from slackgenie_emulators.pagerduty import PAGERDUTY_TOKEN
from slackgenie_emulators.sample import DEMO_AFTER_HANDOFF, DEMO_START, SAMPLE_CONFIG, scaled_org

from conftest import SECRETS, CliResult, service_for, write_config
from providers_fixtures import (BOB, CAROL, DELIVERY, HANDOFF, PAYMENTS, PLATFORM, UTC, run_main, sample_service,
                                sample_source)

UNTOUCHED = {"delivery-support": ["bob@example.com", "dana.lead@example.com"],
             "payments-oncall": ["dave@example.com"], "platform-oncall": ["heidi@example.com"]}


def sync(emu: Emulators, tmp_path: Path, text: str = SAMPLE_CONFIG, env: dict[str, str] | None = None,
         fast_retry: bool = True) -> CliResult:
    write_config(tmp_path, "provider: pagerduty\n" + text, fast_retry)
    result = run_main(["sync"], {**emu.env(), **(env or {})})
    assert not any(s in result.both for s in (*SECRETS, PAGERDUTY_TOKEN))
    return result


def groups(emu: Emulators) -> dict[str, list[str]]:
    return {handle: emu.slack.state.emails_of(handle) for handle in UNTOUCHED}


def oncalls_now(emu: Emulators) -> int:
    """``GET /oncalls`` requests for who is on call now (the forecast's name a range: ``since``)."""
    return sum(1 for r in emu.pagerduty.requests if r.path == "/oncalls" and "since" not in r.params)


@pytest.fixture
def pagerduty(emulators: Emulators, tmp_path: Path) -> Iterator[PagerDutySource]:
    with sample_source(emulators, tmp_path, PagerDutySource) as source:
        yield source


def on_call_at(source: PagerDutySource, at: datetime) -> frozenset[str]:
    read = source.on_calls([DELIVERY], at=at)[DELIVERY]
    assert isinstance(read, OnCall), read
    return read.usernames


# --- item 6: one failing schedule fails only its own groups ---------------------------------------

@pytest.mark.parametrize("status", [403, 404, 503])
def test_a_schedule_that_fails_its_batch_fails_only_its_group(emulators: Emulators, tmp_path: Path,
                                                              status: int) -> None:
    emulators.pagerduty.refuse(PAYMENTS, status)
    emulators.clock.set(DEMO_AFTER_HANDOFF)
    result = sync(emulators, tmp_path)
    assert result.code == 1, result.both
    assert groups(emulators) == {"delivery-support": ["alice@example.com", "dana.lead@example.com"],
                                 "payments-oncall": ["dave@example.com"],  # left as it was, not emptied
                                 "platform-oncall": ["frank@example.com"]}
    assert "@payments-oncall" in result.out and f"HTTP {status}" in result.out and PAYMENTS in result.out
    assert "2 updated, 1 failed" in result.out
    # three schedules: the batch (its retries for a 503: 4 attempts), then halves of 1 and 2, then
    # the 2's halves, each asked once
    assert oncalls_now(emulators) <= (4 if status >= 500 else 1) + 4


@pytest.mark.parametrize("refused", [{17: 403}, {17: 403, 64: 404}], ids=["one", "two"])
def test_bad_schedules_among_a_hundred_are_found_in_a_few_calls(tmp_path: Path, refused: dict[int, int]) -> None:
    org = scaled_org(100)  # one batch: /oncalls takes a hundred schedule ids
    at = datetime(2026, 11, 23, 12, 30, tzinfo=UTC)
    with Emulators(org, at=at) as emu:
        for g, status in refused.items():
            emu.pagerduty.refuse(f"Team {g:03d}_schedule", status)
        write_config(tmp_path, "provider: pagerduty\n" + org.config_yaml + "slack_writes_per_minute: 1000\n")
        result = run_main(["sync"], emu.env())
        assert result.code == 1, result.both[-3000:]
        assert f"100 group(s): {100 - len(refused)} updated, {len(refused)} failed" in result.out
        # each schedule at fault costs at most two calls (both halves) on each of the ceil(log2(100)) = 7
        # levels of halving, after the batch itself
        assert oncalls_now(emu) <= 1 + 2 * 7 * len(refused)
        for g in range(100):
            name, handle = f"Team {g:03d}_schedule", f"team-{g:03d}-oncall"
            schedule = emu.opsgenie.state.schedule(name, "name")
            assert schedule is not None
            expected = [] if g in refused else sorted(schedule.recipients(at))  # the engine's answer
            assert emu.slack.state.emails_of(handle) == expected, handle
        for g in refused:
            assert f"Team {g:03d}_schedule" in result.out


@pytest.mark.parametrize("fault", ["bad key", "rate limit", "dropped connection"])
def test_an_error_about_the_whole_request_is_not_narrowed(emulators: Emulators, tmp_path: Path,
                                                          fault: str) -> None:
    emulators.pagerduty.refuse(PAYMENTS, 403)  # a schedule at fault as well: it changes nothing
    if fault == "bad key":  # (the schedule list is read first: it is refused here by /oncalls alone)
        emulators.pagerduty.inject(r"^/oncalls$", status=401)
        expected = 1  # a 401 is not retried
    elif fault == "rate limit":
        emulators.pagerduty.inject(r"^/oncalls$", status=429, retry_after=0.1)
        expected = 4  # retried (attempts: 4), then held: nothing more is sent
    else:
        emulators.pagerduty.inject(r"^/oncalls$", kind="drop")
        expected = 4  # retried (attempts: 4)
    result = sync(emulators, tmp_path)
    assert result.code == 1, result.both
    assert groups(emulators) == UNTOUCHED
    assert "3 failed" in result.out
    assert oncalls_now(emulators) == expected


def test_a_refusal_of_every_part_of_a_batch_is_not_narrowed_down_to_the_end(tmp_path: Path) -> None:
    # a key without the scope /oncalls needs: every request is refused, whatever it names
    org = scaled_org(100)
    with Emulators(org, at=datetime(2026, 11, 23, 12, 30, tzinfo=UTC)) as emu:
        emu.pagerduty.inject(r"^/oncalls$", status=403)
        service = service_for(emu, tmp_path, "provider: pagerduty\n" + org.config_yaml)
        try:
            refs = [f"Team {g:03d}_schedule" for g in range(100)]
            reads = service.source.on_calls([f"pagerduty:{r}" for r in refs])
        finally:
            service.close()
        # the batch, its halves, their halves: four parts failing alike are not one schedule's
        assert oncalls_now(emu) == 1 + 2 + 4
        assert all(isinstance(read, ReadFailure) and "fails alike" in read.error for read in reads.values())


def test_no_narrowing_call_is_made_that_could_outlast_the_pass(emulators: Emulators, tmp_path: Path) -> None:
    # a pass may take 5 s; one attempt may take 10 s: no call narrowing the batch could end in time
    emulators.pagerduty.refuse(PAYMENTS, 403)
    text = SAMPLE_CONFIG + "pass_deadline: 5\nretry: {attempts: 2, budget: 4, backoff: 0.05, timeout: 10}\n"
    result = sync(emulators, tmp_path, text, fast_retry=False)
    assert result.code == 1, result.both
    assert groups(emulators) == UNTOUCHED
    assert oncalls_now(emulators) == 1
    assert "not narrowed down" in result.out


def test_the_forecast_leaves_out_only_the_schedule_at_fault(emulators: Emulators,
                                                            pagerduty: PagerDutySource) -> None:
    emulators.pagerduty.refuse(PAYMENTS, 403)
    # Delivery hands over at 09:00 (carol to alice), Platform opens at 09:00 (frank.og)
    assert pagerduty.next_handoff([DELIVERY, PAYMENTS, PLATFORM], DEMO_START) == HANDOFF
    assert pagerduty.next_handoff([PAYMENTS], DEMO_START) is None  # unknown, never made up


# --- item 6: deleting an override under way -------------------------------------------------------

def test_giving_back_an_override_under_way_truncates_it(emulators: Emulators, pagerduty: PagerDutySource) -> None:
    bob = emulators.pagerduty.user_id(BOB)
    sid = emulators.pagerduty.schedule_id(DELIVERY)
    start, end = DEMO_START - timedelta(hours=1), DEMO_START + timedelta(hours=1)
    taken = pagerduty.create_override(DELIVERY, bob, start, end)
    assert on_call_at(pagerduty, DEMO_START) == {BOB}

    pagerduty.delete_override(DELIVERY, taken)
    assert [r.status for r in emulators.pagerduty.requests if r.method == "DELETE"] == [200]  # truncated
    # still there, ended now: its first hour stands, as PagerDuty documents
    listed = pagerduty.client.overrides(sid, start, DEMO_START)
    assert [(o.id, o.start, o.end) for o in listed] == [(taken, start, DEMO_START)]
    assert pagerduty.overrides_of(DELIVERY, bob, DEMO_START) == []
    assert on_call_at(pagerduty, DEMO_START) == {CAROL}
    assert on_call_at(pagerduty, start) == {BOB}

    # a future override is deleted outright: 204
    tomorrow = DEMO_START + timedelta(days=1)
    later = pagerduty.create_override(DELIVERY, bob, tomorrow, tomorrow + timedelta(hours=1))
    pagerduty.delete_override(DELIVERY, later)
    assert [r.status for r in emulators.pagerduty.requests if r.method == "DELETE"] == [200, 204]
    assert pagerduty.client.overrides(sid, DEMO_START, DEMO_START + timedelta(days=2)) == []


def test_a_delete_retried_after_its_answer_was_lost_is_done(emulators: Emulators,
                                                            pagerduty: PagerDutySource) -> None:
    bob = emulators.pagerduty.user_id(BOB)
    taken = pagerduty.create_override(DELIVERY, bob, DEMO_START - timedelta(hours=1), DEMO_START + timedelta(hours=1))
    emulators.pagerduty.inject(r"/overrides/", kind="lost", times=1, method="DELETE")
    pagerduty.delete_override(DELIVERY, taken)  # truncated, the answer lost, the retry refused: done
    assert [r.status for r in emulators.pagerduty.requests if r.method == "DELETE"] == [200, 400]
    assert pagerduty.overrides_of(DELIVERY, bob, DEMO_START) == []
    assert on_call_at(pagerduty, DEMO_START) == {CAROL}


# --- item 8: a users: entry keyed by the PagerDuty user id ---------------------------------------

@pytest.mark.parametrize("spelt", ["as PagerDuty spells it", "lower-cased"])
def test_an_id_keyed_entry_is_used_where_the_pagerduty_email_is_unknown_to_slack(emulators: Emulators,
                                                                                tmp_path: Path, spelt: str) -> None:
    frank = emulators.pagerduty.user_id("frank.og@example.com")  # his PagerDuty e-mail is no Slack e-mail
    key = frank if spelt == "as PagerDuty spells it" else frank.lower()
    text = SAMPLE_CONFIG.replace("frank.og@example.com: frank@example.com", f"{key}: frank@example.com")
    emulators.clock.set(DEMO_AFTER_HANDOFF)
    result = sync(emulators, tmp_path, text)
    assert result.code == 0, result.both
    assert groups(emulators) == {"delivery-support": ["alice@example.com", "dana.lead@example.com"],
                                 "payments-oncall": ["grace@example.com"],
                                 "platform-oncall": ["frank@example.com"]}


def test_an_id_keyed_entry_wins_over_a_shared_address_of_another_slack_account(emulators: Emulators,
                                                                              tmp_path: Path) -> None:
    # The support desk's PagerDuty login has the desk's shared address, which is also a Slack
    # account of its own; Dave works the desk today (an override in Delivery for the hour).
    og, slack = emulators.opsgenie.state, emulators.slack.state
    og.add_user("desk@example.com", "Support Desk")
    slack.add_user("desk", "desk@example.com", "Support Desk")
    delivery = og.schedule(DELIVERY, "name")
    assert delivery is not None
    half_hour = timedelta(minutes=30)
    og.add_override(delivery, "desk@example.com", DEMO_START - half_hour, DEMO_START + half_hour)
    desk = emulators.pagerduty.user_id("desk@example.com")
    result = sync(emulators, tmp_path, SAMPLE_CONFIG + f"  {desk}: dave@example.com\n")
    assert result.code == 0, result.both
    assert groups(emulators) == {"delivery-support": ["dana.lead@example.com", "dave@example.com"],
                                 "payments-oncall": ["dave@example.com"],
                                 "platform-oncall": ["ivan@example.com"]}  # nobody: the fallback


def test_members_and_shifts_name_a_mapped_user_by_id(emulators: Emulators, tmp_path: Path) -> None:
    """`/oncall take`, `/oncall me` and the heads-ups match people the way the sync does."""
    frank = emulators.pagerduty.user_id("frank.og@example.com")
    heidi = emulators.pagerduty.user_id("heidi@example.com")
    text = SAMPLE_CONFIG.replace("frank.og@example.com: frank", f"{frank}: frank")
    with sample_service(emulators, tmp_path, "pagerduty", text) as service:
        source = service.source.sources["pagerduty"]
        assert isinstance(source, PagerDutySource)
        assert source.members(PLATFORM) == {frank: frank, "heidi@example.com": heidi}
        assert emulators.pagerduty.calls(rf"^/users/{frank}$") == 0  # his e-mail is not needed
        # Mon 23 09:00-17:00 London (UTC in November): turn 20 of frank.og and heidi is frank.og's
        read = source.stretches([PLATFORM], DEMO_START, DEMO_START + timedelta(hours=12))[PLATFORM]
        assert isinstance(read, list)
        assert [(s.start, s.end, s.people) for s in read if s.people] == [
            (HANDOFF, datetime(2026, 11, 23, 17, 0, tzinfo=UTC), frozenset({frank}))]
        user = emulators.slack.state.user_by_email("frank@example.com")
        assert user is not None
        slack_frank = service.directory.user_by_id(user.id)
        assert frank in identities(slack_frank, service.config.file.users)
