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
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any, Literal
from urllib.parse import unquote

import icalendar
import recurring_ical_events  # type: ignore[import-untyped]
import x_wr_timezone  # type: ignore[import-untyped]
from icalendar.timezone import tzp

from slackgenie.core.shifts import Stretch, stretches as _stretches

UTC = timezone.utc
PersonFrom = Literal["attendee", "summary"]

MAX_BYTES = 32 * 2**20  # a second guard: the caller caps what it reads
CHUNK = timedelta(days=35)  # the widest window expanded at once
MAX_SPAN = timedelta(days=400)  # the widest window a question may cover (in chunks)
MAX_OCCURRENCES = 5000  # per chunk, all events together
MAX_STEPS = 200_000  # recurrence steps per chunk, all rules together (about a second of the library's work)
_PAD = timedelta(days=2)  # the library is asked a little wider: all-day events are placed in the calendar's zone

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_READ = {"UID", "DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID", "STATUS",
         "ATTENDEE", "SUMMARY"}  # the properties read: one of them broken fails the feed (others are ignored)
_ZONED = ("DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE", "RDATE")
_PERIOD = {"SECONDLY": 1, "MINUTELY": 60, "HOURLY": 3600, "DAILY": 86400, "WEEKLY": 7 * 86400,
           "MONTHLY": 28 * 86400, "YEARLY": 365 * 86400}  # the shortest length of each, to count periods high
_LEVEL = {name: i for i, name in enumerate(_PERIOD)}


class FeedError(Exception):
    """A feed that cannot be read: its schedules are unreadable, never "nobody"."""


class FeedUnreadable(FeedError):
    """The bytes are not a calendar this reader can trust."""


class PersonUnreadable(FeedError):
    """An event whose person cannot be read; names the event (UID and start) and the fix."""

    def __init__(self, uid: str, start: str, problem: str, fix: str):
        self.uid, self.start = uid, start
        super().__init__(f"event {uid!r} starting {start}: {problem}; {fix}")


class FeedTooComplex(FeedError):
    """Expanding the feed's recurrences would take more than the bounds allow."""


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
    people = _People(person, pattern, users or {})
    calendar = _calendar(data)
    zone = _zone(calendar)
    events = list(calendar.walk("VEVENT"))
    rules: list[_Rule] = []
    for event in events:
        _check_properties(event)
        if not _cancelled(event):
            people.of(event)
    calendar = _standard(calendar, zone)
    for event in calendar.walk("VEVENT"):
        if not _cancelled(event) and "DTSTART" in event:
            start = _instant(event.decoded("DTSTART"), zone)
            rules.extend(_Rule.parse(_uid(event), recur, start, zone) for recur in _listed(event.get("RRULE")))
    for rule in rules:
        if rule.occurrences(rule.start, rule.start + CHUNK) > MAX_OCCURRENCES:
            raise FeedTooComplex(f"event {rule.uid!r} repeats too often ({rule.text}): more than {MAX_OCCURRENCES} "
                                 f"occurrences in {CHUNK.days} days; an on-call rotation hands over far less often")
    try:
        query = recurring_ical_events.of(calendar)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise FeedUnreadable(f"the feed's recurrences do not parse: {exc}") from exc
    name = calendar.get("X-WR-CALNAME") or calendar.get("NAME")
    return Feed(query, zone, people, rules, name=str(name) if name is not None else None, events=len(events))


