"""Reading calendar feeds (slackgenie/sources/ical/feed.py), without a server.

Each feed in tests/fixtures/ical/ was written by hand, and so is who is on call at each instant
below (worked out from the file and the zone's rules, written in UTC). Two further oracles are
independent of the parser: the feed emulator's weekly rota, which knows its own truth by plain
arithmetic, and a brute-force union over generated one-off events (hypothesis). The vendor
illustrations of ../shared/specs/ical/REFERENCE.md are read too, skipped (saying why) where that
folder is absent.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from slackgenie.core.shifts import Stretch
from slackgenie.sources.ical.feed import (
    MAX_BYTES,
    MAX_OCCURRENCES,
    Feed,
    FeedTooComplex,
    FeedUnreadable,
    PersonUnreadable,
    parse_feed,
)
from slackgenie_emulators.ical import weekly_rotation

FIXTURES = Path(__file__).parent / "fixtures" / "ical"
SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs" / "ical"
UTC = timezone.utc
ON_CALL = re.compile(r"^On call: (?P<person>.+)$")
USERS = {"Alice Example": "alice@example.com", "support desk": "U0DESK"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def feed(name: str, **options: Any) -> Feed:
    return parse_feed((FIXTURES / name).read_bytes(), **options)


def people(*names: str) -> frozenset[str]:
    return frozenset(n if "@" in n or n.startswith("U0") else f"{n}@example.com" for n in names)


SUMMARY = {"person": "summary", "pattern": ON_CALL, "users": USERS}
GOOGLE = {"person": "summary"}

CASES: list[tuple[str, dict[str, Any], str, frozenset[str], str]] = [
    # (fixture, options, instant, who is on call, why: worked by hand)
    ("weekly_london_dst.ics", {}, "2026-03-16T08:59:59Z", people(), "before the first shift"),
    ("weekly_london_dst.ics", {}, "2026-03-16T09:00:00Z", people("alice"), "09:00 GMT"),
    ("weekly_london_dst.ics", {}, "2026-03-23T08:59:59Z", people("alice"), "DTEND is excluded"),
    ("weekly_london_dst.ics", {}, "2026-03-23T09:00:00Z", people("bob"), "at a handoff only the new person"),
    ("weekly_london_dst.ics", {}, "2026-03-30T07:59:59Z", people("bob"), "BST since Sunday: 08:59:59 local"),
    ("weekly_london_dst.ics", {}, "2026-03-30T08:00:00Z", people("alice"), "09:00 BST, in the feed's VTIMEZONE"),
    ("weekly_london_dst.ics", {}, "2026-10-19T07:59:59Z", people("alice"), "week 30 of the rota: Alice's"),
    ("weekly_london_dst.ics", {}, "2026-10-19T08:00:00Z", people("bob"), "still BST"),
    ("weekly_london_dst.ics", {}, "2026-10-26T08:30:00Z", people("bob"),
     "GMT again: 08:30 local. Bob's length comes from DTEND (Mar 23 GMT to Mar 30 BST) and is kept in wall time: "
     "RFC 5545 §3.8.5.3 would keep its exact 167 h and end this one at 07:00 UTC"),
    ("weekly_london_dst.ics", {}, "2026-10-26T09:00:00Z", people("alice"), "09:00 GMT, DURATION:P7D"),
    ("exdate_rdate.ics", {}, "2026-01-12T12:00:00Z", people("carol"), "second week"),
    ("exdate_rdate.ics", {}, "2026-01-19T09:00:00Z", people(), "EXDATE"),
    ("exdate_rdate.ics", {}, "2026-01-25T23:00:00Z", people(), "EXDATE, all week"),
    ("exdate_rdate.ics", {}, "2026-01-26T09:00:00Z", people("carol"), "after the excluded week"),
    ("exdate_rdate.ics", {}, "2026-02-15T12:00:00Z", people("carol"), "COUNT=6 counts the excluded one"),
    ("exdate_rdate.ics", {}, "2026-02-16T09:00:00Z", people(), "no seventh"),
    ("exdate_rdate.ics", {}, "2026-02-23T12:00:00Z", people(), "no seventh"),
    ("exdate_rdate.ics", {}, "2026-03-02T09:00:00Z", people("carol"), "RDATE, the event's length"),
    ("exdate_rdate.ics", {}, "2026-03-09T09:00:00Z", people(), "RDATE ended"),
    ("recurrence_id_moved.ics", {}, "2026-01-12T08:59:59Z", people("dave"), "first week"),
    ("recurrence_id_moved.ics", {}, "2026-01-12T12:00:00Z", people(), "moved away from here"),
    ("recurrence_id_moved.ics", {}, "2026-01-13T09:00:00Z", people("erin"), "moved here, to Erin"),
    ("recurrence_id_moved.ics", {}, "2026-01-19T12:00:00Z", people("dave", "erin"), "overlap: the union"),
    ("recurrence_id_moved.ics", {}, "2026-01-20T09:00:00Z", people("dave"), "Erin's moved end"),
    ("recurrence_id_moved.ics", {}, "2026-02-08T12:00:00Z", people("dave"), "UNTIL is inclusive"),
    ("recurrence_id_moved.ics", {}, "2026-02-09T09:00:00Z", people(), "after UNTIL"),
    ("cancelled.ics", {}, "2026-01-06T12:00:00Z", people("frank"), "cancelled one-offs without anyone skipped"),
    ("cancelled.ics", {}, "2026-01-07T12:00:00Z", people("frank"), "Grafana's zero-length cancelled piece"),
    ("cancelled.ics", {}, "2026-01-12T09:00:00Z", people(), "cancelled occurrence"),
    ("cancelled.ics", {}, "2026-01-18T23:59:59Z", people(), "cancelled occurrence"),
    ("cancelled.ics", {}, "2026-01-19T09:00:00Z", people("frank"), "third"),
    ("cancelled.ics", {}, "2026-02-02T09:00:00Z", people(), "COUNT=4 done"),
    ("utc_and_floating.ics", {}, "2026-02-02T15:59:59Z", people("gina"), "UTC"),
    ("utc_and_floating.ics", {}, "2026-02-02T16:00:00Z", people(), "UTC end"),
    ("utc_and_floating.ics", {}, "2026-02-02T18:00:00Z", people("henry"), "floating, no X-WR-TIMEZONE: UTC"),
    ("utc_and_floating.ics", {}, "2026-02-02T21:59:59Z", people("henry"), "floating"),
    ("utc_and_floating.ics", {}, "2026-02-02T22:00:00Z", people(), "floating end"),
    ("all_day_new_york.ics", {}, "2026-01-05T04:59:59Z", people(), "23:59:59 EST the day before"),
    ("all_day_new_york.ics", {}, "2026-01-05T05:00:00Z", people("ivan"), "midnight EST"),
    ("all_day_new_york.ics", {}, "2026-01-07T04:59:59Z", people("ivan"), "DTEND date excluded"),
    ("all_day_new_york.ics", {}, "2026-01-07T05:00:00Z", people(), "DTEND date excluded"),
    ("all_day_new_york.ics", {}, "2026-01-10T05:00:00Z", people("judy"), "no DTEND: one day"),
    ("all_day_new_york.ics", {}, "2026-01-11T04:59:59Z", people("judy"), "no DTEND: one day"),
    ("all_day_new_york.ics", {}, "2026-01-11T05:00:00Z", people(), "no DTEND: one day"),
    ("attendees_and_overlap.ics", {}, "2026-01-05T08:59:59Z", people(), "before"),
    ("attendees_and_overlap.ics", {}, "2026-01-05T09:00:00Z", people("kate", "leo+ops"),
     "two attendees; MAILTO: and case folded, %2B decoded"),
    ("attendees_and_overlap.ics", {}, "2026-01-05T12:00:00Z", people("kate", "leo+ops", "mia"), "overlap"),
    ("attendees_and_overlap.ics", {}, "2026-01-05T17:00:00Z", people("mia"), "the pair's end"),
    ("attendees_and_overlap.ics", {}, "2026-01-05T20:00:00Z", people(), "all ended"),
    ("google_x_wr_timezone.ics", GOOGLE, "2026-01-12T08:59:59Z", people("nina"), "GMT"),
    ("google_x_wr_timezone.ics", GOOGLE, "2026-01-12T09:00:00Z", people("oscar"), "GMT"),
    ("google_x_wr_timezone.ics", GOOGLE, "2026-03-30T07:59:59Z", people("oscar"), "week 11: Oscar's"),
    ("google_x_wr_timezone.ics", GOOGLE, "2026-03-30T08:00:00Z", people("nina"),
     "X-WR-TIMEZONE: 09:00 London (BST), where a strict reader would say 09:00 UTC"),
    ("google_x_wr_timezone.ics", GOOGLE, "2026-07-01T08:59:59Z", people("oscar"), "week 25: Oscar's"),
    ("google_x_wr_timezone.ics", GOOGLE, "2026-07-01T09:00:00Z", people("oscar", "paula"),
     "floating 10:00 read in London (BST)"),
    ("google_x_wr_timezone.ics", GOOGLE, "2026-07-01T10:59:59Z", people("oscar", "paula"), "floating"),
    ("google_x_wr_timezone.ics", GOOGLE, "2026-07-01T11:00:00Z", people("oscar"), "floating 12:00 BST"),
    ("summary_pattern.ics", SUMMARY, "2026-01-05T08:00:00Z", people("alice"), "a name under users:"),
    ("summary_pattern.ics", SUMMARY, "2026-01-12T08:00:00Z", people("bob"), "an e-mail, lower-cased"),
    ("summary_pattern.ics", SUMMARY, "2026-01-19T08:00:00Z", people("U0DESK"), "users: keys match in any case"),
    ("summary_pattern.ics", SUMMARY, "2026-01-26T08:00:00Z", people(), "after the last"),
    ("this_and_future.ics", {}, "2026-01-12T12:00:00Z", people("tina"), "before the change"),
    ("this_and_future.ics", {}, "2026-01-19T09:30:00Z", people(), "moved an hour later"),
    ("this_and_future.ics", {}, "2026-01-19T10:00:00Z", people("uma"), "RANGE=THISANDFUTURE"),
    ("this_and_future.ics", {}, "2026-02-02T09:30:00Z", people("uma"), "and all later ones"),
    ("this_and_future.ics", {}, "2026-03-30T10:00:00Z", people("uma"), "and all later ones"),
]


@pytest.mark.parametrize("name,options,instant,expected,why", CASES,
                         ids=[f"{c[0].removesuffix('.ics')}@{c[2]}" for c in CASES])
def test_who_is_on_call_at_an_instant(name: str, options: dict[str, Any], instant: str,
                                      expected: frozenset[str], why: str) -> None:
    assert feed(name, **options).on_call(at(instant)) == expected, why


def test_overlapping_events_make_stretches_of_their_union() -> None:
    found = feed("attendees_and_overlap.ics").stretches(at("2026-01-05T00:00:00Z"), at("2026-01-06T00:00:00Z"))
    assert found == [
        Stretch(at("2026-01-05T09:00:00Z"), at("2026-01-05T12:00:00Z"), people("kate", "leo+ops")),
        Stretch(at("2026-01-05T12:00:00Z"), at("2026-01-05T17:00:00Z"), people("kate", "leo+ops", "mia")),
        Stretch(at("2026-01-05T17:00:00Z"), at("2026-01-05T20:00:00Z"), people("mia")),
    ]


def test_a_london_rotation_hands_over_at_nine_local_through_the_autumn_change() -> None:
    rota = feed("weekly_london_dst.ics")
    found = rota.stretches(at("2026-10-01T00:00:00Z"), at("2026-11-09T00:00:00Z"))
    assert [(s.start, s.people) for s in found] == [
        (at("2026-10-01T00:00:00Z"), people("alice")),  # week of Sep 28: 28 weeks after Mar 16, even
        (at("2026-10-05T08:00:00Z"), people("bob")),  # 09:00 BST
        (at("2026-10-12T08:00:00Z"), people("alice")),
        (at("2026-10-19T08:00:00Z"), people("bob")),
        (at("2026-10-26T09:00:00Z"), people("alice")),  # 09:00 GMT: no hour's gap or overlap either side
        (at("2026-11-02T09:00:00Z"), people("bob")),
    ]
    assert found[-1].end == at("2026-11-09T00:00:00Z")
    assert all(a.end == b.start for a, b in zip(found, found[1:]))


def test_the_next_change_is_the_next_handoff() -> None:
    rota = feed("weekly_london_dst.ics")
    assert rota.next_change(at("2026-03-24T00:00:00Z")) == at("2026-03-30T08:00:00Z")
    assert rota.next_change(at("2026-10-19T12:00:00Z")) == at("2026-10-26T09:00:00Z")
    assert rota.next_change(at("2026-03-30T08:00:00Z")) == at("2026-04-06T08:00:00Z")  # strictly after
    assert rota.next_change(at("2026-01-01T00:00:00Z")) is None  # nothing within 35 days
    assert rota.next_change(at("2026-01-01T00:00:00Z"), within=timedelta(days=90)) == at("2026-03-16T09:00:00Z")
    moved = feed("recurrence_id_moved.ics")
    assert moved.next_change(at("2026-01-12T10:00:00Z")) == at("2026-01-13T09:00:00Z")  # nobody, then Erin
    assert moved.next_change(at("2026-01-13T10:00:00Z")) == at("2026-01-19T09:00:00Z")  # Dave joins Erin
    assert moved.next_change(at("2026-02-03T00:00:00Z")) == at("2026-02-09T09:00:00Z")  # the last one leaves
    overlap = feed("attendees_and_overlap.ics")
    assert overlap.next_change(at("2026-01-05T10:00:00Z")) == at("2026-01-05T12:00:00Z")
    assert overlap.next_change(at("2026-01-05T20:00:00Z")) is None


def test_occurrences_carry_the_event_and_its_bounds() -> None:
    found = feed("exdate_rdate.ics").occurrences(at("2026-01-01T00:00:00Z"), at("2026-04-01T00:00:00Z"))
    assert [(e.start, e.end) for e in found] == [
        (at(f"2026-{d}T09:00:00Z"), at(f"2026-{e}T09:00:00Z")) for d, e in
        [("01-05", "01-12"), ("01-12", "01-19"), ("01-26", "02-02"), ("02-02", "02-09"), ("02-09", "02-16"),
         ("03-02", "03-09")]]
    assert {e.uid for e in found} == {"carol-weekly@tests.example"} and {e.summary for e in found} == {"Carol on call"}


def test_a_this_and_future_change_survives_x_wr_timezone() -> None:
    # x-wr-timezone 2.0.1 drops the parameters of the values it rewrites (RANGE among them): feed.py
    # puts RANGE back
    raw = (FIXTURES / "this_and_future.ics").read_bytes().replace(b"VERSION:2.0\r\n",
                                                                   b"VERSION:2.0\r\nX-WR-TIMEZONE:UTC\r\n")
    assert b"X-WR-TIMEZONE" in raw
    rota = parse_feed(raw)
    assert rota.on_call(at("2026-02-02T09:30:00Z")) == people("uma")
    assert rota.on_call(at("2026-01-19T09:30:00Z")) == people()


def test_a_windows_zone_name_is_read_as_its_iana_zone() -> None:
    raw = _one_event("DTSTART;TZID=W. Europe Standard Time:20260105T090000",
                     "DTEND;TZID=W. Europe Standard Time:20260105T170000", "ATTENDEE:mailto:wendy@example.com")
    wendy = parse_feed(raw)
    assert wendy.on_call(at("2026-01-05T07:59:59Z")) == people()  # 08:59:59 in Berlin (CET)
    assert wendy.on_call(at("2026-01-05T08:00:00Z")) == people("wendy")
    assert wendy.on_call(at("2026-01-05T16:00:00Z")) == people()


def test_a_line_folded_inside_a_character_and_bare_line_feeds_are_read() -> None:
    # "Zoë" with the fold between the two bytes of "ë" (RFC 5545 §3.1 warns producers do this)
    raw = ("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//t//EN\nBEGIN:VEVENT\nUID:fold@tests.example\n"
           "DTSTAMP:20260101T000000Z\nDTSTART:20260105T090000Z\nDTEND:20260106T090000Z\n").encode() \
        + b"SUMMARY:On call: Zo\xc3\n \xab\n" + b"END:VEVENT\nEND:VCALENDAR\n"
    zoe = parse_feed(b"\xef\xbb\xbf" + raw, person="summary", pattern=ON_CALL, users={"Zo\u00eb": "zoe@example.com"})
    assert zoe.on_call(at("2026-01-05T12:00:00Z")) == people("zoe")


# --- feeds that fail, and how -------------------------------------------------------------------------

def test_an_event_without_a_readable_person_fails_the_whole_feed_naming_it() -> None:
    with pytest.raises(PersonUnreadable) as failed:
        feed("no_attendee.ics")
    assert failed.value.uid == "nobody-named@tests.example"
    assert failed.value.start == "2026-01-12T09:00:00+00:00"
    assert "no ATTENDEE" in str(failed.value) and "person: summary" in str(failed.value)  # the fix


def test_an_attendee_that_is_not_an_e_mail_fails() -> None:
    raw = _one_event("DTSTART:20260105T090000Z", "DTEND:20260106T090000Z",
                     "ATTENDEE;CN=Room 1:urn:uuid:00000000-0000-0000-0000-000000000001")
    with pytest.raises(PersonUnreadable, match="not a mailto: e-mail address"):
        parse_feed(raw)


def test_a_summary_name_missing_from_users_fails_naming_the_event_and_the_fix() -> None:
    with pytest.raises(PersonUnreadable) as failed:
        feed("summary_pattern.ics", person="summary", pattern=ON_CALL, users={"Alice Example": "alice@example.com"})
    assert failed.value.uid == "Q1SHIFT20260119@pagerduty-like"
    assert failed.value.start == "2026-01-19T08:00:00+00:00"
    assert "'Support Desk' is neither an e-mail nor a name under 'users:'" in str(failed.value)
    assert "add 'Support Desk: <their Slack e-mail>' under 'users:'" in str(failed.value)


def test_a_summary_the_pattern_does_not_match_fails() -> None:
    with pytest.raises(PersonUnreadable, match="does not match the pattern"):
        feed("summary_pattern.ics", person="summary", pattern=re.compile(r"^Primary: (?P<person>.+)$"), users=USERS)


def test_a_pattern_without_a_person_group_is_refused() -> None:
    with pytest.raises(ValueError, match="person"):
        feed("summary_pattern.ics", person="summary", pattern=re.compile(r"^On call: (.+)$"))


def test_a_summary_without_pattern_must_be_an_e_mail() -> None:
    with pytest.raises(PersonUnreadable, match="'On call: Alice Example' is neither an e-mail"):
        feed("summary_pattern.ics", person="summary")


GARBAGE = [
    (b"", "not a calendar"),
    (b"\x00\x9f\x92\x96PK\x03\x04 not a calendar \xff\xfe", "not a calendar"),
    (b"<!DOCTYPE html><html><body>Sign in</body></html>", "BEGIN:VCALENDAR"),
    (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nthis line has no colon\r\nEND:VCALENDAR\r\n", "does not parse"),
    (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART:20260105T090000Z\r\n", "does not parse"),
    (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nX-NOTE:caf\xe9\r\nEND:VCALENDAR\r\n", "not UTF-8"),
    (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\nBEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n",
     "does not parse"),
]


@pytest.mark.parametrize("raw,message", GARBAGE, ids=["empty", "binary", "html", "bad-line", "truncated",
                                                      "latin-1", "two-calendars"])
def test_bytes_that_are_not_a_calendar_fail_with_a_typed_error(raw: bytes, message: str) -> None:
    with pytest.raises(FeedUnreadable, match=message):
        parse_feed(raw)


def test_a_feed_beyond_the_size_guard_is_refused_unread() -> None:
    with pytest.raises(FeedUnreadable, match="bytes: more than"):
        parse_feed(b"BEGIN:VCALENDAR\r\n" + b"X" * MAX_BYTES)


def test_a_property_that_does_not_parse_fails_naming_the_event() -> None:
    with pytest.raises(FeedUnreadable, match="'one@tests.example': its DTSTART does not parse"):
        parse_feed(_one_event("DTSTART:next monday", "DTEND:20260106T090000Z", "ATTENDEE:mailto:a@example.com"))
    with pytest.raises(FeedUnreadable, match="its RRULE does not parse"):
        parse_feed(_one_event("DTSTART:20260105T090000Z", "RRULE:FREQ=FORTNIGHTLY", "ATTENDEE:mailto:a@example.com"))


def test_an_unknown_time_zone_fails_rather_than_being_guessed() -> None:
    with pytest.raises(FeedUnreadable, match="'Mars/Olympus_Mons', which is neither a VTIMEZONE"):
        feed("unknown_tzid.ics")
    raw = (FIXTURES / "utc_and_floating.ics").read_bytes().replace(b"VERSION:2.0\n", b"VERSION:2.0\nX-WR-TIMEZONE:Mars/Base\n")
    with pytest.raises(FeedUnreadable, match="X-WR-TIMEZONE 'Mars/Base' is not a known time zone"):
        parse_feed(raw)


def test_a_secondly_rule_fails_fast_at_parse() -> None:
    started = time.monotonic()
    with pytest.raises(FeedTooComplex, match="'bomb@tests.example' repeats too often"):
        feed("secondly_bomb.ics")
    assert time.monotonic() - started < 2.0  # unbounded, the library takes ~5 s per day of it


def test_a_fine_rule_started_long_ago_fails_the_question_fast() -> None:
    old = feed("hourly_since_1900.ics")  # a harmless rate, but the library steps from 1900
    started = time.monotonic()
    with pytest.raises(FeedTooComplex, match="'old-hourly@tests.example'"):
        old.on_call(at("2026-01-05T00:00:00Z"))
    assert time.monotonic() - started < 2.0  # unbounded, ~7 s


def test_too_many_occurrences_in_one_window_fail() -> None:
    # two rules, each within the bound alone (about 2,960 occurrences in 35 days), too many together
    rules = _one_event("DTSTART:20260105T000000Z", "DTEND:20260105T000500Z", "RRULE:FREQ=MINUTELY;INTERVAL=17",
                       "ATTENDEE:mailto:a@example.com").replace(b"END:VCALENDAR\r\n", b"") \
        + b"BEGIN:VEVENT\r\nUID:two@tests.example\r\nDTSTART:20260105T000100Z\r\nDTEND:20260105T000600Z\r\n" \
        + b"RRULE:FREQ=MINUTELY;INTERVAL=17\r\nATTENDEE:mailto:b@example.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    with pytest.raises(FeedTooComplex, match="occurrences"):
        parse_feed(rules).stretches(at("2026-01-05T00:00:00Z"), at("2026-02-04T00:00:00Z"))
    # one event with a long RDATE list: counted once expanded
    start = at("2026-01-05T00:00:00Z")
    dates = ",".join(f"{start + timedelta(minutes=5 * i):%Y%m%dT%H%M%SZ}" for i in range(MAX_OCCURRENCES + 100))
    crowded = parse_feed(_one_event("DTSTART:20260105T000000Z", "DURATION:PT5M", f"RDATE:{dates}",
                                    "ATTENDEE:mailto:a@example.com"))
    assert crowded.on_call(start + timedelta(days=1)) == people("a")  # a few days' worth are expanded
    with pytest.raises(FeedTooComplex, match="occurrences"):
        crowded.stretches(start, start + timedelta(days=20))


def test_questions_need_aware_times_and_a_bounded_window() -> None:
    rota = feed("exdate_rdate.ics")
    with pytest.raises(ValueError, match="aware"):
        rota.on_call(datetime(2026, 1, 5, 12))
    with pytest.raises(ValueError, match="400 days"):
        rota.stretches(at("2026-01-01T00:00:00Z"), at("2027-06-01T00:00:00Z"))


# --- against oracles independent of the parser ---------------------------------------------------------

ROTA_NOWS = ["2026-03-20T12:00:00Z", "2026-10-20T12:00:00Z", "2026-11-23T08:58:00Z", "2027-03-09T23:30:00Z"]


@pytest.mark.parametrize("zone", ["Europe/London", "America/New_York", "Europe/Berlin"])
@pytest.mark.parametrize("now", ROTA_NOWS)
def test_the_emulators_weekly_rotation_is_read_as_the_emulator_knows_it(zone: str, now: str) -> None:
    rota = weekly_rotation(at(now), zone=zone, weeks_before=6)
    parsed = parse_feed(rota.text.encode())
    start, end = at(now) - timedelta(weeks=6), at(now) + timedelta(weeks=30)  # both DST changes
    changes = rota.changes(start, end)
    assert len(changes) >= 30
    for t in changes:
        for instant in (t - timedelta(seconds=1), t, t + timedelta(hours=12)):
            assert parsed.on_call(instant) == rota.on_call(instant), instant
    assert parsed.next_change(at(now), within=timedelta(days=60)) == next(t for t in changes if t > at(now))


def test_the_emulators_rotation_holds_a_moved_a_skipped_and_a_cancelled_week() -> None:
    rota = weekly_rotation(at("2026-03-18T12:00:00Z"), zone="Europe/London", weeks_before=4)
    assert rota.current == 4 and (rota.moved, rota.skipped, rota.cancelled) == (5, 6, 7)
    parsed = parse_feed(rota.text.encode())
    # worked by hand: weeks start on Mondays 09:00 London from 2026-02-16; week 5 (Mar 23) moved a day
    # later to the cover; week 6 (Mar 30, BST) excluded; week 7 (Apr 6) cancelled
    assert parsed.on_call(at("2026-03-23T12:00:00Z")) == people()
    assert parsed.on_call(at("2026-03-24T09:00:00Z")) == people("cover")
    assert parsed.on_call(at("2026-03-30T08:30:00Z")) == people("cover")  # 09:30 BST; until Tuesday
    assert parsed.on_call(at("2026-03-31T08:00:00Z")) == people()
    assert parsed.on_call(at("2026-04-08T12:00:00Z")) == people()
    assert parsed.on_call(at("2026-04-13T08:00:00Z")) == people("carol")  # week 8: 8 % 3 = 2


EPOCH = datetime(2026, 1, 5, tzinfo=UTC)
_event = st.tuples(st.integers(0, 3000), st.integers(0, 900), st.sampled_from("abcd"), st.booleans(), st.booleans())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_event, min_size=0, max_size=12))
def test_who_is_on_call_is_the_union_of_the_events_covering_the_instant(
        events: list[tuple[int, int, str, bool, bool]]) -> None:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//property//EN"]
    spans: list[tuple[datetime, datetime, str]] = []
    for i, (offset, length, who, floating, cancelled) in enumerate(events):
        start, end = EPOCH + timedelta(minutes=offset), EPOCH + timedelta(minutes=offset + length)
        form = "%Y%m%dT%H%M%S" if floating else "%Y%m%dT%H%M%SZ"  # floating: read as UTC (no X-WR-TIMEZONE)
        lines += ["BEGIN:VEVENT", f"UID:e{i}@property", "DTSTAMP:20260101T000000Z", f"DTSTART:{start:{form}}",
                  f"DTEND:{end:{form}}", f"ATTENDEE:mailto:{who}@example.com"]
        lines += ["STATUS:CANCELLED"] if cancelled else []
        lines.append("END:VEVENT")
        if not cancelled:
            spans.append((start, end, f"{who}@example.com"))
    lines.append("END:VCALENDAR")
    parsed = parse_feed("\r\n".join(lines).encode() + b"\r\n")

    def oracle(t: datetime) -> frozenset[str]:
        return frozenset(who for s, e, who in spans if s <= t < e)

    edges = sorted({t for s, e, _ in spans for t in (s, e)} | {EPOCH, EPOCH + timedelta(minutes=4000)})
    probes = sorted({p for t in edges for p in (t - timedelta(seconds=1), t, t + timedelta(seconds=1))})
    for t in probes:
        assert parsed.on_call(t) == oracle(t), t
    window_end = EPOCH + timedelta(minutes=4000)
    found = parsed.stretches(EPOCH - timedelta(hours=1), window_end)
    for t in probes:
        covering = [s.people for s in found if s.start <= t < s.end]
        assert (covering[0] if covering else frozenset()) == oracle(t), t
    after = EPOCH + timedelta(minutes=1000)
    changes = [t for t in edges if after < t < window_end and oracle(t) != oracle(t - timedelta(seconds=1))]
    assert parsed.next_change(after, within=window_end - after) == (changes[0] if changes else None)


# --- the vendor illustrations of ../shared/specs/ical/REFERENCE.md --------------------------------------

def _illustration(marker: str) -> bytes:
    reference = SPECS / "REFERENCE.md"
    if not reference.is_file():
        pytest.skip(f"{reference} not present: the vendor specs live beside the repo in ../shared")
    blocks = re.findall(r"```\n(BEGIN:VCALENDAR\n.*?\nEND:VCALENDAR)\n```", reference.read_text(), re.DOTALL)
    found = [b for b in blocks if marker in b]
    if len(found) != 1:
        pytest.skip(f"REFERENCE.md no longer has one illustration with {marker!r}: update this test")
    return found[0].replace("\n", "\r\n").encode() + b"\r\n"


ALICE = {"Alice Example": "alice@example.com"}
ILLUSTRATIONS: list[tuple[str, dict[str, Any], list[tuple[str, frozenset[str]]]]] = [
    ("opsgenie-like", {"person": "summary", "pattern": re.compile(r"^(?P<person>.+?) - "), "users": ALICE},
     [("2026-01-05T07:59:59Z", people()), ("2026-01-05T08:00:00Z", people("alice")),
      ("2026-01-12T08:00:00Z", people())]),
    ("pagerduty-like", {}, [("2026-01-08T00:00:00Z", people("alice")), ("2026-01-12T08:00:00Z", people())]),
    ("Grafana Labs", {"person": "summary", "users": ALICE},  # Bob's cancelled piece is skipped, unnamed as he is
     [("2026-01-07T12:00:00Z", people("alice")), ("2026-01-12T08:00:00Z", people())]),
    ("incidentio-like", {"person": "summary", "pattern": re.compile(r"\((?P<person>[^)]+)\)$"), "users": ALICE},
     [("2026-01-05T09:00:00Z", people("alice")), ("2026-01-06T09:00:00Z", people())]),
    ("google-like", {"person": "summary"},  # Berlin: 09:00 CET = 08:00Z, CEST = 07:00Z
     [("2026-01-05T08:00:00Z", people("alice")), ("2026-01-12T08:00:00Z", people()),
      ("2026-01-19T08:00:00Z", people("bob")), ("2026-02-02T08:00:00Z", people()),
      ("2026-02-16T08:00:00Z", people("alice")), ("2026-03-30T06:59:59Z", people()),
      ("2026-03-30T07:00:00Z", people("alice")), ("2027-01-04T08:00:00Z", people())]),
]


@pytest.mark.parametrize("marker,options,expected", ILLUSTRATIONS, ids=[i[0] for i in ILLUSTRATIONS])
def test_the_vendor_illustrations_of_the_reference_read_as_worked_by_hand(
        marker: str, options: dict[str, Any], expected: list[tuple[str, frozenset[str]]]) -> None:
    parsed = parse_feed(_illustration(marker), **options)
    for instant, who in expected:
        assert parsed.on_call(at(instant)) == who, instant


def _one_event(*lines: str) -> bytes:
    body = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//t//EN", "BEGIN:VEVENT", "UID:one@tests.example",
            "DTSTAMP:20260101T000000Z", *lines, "END:VEVENT", "END:VCALENDAR"]
    return ("\r\n".join(body) + "\r\n").encode()
