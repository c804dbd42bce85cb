"""Rotation maths (Opsgenie's model of a schedule), pure, on typed values: who a schedule puts on call at an instant, and when that changes.

The daemon predicts each schedule's next handoff with it (from one ``GET /v2/schedules?expand=rotation``,
read into these types by ``sources/opsgenie/wire.py``) so it can wake up just then; the Opsgenie
emulator has its own engine (``emulators/slackgenie_emulators/schedules.py``), written apart.
A prediction only decides *when* to look; what a pass writes always comes from Opsgenie's own
on-call answer, so a wrong prediction costs latency, never correctness.

Models what the Opsgenie API documents for a schedule: rotations (hourly/daily/weekly turns of
``length`` units through ordered participants from ``startDate`` until an optional ``endDate``),
time restrictions (``time-of-day`` and ``weekday-and-time-of-day``, read in the schedule's time
zone) and overrides (a user, or nobody, standing in for some or all rotations for a window).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
TURN = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}


@dataclass(frozen=True)
class Participant:
    """Who a rotation's turn (or an override) puts on call: a user, a team, an escalation, or nobody."""

    kind: str  # user | team | escalation | none
    name: str = ""  # a user's username (its e-mail); a team's or an escalation's name
    id: str = ""

    @property
    def key(self) -> str:
        return self.name or self.id


NOBODY = Participant("none")


@dataclass(frozen=True)
class Span:
    """One window of a time restriction, in the schedule's zone: opens at ``start`` and closes at
    ``end`` (times of day); on weekdays ``start_day`` .. ``end_day`` (0 is Monday), or every day."""

    start: timedelta
    end: timedelta
    start_day: int | None = None
    end_day: int | None = None


@dataclass(frozen=True)
class Restriction:
    """A rotation's time restriction: one window every day (``daily``), or windows by weekday."""

    daily: bool
    spans: tuple[Span, ...] = ()