class Feed:
    """A parsed feed: who is on call when. Safe to share between threads. Times are aware;
    answers are in UTC."""

    def __init__(self, query: Any, zone: tzinfo, people: _People, rules: list[_Rule], name: str | None,
                 events: int):
        self._query = query
        self._people = people
        self._rules = rules
        self._lock = threading.Lock()  # the library caches expansions as it goes
        self.zone = zone  # the calendar's zone: floating times and all-day events are read in it
        self.name = name  # X-WR-CALNAME (or NAME), if the feed gives one
        self.events = events  # VEVENT components in the file (a recurring event and its overrides count each)

    def occurrences(self, start: datetime, end: datetime) -> list[FeedEvent]:
        """The occurrences that cover part of ``start``..``end`` (zero-length and cancelled ones
        left out), in order of start."""
        _check_window(start, end)
        found: dict[tuple[str, datetime, datetime, frozenset[str]], FeedEvent] = {}
        chunk = start
        while chunk < end:
            upto = min(chunk + CHUNK, end)
            for event in self._expand(chunk, upto):
                found[(event.uid, event.start, event.end, event.people)] = event
            chunk = upto
        return sorted(found.values(), key=lambda e: (e.start, e.end, e.uid))

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
        steps = sum(rule.steps(high) for rule in self._rules)
        if steps > MAX_STEPS:
            worst = max(self._rules, key=lambda r: r.steps(high))
            raise FeedTooComplex(f"expanding the feed up to {high:%Y-%m-%d} would take about {int(steps)} steps "
                                 f"(more than {MAX_STEPS}); most of them for event {worst.uid!r} ({worst.text}), "
                                 f"from {worst.start:%Y-%m-%d}")
        expected = sum(rule.occurrences(low, high) for rule in self._rules)
        if expected > MAX_OCCURRENCES:
            raise FeedTooComplex(f"the feed's rules make about {int(expected)} occurrences between {low:%Y-%m-%d} and "
                                 f"{high:%Y-%m-%d}: more than {MAX_OCCURRENCES}")
        with self._lock:
            try:
                components = self._query.between(low, high)
            except (ValueError, TypeError, KeyError, OverflowError) as exc:
                raise FeedUnreadable(f"the feed's recurrences cannot be expanded: {exc}") from exc
        if len(components) > MAX_OCCURRENCES:
            raise FeedTooComplex(f"the feed has {len(components)} occurrences between {low:%Y-%m-%d} and "
                                 f"{high:%Y-%m-%d}: more than {MAX_OCCURRENCES}")
        out: list[FeedEvent] = []
        for component in components:
            if not isinstance(component, icalendar.Event) or _cancelled(component):
                continue
            try:
                begins, ends = _instant(component.start, self.zone), _instant(component.end, self.zone)
            except (ValueError, TypeError) as exc:
                raise FeedUnreadable(f"event {_uid(component)!r}: its start or end cannot be read: {exc}") from exc
            if begins < end and ends > start and begins < ends:
                out.append(FeedEvent(_uid(component), begins, ends, self._people.of(component),
                                     str(component.get("SUMMARY", ""))))
        return out


# --- reading the bytes ----------------------------------------------------------------------------

def _calendar(data: bytes) -> icalendar.Calendar:
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


def _zone(calendar: icalendar.Calendar) -> tzinfo:
    """The calendar's zone: X-WR-TIMEZONE (an IANA or a Windows name), else UTC."""
    named = calendar.get("X-WR-TIMEZONE")
    if named is None or not str(named).strip():
        return UTC
    zone = tzp.timezone(str(named).strip())
    if zone is None:
        raise FeedUnreadable(f"X-WR-TIMEZONE {str(named)!r} is not a known time zone")
    return zone


def _standard(calendar: icalendar.Calendar, zone: tzinfo) -> icalendar.Calendar:
    """The calendar with X-WR-TIMEZONE applied: its UTC and floating times read in ``zone``, as
    Google and Apple show them (without one, floating times stay floating and are read as UTC)."""
    if "X-WR-TIMEZONE" not in calendar:
        return calendar
    # x_wr_timezone 2.0.1 rewrites each value it converts without its parameters: put RANGE back
    ranges = {(_uid(e), _instant(e.decoded("RECURRENCE-ID"), zone)): e["RECURRENCE-ID"].params["RANGE"]
              for e in calendar.walk("VEVENT")
              if isinstance(e.get("RECURRENCE-ID"), icalendar.vDDDTypes) and e["RECURRENCE-ID"].params.get("RANGE")}
    standard: icalendar.Calendar = x_wr_timezone.to_standard(calendar, timezone=zone)
    for event in standard.walk("VEVENT") if ranges else ():
        key = (_uid(event), _instant(event.decoded("RECURRENCE-ID"), zone)) if "RECURRENCE-ID" in event else None
        if key in ranges:
            event["RECURRENCE-ID"].params["RANGE"] = ranges[key]
    standard.pop("X-WR-TIMEZONE", None)  # applied: recurring_ical_events.of would apply it again, by IANA name only
    return standard


