"""Opsgenie rotation maths, pure: who a schedule puts on call at an instant, and when that changes.

Used twice: the Opsgenie emulator answers with it, and the daemon predicts each schedule's next
handoff with it (from one ``GET /v2/schedules?expand=rotation``) so it can wake up just then.
A prediction only decides *when* to look; what a pass writes always comes from Opsgenie's own
on-call answer, so a wrong prediction costs latency, never correctness.

Models what the Opsgenie API documents for a schedule: rotations (hourly/daily/weekly turns of
``length`` units through ordered participants from ``startDate`` until an optional ``endDate``),
time restrictions (``time-of-day`` and ``weekday-and-time-of-day``, read in the schedule's time
zone) and overrides (a user, or nobody, standing in for some or all rotations for a window).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
TURN = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}


@dataclass
class Rotation:
    id: str
    name: str
    start: datetime
    type: str
    participants: list[dict[str, Any]]
    length: int = 1
    end: datetime | None = None
    time_restriction: dict[str, Any] | None = None

    @property
    def turn(self) -> timedelta:
        return TURN[self.type] * self.length

    # Daily and weekly turns hand over at the same wall-clock time in the schedule's zone, so
    # across a DST change they are an hour longer or shorter; hourly turns are plain hours.
    def _turn_index(self, at: datetime, tz: ZoneInfo) -> int:
        if self.type == "hourly":
            return int((at - self.start) // self.turn)
        return int((_wall(at, tz) - _wall(self.start, tz)) // self.turn)

    def boundary(self, k: int, tz: ZoneInfo) -> datetime:
        """The instant the k-th turn begins."""
        if self.type == "hourly":
            return self.start + self.turn * k
        return (_wall(self.start, tz) + self.turn * k).replace(tzinfo=tz).astimezone(timezone.utc)

    def turn_participant(self, at: datetime, tz: ZoneInfo = ZoneInfo("UTC")) -> dict[str, Any] | None:
        """Whose turn it is at ``at``, ignoring time restrictions."""
        if at < self.start or (self.end is not None and at >= self.end) or not self.participants:
            return None
        index = self._turn_index(at, tz)
        return self.participants[index % len(self.participants)]

    def allowed(self, at: datetime, tz: ZoneInfo) -> bool:
        """Whether the time restriction lets this rotation put anyone on call at ``at``."""
        r = self.time_restriction
        if not r:
            return True
        local = at.astimezone(tz)
        if r.get("type") == "time-of-day":
            spec = r.get("restriction") or {}
            start = spec.get("startHour", 0) * 60 + spec.get("startMin", 0)
            end = spec.get("endHour", 0) * 60 + spec.get("endMin", 0)
            minute = local.hour * 60 + local.minute
            if start == end:
                return True
            if start < end:
                return start <= minute < end
            return minute >= start or minute < end  # the window crosses midnight
        if r.get("type") == "weekday-and-time-of-day":
            minute = local.weekday() * 1440 + local.hour * 60 + local.minute
            for spec in r.get("restrictions") or []:
                start = WEEKDAYS.index(spec["startDay"]) * 1440 + spec.get("startHour", 0) * 60 + spec.get("startMin", 0)
                end = WEEKDAYS.index(spec["endDay"]) * 1440 + spec.get("endHour", 0) * 60 + spec.get("endMin", 0)
                if start < end and start <= minute < end:
                    return True
                if start >= end and (minute >= start or minute < end):  # wraps past Sunday night
                    return True
            return False
        return True

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
        r = self.time_restriction
        if r:
            marks: list[tuple[int | None, int, int]] = []  # (weekday or None, hour, minute)
            if r.get("type") == "time-of-day":
                spec = r.get("restriction") or {}
                marks += [(None, spec.get("startHour", 0), spec.get("startMin", 0)),
                          (None, spec.get("endHour", 0), spec.get("endMin", 0))]
            else:
                for spec in r.get("restrictions") or []:
                    marks += [(WEEKDAYS.index(spec["startDay"]), spec.get("startHour", 0), spec.get("startMin", 0)),
                              (WEEKDAYS.index(spec["endDay"]), spec.get("endHour", 0), spec.get("endMin", 0))]
            day = after.astimezone(tz).date()
            last = until.astimezone(tz).date()
            while day <= last:
                for weekday, hour, minute in marks:
                    if weekday is not None and day.weekday() != weekday:
                        continue
                    wall = datetime(day.year, day.month, day.day, hour % 24, minute) + timedelta(days=hour // 24)
                    for fold in (0, 1):  # an hour that happens twice (autumn) has two instants
                        local = wall.replace(tzinfo=tz, fold=fold).astimezone(timezone.utc)
                        if after < local <= until:
                            out.append(local)
                day += timedelta(days=1)
            out += _offset_changes(tz, after, until)  # a window can open or close by the clock jumping
        return out


@dataclass
class Override:
    alias: str
    user: dict[str, Any]  # {"type": "user", "username": ...} or {"type": "none"}
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

    def on_call(self, at: datetime) -> list[tuple[Rotation, dict[str, Any], Override | None]]:
        """(rotation, participant, override that put them there) for everyone on call at ``at``."""
        if not self.enabled:
            return []
        out = []
        for rotation in self.rotations:
            override = next((o for o in self.overrides if o.covers(rotation, at)), None)
            if override is not None:
                if override.user.get("type") != "none":
                    out.append((rotation, override.user, override))
                continue
            participant = rotation.turn_participant(at, self.tz)
            if participant is None or participant.get("type") == "none":
                continue
            if rotation.allowed(at, self.tz):
                out.append((rotation, participant, None))
        return out

    def holder(self, rotation: Rotation, at: datetime) -> dict[str, Any] | None:
        """Who one rotation puts on call at ``at`` (overrides included), or None."""
        return next((p for r, p, _ in self.on_call(at) if r is rotation), None)

    def next_per_rotation(self, at: datetime, days: int = 93) -> list[tuple[Rotation, dict[str, Any]]]:
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


def _offset_changes(tz: ZoneInfo, after: datetime, until: datetime) -> list[datetime]:
    """The instants in (after, until] at which the zone's UTC offset changes (DST), to the hour."""
    out = []
    t = after.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    previous = t.astimezone(tz).utcoffset()
    while t < until:
        t += timedelta(hours=1)
        offset = t.astimezone(tz).utcoffset()
        if offset != previous and after < t <= until:
            out.append(t)
        previous = offset
    return out


