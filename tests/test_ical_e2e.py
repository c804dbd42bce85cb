"""Calendar feeds end to end (issue 21): ``provider: ical`` syncing Slack user groups over real HTTP
against the feed emulator and the Slack emulator, through the CLI in-process (``run_main``, the
process's clock at ``SLACKGENIE_NOW``) or the service on the emulators' stepped clock (a daemon's
passes, its wake-ups, the last good copy across refreshes).

Expected members are worked out by hand (each test says how, in UTC) and cross-checked, where the
feed comes from ``weekly_rotation``, with the rota's own arithmetic (``Rotation.on_call``), never
with the product's parser. The clock is always the emulators': never today's date.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from slackgenie.app.runner import SlackApp
from slackgenie.engine.daemon import Daemon
from slackgenie.engine.people import ShiftBook
from slackgenie.wiring import Service
from slackgenie_emulators import Emulators
from slackgenie_emulators.ical import shifts_feed, weekly_rotation
from slackgenie_emulators.injector import form_body, slash_command
from slackgenie_emulators.sample import DEMO_START

import conftest
from conftest import write_config
from providers_fixtures import group_updates, run_main
from test_people import ask_later, dispatch, uid

UTC = timezone.utc
ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
DAVE, ERIN, GRACE, IVAN = "dave@example.com", "erin@example.com", "grace@example.com", "ivan@example.com"
HANDOFF = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday, two minutes after DEMO_START
SIGNING = "ical-e2e-signing-secret-000000001"

PAYMENTS = """\
syncs:
  - usergroup: payments-oncall
    provider: ical
    schedules: [payments]
ical:
  feeds:
    payments:
      url_env: PAYMENTS_ICS_URL
      refresh: {refresh}
"""


def env_for(emu: Emulators, *feeds: str, now: datetime | None = None) -> dict[str, str]:
    """The emulators' environment with each feed's secret address in ``<NAME>_ICS_URL``."""
    env = {**emu.env(), **{f"{n.upper()}_ICS_URL": emu.ical.feed_url(n) for n in feeds or ("payments",)}}
    if now is not None:
        env["SLACKGENIE_NOW"] = now.isoformat()
    return env


def members(emu: Emulators, handle: str = "payments-oncall") -> set[str]:
    return set(emu.slack.state.emails_of(handle))


def service(emu: Emulators, tmp_path: Path, text: str, *feeds: str, signing: bool = False,
            env: dict[str, str] | None = None) -> Service:
    """The service a process would build from ``text``, in-process, on the emulators' clock."""
    extra = {"SLACK_SIGNING_SECRET": SIGNING} if signing else {}
    return conftest.service_for(emu, tmp_path, text, {**(env or env_for(emu, *feeds)), **extra})


@pytest.fixture
def rota_service(emulators: Emulators, tmp_path: Path) -> Iterator[Service]:
    """A plain weekly rota (Europe/London, Mondays 09:00) around DEMO_START, read every 60 s."""
    emulators.ical.set_feed("payments", weekly_rotation(DEMO_START, skip=None, move=None, cancel=None).text)
    made = service(emulators, tmp_path, PAYMENTS.format(refresh=60))
    try:
        yield made
    finally:
        made.close()


# --- who is on call, as the calendar says ---------------------------------------------------------------

# (zone, the Monday's handoff and the one a week before, in UTC, worked by hand from the zone's rules)
DST = [
    ("Europe/London", datetime(2026, 10, 19, 8, 0), datetime(2026, 10, 26, 9, 0), "BST ends Sun Oct 25"),
    ("Europe/London", datetime(2027, 3, 22, 9, 0), datetime(2027, 3, 29, 8, 0), "BST begins Sun Mar 28"),
    ("America/New_York", datetime(2026, 10, 26, 13, 0), datetime(2026, 11, 2, 14, 0), "EDT ends Sun Nov 1"),
    ("America/New_York", datetime(2027, 3, 8, 14, 0), datetime(2027, 3, 15, 13, 0), "EDT begins Sun Mar 14"),
]


