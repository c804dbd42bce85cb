"""The calendar-feed emulator (emulators/slackgenie_emulators/ical.py) over real HTTP, with httpx.

Part one: conditional GET (ETag / If-None-Match with weak comparison, Last-Modified /
If-Modified-Since, which of the two wins), HEAD, 404 and 405, each fault kind, and the request log.
Part two: the feed generators (the weekly rota's own idea of who is on call, worked by hand;
the vendor shapes). Part three checks what ../shared/specs/ical/REFERENCE.md says a feed and a feed
server do, skipped (saying why) where that folder is absent.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import httpx
import pytest

from slackgenie_emulators.base import Clock
from slackgenie_emulators.ical import IcalEmulator, shifts_feed, weekly_rotation

SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs" / "ical"
UTC = timezone.utc
NOW = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)
FEED = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:a@tests.example\r\n"
        "DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000Z\r\nDTEND:20260112T090000Z\r\n"
        "ATTENDEE:mailto:alice@example.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest.fixture
def emu() -> Iterator[IcalEmulator]:
    server = IcalEmulator(clock=Clock(frozen_at=NOW))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def get(url: str, timeout: float = 10, **headers: str) -> httpx.Response:
    return httpx.get(url, headers={k.replace("_", "-"): v for k, v in headers.items()}, timeout=timeout)


# --- conditional GET ---------------------------------------------------------------------------------

def test_a_feed_is_served_as_a_calendar_with_a_strong_etag_and_last_modified(emu: IcalEmulator) -> None:
    url = emu.set_feed("payments", FEED)
    assert re.fullmatch(rf"{re.escape(emu.url)}/feeds/[A-Za-z0-9_-]{{20,}}\.ics", url)
    answer = get(url)
    assert answer.status_code == 200 and answer.content == FEED.encode()
    assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
    assert re.fullmatch(r'"[^"]+"', answer.headers["etag"])  # strong: no W/
    assert parsedate_to_datetime(answer.headers["last-modified"]) == NOW  # the emulator's clock


def test_if_none_match_answers_304_without_a_body(emu: IcalEmulator) -> None:
    url = emu.set_feed("payments", FEED)
    etag = get(url).headers["etag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):  # weak comparison; a list; any
        answer = get(url, if_none_match=header)
        assert answer.status_code == 304 and answer.content == b"", header
        assert answer.headers["etag"] == etag
    assert get(url, if_none_match='"other"').status_code == 200


def test_if_modified_since_answers_304_unless_the_feed_changed_since(emu: IcalEmulator) -> None:
    url = emu.set_feed("payments", FEED)
    modified = get(url).headers["last-modified"]
    assert get(url, if_modified_since=modified).status_code == 304
    assert get(url, if_modified_since=format_datetime(NOW + timedelta(hours=1), usegmt=True)).status_code == 304
    assert get(url, if_modified_since=format_datetime(NOW - timedelta(seconds=1), usegmt=True)).status_code == 200
    assert get(url, if_modified_since="yesterday-ish").status_code == 200  # an invalid date is ignored


def test_if_none_match_wins_over_if_modified_since(emu: IcalEmulator) -> None:
    url = emu.set_feed("payments", FEED)
    first = get(url)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert get(url, if_none_match='"stale"', if_modified_since=modified).status_code == 200
    old = format_datetime(NOW - timedelta(days=1), usegmt=True)
    assert get(url, if_none_match=etag, if_modified_since=old).status_code == 304


def test_a_new_version_has_a_new_etag_and_a_later_last_modified_at_the_same_address(emu: IcalEmulator) -> None:
    url = emu.set_feed("payments", FEED)
    first = get(url)
    again = emu.set_feed("payments", FEED.replace("alice@", "bob@"))  # the clock is frozen: still later
    assert again == url
    answer = get(url, if_none_match=first.headers["etag"])
    assert answer.status_code == 200 and b"bob@example.com" in answer.content
    assert answer.headers["etag"] != first.headers["etag"]
    assert parsedate_to_datetime(answer.headers["last-modified"]) > parsedate_to_datetime(first.headers["last-modified"])
    assert get(url, if_modified_since=first.headers["last-modified"]).status_code == 200
    assert emu.feed("payments").version == 2


def test_a_feed_may_have_no_validators_and_then_is_always_sent(emu: IcalEmulator) -> None:
    url = emu.set_feed("bare", FEED, etag=False, last_modified=False)
    answer = get(url)
    assert "etag" not in answer.headers and "last-modified" not in answer.headers
    assert get(url, if_none_match="*").status_code == 200
    assert get(url, if_modified_since=format_datetime(NOW, usegmt=True)).status_code == 200


def test_head_answers_the_headers_of_get_without_the_body(emu: IcalEmulator) -> None:
    url = emu.set_feed("payments", FEED)
    full, head = get(url), httpx.head(url, timeout=10)
    assert head.status_code == 200 and head.content == b""
    for key in ("content-type", "content-length", "etag", "last-modified"):
        assert head.headers[key] == full.headers[key], key
    assert httpx.head(url, headers={"If-None-Match": full.headers["etag"]}, timeout=10).status_code == 304


def test_unknown_and_removed_feeds_answer_404_and_other_methods_405(emu: IcalEmulator) -> None:
    url = emu.set_feed("payments", FEED)
    token = emu.token("payments")
    missing = get(url.replace(token, "not-a-token"))
    assert missing.status_code == 404 and "/feeds/not-a-token.ics" in missing.text  # echoed, as careless servers do
    assert get(emu.url + "/feeds/").status_code == 404
    refused = httpx.post(url, content=b"", timeout=10)
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
    emu.remove_feed("payments")
    assert get(url).status_code == 404


# --- faults --------------------------------------------------------------------------------------------

def test_a_status_fault_echoes_the_secret_address_in_its_body_then_the_feed_recovers(emu: IcalEmulator) -> None:
    url = emu.set_feed("payments", FEED)
    emu.fault("payments", status=500, times=1)
    failed = get(url)
    assert failed.status_code == 500 and emu.token("payments") in failed.text  # a client must never show it
    assert get(url).status_code == 200


def test_a_throttled_feed_says_when_to_come_back(emu: IcalEmulator) -> None:
    url = emu.set_feed("payments", FEED)
    emu.fault("payments", status=429, retry_after=7, times=2)
    assert [(a.status_code, a.headers.get("retry-after")) for a in (get(url), get(url))] == [(429, "7"), (429, "7")]
    assert get(url).status_code == 200


def test_a_fault_touches_its_own_feed_only(emu: IcalEmulator) -> None:
    sick, well = emu.set_feed("sick", FEED), emu.set_feed("well", FEED)
    emu.fault("sick", status=503)
    assert get(sick).status_code == 503 and get(well).status_code == 200
    emu.clear_faults()
    assert get(sick).status_code == 200


def test_a_slow_answer_and_a_dripping_body(emu: IcalEmulator) -> None:
    url = emu.set_feed("payments", FEED)
    emu.fault("payments", kind="latency", delay=0.4, times=1)
    started = time.monotonic()
    assert get(url).status_code == 200
    assert time.monotonic() - started >= 0.4
    emu.fault("payments", kind="drip", delay=0.05, times=1)  # a byte every 0.05 s: each read is quick, the body not
    started, got = time.monotonic(), b""
    with httpx.stream("GET", url, timeout=5) as answer:
        assert answer.status_code == 200
        for chunk in answer.iter_raw():
            got += chunk
            if len(got) >= 10:
                break
    assert got == FEED.encode()[:len(got)] and time.monotonic() - started >= 0.4


def test_a_truncated_body_and_a_dropped_connection_are_protocol_errors(emu: IcalEmulator) -> None:
    url = emu.set_feed("payments", FEED)
    emu.fault("payments", kind="truncated", times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        get(url)
    emu.fault("payments", kind="drop", times=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        get(url)
    assert get(url).status_code == 200


def test_garbage_a_login_page_and_invalid_utf8_come_back_with_200(emu: IcalEmulator) -> None:
    url = emu.set_feed("payments", FEED)
    emu.fault("payments", kind="garbage", times=1)
    garbage = get(url)
    assert garbage.status_code == 200 and not garbage.content.startswith(b"BEGIN:VCALENDAR")
    emu.fault("payments", kind="html", times=1)
    login = get(url)
    assert login.status_code == 200 and login.headers["content-type"].startswith("text/html")
    assert "<form" in login.text
    emu.fault("payments", kind="invalid_utf8", times=1)
    broken = get(url)
    assert broken.status_code == 200 and broken.content.startswith(b"BEGIN:VCALENDAR")
    with pytest.raises(UnicodeDecodeError):
        broken.content.decode("utf-8")


def test_a_huge_feed_is_streamed_and_a_client_can_stop_reading(emu: IcalEmulator) -> None:
    url = emu.set_feed("payments", FEED)
    emu.fault("payments", kind="huge", times=1)
    with httpx.stream("GET", url, timeout=10) as answer:
        assert answer.status_code == 200 and answer.headers["content-length"] == str(50 * 2**20)
        read = 0
        for chunk in answer.iter_bytes():
            read += len(chunk)
            if read >= 2**20:  # a client's cap
                break
    assert read >= 2**20
    emu.fault("payments", kind="huge", size=4096, times=1)
    small = get(url)
    assert len(small.content) == 4096 and small.content.startswith(b"BEGIN:VCALENDAR\r\n")
    assert get(url).content == FEED.encode()


# --- the request log -----------------------------------------------------------------------------------

def test_the_log_counts_reads_with_their_conditional_headers(emu: IcalEmulator) -> None:
    url = emu.set_feed("payments", FEED)
    other = emu.set_feed("other", FEED)
    etag = get(url).headers["etag"]
    get(url, if_none_match=etag)
    get(url, if_modified_since="Wed, 18 Mar 2026 12:00:00 GMT")
    httpx.head(url, timeout=10)
    get(other)
    reads = emu.reads("payments")
    assert [(r.method, r.status, r.if_none_match, r.if_modified_since) for r in reads] == [
        ("GET", 200, None, None), ("GET", 304, etag, None), ("GET", 304, None, "Wed, 18 Mar 2026 12:00:00 GMT"),
        ("HEAD", 200, None, None)]
    assert len(emu.reads()) == 5 and [r.feed for r in emu.reads("other")] == ["other"]
    get(url.replace(emu.token("payments"), "unknown"))
    assert emu.reads()[-1].feed is None and emu.reads()[-1].status == 404
    emu.reset_log()
    assert emu.reads() == []


# --- the generators ------------------------------------------------------------------------------------

def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_weekly_rota_knows_who_is_on_call_as_worked_by_hand() -> None:
    rota = weekly_rotation(NOW, zone="Europe/London", weeks_before=4)  # Wednesday 2026-03-18
    # week 0 starts Monday 2026-02-16 09:00 GMT; NOW is in week 4 (Bob's: 4 % 3 = 1); week 5 (Carol's)
    # moved a day later to the cover; week 6 excluded; week 7 cancelled; BST from Sunday 2026-03-29
    assert (rota.first.isoformat(), rota.current, rota.moved, rota.skipped, rota.cancelled) == (
        "2026-02-16", 4, 5, 6, 7)
    expected = [("2026-02-16T08:59:59Z", set()), ("2026-02-16T09:00:00Z", {"alice"}),
                ("2026-03-16T09:00:00Z", {"bob"}), ("2026-03-23T08:59:59Z", {"bob"}),
                ("2026-03-23T09:00:00Z", set()), ("2026-03-24T09:00:00Z", {"cover"}),
                ("2026-03-30T08:00:00Z", {"cover"}), ("2026-03-31T07:59:59Z", {"cover"}),
                ("2026-03-31T08:00:00Z", set()), ("2026-04-08T12:00:00Z", set()),
                ("2026-04-13T07:59:59Z", set()), ("2026-04-13T08:00:00Z", {"carol"}),
                ("2026-04-20T08:00:00Z", {"alice"})]
    for instant, names in expected:
        assert rota.on_call(at(instant)) == frozenset(f"{n}@example.com" for n in names), instant
    assert rota.changes(NOW, at("2026-04-21T00:00:00Z")) == [
        at("2026-03-23T09:00:00Z"), at("2026-03-24T09:00:00Z"), at("2026-03-31T08:00:00Z"),
        at("2026-04-13T08:00:00Z"), at("2026-04-20T08:00:00Z")]


def test_the_weekly_rota_holds_its_exceptions_in_the_feed() -> None:
    text = weekly_rotation(NOW, zone="America/New_York").text
    assert "RRULE:FREQ=WEEKLY;INTERVAL=3" in text and "X-WR-TIMEZONE:America/New_York" in text
    assert "EXDATE;TZID=America/New_York:20260330T090000" in text  # week 6, 09:00 local
    assert "RECURRENCE-ID;TZID=America/New_York:20260323T090000" in text  # moved
    assert "DTSTART;TZID=America/New_York:20260324T090000" in text  # a day later
    assert text.count("STATUS:CANCELLED") == 1 and "RECURRENCE-ID;TZID=America/New_York:20260406T090000" in text


def test_vendor_shapes_follow_the_reference() -> None:
    shifts = [(at("2026-01-05T08:00:00Z"), at("2026-01-12T08:00:00Z"), "alice@example.com")]
    pagerduty = shifts_feed(shifts, style="pagerduty")
    assert "ATTENDEE;CN=Alice:mailto:alice@example.com" in pagerduty and "SUMMARY:On call: Alice" in pagerduty
    opsgenie = shifts_feed(shifts, style="opsgenie", names={"alice@example.com": "Alice Example"})
    assert "SUMMARY:Alice Example - Payments_schedule" in opsgenie and "ATTENDEE" not in opsgenie
    grafana = shifts_feed(shifts, style="grafana")
    for line in ("PRODID://Grafana Labs//Grafana On-Call//", "X-WR-TIMEZONE:UTC", "PRIORITY:0",
                 "REFRESH-INTERVAL;VALUE=DURATION:PT1H", "UID:OSHIFT0-2026010508", "SUMMARY:Alice\r\n"):
        assert line in grafana, line
    assert "ATTENDEE" not in grafana
    assert "SUMMARY:On-call: Payments (Alice)" in shifts_feed(shifts, style="incidentio")


# --- against ../shared/specs/ical/REFERENCE.md ----------------------------------------------------------

def _reference() -> str:
    path = SPECS / "REFERENCE.md"
    if not path.is_file():
        pytest.skip(f"{path} not present: the vendor specs live beside the repo in ../shared")
    return path.read_text()


def _says(reference: str, *phrases: str) -> None:
    for phrase in phrases:
        if phrase not in reference:
            pytest.fail(f"REFERENCE.md no longer says {phrase!r}: check the emulator against it again")


def test_the_server_does_what_the_reference_says_a_feed_server_does(emu: IcalEmulator) -> None:
    reference = _reference()
    _says(reference, "Media type `text/calendar`", "If-None-Match takes precedence", "weak comparison",
          "W/\"abc\"` matches `\"abc\"", "A **`304 Not Modified`** (§15.4.5) has no body")
    url = emu.set_feed("payments", FEED)
    first = get(url)
    assert first.headers["content-type"].split(";")[0] == "text/calendar"
    etag = first.headers["etag"]
    assert get(url, if_none_match=f"W/{etag}").status_code == 304  # weak comparison
    stale = get(url, if_none_match='"stale"', if_modified_since=first.headers["last-modified"])
    assert stale.status_code == 200  # If-None-Match takes precedence
    assert get(url, if_none_match=etag).content == b""  # 304: no body


def _lines(text: str) -> list[str]:
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")  # CRLF, never a bare LF
    return text[:-2].split("\r\n")


def _unfolded(text: str) -> list[str]:
    return re.sub(r"\r\n[ \t]", "", text)[:-2].split("\r\n")


GENERATED = {
    "weekly London": weekly_rotation(NOW, zone="Europe/London").text,
    "weekly New York": weekly_rotation(NOW, ["a.long.name.for.folding@example.com", "b@example.com"],
                                       zone="America/New_York", cover="c@example.com").text,
    "weekly Berlin, no exceptions": weekly_rotation(NOW, zone="Europe/Berlin", skip=None, move=None, cancel=None).text,
    **{f"flat {style}": shifts_feed([(NOW, NOW + timedelta(days=7), "alice@example.com"),
                                     (NOW + timedelta(days=7), NOW + timedelta(days=14), "bob@example.com")],
                                    style=style, names={"bob@example.com": "Bob, the Builder"})
       for style in ("pagerduty", "opsgenie", "grafana", "incidentio")},
}


@pytest.mark.parametrize("name", list(GENERATED))
def test_generated_feeds_are_well_formed_as_the_reference_says(name: str) -> None:
    reference = _reference()
    _says(reference, "Lines end in **CRLF**", "SHOULD NOT exceed **75 octets**", "`VERSION:2.0` and `PRODID` are "
          "**required**", "`UID` and `DTSTAMP` are required", "A VTIMEZONE MUST be present for each distinct TZID used",
          "`DTEND` and `DURATION` are alternatives and MUST NOT both appear")
    text = GENERATED[name]
    assert all(len(line.encode()) <= 75 for line in _lines(text))
    lines = _unfolded(text)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    assert "VERSION:2.0" in lines and any(line.startswith("PRODID:") for line in lines)
    events = re.findall(r"BEGIN:VEVENT\n(.*?)\nEND:VEVENT", "\n".join(lines), re.DOTALL)
    assert events
    for event in events:
        names = [line.split(":")[0].split(";")[0] for line in event.split("\n")]
        for required in ("UID", "DTSTAMP", "DTSTART"):
            assert names.count(required) == 1, (required, event)
        assert not ("DTEND" in names and "DURATION" in names)
    used = set(re.findall(r";TZID=([^:;]+)", text))
    defined = set(re.findall(r"^TZID:(.+)$", "\n".join(lines), re.MULTILINE))
    assert used <= defined, used - defined