def _parse(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def overrides_from_api(items: list[dict[str, Any]]) -> list[Override]:
    """``Override``s from Opsgenie's ``GET /v2/schedules/{id}/overrides`` answer."""
    out = []
    for o in items:
        user = o.get("user") or {}
        participant = ({"type": "none"} if user.get("type") == "none" else
                       {"type": "user", "id": user.get("id", ""), "username": user.get("username") or user.get("name", "")})
        out.append(Override(alias=o.get("alias", ""), user=participant, start=_parse(o["startDate"]),
                            end=_parse(o["endDate"]),
                            rotations=[r.get("id") or r.get("name", "") for r in o.get("rotations") or []]))
    return out


def schedule_from_api(data: dict[str, Any]) -> ScheduleModel:
    """A ``ScheduleModel`` from Opsgenie's schedule JSON (``GET /v2/schedules?expand=rotation``)."""
    rotations = []
    for r in data.get("rotations") or []:
        rotations.append(Rotation(
            id=r.get("id", ""), name=r.get("name", ""), start=_parse(r["startDate"]),
            end=_parse(r["endDate"]) if r.get("endDate") else None, type=r.get("type", "weekly"),
            participants=list(r.get("participants") or []), length=int(r.get("length") or 1),
            time_restriction=r.get("timeRestriction"),
        ))
    return ScheduleModel(id=data.get("id", ""), name=data.get("name", ""), timezone=data.get("timezone") or "UTC",
                         enabled=bool(data.get("enabled", True)), rotations=rotations,
                         owner_team=data.get("ownerTeam"))


def _key(entries: list[tuple[Rotation, dict[str, Any], Override | None]]) -> frozenset[str]:
    return frozenset(p.get("username") or p.get("name") or p.get("id", "") for _, p, _ in entries)
