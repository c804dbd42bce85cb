"""The Opsgenie emulator's own notion of who is on call: schedules, rotations, overrides.

Written from what the Opsgenie API documents (``ScheduleRotation``, ``timeRestriction`` and
``ScheduleOverride``), on purpose separate from the product's rotation maths: tests that talk
to the emulator must be able to catch a product that misreads these rules. Nothing here imports
a non-emulator slackgenie module.

The rules, all read in the schedule's time zone:

* Turn ``k`` (k >= 0) of a rotation begins at ``turn_start(k)``: for ``hourly`` rotations
  ``startDate + k * length`` hours of elapsed time; for ``daily``/``weekly`` ones the wall-clock
  time of ``startDate`` moved on by ``k * length`` days (or weeks), made an instant by
  ``resolve_wall`` (a repeated wall time means its first occurrence; a skipped one is moved
  forward by the gap). Turn starts strictly increase, so the turn at ``t`` is the largest ``k``
  with ``turn_start(k) <= t``, found by bisection.
* A time restriction is a set of windows ``[open, close)`` of instants: each made of two wall
  times resolved like turn starts. A rotation puts its turn holder on call only inside a window;
  windows do not pause the turns.
* An override replaces the answer of the rotations it names (all when it names none) over
  ``[startDate, endDate)``, whatever the restriction says. The first matching override wins.

Pure functions (``resolve_wall``, ``turn_start``, ``turn_at``, ``window_rules``,
``windows_on``, ``restriction_allows``) are usable as a test oracle on their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import tz as dateutil_tz

UTC = timezone.utc
HORIZON = timedelta(days=93)
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEK = timedelta(days=7)

Participant = dict[str, Any]


# --- time zones -------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def zone_named(name: str) -> tzinfo:
    """The IANA zone ``name`` (``UTC`` included)."""
    return ZoneInfo(name)


def wall_clock(instant: datetime, zone: tzinfo) -> datetime:
    """The naive wall-clock time ``instant`` shows in ``zone``."""
    return instant.astimezone(zone).replace(tzinfo=None)


def resolve_wall(wall: datetime, zone: tzinfo) -> datetime:
    """The UTC instant a naive wall-clock time in ``zone`` stands for.

    A wall time that happens twice (the repeated hour in autumn) means its first occurrence, the
    earlier instant. A wall time that never happens (the skipped hour in spring) is moved forward
    by the length of the gap: 02:30 in New York on 2026-03-08 is 03:30 EDT, 07:30Z.
    """
    local = wall.replace(tzinfo=zone, fold=0)
    if not dateutil_tz.datetime_exists(local):
        return dateutil_tz.resolve_imaginary(local).astimezone(UTC)
    if dateutil_tz.datetime_ambiguous(local):
        return min(local.replace(fold=0).astimezone(UTC), local.replace(fold=1).astimezone(UTC))
    return local.astimezone(UTC)


# --- data -----------------------------------------------------------------------------------

@dataclass(eq=False)
class Rotation:
    """One rotation, as Opsgenie's ``ScheduleRotation`` describes it."""

    id: str
    name: str
    type: str  # hourly | daily | weekly
    start_date: datetime
    participants: list[Participant]
    length: int = 1
    end_date: datetime | None = None
    time_restriction: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.type not in ("hourly", "daily", "weekly"):
            raise ValueError(f"rotation type must be hourly, daily or weekly, not {self.type!r}")
        if self.length < 1:
            raise ValueError(f"rotation length must be at least 1, not {self.length}")


@dataclass(eq=False)
class Override:
    """Someone (or, with ``{"type": "none"}``, nobody) standing in over ``[start_date, end_date)``."""

    alias: str
    user: Participant
    start_date: datetime
    end_date: datetime
    rotations: list[str] = field(default_factory=list)  # rotation ids or names; empty: every rotation

    def names(self, rotation: Rotation) -> bool:
        return not self.rotations or rotation.id in self.rotations or rotation.name in self.rotations

    def applies(self, rotation: Rotation, at: datetime) -> bool:
        return self.start_date <= at < self.end_date and self.names(rotation)


# --- turns ----------------------------------------------------------------------------------

def turn_start(rotation: Rotation, zone: tzinfo, k: int) -> datetime:
    """The instant turn ``k`` of ``rotation`` begins (B(k) in the module docstring)."""
    if rotation.type == "hourly":
        return rotation.start_date + timedelta(hours=k * rotation.length)
    days = k * rotation.length * (7 if rotation.type == "weekly" else 1)
    return resolve_wall(wall_clock(rotation.start_date, zone) + timedelta(days=days), zone)


def _nominal_turn(rotation: Rotation) -> timedelta:
    unit = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}.get(rotation.type, WEEK)
    return unit * rotation.length


