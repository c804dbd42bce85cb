"""A loopback server of iCalendar feeds, as calendar and on-call vendors publish schedules, and
generators of such feeds with their own idea of who is on call.

The wire, as ../shared/specs/ical/REFERENCE.md §2 describes a feed server:

* ``GET /feeds/<secret token>.ics`` answers ``text/calendar; charset=utf-8`` with a strong ``ETag``
  and a ``Last-Modified`` (either can be left out per feed: many servers send neither); ``HEAD``
  the same without a body.
* ``304 Not Modified`` (no body) when ``If-None-Match`` matches (weak comparison, so ``W/"x"``
  matches ``"x"``; ``*`` too) or, when no ``If-None-Match`` is sent, ``If-Modified-Since`` is not
  before the feed's ``Last-Modified``. ``If-None-Match`` wins over ``If-Modified-Since``.
* An unknown token answers 404, another method 405. Error bodies echo the requested path, secret
  token and all, as careless servers do: a client must never show them as they are.

Tests set a feed's text with ``set_feed`` (each call is a new version: a new ETag, a later
Last-Modified), count reads with ``reads`` (method, path, conditional headers, status) and inject
faults for one feed with ``fault``: the shared kinds (``status``: 500, 503, 429 with ``retry_after``;
``drop``; ``latency``; ``drip``, see ``base.Fault``) and the feed-specific ``truncated`` (a
Content-Length the body never reaches), ``garbage`` (200 with bytes that are no calendar),
``html`` (200 with a login page), ``invalid_utf8`` (the feed with a byte that is not UTF-8) and
``huge`` (a calendar padded to ``size`` bytes, 50 MiB by default, streamed).

``weekly_rotation`` writes a Google-like weekly rota (RRULE, EXDATE, a moved and a cancelled
occurrence) around a given instant, and knows who is on call by plain arithmetic, never by reading
iCalendar; ``shifts_feed`` writes given shifts the way PagerDuty, Opsgenie, Grafana OnCall or
incident.io shape their feeds.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time as clock_time, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from zoneinfo import ZoneInfo

from slackgenie_emulators.base import Clock, EmulatorServer, Fault, Request, Response

UTC = timezone.utc
CALENDAR = "text/calendar; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
HUGE_BYTES = 50 * 2**20
FEED_PATH = re.compile(r"/feeds/([A-Za-z0-9_-]+)\.ics")
GARBAGE = b"\x00\x9f\x92\x96PK\x03\x04 this is not a calendar \xff\xfe\r\n" * 8
LOGIN_PAGE = ("<!DOCTYPE html><html><head><title>Sign in</title></head><body><form action=\"/login\">"
              "<input name=\"email\"><input name=\"password\" type=\"password\"></form></body></html>\n")
_REASONS = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout", 401: "Unauthorized", 403: "Forbidden"}


@dataclass
class FeedFault(Fault):
    """A fault of one feed; ``size`` is the body's length for ``huge``."""

    size: int = HUGE_BYTES


@dataclass(frozen=True)
class ServedFeed:
    """One feed as the server holds it."""

    name: str
    token: str
    body: bytes
    version: int
    modified: datetime  # whole seconds, UTC: what Last-Modified says
    send_etag: bool = True
    send_last_modified: bool = True

    @property
    def path(self) -> str:
        return f"/feeds/{self.token}.ics"

    @property
    def etag(self) -> str:
        """A strong validator: the version and the body's hash."""
        return f'"v{self.version}-{hashlib.sha256(self.body).hexdigest()[:16]}"'

    @property
    def last_modified(self) -> str:
        return format_datetime(self.modified, usegmt=True)


@dataclass(frozen=True)
class FeedRead:
    """One request as the feed server saw it."""

    method: str
    path: str
    feed: str | None  # the feed's name, None for an unknown token
    if_none_match: str | None
    if_modified_since: str | None
    status: int  # 0: the connection was dropped without an answer
    at: float  # time.time()