@pytest.mark.parametrize("zone,before,after,why", DST, ids=[f"{z} {w}" for z, _, _, w in DST])
def test_a_weekly_rotation_hands_over_at_nine_local_across_the_change(emulators: Emulators, tmp_path: Path,
                                                                      zone: str, before: datetime, after: datetime,
                                                                      why: str) -> None:
    """Mondays 09:00 local: the rota begins four weeks before ``after``'s Monday (alice, bob, carol),
    so carol's week ends at ``before`` (alice's begins) and alice's at ``after`` (bob's begins)."""
    before, after = before.replace(tzinfo=UTC), after.replace(tzinfo=UTC)
    rota = weekly_rotation(after, (ALICE, BOB, CAROL), zone=zone, skip=None, move=None, cancel=None)
    emulators.ical.set_feed("payments", rota.text)
    minute = timedelta(minutes=1)
    expected = [(before - minute, CAROL), (before + minute, ALICE), (after - minute, ALICE), (after + minute, BOB)]
    emulators.clock.set(before - minute)
    synced = service(emulators, tmp_path, PAYMENTS.format(refresh=300))
    try:
        for at, person in expected:
            assert rota.on_call(at) == {person}, at  # the hand-worked instant, as the rota's arithmetic sees it
            emulators.clock.set(at)
            report = synced.run_pass()
            assert report.ok and members(emulators) == {person}, (at, report)
    finally:
        synced.close()
    assert [r.status for r in emulators.ical.reads("payments")] == [200, 304]  # again a week on, not a minute


def test_a_moved_and_a_cancelled_occurrence_and_an_excluded_week(emulators: Emulators, tmp_path: Path) -> None:
    """The rota around DEMO_START (weeks from Mon Oct 26 09:00 London, GMT: alice, bob, carol):
    week 3 (Nov 16) alice's; week 4 (Nov 23) bob's, moved a day later to grace (RECURRENCE-ID);
    week 5 (Nov 30) excluded (EXDATE); week 6 (Dec 7) cancelled; week 7 (Dec 14) bob's. Nobody on
    call puts the fallback, ivan, in the group."""
    rota = weekly_rotation(DEMO_START, (ALICE, BOB, CAROL), cover=GRACE)
    emulators.ical.set_feed("payments", rota.text)
    text = PAYMENTS.format(refresh=60).replace("    schedules: [payments]\n", "    schedules: [payments]\n"
                                               "    when_empty: fallback\n    fallback: [ivan@example.com]\n")
    cases = [(DEMO_START, ALICE), (datetime(2026, 11, 23, 12, 0), IVAN), (datetime(2026, 11, 24, 12, 0), GRACE),
             (datetime(2026, 11, 30, 12, 0), GRACE), (datetime(2026, 12, 1, 12, 0), IVAN),
             (datetime(2026, 12, 7, 12, 0), IVAN), (datetime(2026, 12, 14, 12, 0), BOB)]
    synced = service(emulators, tmp_path, text)
    try:
        for at, person in cases:
            at = at.replace(tzinfo=UTC)
            assert rota.on_call(at) == (frozenset() if person == IVAN else {person}), at
            emulators.clock.set(at)
            assert synced.run_pass().ok and members(emulators) == {person}, at
    finally:
        synced.close()


ALL_DAY = """\
BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Slackgenie tests//all day//EN\r
X-WR-TIMEZONE:America/New_York\r
BEGIN:VEVENT\r
UID:week@tests.example\r
DTSTAMP:20261101T000000Z\r
DTSTART:20261123T140000Z\r
DTEND:20261130T140000Z\r
SUMMARY:Payments\r
ATTENDEE:mailto:dave@example.com\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:thanksgiving@tests.example\r
DTSTAMP:20261101T000000Z\r
DTSTART;VALUE=DATE:20261126\r
DTEND;VALUE=DATE:20261127\r
SUMMARY:Thanksgiving cover\r
ATTENDEE:mailto:erin@example.com\r
END:VEVENT\r
END:VCALENDAR\r
"""