def turn_at(rotation: Rotation, zone: tzinfo, at: datetime) -> int:
    """The largest ``k`` with ``turn_start(k) <= at``; -1 when turn 0 has not begun.

    Turn starts strictly increase, so this is a bisection. A guess from elapsed time only picks
    the first bracket; the bracket is then widened until ``B(lo) <= at < B(hi)`` holds.
    """
    def b(k: int) -> datetime:
        return turn_start(rotation, zone, k)

    if b(0) > at:
        return -1
    guess = max(0, (at - rotation.start_date) // _nominal_turn(rotation))
    lo, hi, step = guess, guess + 1, 1
    while lo > 0 and b(lo) > at:  # widen downwards; B(0) <= at stops it at the latest
        hi, lo, step = lo, max(0, lo - step), step * 2
    step = 1
    while b(hi) <= at:  # widen upwards
        lo, hi, step = hi, hi + step, step * 2
    while hi - lo > 1:  # invariant: B(lo) <= at < B(hi)
        mid = (lo + hi) // 2
        if b(mid) <= at:
            lo = mid
        else:
            hi = mid
    return lo


def turn_holder(rotation: Rotation, zone: tzinfo, at: datetime) -> Participant | None:
    """Whose turn it is at ``at``, ignoring restrictions and overrides; None before, after or empty."""
    if at < rotation.start_date or (rotation.end_date is not None and at >= rotation.end_date):
        return None
    if not rotation.participants:
        return None
    k = turn_at(rotation, zone, at)
    return rotation.participants[k % len(rotation.participants)] if k >= 0 else None


# --- time restrictions --------------------------------------------------------------------

@dataclass(frozen=True)
class WindowRule:
    """A recurring window in wall-clock terms: opens ``opens`` after local midnight of every day
    (``weekday`` None) or of one weekday (0 = Monday), and closes ``lasts`` of wall time later."""

    weekday: int | None
    opens: timedelta
    lasts: timedelta


def _clock(hour: Any, minute: Any) -> timedelta:
    return timedelta(hours=int(hour or 0), minutes=int(minute or 0))


def window_rules(restriction: dict[str, Any] | None) -> list[WindowRule] | None:
    """The windows a ``timeRestriction`` allows; None when it restricts nothing."""
    if not restriction:
        return None
    kind = restriction.get("type")
    if kind == "time-of-day":
        spec = restriction.get("restriction") or {}
        start = _clock(spec.get("startHour"), spec.get("startMin"))
        end = _clock(spec.get("endHour"), spec.get("endMin"))
        if start == end:
            return None
        # end after start: closes the same day; otherwise at the end time of the next day
        return [WindowRule(None, start, end - start if end > start else end + timedelta(days=1) - start)]
    if kind == "weekday-and-time-of-day":
        rules = []
        for spec in restriction.get("restrictions") or []:
            start_day = DAY_NAMES.index(str(spec["startDay"]).lower())
            end_day = DAY_NAMES.index(str(spec["endDay"]).lower())
            start = timedelta(days=start_day) + _clock(spec.get("startHour"), spec.get("startMin"))
            end = timedelta(days=end_day) + _clock(spec.get("endHour"), spec.get("endMin"))
            # closes at the first endDay end time after the opening: a week on when it is not later
            rules.append(WindowRule(start_day, start - timedelta(days=start_day),
                                    end - start if end > start else end + WEEK - start))
        return rules
    return None


def windows_on(rules: list[WindowRule], zone: tzinfo, day: date) -> list[tuple[datetime, datetime]]:
    """The windows ``[open, close)`` (UTC instants) that open on local calendar date ``day``."""
    midnight = datetime(day.year, day.month, day.day)
    out = []
    for rule in rules:
        if rule.weekday is None or rule.weekday == day.weekday():
            opens = midnight + rule.opens
            out.append((resolve_wall(opens, zone), resolve_wall(opens + rule.lasts, zone)))
    return out


def _days_around(rules: list[WindowRule], zone: tzinfo, lo: datetime, hi: datetime) -> Iterator[date]:
    """Every local date whose windows can touch ``[lo, hi]``: from the longest window (plus a day
    for zone shifts) before ``lo`` to a day after ``hi``."""
    back = max((r.opens + r.lasts for r in rules), default=timedelta(0)).days + 2
    day = wall_clock(lo, zone).date() - timedelta(days=back)
    last = wall_clock(hi, zone).date() + timedelta(days=1)
    while day <= last:
        yield day
        day += timedelta(days=1)


def restriction_allows(restriction: dict[str, Any] | None, zone: tzinfo, at: datetime) -> bool:
    """Whether ``at`` falls inside one of the restriction's windows (always, without one)."""
    rules = window_rules(restriction)
    if rules is None:
        return True
    return any(opens <= at < closes
               for day in _days_around(rules, zone, at, at)
               for opens, closes in windows_on(rules, zone, day))


# --- when answers can change -------------------------------------------------------------

def rotation_edges(rotation: Rotation, zone: tzinfo, lo: datetime, hi: datetime) -> set[datetime]:
    """Every instant in ``(lo, hi]`` at which ``rotation`` alone (no overrides) may change its answer:
    its start and end, its turn starts and its windows' openings and closings while it runs."""
    found = {t for t in (rotation.start_date, rotation.end_date) if t is not None and lo < t <= hi}
    first = max(lo, rotation.start_date)
    last = hi if rotation.end_date is None else min(hi, rotation.end_date)
    if first >= last:
        return found
    k = turn_at(rotation, zone, first) + 1
    while (begins := turn_start(rotation, zone, k)) <= last:
        if begins > first:
            found.add(begins)
        k += 1
    rules = window_rules(rotation.time_restriction)
    if rules:
        for day in _days_around(rules, zone, first, last):
            for window in windows_on(rules, zone, day):
                found.update(t for t in window if first < t <= last)
    return found


def _edges_in_order(zone: tzinfo, rotations: Iterable[Rotation], overrides: Iterable[Override],
                    after: datetime, until: datetime) -> Iterator[datetime]:
    """Every instant in ``(after, until]`` at which the given rotations' answers may change, in
    order, produced in slices that double in length (a day, two, four...) so a near change is
    found without listing the whole horizon."""
    rotations, overrides = list(rotations), list(overrides)
    lo, width = after, timedelta(days=1)
    while lo < until:
        hi = min(lo + width, until)
        found: set[datetime] = set()
        for rotation in rotations:
            found |= rotation_edges(rotation, zone, lo, hi)
        for o in overrides:
            found.update(t for t in (o.start_date, o.end_date) if lo < t <= hi)
        yield from sorted(found)
        lo, width = hi, width * 2


# --- schedules ------------------------------------------------------------------------------

Entry = tuple[Rotation, Participant, Override | None]


@dataclass(eq=False)
class Schedule:
    """A schedule: its rotations, its overrides and the engine answering who is on call."""

    id: str
    name: str
    timezone: str = "UTC"
    enabled: bool = True
    rotations: list[Rotation] = field(default_factory=list)
    overrides: list[Override] = field(default_factory=list)
    description: str = ""
    owner_team: dict[str, str] | None = None
    # team id -> member usernames, so a team on call counts as its members when comparing answers
    team_members: Callable[[str], list[str]] | None = field(default=None, repr=False)

    @property
    def zone(self) -> tzinfo:
        return zone_named(self.timezone)

    def holder(self, rotation: Rotation, at: datetime) -> tuple[Participant, Override | None] | None:
        """Whom ``rotation`` puts on call at ``at`` (and the override that did), or None."""
        if not self.enabled:
            return None
        for o in self.overrides:
            if o.applies(rotation, at):
                return None if o.user.get("type") == "none" else (o.user, o)
        participant = turn_holder(rotation, self.zone, at)
        if participant is None or participant.get("type") == "none":
            return None
        if not restriction_allows(rotation.time_restriction, self.zone, at):
            return None
        return participant, None

    def on_call(self, at: datetime) -> list[Entry]:
        """``(rotation, participant, override or None)`` for each rotation that has someone on call."""
        out: list[Entry] = []
        for rotation in self.rotations:
            held = self.holder(rotation, at)
            if held is not None:
                out.append((rotation, held[0], held[1]))
        return out

    def recipients(self, at: datetime) -> frozenset[str]:
        """Who is on call at ``at``, as one set: users by username, teams by their members (or by
        the team when members are unknown), anything else by its type and identity."""
        out: set[str] = set()
        for _, p, _ in self.on_call(at):
            if p.get("type") == "user":
                out.add(str(p.get("username") or p.get("id")))
            elif p.get("type") == "team" and self.team_members is not None:
                out.update(self.team_members(str(p.get("id"))))
            else:
                out.add(f"{p.get('type')}:{p.get('id') or p.get('name')}")
        return frozenset(out)

    def next_change(self, at: datetime, horizon: timedelta = HORIZON) -> datetime | None:
        """The first instant after ``at`` (within ``horizon``) at which ``recipients`` changes."""
        if not self.enabled:
            return None
        now = self.recipients(at)
        for t in _edges_in_order(self.zone, self.rotations, self.overrides, at, at + horizon):
            if self.recipients(t) != now:
                return t
        return None

    def next_holder(self, rotation: Rotation, at: datetime, horizon: timedelta = HORIZON) -> Participant | None:
        """The first participant after ``at`` (within ``horizon``) whom ``rotation`` puts on call
        and who is not the one it has on call at ``at``."""
        held = self.holder(rotation, at)
        current = held[0] if held else None
        relevant = [o for o in self.overrides if o.names(rotation)]
        for t in _edges_in_order(self.zone, [rotation], relevant, at, at + horizon):
            later = self.holder(rotation, t)
            if later is not None and later[0] != current:
                return later[0]
        return None

    def next_holders(self, at: datetime, horizon: timedelta = HORIZON) -> list[tuple[Rotation, Participant]]:
        """``(rotation, next participant)`` for each rotation that has a next one."""
        out = []
        for rotation in self.rotations:
            following = self.next_holder(rotation, at, horizon)
            if following is not None:
                out.append((rotation, following))
        return out