@dataclass
class _Cut(Response):
    """An answer whose body stops at ``cut`` bytes while its Content-Length promises all of it."""

    cut: int = 0


@dataclass
class _Huge(Response):
    """A calendar padded to ``size`` bytes, written as it is read."""

    size: int = HUGE_BYTES


class IcalEmulator(EmulatorServer):
    """Named feeds at secret addresses on 127.0.0.1 (an ephemeral port unless ``port`` is given)."""

    name = "ical"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, clock: Clock | None = None):
        super().__init__(host, port, clock)
        self._httpd.RequestHandlerClass = _feed_handler(self._httpd.RequestHandlerClass)
        self._feeds: dict[str, ServedFeed] = {}  # name -> feed
        self._reads: list[FeedRead] = []

    # --- feeds ---------------------------------------------------------------------------------
    def set_feed(self, name: str, text: str | bytes, *, etag: bool = True, last_modified: bool = True,
                 token: str | None = None) -> str:
        """Serve ``text`` as the feed ``name`` (a new one, or a new version: new ETag, later
        Last-Modified). Returns its address; the token stays the feed's unless ``token`` is given."""
        body = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        with self._lock:
            old = self._feeds.get(name)
            modified = self.clock.now().astimezone(UTC).replace(microsecond=0)
            if old is not None and modified <= old.modified:
                modified = old.modified + timedelta(seconds=1)  # Last-Modified moves with every version
            self._feeds[name] = ServedFeed(
                name=name, token=token or (old.token if old else secrets.token_urlsafe(24)), body=body,
                version=old.version + 1 if old else 1, modified=modified, send_etag=etag,
                send_last_modified=last_modified)
        return self.feed_url(name)

    def remove_feed(self, name: str) -> None:
        """Forget a feed: its address answers 404 from now on (a revoked or deleted schedule)."""
        with self._lock:
            self._feeds.pop(name, None)

    def feed(self, name: str) -> ServedFeed:
        with self._lock:
            return self._feeds[name]

    def feed_url(self, name: str) -> str:
        """The feed's secret address (``http://127.0.0.1:<port>/feeds/<token>.ics``)."""
        return self.url + self.feed(name).path

    def token(self, name: str) -> str:
        return self.feed(name).token

    def fault(self, name: str, kind: str = "status", **kwargs: Any) -> FeedFault:
        """A fault for the feed ``name`` only (see the module's docstring for the kinds)."""
        fault = FeedFault(pattern=re.escape(self.feed(name).path) + "$", kind=kind, **kwargs)
        with self._lock:
            self._faults.append(fault)
        return fault

    # --- the request log ---------------------------------------------------------------------------
    def reads(self, name: str | None = None) -> list[FeedRead]:
        """Every request (of the feed ``name``, or all), in order of arrival."""
        with self._lock:
            return [r for r in self._reads if name is None or r.feed == name]

    def reset_log(self) -> None:
        super().reset_log()
        with self._lock:
            self._reads.clear()

    def _record(self, request: Request, status: int) -> None:
        super()._record(request, status)
        served = self._served(request.path)
        with self._lock:
            self._reads.append(FeedRead(request.method, request.path, served.name if served else None,
                                        request.headers.get("if-none-match"),
                                        request.headers.get("if-modified-since"), status, time.time()))

    def _served(self, path: str) -> ServedFeed | None:
        found = FEED_PATH.fullmatch(path)
        with self._lock:
            return next((f for f in self._feeds.values() if found and f.token == found.group(1)), None)

    # --- answers -------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response(405, "405 Method Not Allowed\n", headers={"Allow": "GET, HEAD"}, content_type=TEXT)
        served = self._served(request.path)
        if served is None:
            return Response(404, f"404 Not Found: no calendar at {request.path}\n", content_type=TEXT)
        headers = {"Cache-Control": "private, max-age=0"}
        if served.send_etag:
            headers["ETag"] = served.etag
        if served.send_last_modified:
            headers["Last-Modified"] = served.last_modified
        if _not_modified(served, request.headers):
            return Response(304, b"", headers=headers, content_type=CALENDAR)
        return Response(200, served.body, headers=headers, content_type=CALENDAR)

    def fault_response(self, fault: Fault, request: Request) -> Response:
        served = self._served(request.path)
        body = served.body if served is not None else weekly_rotation(self.clock.now()).text.encode()
        if fault.kind == "garbage":
            return Response(200, GARBAGE, content_type=CALENDAR)
        if fault.kind == "html":
            return Response(200, LOGIN_PAGE, content_type="text/html; charset=utf-8")
        if fault.kind == "invalid_utf8":
            at = body.find(b"\r\nEND:VCALENDAR")
            at = at if at >= 0 else len(body)
            return Response(200, body[:at] + b"\r\nX-NOTE:caf\xe9 \xff" + body[at:], content_type=CALENDAR)
        if fault.kind == "truncated":
            return _Cut(200, body, content_type=CALENDAR, cut=len(body) // 2)
        if fault.kind == "huge":
            return _Huge(200, b"", content_type=CALENDAR, size=getattr(fault, "size", HUGE_BYTES))
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(int(fault.retry_after))
        reason = _REASONS.get(fault.status, "Error")
        return Response(fault.status, f"{fault.status} {reason} while serving {request.path}\n", headers=headers,
                        content_type=TEXT)


def _not_modified(served: ServedFeed, headers: Mapping[str, str]) -> bool:
    """RFC 9110 §13.1.2-3, §13.2.2: If-None-Match (weak comparison) first; If-Modified-Since only without it."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if not served.send_etag:
            return False
        tags = [t.strip() for t in if_none_match.split(",")]
        return "*" in tags or any(_opaque(t) == _opaque(served.etag) for t in tags)
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since is None or not served.send_last_modified:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False  # an invalid date is ignored (RFC 9110 §13.1.3)
    since = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
    return served.modified <= since


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def _feed_handler(base: Any) -> type[BaseHTTPRequestHandler]:
    """The shared handler, with HEAD, bodiless 304s, cut bodies and streamed huge ones."""
    base_write: Any = getattr(base, "_write")

    class FeedHandler(base):  # the shared handler (base.py), one per server
        do_HEAD = getattr(base, "do_GET")

        def _write(self, response: Response, drip: float = 0.0) -> None:
            if drip and self.command != "HEAD":
                base_write(self, response, drip)
                return
            if isinstance(response, _Huge):
                self._stream(response)
                return
            body = response.body if isinstance(response.body, bytes) else str(response.body or "").encode()
            self.send_response(response.status)
            if response.status != 304:
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(body)))
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command == "HEAD" or response.status == 304:
                return
            try:
                self.wfile.write(body[:response.cut] if isinstance(response, _Cut) else body)
                self.wfile.flush()
            except OSError:
                self.close_connection = True
                return
            if isinstance(response, _Cut):
                self.close_connection = True  # the rest never comes

        def _stream(self, response: _Huge) -> None:
            head = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Slackgenie emulator//huge//EN\r\n"
            line = b"X-PADDING:" + b"x" * 62 + b"\r\n"
            chunk = line * (65536 // len(line))
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(response.size))
            self.end_headers()
            if self.command == "HEAD":
                return
            left = response.size
            deadline = time.monotonic() + 120  # bounded, whatever the client does
            try:
                self.wfile.write(head[:left])
                left -= min(left, len(head))
                while left > 0 and time.monotonic() < deadline:
                    piece = chunk[:left]
                    self.wfile.write(piece)
                    left -= len(piece)
            except OSError:
                pass  # the client stopped reading: that is the point
            self.close_connection = True

    return FeedHandler


# --- feeds to serve ------------------------------------------------------------------------------------

_VTIMEZONES = {  # hand-written from each zone's current rules
    "Europe/London": ("+0000", "+0100", "GMT", "BST", "19810329T010000", "19961027T020000", "3", "10"),
    "Europe/Berlin": ("+0100", "+0200", "CET", "CEST", "19810329T020000", "19961027T030000", "3", "10"),
    "America/New_York": ("-0500", "-0400", "EST", "EDT", "20070311T020000", "20071104T020000", "3;BYDAY=2SU",
                         "11;BYDAY=1SU"),
}


def vtimezone(zone: str) -> list[str]:
    """A VTIMEZONE for one of the zones above, as calendar servers write them."""
    standard, daylight, std_name, dst_name, dst_start, std_start, dst_month, std_month = _VTIMEZONES[zone]
    by_dst = dst_month if "BYDAY" in dst_month else f"{dst_month};BYDAY=-1SU"
    by_std = std_month if "BYDAY" in std_month else f"{std_month};BYDAY=-1SU"
    return ["BEGIN:VTIMEZONE", f"TZID:{zone}", f"X-LIC-LOCATION:{zone}",
            "BEGIN:DAYLIGHT", f"TZOFFSETFROM:{standard}", f"TZOFFSETTO:{daylight}", f"TZNAME:{dst_name}",
            f"DTSTART:{dst_start}", f"RRULE:FREQ=YEARLY;BYMONTH={by_dst}", "END:DAYLIGHT",
            "BEGIN:STANDARD", f"TZOFFSETFROM:{daylight}", f"TZOFFSETTO:{standard}", f"TZNAME:{std_name}",
            f"DTSTART:{std_start}", f"RRULE:FREQ=YEARLY;BYMONTH={by_std}", "END:STANDARD", "END:VTIMEZONE"]


def fold(line: str) -> str:
    """RFC 5545 §3.1: lines of at most 75 octets, continued after CRLF and one space (never inside a character)."""
    out: list[str] = []
    current, size, limit = "", 0, 75
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            out.append(current)
            current, size, limit = " ", 1, 75
        current += char
        size += width
    out.append(current)
    return "\r\n".join(out)


def calendar_text(lines: Sequence[str]) -> str:
    return "".join(fold(line) + "\r\n" for line in lines)


def _utc(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _local(dt: datetime) -> str:
    return dt.strftime("%Y%m%dT%H%M%S")


def _text(value: str) -> str:
    """RFC 5545 §3.3.11: TEXT escaping."""
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _param(value: str) -> str:
    """A parameter value, quoted when it holds a colon, semicolon or comma (RFC 5545 §3.2)."""
    return f'"{value}"' if any(c in value for c in ':;,') else value


def display_name(email: str) -> str:
    return email.split("@")[0].replace(".", " ").title()


@dataclass(frozen=True)
class Rotation:
    """A weekly rota around an instant: week ``k`` (from ``first``'s handoff) is ``people[k % n]``'s,
    except the week ``skipped`` (an EXDATE: nobody), ``cancelled`` (a cancelled occurrence: nobody)
    and ``moved`` (a RECURRENCE-ID: ``cover`` takes it, a day later at both ends). Who is on call
    is worked out here by plain arithmetic on the zone's wall clock, never by reading the feed."""

    text: str
    zone: ZoneInfo
    people: tuple[str, ...]
    cover: str
    first: date  # the Monday of week 0
    handoff: clock_time
    current: int  # the week holding the ``now`` it was made for
    skipped: int | None
    moved: int | None
    cancelled: int | None
    moved_by: timedelta = timedelta(days=1)

    def boundary(self, week: int) -> datetime:
        """Week ``week``'s handoff (UTC): ``handoff`` on its Monday, local time."""
        return datetime.combine(self.first + timedelta(weeks=week), self.handoff, tzinfo=self.zone).astimezone(UTC)

    def week_of(self, at: datetime) -> int:
        local = at.astimezone(self.zone)
        monday = local.date() - timedelta(days=local.weekday())
        week = (monday - self.first).days // 7
        return week - 1 if at < self.boundary(week) else week

    def on_call(self, at: datetime) -> frozenset[str]:
        week = self.week_of(at)
        out: set[str] = set()
        if week >= 0 and week not in (self.skipped, self.moved, self.cancelled):
            out.add(self.people[week % len(self.people)])
        if self.moved is not None and self._moved_start() <= at < self._moved_end():
            out.add(self.cover)
        return frozenset(out)

    def changes(self, start: datetime, end: datetime) -> list[datetime]:
        """The instants in ``start``..``end`` at which who is on call changes."""
        candidates = sorted({self.boundary(w) for w in range(self.week_of(start), self.week_of(end) + 2)}
                            | ({self._moved_start(), self._moved_end()} if self.moved is not None else set()))
        second = timedelta(seconds=1)
        return [t for t in candidates if start < t < end and self.on_call(t) != self.on_call(t - second)]

    def _moved_start(self) -> datetime:
        return self._wall(self.moved or 0, self.moved_by)

    def _moved_end(self) -> datetime:
        return self._wall((self.moved or 0) + 1, self.moved_by)

    def _wall(self, week: int, plus: timedelta) -> datetime:
        day = self.first + timedelta(weeks=week) + plus
        return datetime.combine(day, self.handoff, tzinfo=self.zone).astimezone(UTC)


def weekly_rotation(now: datetime, people: Sequence[str] = ("alice@example.com", "bob@example.com",
                                                           "carol@example.com"),
                    *, zone: str = "Europe/London", handoff: clock_time = clock_time(9, 0), weeks_before: int = 4,
                    skip: int | None = 2, move: int | None = 1, cancel: int | None = 3,
                    cover: str = "cover@example.com", name: str = "Payments on-call") -> Rotation:
    """A Google-like weekly rota feed: one VEVENT per person (``RRULE:FREQ=WEEKLY;INTERVAL=n``,
    handoffs on Mondays at ``handoff`` local time, a VTIMEZONE), with an EXDATE ``skip`` weeks
    after the current one, an occurrence ``move`` weeks after it moved a day later and given to
    ``cover`` (RECURRENCE-ID), and one ``cancel`` weeks after it cancelled (STATUS:CANCELLED).
    ``now`` places it, so a test never depends on the date it runs."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    this_monday = local.date() - timedelta(days=local.weekday())
    first = this_monday - timedelta(weeks=weeks_before)
    probe = Rotation("", tz, tuple(people), cover, first, handoff, 0, None, None, None)
    current = probe.week_of(now)
    rota = replace(probe, current=current, skipped=None if skip is None else current + skip,
                   moved=None if move is None else current + move,
                   cancelled=None if cancel is None else current + cancel)
    stamp = _utc(now.replace(microsecond=0))
    n = len(people)

    def wall(week: int, plus: timedelta = timedelta()) -> str:
        return _local(datetime.combine(first + timedelta(weeks=week) + plus, handoff))

    def uid(person: int) -> str:
        return f"rota-{person}-{first:%Y%m%d}@slackgenie-emulator"

    lines = ["BEGIN:VCALENDAR", "PRODID:-//Slackgenie emulator//Google-like rota//EN", "VERSION:2.0",
             "CALSCALE:GREGORIAN", "METHOD:PUBLISH", f"X-WR-CALNAME:{_text(name)}", f"X-WR-TIMEZONE:{zone}",
             *vtimezone(zone)]
    for i, person in enumerate(people):
        lines += ["BEGIN:VEVENT", f"DTSTART;TZID={zone}:{wall(i)}", f"DTEND;TZID={zone}:{wall(i + 1)}",
                  f"RRULE:FREQ=WEEKLY;INTERVAL={n}", f"DTSTAMP:{stamp}", f"UID:{uid(i)}"]
        if rota.skipped is not None and rota.skipped % n == i:
            lines.append(f"EXDATE;TZID={zone}:{wall(rota.skipped)}")
        lines += [f"ATTENDEE;CN={display_name(person)};ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:{person}",
                  f"SUMMARY:On call: {_text(display_name(person))}", "STATUS:CONFIRMED", "SEQUENCE:0",
                  "END:VEVENT"]
    if rota.moved is not None:
        week = rota.moved
        lines += ["BEGIN:VEVENT", f"DTSTART;TZID={zone}:{wall(week, rota.moved_by)}",
                  f"DTEND;TZID={zone}:{wall(week + 1, rota.moved_by)}", f"DTSTAMP:{stamp}", f"UID:{uid(week % n)}",
                  f"RECURRENCE-ID;TZID={zone}:{wall(week)}",
                  f"ATTENDEE;CN={display_name(cover)};ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:{cover}",
                  f"SUMMARY:On call: {_text(display_name(cover))}", "STATUS:CONFIRMED", "SEQUENCE:1", "END:VEVENT"]
    if rota.cancelled is not None:
        week = rota.cancelled
        person = people[week % n]
        lines += ["BEGIN:VEVENT", f"DTSTART;TZID={zone}:{wall(week)}", f"DTEND;TZID={zone}:{wall(week + 1)}",
                  f"DTSTAMP:{stamp}", f"UID:{uid(week % n)}", f"RECURRENCE-ID;TZID={zone}:{wall(week)}",
                  f"ATTENDEE;CN={display_name(person)};ROLE=REQ-PARTICIPANT:mailto:{person}",
                  f"SUMMARY:On call: {_text(display_name(person))}", "STATUS:CANCELLED", "SEQUENCE:1", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return replace(rota, text=calendar_text(lines))


Style = Literal["pagerduty", "opsgenie", "grafana", "incidentio"]


def shifts_feed(shifts: Sequence[tuple[datetime, datetime, str]], *, style: Style = "pagerduty",
                schedule: str = "Payments", now: datetime | None = None,
                names: Mapping[str, str] | None = None) -> str:
    """Given shifts (start, end, e-mail) as a flat feed in one vendor's shape (REFERENCE.md §3):
    ``pagerduty``: ``On call: <name>`` and one ATTENDEE; ``opsgenie``: ``<name> - <schedule>_schedule``,
    no ATTENDEE; ``grafana``: the display name alone, ``X-WR-TIMEZONE:UTC``, ``PRIORITY``,
    ``REFRESH-INTERVAL``; ``incidentio``: ``On-call: <schedule> (<name>)``. All in UTC."""
    stamp = _utc((now or (min((s for s, _, _ in shifts), default=datetime(2026, 1, 1, tzinfo=UTC)))).replace(
        microsecond=0))
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0"]
    if style == "grafana":
        lines += ["CALSCALE:GREGORIAN", "PRODID://Grafana Labs//Grafana On-Call//", f"X-WR-CALNAME:{_text(schedule)}",
                  "X-WR-TIMEZONE:UTC", "REFRESH-INTERVAL;VALUE=DURATION:PT1H"]
    else:
        lines += [f"PRODID:-//Slackgenie emulator//{style}-like//EN", f"X-WR-CALNAME:{_text(schedule)}"]
    for i, (start, end, email) in enumerate(shifts):
        person = (names or {}).get(email, display_name(email))
        summary = {"pagerduty": f"On call: {person}", "opsgenie": f"{person} - {schedule}_schedule",
                   "grafana": person, "incidentio": f"On-call: {schedule} ({person})"}[style]
        uid = (f"OSHIFT{i}-{start.astimezone(UTC):%Y%m%d%H%S}-U{i}" if style == "grafana"
               else f"{style}-{i}-{_utc(start)}@slackgenie-emulator")
        lines += ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{stamp}", f"DTSTART:{_utc(start)}", f"DTEND:{_utc(end)}",
                  f"SUMMARY:{_text(summary)}"]
        if style == "pagerduty":
            lines.append(f"ATTENDEE;CN={_param(person)}:mailto:{email}")
        if style == "grafana":
            lines += ["PRIORITY:0", f"LAST-MODIFIED:{stamp}"]
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return calendar_text(lines)