def _check_properties(event: icalendar.Component) -> None:
    for name, problem in event.errors:
        if name is not None and name.upper() in _READ:
            raise FeedUnreadable(f"event {_uid(event)!r}: its {name.upper()} does not parse ({problem})")
    if "DTSTART" not in event:
        raise FeedUnreadable(f"event {_uid(event)!r} has no DTSTART")
    for name in _ZONED:
        for prop in _listed(event.get(name)):
            tzid = getattr(prop, "params", {}).get("TZID")
            if tzid and any(value.tzinfo is None for value in _datetimes(prop)):
                raise FeedUnreadable(f"event {_uid(event)!r}: its {name} names the time zone {tzid!r}, which is "
                                     f"neither a VTIMEZONE in the feed nor a known zone")


def _datetimes(prop: Any) -> Iterator[datetime]:
    for item in getattr(prop, "dts", None) or [prop]:
        value = getattr(item, "dt", None)
        for one in value if isinstance(value, tuple) else (value,):
            if isinstance(one, datetime):
                yield one


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [] if value is None else [value]


def _uid(event: icalendar.Component) -> str:
    return str(event.get("UID", "(no UID)"))


def _cancelled(event: icalendar.Component) -> bool:
    return str(event.get("STATUS", "")).strip().upper() == "CANCELLED"


def _instant(value: date | datetime, zone: tzinfo) -> datetime:
    if isinstance(value, datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=zone)).astimezone(UTC)
    return datetime.combine(value, time(), tzinfo=zone).astimezone(UTC)


def _start_text(event: icalendar.Component) -> str:
    try:
        value = event.decoded("DTSTART")
    except (KeyError, ValueError):
        return "(no DTSTART)"
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)


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


# --- people ------------------------------------------------------------------------------------

class _People:
    def __init__(self, person: PersonFrom, pattern: re.Pattern[str] | None, users: Mapping[str, str]):
        if person not in ("attendee", "summary"):
            raise ValueError(f"person must be attendee or summary, not {person!r}")
        if pattern is not None and "person" not in pattern.groupindex:
            raise ValueError(f"the pattern {pattern.pattern!r} has no (?P<person>...) group")
        self.person, self.pattern = person, pattern
        self._users = dict(users)
        folded: dict[str, list[str]] = {}
        for key in users:
            folded.setdefault(key.strip().casefold(), []).append(users[key])
        self._folded = {k: v[0] for k, v in folded.items() if len(v) == 1}  # a name two keys differ by case only: exact only

    def of(self, event: icalendar.Component) -> frozenset[str]:
        return self._attendees(event) if self.person == "attendee" else self._summary(event)

    def _attendees(self, event: icalendar.Component) -> frozenset[str]:
        fix = "give each event an ATTENDEE with a mailto: address, or read people from the title " \
              "(person: summary, with a pattern)"
        values = _listed(event.get("ATTENDEE"))
        if not values:
            raise PersonUnreadable(_uid(event), _start_text(event), "it has no ATTENDEE", fix)
        out: set[str] = set()
        for value in values:
            text = str(value).strip()
            address = unquote(text[len("mailto:"):]).strip().lower() if text.lower().startswith("mailto:") else ""
            if not _EMAIL.fullmatch(address):
                raise PersonUnreadable(_uid(event), _start_text(event),
                                       f"its ATTENDEE {text!r} is not a mailto: e-mail address", fix)
            out.add(address)
        return frozenset(out)

    def _summary(self, event: icalendar.Component) -> frozenset[str]:
        summary = str(event.get("SUMMARY", "")).strip()
        name = summary
        if self.pattern is not None:
            found = self.pattern.search(summary)
            name = (found.group("person") or "").strip() if found is not None else ""
            if not name:
                raise PersonUnreadable(_uid(event), _start_text(event),
                                       f"its title {summary!r} does not match the pattern {self.pattern.pattern!r}",
                                       "correct the pattern, or the event's title")
        if not name:
            raise PersonUnreadable(_uid(event), _start_text(event), "it has no title (SUMMARY)",
                                   "give the event a title naming who is on call")
        mapped = self._users.get(name, self._folded.get(name.casefold()))
        if mapped is not None and mapped.strip():
            mapped = mapped.strip()
            return frozenset({mapped.lower() if "@" in mapped else mapped})
        if _EMAIL.fullmatch(name):
            return frozenset({name.lower()})
        raise PersonUnreadable(_uid(event), _start_text(event),
                               f"its person {name!r} is neither an e-mail nor a name under 'users:'",
                               f"add '{name}: <their Slack e-mail>' under 'users:'")


