"""Calendar feeds as a provider (slackgenie/sources/ical), through the interface every provider
offers: its settings as the registry reads them (``SPEC.load``, the ``ical:`` block), and the
source ``SPEC.build`` makes (``OnCallSource`` and ``Forecasting``, not ``ShiftTaking``) against the
feed emulator over real HTTP: conditional reads at most once per ``refresh``, the last good copy
for at most three of them, every fault a failed read of its own feed only, and never its address.

Who is on call comes from the emulator's weekly rota, which knows its own truth by plain
arithmetic (``Rotation.on_call``, ``changes``), or is worked out by hand where written so; the
clock is the emulator's, stepped, never today's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from slackgenie.core.clock import SteppedClock
from slackgenie.core.model import OnCall, ReadFailure
from slackgenie.environment import ConfigError
from slackgenie.retry import RetryPolicy, Stop
from slackgenie.settings import parse_file
from slackgenie.sources.base import Forecasting, ShiftTaking, SourceOptions
from slackgenie.sources.ical import SPEC, IcalOptions, IcalSource, check_schedules
from slackgenie.sources.routed import RoutedSource, Unable
from slackgenie.telemetry.metrics import Metrics
from slackgenie_emulators.base import Clock
from slackgenie_emulators.ical import IcalEmulator, shifts_feed, weekly_rotation

UTC = timezone.utc
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday
ALICE, BOB, CAROL, COVER = "alice@example.com", "bob@example.com", "carol@example.com", "cover@example.com"
FAST = RetryPolicy(attempts=2, budget=4, backoff=0.05, max_backoff=0.2, timeout=2)
NOBODY = frozenset[str]()


@pytest.fixture
def emu() -> Iterator[IcalEmulator]:
    with IcalEmulator(clock=Clock(frozen_at=NOW)) as server:
        assert isinstance(server, IcalEmulator)
        yield server


def build(emu: IcalEmulator, feeds: Mapping[str, Mapping[str, Any]], *, retry: RetryPolicy = FAST,
          users: Mapping[str, str] | None = None, pass_deadline: int = 20,
          observer: Metrics | None = None) -> IcalSource:
    """The source the registry would build: each feed's address in ``<NAME>_ICS_URL``."""
    block = IcalOptions.model_validate({"feeds": {n: {"url_env": f"{n.upper()}_ICS_URL", **o} for n, o in feeds.items()}})
    env = {f"{n.upper()}_ICS_URL": emu.feed_url(n) for n in feeds}
    options = SourceOptions(retry, 4, pass_deadline, dict(users or {}), block)
    source = SPEC.build(SPEC.load(env, block), options, SteppedClock(emu.clock), observer, Stop())
    assert isinstance(source, IcalSource)
    return source


@pytest.fixture
def source(emu: IcalEmulator) -> Iterator[IcalSource]:
    emu.set_feed("payments", weekly_rotation(NOW).text)
    made = build(emu, {"payments": {"refresh": 60}})
    try:
        yield made
    finally:
        made.close()


def who(source: IcalSource, ref: str = "payments", at: datetime | None = None) -> frozenset[str]:
    read = source.on_calls([ref], at)[ref]
    assert isinstance(read, OnCall), read
    return read.usernames


def failure(source: IcalSource, ref: str = "payments") -> str:
    read = source.on_calls([ref])[ref]
    assert isinstance(read, ReadFailure), read
    return read.error


def gets(emu: IcalEmulator, name: str = "payments") -> list[tuple[int, str | None]]:
    return [(r.status, r.if_none_match) for r in emu.reads(name)]


# --- settings ----------------------------------------------------------------------------------------

TOKEN = "Zq3xT7pLw9vKc2mN8bR4sY6d"