@pytest.mark.parametrize("at,expected", [
    (datetime(2026, 11, 26, 4, 59), {DAVE}),  # 23:59 EST on the 25th
    (datetime(2026, 11, 26, 5, 0), {DAVE, ERIN}),  # the whole of Thursday in New York: from 05:00 UTC
    (datetime(2026, 11, 27, 4, 59), {DAVE, ERIN}),
    (datetime(2026, 11, 27, 5, 0), {DAVE}),
], ids=["the day before", "its first moment", "its last", "the day after"])
def test_an_all_day_event_is_the_whole_day_in_the_calendars_zone(emulators: Emulators, tmp_path: Path,
                                                                 at: datetime, expected: set[str]) -> None:
    emulators.ical.set_feed("payments", ALL_DAY)
    at = at.replace(tzinfo=UTC)
    write_config(tmp_path, PAYMENTS.format(refresh=300))
    emulators.clock.set(at)
    result = run_main(["sync"], env_for(emulators, now=at))
    assert result.code == 0, result.both
    assert members(emulators) == expected


GOOGLE = """\
BEGIN:VCALENDAR\r
PRODID:-//Google Inc//Google Calendar 70.9054//EN\r
VERSION:2.0\r
CALSCALE:GREGORIAN\r
METHOD:PUBLISH\r
X-WR-CALNAME:Payments on-call\r
X-WR-TIMEZONE:Europe/Berlin\r
BEGIN:VEVENT\r
DTSTART:20270322T080000Z\r
DTEND:20270329T070000Z\r
RRULE:FREQ=WEEKLY;INTERVAL=2\r
DTSTAMP:20270301T120000Z\r
UID:alice-weeks@google.com\r
SUMMARY:alice@example.com\r
END:VEVENT\r
BEGIN:VEVENT\r
DTSTART:20270329T070000Z\r
DTEND:20270405T070000Z\r
RRULE:FREQ=WEEKLY;INTERVAL=2\r
DTSTAMP:20270301T120000Z\r
UID:bob-weeks@google.com\r
SUMMARY:bob@example.com\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_a_google_feed_with_only_x_wr_timezone_keeps_nine_oclock_in_berlin(emulators: Emulators,
                                                                           tmp_path: Path) -> None:
    """Google writes UTC times and names the zone in X-WR-TIMEZONE only (no VTIMEZONE). Read in
    Berlin, alice's weeks start Mondays 09:00 local: 08:00 UTC in winter (Mar 22), 07:00 UTC in
    summer (Apr 5, after CEST began on Mar 28); bob's alternate weeks begin Mar 29 09:00 CEST. Read
    as plain UTC, alice's Apr 5 week would begin at 08:00 UTC and 07:30 would be nobody's."""
    emulators.ical.set_feed("payments", GOOGLE)
    text = PAYMENTS.format(refresh=60) + "      person: summary\n"
    cases = [(datetime(2027, 3, 29, 6, 59), ALICE), (datetime(2027, 3, 29, 7, 0), BOB),
             (datetime(2027, 4, 5, 6, 59), BOB), (datetime(2027, 4, 5, 7, 30), ALICE)]
    synced = service(emulators, tmp_path, text)
    try:
        for at, person in cases:
            emulators.clock.set(at.replace(tzinfo=UTC))
            assert synced.run_pass().ok and members(emulators) == {person}, at
    finally:
        synced.close()


def test_people_read_from_the_summary_with_a_pattern_and_the_users_map(emulators: Emulators,
                                                                       tmp_path: Path) -> None:
    """An incident.io-shaped feed (``On-call: Payments (<name>)``, no ATTENDEE): alice until 12:00,
    then bob; ``users:`` maps alice's name to her e-mail and bob's to his Slack id."""
    noon = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    shifts = [(DEMO_START - timedelta(hours=1), noon, ALICE), (noon, noon + timedelta(hours=12), BOB)]
    emulators.ical.set_feed("payments", shifts_feed(shifts, style="incidentio", schedule="Payments",
                                                    names={ALICE: "Alice Archer", BOB: "Bob B."}))
    text = (PAYMENTS.format(refresh=60) + "      person: summary\n"
            "      pattern: '^On-call: Payments \\((?P<person>.+)\\)$'\n"
            f"users:\n  Alice Archer: {ALICE}\n  'Bob B.': {uid(emulators, BOB)}\n")
    synced = service(emulators, tmp_path, text)
    try:
        assert synced.run_pass().ok and members(emulators) == {ALICE}
        emulators.clock.set(noon)
        assert synced.run_pass().ok and members(emulators) == {BOB}
    finally:
        synced.close()


# --- failures: the feed's own groups only, the last good copy, never nobody, never the address ----------

def test_a_feed_that_fails_then_recovers(emulators: Emulators, tmp_path: Path, rota_service: Service) -> None:
    """refresh 60. The copy read at 08:58:00 answers until 09:01:00 (3 x refresh), through the
    09:00 handoff (alice to bob: it is a calendar, not a snapshot); after that the group is left
    as it is and the pass fails; once the feed answers again, its 304 confirms the copy."""
    start = DEMO_START
    assert rota_service.run_pass().ok and members(emulators) == {ALICE}
    emulators.ical.fault("payments", status=503)
    with capture_logs() as logs:
        emulators.clock.set(start + timedelta(seconds=60))
        assert rota_service.run_pass().ok and members(emulators) == {ALICE}
        emulators.clock.set(start + timedelta(seconds=150))  # 09:00:30: read again, failed again
        assert rota_service.run_pass().ok and members(emulators) == {BOB}
        emulators.clock.set(start + timedelta(seconds=181))
        failed = rota_service.run_pass()
    assert not failed.ok and failed.exit_code == 1 and members(emulators) == {BOB}  # left alone, not emptied
    [outcome] = failed.outcomes
    assert outcome.plan.errors == ("the calendar schedule 'payments' could not be read: calendar feed 'payments': "
                                   "HTTP 503 Service Unavailable (gave up after retries); its last good copy is "
                                   "0h 03m old, more than 3 × refresh (0h 03m): not used",)
    unread = [e for e in logs if e["event"] == "ical.feed_unread"]
    assert len(unread) == 2 and all(e["feed"] == "payments" for e in unread)
    assert all(emulators.ical.token("payments") not in str(e) for e in logs)
    # A process of its own (cron's `sync`) has no copy at all: it fails at once, exit 1 as for any provider.
    write_config(tmp_path, PAYMENTS.format(refresh=60))
    once = run_main(["sync"], env_for(emulators, now=start + timedelta(seconds=181)))
    assert once.code == 1 and "FAILED, left untouched" in once.out, once.both
    assert "the calendar schedule 'payments' could not be read: calendar feed 'payments': HTTP 503" in once.out
    emulators.ical.clear_faults()
    emulators.clock.set(start + timedelta(seconds=210))
    assert rota_service.run_pass().ok and members(emulators) == {BOB}
    assert emulators.ical.reads("payments")[-1].status == 304


def test_a_feed_too_big_fails_its_read_unread(emulators: Emulators, tmp_path: Path) -> None:
    emulators.ical.set_feed("payments", weekly_rotation(DEMO_START).text)
    emulators.ical.fault("payments", kind="huge")  # 50 MiB
    write_config(tmp_path, PAYMENTS.format(refresh=60))
    result = run_main(["sync"], env_for(emulators, now=DEMO_START))
    assert result.code == 1, result.both
    assert "calendar feed 'payments': the answer is 50 MiB: larger than 32 MiB" in result.out
    assert members(emulators) == {DAVE}  # as it was


@pytest.mark.parametrize("fault", ["status", "gone", "login page"])
def test_the_secret_address_a_server_echoes_is_never_shown(emulators: Emulators, tmp_path: Path,
                                                           fault: str) -> None:
    emulators.ical.set_feed("payments", weekly_rotation(DEMO_START).text)
    env = {**env_for(emulators, now=DEMO_START), "LOG_LEVEL": "debug"}
    token, address = emulators.ical.token("payments"), emulators.ical.feed_url("payments")
    if fault == "status":
        emulators.ical.fault("payments", status=500)  # "500 Internal Server Error while serving /feeds/<token>.ics"
    elif fault == "gone":
        emulators.ical.remove_feed("payments")  # "404 Not Found: no calendar at /feeds/<token>.ics"
    else:
        emulators.ical.fault("payments", kind="html")
    write_config(tmp_path, PAYMENTS.format(refresh=60))
    result = run_main(["sync"], env)
    assert result.code == 1 and "calendar feed 'payments'" in result.out, result.both
    assert token not in result.both and address not in result.both
    shown = run_main(["status"], env)
    assert shown.code != 0 and "calendar feed 'payments'" in shown.both, shown.both
    assert token not in shown.both and address not in shown.both


def test_a_slack_answer_about_a_failing_feed_names_it_never_its_address(emulators: Emulators,
                                                                        tmp_path: Path) -> None:
    emulators.ical.set_feed("payments", weekly_rotation(DEMO_START).text)
    env, token = env_for(emulators), emulators.ical.token("payments")
    emulators.ical.remove_feed("payments")  # its address now answers 404, echoing the token
    synced = service(emulators, tmp_path, PAYMENTS.format(refresh=60), signing=True, env=env)
    try:
        app = SlackApp(synced)
        app.refresh(synced.run_pass())
        body = form_body(slash_command("payments-oncall", uid(emulators, BOB), emulators.slack.response_url("now")))
        answer = str(dispatch(app, body, "application/x-www-form-urlencoded").get("text"))
    finally:
        synced.close()
    assert "could not be read" in answer and "calendar feed 'payments': HTTP 404 Not Found" in answer, answer
    assert token not in answer and env["PAYMENTS_ICS_URL"] not in answer


# --- the feed is its own forecast: wake-ups, shifts, gaps; no shift taken from Slack ---------------------

def test_the_daemon_wakes_at_a_handoff_the_feed_gives(emulators: Emulators, tmp_path: Path) -> None:
    """alice's week ends Mon 09:00 (two minutes after the start): the daemon wakes at 09:00:02, not
    at the 300 s interval; the feed is read at the start and again only once refresh (300 s) has
    passed, answering 304."""
    emulators.ical.set_feed("payments", weekly_rotation(DEMO_START, skip=None, move=None, cancel=None).text)
    synced = service(emulators, tmp_path, PAYMENTS.format(refresh=300).replace("syncs:", "interval: 300\nsyncs:"))
    daemon = Daemon(synced.run_pass, 300, next_handoff=synced.next_handoff, guard=2.0, clock=synced.clock,
                    max_passes=3)
    try:
        daemon.run()
    finally:
        synced.close()
    assert [why for _, why in daemon.wakes] == ["start", "handoff", "interval"]
    assert daemon.wakes[1][0] == HANDOFF + timedelta(seconds=2)
    assert [(t, who) for t, who in group_updates(emulators, "payments-oncall")] == [
        (DEMO_START, [ALICE]), (HANDOFF + timedelta(seconds=2), [BOB])]
    assert [r.status for r in emulators.ical.reads("payments")] == [200, 304]


def test_shifts_are_listed_through_the_forecast_and_an_unread_feed_is_said_so(emulators: Emulators,
                                                                               tmp_path: Path) -> None:
    """`/oncall me`'s shift book over the coming 14 days from Mon 08:58: bob's week is Nov 23 09:00
    to Nov 30 09:00, after alice; alice's own runs out at 09:00 (begun before the window), her next
    (Dec 7 09:00) is past it. The platform feed cannot be read: its shifts are unknown, not none."""
    emulators.ical.set_feed("payments", weekly_rotation(DEMO_START, skip=None, move=None, cancel=None).text)
    emulators.ical.set_feed("platform", weekly_rotation(DEMO_START, (DAVE,)).text)
    emulators.ical.fault("platform", status=503)
    text = PAYMENTS.format(refresh=60).replace("    schedules: [payments]\n", "    schedules: [payments, platform]\n") \
        + "    platform:\n      url_env: PLATFORM_ICS_URL\n"
    synced = service(emulators, tmp_path, text, "payments", "platform")
    try:
        book = ShiftBook(synced.config, synced.source, synced.clock.now)
        bobs, failed = book.mine({BOB}, DEMO_START)
        alices, _ = book.mine({ALICE}, DEMO_START)
    finally:
        synced.close()
    assert [(g.shift.schedule, g.shift.start, g.shift.end, g.shift.after, g.groups) for g in bobs] == [
        ("ical:payments", HANDOFF, HANDOFF + timedelta(days=7), {ALICE}, ("payments-oncall",))]
    assert [(g.shift.start, g.shift.end, g.shift.from_start) for g in alices] == [(DEMO_START, HANDOFF, False)]
    assert [key for key, _ in failed] == ["ical:platform"]
    assert "calendar feed 'platform': HTTP 503 Service Unavailable" in failed[0][1]


def test_oncall_me_lists_a_feeds_shift_and_take_says_where_to_take_it(emulators: Emulators,
                                                                     tmp_path: Path) -> None:
    emulators.ical.set_feed("payments", weekly_rotation(DEMO_START, skip=None, move=None, cancel=None).text)
    synced = service(emulators, tmp_path, PAYMENTS.format(refresh=60), signing=True)
    try:
        app = SlackApp(synced)
        app.refresh(synced.run_pass())
        _, mine = ask_later(emulators, app, "me", uid(emulators, BOB), "me")
        _, take = ask_later(emulators, app, "take 1h payments-oncall", uid(emulators, ALICE), "take")
    finally:
        synced.close()
    assert "payments-oncall" in mine and f"<!date^{int(HANDOFF.timestamp())}^" in mine, mine
    # the rota's PRODID reads "Google-like": the answer names the service that publishes the feed
    assert ("the calendar feed 'payments' cannot be changed from Slack: take the shift in Google Calendar, "
            "which publishes it") in take, take


def test_check_gaps_lists_when_a_feed_puts_nobody_on_call(emulators: Emulators, tmp_path: Path) -> None:
    """The rota around DEMO_START with its exceptions: bob's week (Nov 23) moved a day later, so
    nobody from Mon 09:00 to Tue 09:00; the rest of the 3 days is covered."""
    emulators.ical.set_feed("payments", weekly_rotation(DEMO_START, cover=GRACE).text)
    write_config(tmp_path, PAYMENTS.format(refresh=60))
    result = run_main(["check", "--gaps", "3d"], env_for(emulators, now=DEMO_START))
    assert result.code == 0, result.both
    assert ("\u2022 the calendar schedule 'payments': nobody on call Mon 2026-11-23 09:00 UTC to "
            "Tue 2026-11-24 09:00 UTC (1d 0h)") in result.out


# --- reads: at most once per refresh, conditional ---------------------------------------------------------

def test_fifty_unchanged_feeds_cost_fifty_304s_per_refresh_and_nothing_between(emulators: Emulators,
                                                                              tmp_path: Path) -> None:
    names = [f"feed{i:02d}" for i in range(50)]
    for i, name in enumerate(names):
        emulators.ical.set_feed(name, weekly_rotation(DEMO_START, (ALICE, BOB, CAROL)[i % 3:] or (ALICE,)).text)
    text = ("syncs:\n  - usergroup: payments-oncall\n    provider: ical\n"
            f"    schedules: [{', '.join(names)}]\nical:\n  feeds:\n"
            + "".join(f"    {n}:\n      url_env: {n.upper()}_ICS_URL\n      refresh: 300\n" for n in names))
    synced = service(emulators, tmp_path, text, *names)
    try:
        assert synced.run_pass().ok
        first = emulators.calls()
        assert {k: v for k, v in first.items() if k.startswith("ical")} == {f"ical GET {n}": 1 for n in names}
        emulators.reset_logs()
        for seconds in (60, 150, 299):  # within refresh: not one request
            emulators.clock.set(DEMO_START + timedelta(seconds=seconds))
            assert synced.run_pass().ok
            synced.next_handoff(synced.clock.now())
        assert emulators.ical.reads() == []
        emulators.clock.set(DEMO_START + timedelta(seconds=300))
        assert synced.run_pass().ok
        synced.next_handoff(synced.clock.now())
    finally:
        synced.close()
    reads = emulators.ical.reads()
    assert sorted(r.feed or "" for r in reads) == names
    assert all(r.status == 304 and r.if_none_match == emulators.ical.feed(r.feed or "").etag for r in reads)


# --- settings that cannot work ----------------------------------------------------------------------------

def test_an_unset_feed_variable_exits_2_naming_it(emulators: Emulators, tmp_path: Path) -> None:
    emulators.ical.set_feed("payments", weekly_rotation(DEMO_START).text)
    write_config(tmp_path, PAYMENTS.format(refresh=60))
    env = env_for(emulators, now=DEMO_START)
    del env["PAYMENTS_ICS_URL"]
    result = run_main(["sync"], env)
    assert result.code == 2 and "PAYMENTS_ICS_URL: is not set" in result.err, result.both
    env["PAYMENTS_ICS_URL"] = "ftp://" + emulators.ical.token("payments")
    result = run_main(["sync"], env)
    assert result.code == 2 and "PAYMENTS_ICS_URL: is not an https://, http:// or webcal:// address" in result.err
    assert emulators.ical.token("payments") not in result.both
    assert emulators.ical.reads() == [] and emulators.slack.requests == []  # before any call


def test_a_sync_naming_no_configured_feed_names_the_key_and_the_fix(emulators: Emulators, tmp_path: Path) -> None:
    """Exit 2 before any call: settings asks the provider which schedule names its block allows."""
    emulators.ical.set_feed("payments", weekly_rotation(DEMO_START).text)
    write_config(tmp_path, PAYMENTS.format(refresh=60).replace("schedules: [payments]", "schedules: [paymnets]"))
    result = run_main(["sync"], env_for(emulators, now=DEMO_START))
    assert result.code == 2 and "syncs[0].schedules: 'paymnets' is not a feed under ical.feeds" in result.err, \
        result.both
    assert emulators.ical.reads() == [] and emulators.slack.requests == []
    assert members(emulators) == {DAVE}


def test_check_reads_each_feed_counts_its_coming_week_and_matches_its_people(emulators: Emulators,
                                                                               tmp_path: Path) -> None:
    h = timedelta(hours=1)
    shifts = [(DEMO_START - h, DEMO_START + 48 * h, ALICE), (DEMO_START + 48 * h, DEMO_START + 120 * h, BOB),
              (DEMO_START + 144 * h, DEMO_START + 156 * h, "nobody@nowhere.example"),
              (DEMO_START + 216 * h, DEMO_START + 240 * h, CAROL)]  # the last one after the coming week
    emulators.ical.set_feed("payments", shifts_feed(shifts, style="pagerduty", schedule="Payments", now=DEMO_START))
    write_config(tmp_path, PAYMENTS.format(refresh=60))
    result = run_main(["check"], env_for(emulators, now=DEMO_START))
    assert ("\u2713 calendar feed 'payments' ('Payments') read: 3 shift(s) in the next 7d 0h, 3 people: "
            "alice@example.com, bob@example.com, nobody@nowhere.example") in result.out, result.both
    assert "\u2717 calendar feed 'payments': nobody@nowhere.example:" in result.out, result.both
    assert "credentials valid" not in result.out and result.code != 0
    assert emulators.ical.token("payments") not in result.both

    emulators.ical.fault("payments", "status", status=503, times=20)
    result = run_main(["check"], env_for(emulators, now=DEMO_START))
    assert "\u2717 cannot read: calendar feed 'payments'" in result.out and "url_env" in result.out, result.both
    assert emulators.ical.token("payments") not in result.both and result.code != 0