@dataclass
class Rotation:
    id: str
    name: str
    start: datetime
    type: str
    participants: list[Participant]
    length: int = 1
    end: datetime | None = None
    time_restriction: Restriction | None = None

    @property
    def turn(self) -> timedelta:
        return TURN[self.type] * self.length

    # Daily and weekly turns hand over at the same wall-clock time in the schedule's zone, so
    # across a DST change they are an hour longer or shorter; hourly turns are plain hours.
    def boundary(self, k: int, tz: ZoneInfo) -> datetime:
        """The instant the k-th turn begins."""
        if self.type == "hourly":
            return self.start + self.turn * k
        return _instant(_wall(self.start, tz) + self.turn * k, tz)

    def _turn_index(self, at: datetime, tz: ZoneInfo) -> int:
        """The k whose turn holds at ``at``: boundary(k) <= at < boundary(k + 1)."""
        if self.type == "hourly":
            return int((at - self.start) // self.turn)
        k = int((_wall(at, tz) - _wall(self.start, tz)) // self.turn)  # right but near a clock change
        while k > 0 and self.boundary(k, tz) > at:
            k -= 1
        while self.boundary(k + 1, tz) <= at:
            k += 1
        return k

    def turn_participant(self, at: datetime, tz: ZoneInfo = ZoneInfo("UTC")) -> Participant | None:
        """Whose turn it is at ``at``, ignoring time restrictions."""
        if at < self.start or (self.end is not None and at >= self.end) or not self.participants:
            return None
        index = self._turn_index(at, tz)
        return self.participants[index % len(self.participants)]

    def windows(self, first: date, last: date, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
        """The (open, close) instants of the time-restriction windows that open on local days
        ``first`` to ``last``; one endless window when the rotation is not restricted."""
        r = self.time_restriction
        everywhen = [(datetime.min.replace(tzinfo=timezone.utc), datetime.max.replace(tzinfo=timezone.utc))]
        if r is None:
            return everywhen
        spans: list[tuple[int | None, timedelta, int, timedelta]] = []  # (weekday, opens, days later, closes)
        if r.daily:
            s = r.spans[0] if r.spans else Span(timedelta(0), timedelta(0))
            if s.start == s.end:
                return everywhen
            spans.append((None, s.start, 0 if s.end > s.start else 1, s.end))
        else:
            for s in r.spans:
                weekday = s.start_day or 0
                later = ((s.end_day or 0) - weekday) % 7
                if later == 0 and s.end <= s.start:
                    later = 7  # wraps past Sunday night all the way round
                spans.append((weekday, s.start, later, s.end))
        out: list[tuple[datetime, datetime]] = []
        day = first
        while day <= last:
            midnight = datetime(day.year, day.month, day.day)
            for on_day, opens, later, closes in spans:
                if on_day is None or on_day == day.weekday():
                    out.append((_instant(midnight + opens, tz), _instant(midnight + timedelta(days=later) + closes, tz)))
            day += timedelta(days=1)
        return out

    def allowed(self, at: datetime, tz: ZoneInfo) -> bool:
        """Whether the time restriction lets this rotation put anyone on call at ``at``."""
        today = at.astimezone(tz).date()
        return any(opens <= at < closes for opens, closes in self.windows(today - timedelta(days=8), today, tz))

    def edges(self, after: datetime, until: datetime, tz: ZoneInfo) -> list[datetime]:
        """Every instant in (after, until] at which this rotation's answer may change."""
        out: list[datetime] = []
        for boundary in (self.start, self.end):
            if boundary is not None and after < boundary <= until:
                out.append(boundary)
        k = 1 if after < self.start else self._turn_index(after, tz) + 1
        while True:
            t = self.boundary(k, tz)
            if t > until or (self.end is not None and t > self.end):
                break
            if t > after:
                out.append(t)
            k += 1
        if self.time_restriction:
            first = after.astimezone(tz).date() - timedelta(days=8)
            for opens, closes in self.windows(first, until.astimezone(tz).date(), tz):
                out += [t for t in (opens, closes) if after < t <= until]
        return out


@dataclass
class Override:
    alias: str
    user: Participant  # a user, or NOBODY
    start: datetime
    end: datetime
    rotations: list[str] = field(default_factory=list)  # rotation ids or names; empty: all

    def covers(self, rotation: Rotation, at: datetime) -> bool:
        if not (self.start <= at < self.end):
            return False
        return not self.rotations or rotation.id in self.rotations or rotation.name in self.rotations


@dataclass
class ScheduleModel:
    id: str
    name: str
    timezone: str = "UTC"
    enabled: bool = True
    rotations: list[Rotation] = field(default_factory=list)
    overrides: list[Override] = field(default_factory=list)
    description: str = ""
    owner_team: dict[str, str] | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def on_call(self, at: datetime) -> list[tuple[Rotation, Participant, Override | None]]:
        """(rotation, participant, override that put them there) for everyone on call at ``at``."""
        if not self.enabled:
            return []
        out: list[tuple[Rotation, Participant, Override | None]] = []
        for rotation in self.rotations:
            override = next((o for o in self.overrides if o.covers(rotation, at)), None)
            if override is not None:
                if override.user.kind != "none":
                    out.append((rotation, override.user, override))
                continue
            participant = rotation.turn_participant(at, self.tz)
            if participant is None or participant.kind == "none":
                continue
            if rotation.allowed(at, self.tz):
                out.append((rotation, participant, None))
        return out

    def holder(self, rotation: Rotation, at: datetime) -> Participant | None:
        """Who one rotation puts on call at ``at`` (overrides included), or None."""
        return next((p for r, p, _ in self.on_call(at) if r is rotation), None)

    def next_per_rotation(self, at: datetime, days: int = 93) -> list[tuple[Rotation, Participant]]:
        """For each rotation, the next person it puts on call after ``at`` (the next turn's holder)."""
        out = []
        until = at + timedelta(days=days)
        for rotation in self.rotations:
            now = self.holder(rotation, at)
            edges = set(rotation.edges(at, until, self.tz))
            edges.update(t for o in self.overrides for t in (o.start, o.end) if at < t <= until)
            for t in sorted(edges):
                later = self.holder(rotation, t)
                if later is not None and later != now:
                    out.append((rotation, later))
                    break
        return out

    def next_change(self, at: datetime, horizons: tuple[int, ...] = (2, 16, 93)) -> datetime | None:
        """The first instant after ``at`` at which the set of people on call changes."""
        current = _key(self.on_call(at))
        searched = at
        for days in horizons:
            until = at + timedelta(days=days)
            candidates: set[datetime] = set()
            for rotation in self.rotations:
                candidates.update(rotation.edges(searched, until, self.tz))
            for o in self.overrides:
                candidates.update(t for t in (o.start, o.end) if searched < t <= until)
            for t in sorted(candidates):
                if _key(self.on_call(t)) != current:
                    return t
            searched = until
        return None


def _wall(dt: datetime, tz: ZoneInfo) -> datetime:
    return dt.astimezone(tz).replace(tzinfo=None)


def _instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """A wall-clock time in ``tz`` as an instant, as Opsgenie's rotations read it: a time that
    happens twice (autumn) is its first occurrence; a time the clock skips (spring) is moved on
    by the length of the skip (02:30 in a one-hour gap is 03:30 new time). PEP 495's fold=0
    gives exactly that."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(timezone.utc)


def _key(entries: list[tuple[Rotation, Participant, Override | None]]) -> frozenset[str]:
    return frozenset(p.key for _, p, _ in entries)