def test_an_address_is_read_from_its_variable_webcal_as_https_and_every_echoable_part_is_secret() -> None:
    block = IcalOptions.model_validate({"feeds": {"payments": {"url_env": "PAYMENTS_ICS_URL"},
                                                  "public": {"url": "https://cal.example.com/public/rota.ics"}}})
    given = f"webcal://acme.pagerduty.com/private/{TOKEN}/feed/P1ABCDE?token={TOKEN}x"
    secrets = SPEC.load({"PAYMENTS_ICS_URL": given}, block)
    assert secrets.feeds["payments"].url.get_secret_value() == given.replace("webcal://", "https://")
    assert secrets.feeds["public"].url.get_secret_value() == "https://cal.example.com/public/rota.ics"
    hidden = secrets.values()
    assert {given, given.replace("webcal://", "https://"), TOKEN, TOKEN + "x", f"token={TOKEN}x"} <= set(hidden)
    assert f"/private/{TOKEN}/feed/P1ABCDE" in hidden  # the path, as an error page echoes it
    assert "feed" not in hidden and "P1ABCDE" not in hidden  # short parts are no token: not hidden everywhere


@pytest.mark.parametrize("value,problem", [
    (None, "is not set"),
    (f"ftp://files.example.com/{TOKEN}.ics", "is not an https://, http:// or webcal:// address"),
    (f"{TOKEN}", "is not an https://, http:// or webcal:// address"),  # a token pasted alone
    (f"https://cal.example.com/{TOKEN} x", "contains a space"),
], ids=["unset", "ftp", "a token alone", "a space"])
def test_a_variable_that_holds_no_address_exits_2_naming_it_never_showing_it(value: str | None, problem: str) -> None:
    block = IcalOptions.model_validate({"feeds": {"payments": {"url_env": "PAYMENTS_ICS_URL"}}})
    with pytest.raises(ConfigError) as raised:
        SPEC.load({} if value is None else {"PAYMENTS_ICS_URL": value}, block)
    assert raised.value.key == "PAYMENTS_ICS_URL" and problem in raised.value.problem
    assert TOKEN not in str(raised.value)


@pytest.mark.parametrize("feed,key,message", [
    ("{url_env: A_URL, url: 'https://cal.example.com/a.ics'}", "ical.feeds.payments", "not both"),
    ("{person: attendee}", "ical.feeds.payments", "give either url_env"),
    ("{url_env: 'A-URL'}", "ical.feeds.payments.url_env", "not an environment variable's name"),
    ("{url: 'ftp://cal.example.com/a.ics'}", "ical.feeds.payments.url", "is not an https://"),
    ("{url_env: A_URL, refresh: 10}", "ical.feeds.payments.refresh", "greater than or equal to 30"),
    ("{url_env: A_URL, refresh: 90000}", "ical.feeds.payments.refresh", "less than or equal to 86400"),
    ("{url_env: A_URL, person: title}", "ical.feeds.payments.person", "'attendee' or 'summary'"),
    ("{url_env: A_URL, person: summary, pattern: '^On call: (.+)$'}", "ical.feeds.payments.pattern",
     "has no (?P<person>...) group"),
    ("{url_env: A_URL, person: summary, pattern: '^On call: (?P<person>.+$'}", "ical.feeds.payments.pattern",
     "is not a regular expression"),
    ("{url_env: A_URL, pattern: '^(?P<person>.+)$'}", "ical.feeds.payments", "it needs person: summary"),
    ("{url_env: A_URL, urls: x}", "ical.feeds.payments.urls", "Extra inputs are not permitted"),
], ids=["both", "neither", "a bad variable name", "ftp", "refresh too short", "refresh too long",
        "an unknown person", "no person group", "no regular expression", "a pattern without summary",
        "an unknown key"])
def test_the_ical_block_refuses_what_cannot_work_naming_the_key(feed: str, key: str, message: str) -> None:
    text = f"syncs:\n  - usergroup: payments-oncall\n    provider: ical\n    schedules: [payments]\n" \
           f"ical:\n  feeds:\n    payments: {feed}\n"
    with pytest.raises(ConfigError) as raised:
        parse_file(Path("slackgenie.yaml"), text)
    assert raised.value.key == key and message in raised.value.problem, raised.value


def test_no_feed_at_all_or_a_schedule_that_is_no_feed_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as none:
        SPEC.load({}, IcalOptions())
    assert none.value.key == "ical.feeds" and "url_env" in none.value.fix
    block = IcalOptions.model_validate({"feeds": {"payments": {"url_env": "A_URL"}}})
    check_schedules(block, ["payments"])
    with pytest.raises(ConfigError) as unknown:
        check_schedules(block, ["payments", "paymnets"])
    assert "'paymnets' is not a feed under ical.feeds (feeds: payments)" in unknown.value.problem


