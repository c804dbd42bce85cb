"""Reading a feed's bytes into an ``icalendar.Calendar`` one can trust, and the small readings of
its events every other part shares (UID, start, status, an instant in the calendar's zone).
See feed.py for the choices made where RFC 5545 leaves one to the reader."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, time, timezone, tzinfo
from typing import Any

import icalendar
import x_wr_timezone  # type: ignore[import-untyped]
from icalendar.timezone import tzp

from slackgenie.sources.ical.errors import FeedUnreadable

UTC = timezone.utc
MAX_BYTES = 32 * 2**20  # a second guard: the caller caps what it reads
_READ = {"UID", "DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID", "STATUS",
         "ATTENDEE", "SUMMARY"}  # the properties read: one of them broken fails the feed (others are ignored)
_ZONED = ("DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE", "RDATE")


def read_calendar(data: bytes) -> icalendar.Calendar:
    if len(data) > MAX_BYTES:
        raise FeedUnreadable(f"the feed is {len(data)} bytes: more than {MAX_BYTES}")
    body = data.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if not body[:15].upper().startswith(b"BEGIN:VCALENDAR"):
        raise FeedUnreadable("the answer is not a calendar: it does not begin with BEGIN:VCALENDAR "
                             "(a login or error page, or the wrong address?)")
    unfolded = re.sub(rb"\r?\n[ \t]", b"", body)  # RFC 5545 §3.1: unfold on bytes, then decode
    try:
        text = unfolded.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FeedUnreadable(f"the feed is not UTF-8 (byte {exc.start} after unfolding)") from exc
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise FeedUnreadable(f"the feed does not parse as iCalendar: {exc}") from exc
    if not isinstance(calendar, icalendar.Calendar):  # pragma: no cover - from_ical answers one calendar or raises
        raise FeedUnreadable("the feed does not hold one VCALENDAR")
    return calendar


def calendar_zone(calendar: icalendar.Calendar) -> tzinfo:
    """The calendar's zone: X-WR-TIMEZONE (an IANA or a Windows name), else UTC."""
    named = calendar.get("X-WR-TIMEZONE")
    if named is None or not str(named).strip():
        return UTC
    zone = tzp.timezone(str(named).strip())
    if zone is None:
        raise FeedUnreadable(f"X-WR-TIMEZONE {str(named)!r} is not a known time zone")
    return zone


def standardised(calendar: icalendar.Calendar, zone: tzinfo) -> icalendar.Calendar:
    """The calendar with X-WR-TIMEZONE applied: its UTC and floating times read in ``zone``, as
    Google and Apple show them (without one, floating times stay floating and are read as UTC)."""
    if "X-WR-TIMEZONE" not in calendar:
        return calendar
    # x_wr_timezone 2.0.1 rewrites each value it converts without its parameters: put RANGE back
    ranges = {(uid_of(e), instant(e.decoded("RECURRENCE-ID"), zone)): e["RECURRENCE-ID"].params["RANGE"]
              for e in calendar.walk("VEVENT")
              if isinstance(e.get("RECURRENCE-ID"), icalendar.vDDDTypes) and e["RECURRENCE-ID"].params.get("RANGE")}
    standard: icalendar.Calendar = x_wr_timezone.to_standard(calendar, timezone=zone)
    for event in standard.walk("VEVENT") if ranges else ():
        key = (uid_of(event), instant(event.decoded("RECURRENCE-ID"), zone)) if "RECURRENCE-ID" in event else None
        if key in ranges:
            event["RECURRENCE-ID"].params["RANGE"] = ranges[key]
    standard.pop("X-WR-TIMEZONE", None)  # applied: recurring_ical_events.of would apply it again, by IANA name only
    return standard


def check_properties(event: icalendar.Component) -> None:
    for name, problem in event.errors:
        if name is not None and name.upper() in _READ:
            raise FeedUnreadable(f"event {uid_of(event)!r}: its {name.upper()} does not parse ({problem})")
    if "DTSTART" not in event:
        raise FeedUnreadable(f"event {uid_of(event)!r} has no DTSTART")
    for name in _ZONED:
        for prop in listed(event.get(name)):
            tzid = getattr(prop, "params", {}).get("TZID")
            if tzid and any(value.tzinfo is None for value in _datetimes(prop)):
                raise FeedUnreadable(f"event {uid_of(event)!r}: its {name} names the time zone {tzid!r}, which is "
                                     f"neither a VTIMEZONE in the feed nor a known zone")


def _datetimes(prop: Any) -> Iterator[datetime]:
    for item in getattr(prop, "dts", None) or [prop]:
        value = getattr(item, "dt", None)
        for one in value if isinstance(value, tuple) else (value,):
            if isinstance(one, datetime):
                yield one


def listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [] if value is None else [value]


def uid_of(event: icalendar.Component) -> str:
    return str(event.get("UID", "(no UID)"))


def is_cancelled(event: icalendar.Component) -> bool:
    return str(event.get("STATUS", "")).strip().upper() == "CANCELLED"


def instant(value: date | datetime, zone: tzinfo) -> datetime:
    if isinstance(value, datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=zone)).astimezone(UTC)
    return datetime.combine(value, time(), tzinfo=zone).astimezone(UTC)


def start_text(event: icalendar.Component) -> str:
    try:
        value = event.decoded("DTSTART")
    except (KeyError, ValueError):
        return "(no DTSTART)"
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)
