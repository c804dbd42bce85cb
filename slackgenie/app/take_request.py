"""What `/oncall take …` asks for: ``2h``, ``1h30m``, ``until 18:00`` or ``[today|tomorrow]
09:00-17:00``, then an optional group or schedule; read in the asker's Slack time zone. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from slackgenie.core.durations import parse_duration

LONGEST = timedelta(days=7)  # a take is an override, not a new rotation
FURTHEST = timedelta(days=14)  # how far ahead a take may start
SHORTEST = timedelta(minutes=5)

USAGE = ("Say how long: `/oncall take 2h [group]`, `/oncall take until 18:00 [group]` or "
         "`/oncall take tomorrow 09:00-17:00 [group]` (times in your Slack time zone).")

# ASCII digits only, in clock times as in durations (``\d`` would take ``٢`` or ``２`` too).
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$", re.ASCII)
_SPAN = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)-([01]?\d|2[0-3]):([0-5]\d)$", re.ASCII)


@dataclass(frozen=True)
class TakeRequest:
    start: datetime
    end: datetime
    name: str  # the group or schedule named ("" for none)


class _Skipped(Exception):
    """A local time the clocks skip (spring forward): it never happens that day."""


def zone_named(name: str | None) -> ZoneInfo:
    """The asker's time zone as Slack names it; UTC for none or one this machine does not know."""
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, KeyError, OSError):
        return ZoneInfo("UTC")


def parse_take(text: str, now: datetime, zone: ZoneInfo) -> TakeRequest | str:
    """``2h``, ``1h30m``, ``until 18:00``, ``[today|tomorrow] 09:00-17:00``, then an optional name;
    or why not (a sentence)."""
    try:
        found = _span(text.split(), now, zone)
    except _Skipped as exc:
        return f"{exc}. " + USAGE
    if found is None:
        return USAGE
    start, end, rest = found
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    refused = _refused(max(start, now), end, now)
    if refused is not None:
        return refused
    return TakeRequest(start.replace(second=0, microsecond=0) if start > now else now.replace(microsecond=0),
                       end.replace(second=0, microsecond=0), " ".join(rest))


def _refused(start: datetime, end: datetime, now: datetime) -> str | None:
    """Why a shift from ``start`` to ``end`` may not be taken from Slack (None: it may)."""
    if end <= now:
        return "That time has already passed. " + USAGE
    if end - start > LONGEST:
        return f"A shift taken from Slack lasts at most {LONGEST.days} days; ask your schedule's owner for longer."
    if start - now > FURTHEST:
        return f"A shift can be taken at most {FURTHEST.days} days ahead."
    if end - start < SHORTEST:
        return "A shift taken from Slack lasts at least 5 minutes."
    return None


def _span(words: list[str], now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime, list[str]] | None:
    """(start, end, the words after them), None when the words do not begin with a time; raises
    ``_Skipped`` for a local time the clocks skip."""
    lasting = _duration(words[0]) if words else None
    if lasting is not None:
        return now, now + lasting, words[1:]
    if len(words) >= 2 and words[0].lower() == "until" and (m := _CLOCK.match(words[1])):
        return now, _next(time(int(m.group(1)), int(m.group(2))), now, zone), words[2:]
    day = now.astimezone(zone).date()
    if words and words[0].lower() in ("today", "tomorrow"):
        day += timedelta(days=1 if words[0].lower() == "tomorrow" else 0)
        words = words[1:]
    if words and (m := _SPAN.match(words[0])):
        begins, ends = time(int(m.group(1)), int(m.group(2))), time(int(m.group(3)), int(m.group(4)))
        start = _at(day, begins, zone)
        end = _at(day + timedelta(days=1) if ends <= begins else day, ends, zone)  # 22:00-06:00: overnight
        return start, end, words[1:]
    return None


def _duration(word: str) -> timedelta | None:
    """``2h``, ``45m``, ``1h30m``: durations.py's grammar in hours and minutes, the hours in at
    most three digits (as take has always read them: ``1000h`` is no duration, but the usage)."""
    word = word.lower()
    if word.find("h") > 3:
        return None
    return parse_duration(word, units="hm")


def _next(clock: time, now: datetime, zone: ZoneInfo) -> datetime:
    """The next ``clock`` after ``now``: today's, or tomorrow's once today's has passed. Compared
    as instants: 01:30 after 01:15 of a repeated hour is the second 01:30."""
    today = now.astimezone(zone).date()
    at = _at(today, clock, zone, after=now)
    if at.astimezone(timezone.utc) <= now:
        at = _at(today + timedelta(days=1), clock, zone)
    return at


def _at(day: date, clock: time, zone: ZoneInfo, after: datetime | None = None) -> datetime:
    """``clock`` on ``day`` in ``zone``, as an instant. A repeated time (autumn) is its first
    occurrence, or the second when the first is not after ``after``; a skipped one raises."""
    first = datetime.combine(day, clock, zone)
    second = first.replace(fold=1)
    if first.utcoffset() != second.utcoffset() and first.astimezone(timezone.utc) > second.astimezone(timezone.utc):
        raise _Skipped(f"{clock:%H:%M} does not happen on {day:%A %d %B} in {zone.key} (the clocks go forward)")
    if after is not None and first.astimezone(timezone.utc) <= after < second.astimezone(timezone.utc):
        return second
    return first