# --- OnCallSource and Forecasting --------------------------------------------------------------------

def test_a_feed_is_read_and_foreseen_but_takes_no_shift(source: IcalSource) -> None:
    assert source.provider == "ical"
    assert isinstance(source, Forecasting) and not isinstance(source, ShiftTaking)
    assert [(s.id, s.name, s.team, s.enabled) for s in source.catalog()] == [("payments", "payments", None, True)]
    routed = RoutedSource({"ical": source})
    why = routed.cannot_take("ical:payments")
    assert why is not None and "cannot be changed from Slack" in why and "the calendar" in why
    with pytest.raises(Unable):
        routed.members("ical:payments")


def test_who_is_on_call_agrees_with_the_rotas_own_arithmetic(emu: IcalEmulator, source: IcalSource) -> None:
    """Every 5 h 50 min over six weeks: the handoffs, the moved week (a day late, to its cover),
    the skipped and the cancelled weeks (nobody: an answer, not a failure)."""
    rota = weekly_rotation(NOW)
    # By hand: weeks hand over on Mondays 09:00 London (GMT: 09:00 UTC); the week of Mon Nov 23
    # is week 4 of a rota begun Mon Oct 26 (4 % 3 = 1): bob's. Week 5 (Nov 30) is moved a day
    # later to its cover; week 6 skipped, week 7 cancelled.
    assert who(source) == {BOB}
    assert who(source, at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC)) == NOBODY  # bob's ended, the cover's not begun
    assert who(source, at=datetime(2026, 12, 7, 8, 0, tzinfo=UTC)) == {COVER}  # the moved week runs a day late
    seen = set()
    for step in range(6 * 24 * 7 // 6):
        at = NOW - timedelta(days=7) + timedelta(minutes=350 * step)
        expected = rota.on_call(at)
        assert who(source, at=at) == expected, at
        seen.add(expected)
    assert {NOBODY, frozenset({ALICE}), frozenset({BOB}), frozenset({CAROL}), frozenset({COVER})} <= seen
    assert len(emu.reads("payments")) == 1  # one read for all of it


def test_handoffs_and_stretches_agree_with_the_rota(source: IcalSource) -> None:
    rota = weekly_rotation(NOW)
    for days in range(0, 28, 3):
        after = NOW + timedelta(days=days, hours=days)
        expected = rota.changes(after, after + timedelta(days=35))
        assert source.next_handoff(["payments"], after) == (expected[0] if expected else None), after
    assert source.next_handoff(["payments"], NOW) == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # by hand: Monday
    found = source.stretches(["payments", "nope"], NOW, NOW + timedelta(days=14))
    assert isinstance(found["nope"], ReadFailure)
    stretches = found["payments"]
    assert isinstance(stretches, list)
    for step in range(14 * 24 * 2):
        at = NOW + timedelta(minutes=30 * step)
        covering = [s.people for s in stretches if s.start <= at < s.end]
        assert (covering[0] if covering else NOBODY) == rota.on_call(at), at
    source.observe(source.on_calls(["payments"]), NOW)  # nothing to learn: the feed is the forecast


def test_an_unknown_feed_is_a_read_failure_naming_the_block(source: IcalSource) -> None:
    reads = source.on_calls(["payments", "nope"])
    assert isinstance(reads["payments"], OnCall)
    unknown = reads["nope"]
    assert isinstance(unknown, ReadFailure) and unknown.subject == "nope"
    assert "no feed named 'nope' under ical.feeds" in unknown.error
    assert source.next_handoff(["nope"], NOW) is None  # not known, never made up


def test_a_person_named_in_the_summary_is_named_as_users_writes_them(emu: IcalEmulator) -> None:
    shifts = [(NOW - timedelta(hours=2), NOW + timedelta(hours=6), ALICE), (NOW + timedelta(hours=6),
                                                                             NOW + timedelta(hours=14), BOB)]
    emu.set_feed("ops", shifts_feed(shifts, style="opsgenie", schedule="Ops", names={ALICE: "alice archer",
                                                                                     BOB: "bob@example.com"}))
    source = build(emu, {"ops": {"person": "summary", "pattern": r"^(?P<person>.+) - Ops_schedule$"}},
                   users={"Alice Archer": "U0ALICE"})
    try:
        assert who(source, "ops") == {"Alice Archer"}  # the users: key, in its own case: the plan maps it
        assert who(source, "ops", NOW + timedelta(hours=7)) == {BOB}  # an e-mail needs no entry
        assert source.next_handoff(["ops"], NOW) == NOW + timedelta(hours=6)
    finally:
        source.close()


def test_look_counts_the_coming_week_for_check(emu: IcalEmulator) -> None:
    rota = weekly_rotation(NOW, skip=None, move=None, cancel=None)
    emu.set_feed("payments", rota.text)
    source = build(emu, {"payments": {}})
    try:
        look = source.look("payments", NOW)
        # by hand: from Wed Nov 25 12:00, bob's week (to Mon 30 09:00) and carol's (from then)
        assert not isinstance(look, ReadFailure)
        assert (look.title, look.events, look.people) == ("Payments on-call", 2, {BOB, CAROL})
        assert look.end - look.start == timedelta(days=7)
        assert isinstance(source.look("nope", NOW), ReadFailure)
    finally:
        source.close()


# --- reads: conditional, at most once per refresh ----------------------------------------------------

def test_reads_are_conditional_and_at_most_once_per_refresh(emu: IcalEmulator, source: IcalSource) -> None:
    assert who(source) == {BOB}
    etag = emu.feed("payments").etag
    assert gets(emu) == [(200, None)]
    emu.clock.advance(59)  # within refresh (60 s): every question is answered from the copy
    assert who(source) == {BOB}
    source.next_handoff(["payments"], emu.clock.now())
    source.stretches(["payments"], NOW, NOW + timedelta(days=1))
    assert source.look("payments", NOW) is not None
    assert gets(emu) == [(200, None)]
    emu.clock.advance(1)
    assert who(source) == {BOB}
    assert gets(emu) == [(200, None), (304, etag)]  # asked whether it changed: it did not
    rota = weekly_rotation(NOW, ("dave@example.com", "erin@example.com", "frank@example.com"))
    emu.set_feed("payments", rota.text)
    emu.clock.advance(30)
    assert who(source) == {BOB} and len(gets(emu)) == 2  # the new version waits for the refresh
    emu.clock.advance(30)
    assert who(source) == {"erin@example.com"} == rota.on_call(emu.clock.now())
    assert gets(emu)[-1] == (200, etag)


def test_a_feed_without_validators_is_read_whole_but_parsed_only_when_it_changes(emu: IcalEmulator) -> None:
    text = weekly_rotation(NOW).text
    emu.set_feed("payments", text, etag=False, last_modified=False)
    source = build(emu, {"payments": {"refresh": 60}})
    try:
        with capture_logs() as logs:
            for _ in range(3):
                assert who(source) == {BOB}
                emu.clock.advance(60)
            changed = weekly_rotation(NOW, (ALICE, "dave@example.com", CAROL)).text
            emu.set_feed("payments", changed, etag=False, last_modified=False)
            assert who(source) == {"dave@example.com"}
    finally:
        source.close()
    assert gets(emu) == [(200, None)] * 4  # nothing to ask with: the whole feed, each refresh
    assert [e["feed"] for e in logs if e["event"] == "ical.feed_read"] == ["payments", "payments"]


# --- failures: its own feed only, the last good copy, never nobody, never the address --------------

FAULTS: dict[str, tuple[dict[str, Any], str]] = {
    "HTTP 500": ({"status": 500}, "HTTP 500 Internal Server Error (gave up after retries)"),
    "HTTP 429 beyond the budget": ({"status": 429, "retry_after": 60}, "HTTP 429 Too Many Requests"),
    "HTTP 403": ({"status": 403}, "HTTP 403 Forbidden (the feed's address was refused"),
    "dropped connection": ({"kind": "drop"}, "connection failed after retries"),
    "truncated body": ({"kind": "truncated"}, "connection failed after retries: RemoteProtocolError"),
    "garbage": ({"kind": "garbage"}, "it does not begin with BEGIN:VCALENDAR"),
    "a login page": ({"kind": "html"}, "a login or error page, or the wrong address?"),
    "invalid UTF-8": ({"kind": "invalid_utf8"}, "the feed is not UTF-8"),
    "50 MiB": ({"kind": "huge"}, "the answer is 50 MiB: larger than 32 MiB"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_fails_its_own_feed_never_nobody_and_never_shows_its_address(emu: IcalEmulator,
                                                                             fault: str) -> None:
    emu.set_feed("payments", weekly_rotation(NOW).text)
    emu.set_feed("platform", weekly_rotation(NOW, ("dave@example.com",)).text)
    source = build(emu, {"payments": {}, "platform": {}})
    kwargs, words = FAULTS[fault]
    emu.fault("payments", **kwargs)
    try:
        began = time.monotonic()
        reads = source.on_calls(["payments", "platform"])
        took = time.monotonic() - began
    finally:
        source.close()
    failed, fine = reads["payments"], reads["platform"]
    assert isinstance(failed, ReadFailure) and words in failed.error, failed
    assert failed.error.startswith("calendar feed 'payments': ")
    assert emu.token("payments") not in failed.error and emu.url not in failed.error
    assert isinstance(fine, OnCall) and fine.usernames == {"dave@example.com"}
    assert took < 8  # within the retry budget (4 s) and its last attempt


def test_a_feed_gone_from_its_address_says_so(emu: IcalEmulator) -> None:
    emu.set_feed("payments", weekly_rotation(NOW).text)
    source = build(emu, {"payments": {}})
    token = emu.token("payments")
    emu.remove_feed("payments")
    try:
        error = failure(source)
    finally:
        source.close()
    assert "HTTP 404 Not Found (no feed at that address: deleted, or its address changed)" in error
    assert token not in error


def test_a_slow_feed_fails_by_its_timeout(emu: IcalEmulator) -> None:
    emu.set_feed("payments", weekly_rotation(NOW).text)
    source = build(emu, {"payments": {}}, retry=RetryPolicy(attempts=1, budget=2, timeout=1))
    emu.fault("payments", kind="latency", delay=2.5)
    try:
        began = time.monotonic()
        error = failure(source)
        took = time.monotonic() - began
    finally:
        source.close()
    assert "timed out after retries (1s per attempt)" in error and took < 2.4


def test_a_read_longer_than_the_pass_may_wait_serves_the_next_question(emu: IcalEmulator) -> None:
    """pass_deadline 2: a question waits 1 s for the reads it starts; this one takes 1.6 s."""
    emu.set_feed("payments", weekly_rotation(NOW).text)
    source = build(emu, {"payments": {}}, pass_deadline=2, retry=RetryPolicy(attempts=1, timeout=5))
    emu.fault("payments", kind="latency", delay=1.6, times=1)
    try:
        began = time.monotonic()
        first = failure(source)
        assert time.monotonic() - began < 1.5
        assert "not read yet (the read goes on: its answer is used from the next pass)" in first
        deadline = time.monotonic() + 10
        read = source.on_calls(["payments"])["payments"]
        while isinstance(read, ReadFailure) and time.monotonic() < deadline:  # bounded by time
            time.sleep(0.1)
            read = source.on_calls(["payments"])["payments"]
    finally:
        source.close()
    assert isinstance(read, OnCall) and read.usernames == {BOB}
    assert len(emu.reads("payments")) == 1  # the questions meanwhile started no other read


def test_the_last_good_copy_answers_for_three_refreshes_then_the_feed_is_unreadable(emu: IcalEmulator,
                                                                                    source: IcalSource) -> None:
    """refresh 60: a failed read is tried again a minute later; the copy confirmed at t0 answers
    until t0 + 180 s, across a handoff (it is a calendar, not a snapshot), then never."""
    start = datetime(2026, 11, 30, 8, 58, 30, tzinfo=UTC)  # 90 s before bob hands over to carol
    emu.clock.set(start)
    assert who(source) == {BOB}
    emu.fault("payments", status=503)
    with capture_logs() as logs:
        emu.clock.set(start + timedelta(seconds=60))
        assert who(source) == {BOB}  # the copy, 60 s old
        emu.clock.set(start + timedelta(seconds=100))
        assert who(source) == NOBODY  # past the 09:00 handoff, from the copy: week 5 moved a day later
        emu.clock.set(start + timedelta(seconds=120))
        assert who(source) == NOBODY  # read again a minute after the failed read: failed again
        emu.clock.set(start + timedelta(seconds=180))
        assert who(source) == NOBODY  # 180 s: the copy's last moment
        emu.clock.set(start + timedelta(seconds=181))
        error = failure(source)
    assert "HTTP 503 Service Unavailable (gave up after retries)" in error
    assert "its last good copy is 0h 03m old, more than 3 × refresh (0h 03m): not used" in error
    assert [r.status for r in emu.reads("payments")] == [200] + [503, 503] * 3  # at +60, +120, +180: two attempts each
    unread = [e for e in logs if e["event"] == "ical.feed_unread"]
    assert len(unread) == 3 and all(e["feed"] == "payments" and e["log_level"] == "warning" for e in unread)
    assert "its last good copy answers for 120 s more" in unread[0]["effect"]
    assert not any(emu.token("payments") in str(e) for e in logs)
    emu.clear_faults()
    with capture_logs() as logs:
        emu.clock.set(start + timedelta(seconds=240))
        assert who(source) == NOBODY == weekly_rotation(NOW).on_call(emu.clock.now())
    assert emu.reads("payments")[-1].status == 304  # the copy is current: confirmed, not read again
    assert [e["event"] for e in logs] == ["ical.feed_recovered"]


def test_a_new_version_that_does_not_parse_keeps_the_last_good_copy_until_it_is_too_old(emu: IcalEmulator,
                                                                                       source: IcalSource) -> None:
    assert who(source) == {BOB}
    broken = weekly_rotation(NOW).text.replace("ATTENDEE;CN=Bob", "X-NOT-ATTENDEE;CN=Bob")
    emu.set_feed("payments", broken)
    emu.clock.advance(60)
    assert who(source) == {BOB}
    emu.clock.advance(121)
    error = failure(source)
    assert "calendar feed 'payments': event 'rota-1-" in error and "it has no ATTENDEE" in error
    assert "give each event an ATTENDEE with a mailto: address" in error


def test_metrics_count_feed_reads_by_provider_never_by_address(emu: IcalEmulator) -> None:
    emu.set_feed("payments", weekly_rotation(NOW).text)
    metrics = Metrics()
    source = build(emu, {"payments": {"refresh": 60}}, observer=metrics)
    try:
        who(source)
        emu.clock.advance(60)
        who(source)
        emu.fault("payments", status=500)
        emu.clock.advance(60)
        assert who(source) == {BOB}  # the copy answers; the failed read is counted all the same
    finally:
        source.close()
    text = metrics.exposition().decode()
    assert 'slackgenie_api_retries_total{api="ical",reason="server_error"} 1.0' in text
    assert 'api="ical"' in text and 'method="getFeed"' in text
    assert emu.token("payments") not in text and "127.0.0.1" not in text


ONE_SHIFT = [(NOW, NOW + timedelta(hours=8), ALICE)]
BY_TITLE = {"person": "summary"}


@pytest.mark.parametrize("text,options,where", [
    (shifts_feed(ONE_SHIFT, style="pagerduty"), {}, "PagerDuty, which publishes it"),
    (shifts_feed(ONE_SHIFT, style="grafana", names={ALICE: ALICE}), BY_TITLE, "Grafana OnCall, which publishes it"),
    (weekly_rotation(NOW).text, {}, "Google Calendar, which publishes it"),  # PRODID: …//Google-like rota//EN
    (shifts_feed(ONE_SHIFT, style="incidentio", names={ALICE: ALICE}).replace("incidentio-like", "rota"),
     {**BY_TITLE, "pattern": r"\((?P<person>[^)]+)\)$"}, "the calendar or on-call service that publishes it"),
], ids=["PagerDuty", "Grafana", "Google", "unknown"])
def test_where_to_take_a_shift_is_the_service_that_publishes_the_feed(emu: IcalEmulator, text: str,
                                                                      options: dict[str, str], where: str) -> None:
    emu.set_feed("payments", text)
    source = build(emu, {"payments": options})
    try:
        before = source.where_to_take("payments")  # nothing read yet: no request for a message
        assert emu.reads() == []
        assert isinstance(source.on_calls(["payments"])["payments"], OnCall)
        after = source.where_to_take("payments")
    finally:
        source.close()
    assert before == ("the calendar feed 'payments' cannot be changed from Slack: take the shift in the calendar "
                      "or on-call service that publishes it")
    assert after == f"the calendar feed 'payments' cannot be changed from Slack: take the shift in {where}"
