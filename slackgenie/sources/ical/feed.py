"""Who is on call when, read from one iCalendar (RFC 5545) feed. Pure: bytes in, answers out; no I/O.

``parse_feed`` reads a feed once (fetched elsewhere, its size capped by the caller); the ``Feed``
it returns answers "who is on call at t" (``on_call``), "who is on call when within a window"
(``stretches``, ``occurrences``) and "when does that next change" (``next_change``). The reading
is done by well-kept libraries, not by hand:

* ``icalendar`` parses the file, after it is unfolded on bytes and decoded as strict UTF-8
  (RFC 5545 §3.1: a line folded inside a multi-byte character survives, a byte that is not UTF-8
  fails the read; icalendar alone decodes each folded piece and puts U+FFFD in the fold);
* ``x_wr_timezone`` applies Google's and Apple's ``X-WR-TIMEZONE``: UTC and floating times are
  read in the calendar's zone, so a weekly 09:00 stays 09:00 local across DST, as Google shows it;
* ``recurring_ical_events`` expands RRULE, RDATE, EXDATE and RECURRENCE-ID overrides
  (``RANGE=THISANDFUTURE`` too), each TZID in the feed's own VTIMEZONE.

Choices, where RFC 5545 leaves one to the reader:

* Floating times (no ``Z``, no ``TZID``) are read in the calendar's ``X-WR-TIMEZONE``, else in
  UTC (a feed gives no other hint; Grafana OnCall reads them the same way). All-day events (DATE
  values) are whole days in that same zone.
* An event is ``[start, end)``: at a handoff only the new person is on call, and a zero-length
  event puts nobody on call. ``STATUS:CANCELLED`` events and occurrences are skipped.
* An occurrence lasts as long as its event on the wall clock, whether DURATION or DTEND gives it
  (recurring_ical_events subtracts local times): Monday 09:00 to Monday 09:00 stays so across DST,
  as calendars show it, where RFC 5545 §3.8.5.3 would keep a DTEND's exact length (an hour short
  or long after each change).
* Every ATTENDEE of an event is on call; events that overlap are on call together (the union).
* Whatever cannot be read fails the whole feed with a ``FeedError``, never "nobody": a person
  (``PersonUnreadable``: no ATTENDEE with a ``mailto:`` address; a SUMMARY the pattern does not
  match, or a name neither in ``users`` nor an e-mail), a TZID neither in the feed nor a known
  zone, a property that does not parse, bytes that are not a calendar (``FeedUnreadable``).
* Expansion is bounded (``FeedTooComplex``): a window is expanded at most ``CHUNK`` at a time, and
  each rule's cost is estimated beforehand from its frequency, interval and BY-parts. A rule that
  would make more than ``MAX_OCCURRENCES`` occurrences in a chunk (``FREQ=SECONDLY``) fails the
  parse; a chunk whose rules would take more than ``MAX_STEPS`` steps (the library steps from each
  rule's DTSTART: an hourly rule started in 1900) fails the question before it is expanded.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

import icalendar
import recurring_ical_events  # type: ignore[import-untyped]

from cachetools import LRUCache

from slackgenie.core.shifts import Stretch, stretches as _stretches
from slackgenie.sources.ical.bounds import CHUNK, MAX_OCCURRENCES, MAX_SPAN, Rule, check_rules, check_window
from slackgenie.sources.ical.errors import FeedError, FeedTooComplex, FeedUnreadable, PersonUnreadable
from slackgenie.sources.ical.ics import (MAX_BYTES, calendar_zone, check_properties, instant, is_cancelled, listed,
                                         read_calendar, standardised, uid_of)
from slackgenie.sources.ical.people import People, PersonFrom

__all__ = ["CHUNK", "MAX_BYTES", "MAX_OCCURRENCES", "Feed", "FeedError", "FeedEvent", "FeedTooComplex",
           "FeedUnreadable", "PersonFrom", "PersonUnreadable", "parse_feed"]

UTC = timezone.utc
DAY = timedelta(days=1)
KEPT_DAYS = 120  # days of occurrences a feed keeps expanded: the forecast's 35, `/oncall me`'s 14, and more
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PAD = timedelta(days=2)  # the library is asked a little wider: all-day events are placed in the calendar's zone


@dataclass(frozen=True)
class FeedEvent:
    """One occurrence of an event: who is on call from ``start`` to ``end`` (UTC, end excluded)."""

    uid: str
    start: datetime
    end: datetime
    people: frozenset[str]
    summary: str = ""


def parse_feed(data: bytes, *, person: PersonFrom = "attendee", pattern: re.Pattern[str] | None = None,
               users: Mapping[str, str] | None = None) -> Feed:
    """Read a feed's bytes. People come from each ATTENDEE's ``mailto:`` address (``attendee``), or
    from the SUMMARY (``summary``): the ``person`` group of ``pattern`` (the whole SUMMARY without
    one), mapped through ``users`` (a name -> an e-mail or a Slack id) where it has the name, else
    an e-mail. Raises ``FeedError``; ``ValueError`` for a pattern without a ``person`` group."""
    people = People(person, pattern, users or {})
    calendar = read_calendar(data)
    zone = calendar_zone(calendar)
    events = list(calendar.walk("VEVENT"))
    for event in events:
        check_properties(event)
        if not is_cancelled(event):
            people.of(event)
    calendar = standardised(calendar, zone)
    rules: list[Rule] = []
    for event in calendar.walk("VEVENT"):
        if not is_cancelled(event) and "DTSTART" in event:
            start = instant(event.decoded("DTSTART"), zone)
            rules.extend(Rule.parse(uid_of(event), recur, start, zone) for recur in listed(event.get("RRULE")))
    check_rules(rules)
    try:
        query = recurring_ical_events.of(calendar)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise FeedUnreadable(f"the feed's recurrences do not parse: {exc}") from exc
    name = calendar.get("X-WR-CALNAME") or calendar.get("NAME")
    feed = Feed(query, zone, people, rules, name=str(name) if name is not None else None, events=len(events))
    feed.producer = str(calendar.get("PRODID", "")) or None
    return feed


class Feed:
    """A parsed feed: who is on call when. Safe to share between threads. Times are aware;
    answers are in UTC."""

    def __init__(self, query: Any, zone: tzinfo, people: People, rules: list[Rule], name: str | None,
                 events: int):
        self._query = query
        self._people = people
        self._rules = rules
        self._lock = threading.Lock()  # one expansion at a time: the library caches as it goes, and so do we
        self._kept: LRUCache[int, list[FeedEvent]] = LRUCache(maxsize=KEPT_DAYS)  # UTC day -> its occurrences
        self.zone = zone  # the calendar's zone: floating times and all-day events are read in it
        self.name = name  # X-WR-CALNAME (or NAME), if the feed gives one
        self.events = events  # VEVENT components in the file (a recurring event and its overrides count each)
        self.producer: str | None = None  # PRODID: the product that wrote it

    def occurrences(self, start: datetime, end: datetime) -> list[FeedEvent]:
        """The occurrences that cover part of ``start``..``end`` (zero-length and cancelled ones
        left out), in order of start."""
        _check_window(start, end)
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        first, last = (start - _EPOCH) // DAY, -((_EPOCH - end) // DAY)  # the days it touches: floor, ceiling
        found: dict[tuple[str, datetime, datetime, frozenset[str]], FeedEvent] = {}
        for events in self._days(first, last):
            for event in events:
                if event.start < end and event.end > start:
                    found[(event.uid, event.start, event.end, event.people)] = event
        return sorted(found.values(), key=lambda e: (e.start, e.end, e.uid))

    def _days(self, first: int, last: int) -> list[list[FeedEvent]]:
        """The occurrences of each UTC day ``first``..``last`` (excluded; days since 1970), each
        day expanded once and kept (``KEPT_DAYS`` of them): a pass asks about the same days again
        and again, and each call into the library walks every event of the feed."""
        with self._lock:
            got = {d: self._kept[d] for d in range(first, last) if d in self._kept}
            missing = [d for d in range(first, last) if d not in got]
            while missing:  # bounded: each round takes at least one day off
                run = _first_run(missing, CHUNK.days)
                begin, end = _EPOCH + run[0] * DAY, _EPOCH + (run[-1] + 1) * DAY
                by_day: dict[int, list[FeedEvent]] = {d: [] for d in run}
                for event in self._expand(begin, end):
                    for d in range(max(run[0], (event.start - _EPOCH) // DAY),
                                   min(run[-1] + 1, -((_EPOCH - event.end) // DAY))):
                        by_day[d].append(event)
                for d, events in by_day.items():
                    got[d] = self._kept[d] = events
                missing = missing[len(run):]
            return [got[d] for d in range(first, last)]

    def on_call(self, at: datetime) -> frozenset[str]:
        """Who is on call at ``at``: everyone of every event with ``start <= at < end``."""
        return frozenset(p for e in self.occurrences(at, at + timedelta(microseconds=1)) for p in e.people)

    def stretches(self, start: datetime, end: datetime) -> list[Stretch]:
        """Who is on call when within ``start``..``end``: maximal spans with the same people
        (nobody's spans left out), as every provider's forecast gives them."""
        pieces = [(e.start, e.end, p) for e in self.occurrences(start, end) for p in e.people]
        return _stretches(pieces, start.astimezone(UTC), end.astimezone(UTC))

    def next_change(self, after: datetime, within: timedelta = CHUNK) -> datetime | None:
        """The first instant after ``after`` (and before ``after + within``) at which who is on
        call changes (a handoff, someone joining, or the last one leaving); None if none."""
        end = after + within
        _check_window(after, end)
        before: frozenset[str] | None = None
        chunk = after
        while chunk < end:
            upto = min(chunk + CHUNK, end)
            for at, people in _segments(self.stretches(chunk, upto), chunk, upto):
                if before is not None and people != before and at > after:
                    return at
                before = people
            chunk = upto
        return None

    def _expand(self, start: datetime, end: datetime) -> list[FeedEvent]:
        low, high = (start - _PAD).astimezone(UTC), (end + _PAD).astimezone(UTC)
        check_window(self._rules, low, high)
        try:
            components = self._query.between(low, high)
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            raise FeedUnreadable(f"the feed's recurrences cannot be expanded: {exc}") from exc
        if len(components) > MAX_OCCURRENCES:
            raise FeedTooComplex(f"the feed has {len(components)} occurrences between {low:%Y-%m-%d} and "
                                 f"{high:%Y-%m-%d}: more than {MAX_OCCURRENCES}")
        out: list[FeedEvent] = []
        for component in components:
            if not isinstance(component, icalendar.Event) or is_cancelled(component):
                continue
            try:
                begins, ends = instant(component.start, self.zone), instant(component.end, self.zone)
            except (ValueError, TypeError) as exc:
                raise FeedUnreadable(f"event {uid_of(component)!r}: its start or end cannot be read: {exc}") from exc
            if begins < end and ends > start and begins < ends:
                out.append(FeedEvent(uid_of(component), begins, ends, self._people.of(component),
                                     str(component.get("SUMMARY", ""))))
        return out


def _first_run(days: list[int], most: int) -> list[int]:
    """The first run of consecutive days in ``days`` (sorted), at most ``most`` of them."""
    run = days[:1]
    for day in days[1:most]:
        if day != run[-1] + 1:
            break
        run.append(day)
    return run


def _check_window(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("times given to a feed must be aware")
    if end - start > MAX_SPAN:
        raise ValueError(f"a feed is read at most {MAX_SPAN.days} days at once")


def _segments(found: list[Stretch], start: datetime, end: datetime) -> Iterator[tuple[datetime, frozenset[str]]]:
    """Each span of ``start``..``end`` with who is on call in it, nobody's spans too: (from, people)."""
    at = start
    for s in found:
        if s.start > at:
            yield at, frozenset()
        yield s.start, s.people
        at = s.end
    if at < end:
        yield at, frozenset()