# --- bounding the expansion --------------------------------------------------------------------------

@dataclass(frozen=True)
class _Rule:
    """One RRULE as its cost is estimated: how many periods it steps through, times what each makes."""

    uid: str
    text: str
    start: datetime
    period: timedelta  # the shortest period of its frequency, times its interval
    factor: int  # occurrences one period can make at most (BY-parts finer than the frequency)
    count: int | None
    until: datetime | None

    @classmethod
    def parse(cls, uid: str, recur: Any, start: datetime, zone: tzinfo) -> _Rule:
        def first(key: str) -> Any:
            values = recur.get(key) or [None]
            return values[0] if isinstance(values, list) else values

        def many(key: str) -> int:
            values = recur.get(key) or []
            return len(values) if isinstance(values, list) else 1

        freq = str(first("FREQ") or "").upper()
        if freq not in _PERIOD:
            raise FeedUnreadable(f"event {uid!r}: its RRULE has no valid FREQ")
        level = _LEVEL[freq]
        factor = 1
        for key, below in (("BYSECOND", 0), ("BYMINUTE", 1), ("BYHOUR", 2)):
            if level > below and many(key):
                factor *= many(key)
        if level >= _LEVEL["WEEKLY"] and many("BYDAY"):
            factor *= many("BYDAY") * {4: 1, 5: 5, 6: 53}[level]
        if level >= _LEVEL["MONTHLY"] and many("BYMONTHDAY"):
            factor *= many("BYMONTHDAY") * (12 if freq == "YEARLY" else 1)
        if freq == "YEARLY":
            factor *= max(1, many("BYYEARDAY")) * max(1, 7 * many("BYWEEKNO")) * max(1, many("BYMONTH"))
        interval = max(1, int(first("INTERVAL") or 1))
        count = first("COUNT")
        until = first("UNTIL")
        text = recur.to_ical().decode() if hasattr(recur, "to_ical") else str(recur)
        return cls(uid, text, start, timedelta(seconds=_PERIOD[freq] * interval), factor,
                   int(count) if count is not None else None,
                   _instant(until, zone) if isinstance(until, (date, datetime)) else None)

    def _periods(self, start: datetime, end: datetime) -> float:
        if self.until is not None:
            end = min(end, self.until)
        start = max(start, self.start)
        if end < start:
            return 0.0
        return (end - start) / self.period + 1

    def occurrences(self, start: datetime, end: datetime) -> float:
        """At most how many occurrences it makes in ``start``..``end``."""
        made = self._periods(start, end) * self.factor
        return made if self.count is None else min(made, self.count)

    def steps(self, end: datetime) -> float:
        """About how many steps expanding it up to ``end`` takes (the library steps from DTSTART)."""
        return self.occurrences(self.start, end)
