"""Who is on call when, ahead of time: the pure logic behind gaps, ``/oncall me`` and heads-ups.

Each provider gives its own pieces (Opsgenie: the rotation maths; JSM Ops: timeline periods;
PagerDuty: the final schedule's rendered entries). They become ``Stretch``es: maximal spans of one
schedule during which the same people are on call. Everything else here works on those. No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Stretch:
    """A span of one schedule during which the same people (identities as in ``OnCall``) are on call."""

    start: datetime
    end: datetime
    people: frozenset[str]


@dataclass(frozen=True)
class Shift:
    """One person's shift in one schedule: from ``start`` to ``end``, after ``after``.

    ``from_start`` is False when the shift was already running at the start of the window read:
    its real start lies before ``start`` and who handed over is not known."""

    schedule: str  # the schedule key
    person: str
    start: datetime
    end: datetime
    after: frozenset[str] = frozenset()  # on call just before, the person aside
    from_start: bool = True
    open_end: bool = False  # runs to the end of the window read: it ends at ``end`` or later


def stretches(pieces: Iterable[tuple[datetime, datetime, str | None]], start: datetime,
              end: datetime) -> list[Stretch]:
    """Pieces (from, to, who; who None: nobody) as stretches within ``start``..``end``: the spans
    where the set of people on call is constant, adjacent equal spans merged, nobody's left out."""
    clipped = [(max(a, start), min(b, end), who) for a, b, who in pieces if a < end and b > start and a < b]
    edges = sorted({start, end} | {t for a, b, _ in clipped for t in (a, b)})
    out: list[Stretch] = []
    for a, b in zip(edges, edges[1:]):
        people = frozenset(who for x, y, who in clipped if who is not None and x <= a and y >= b)
        if not people:
            continue
        if out and out[-1].end == a and out[-1].people == people:
            out[-1] = Stretch(out[-1].start, b, people)
        else:
            out.append(Stretch(a, b, people))
    return out


def gaps(covered: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The parts of ``start``..``end`` that no interval in ``covered`` holds: when nobody is on call."""
    out: list[tuple[datetime, datetime]] = []
    t = start
    for a, b in sorted(covered):
        if b <= t:
            continue
        if a > t:
            out.append((t, min(a, end)))
        t = max(t, b)
        if t >= end:
            break
    if t < end:
        out.append((t, end))
    return [(a, b) for a, b in out if a < b]


def covered(found: Sequence[Stretch]) -> list[tuple[datetime, datetime]]:
    return [(s.start, s.end) for s in found]


def shifts_of(schedule: str, found: Sequence[Stretch], person: str, window_start: datetime,
              window_end: datetime | None = None) -> list[Shift]:
    """The shifts ``person`` holds in one schedule's stretches: consecutive stretches holding them
    as one shift, with who is on call in the stretch just before (if it touches)."""
    out: list[Shift] = []
    previous: Stretch | None = None
    current: tuple[datetime, datetime, frozenset[str]] | None = None
    for s in sorted(found, key=lambda s: s.start):
        if person in s.people:
            if current is not None and current[1] == s.start:
                current = (current[0], s.end, current[2])
            else:
                if current is not None:
                    out.append(_shift(schedule, person, current, window_start, window_end))
                before = previous.people - {person} if previous is not None and previous.end == s.start else frozenset()
                current = (s.start, s.end, before)
        previous = s
    if current is not None:
        out.append(_shift(schedule, person, current, window_start, window_end))
    return out


def _shift(schedule: str, person: str, span: tuple[datetime, datetime, frozenset[str]],
           window_start: datetime, window_end: datetime | None) -> Shift:
    return Shift(schedule, person, span[0], span[1], span[2], from_start=span[0] > window_start,
                 open_end=window_end is not None and span[1] >= window_end)


def starting(schedule: str, found: Sequence[Stretch], window_start: datetime,
             window_end: datetime | None = None) -> list[Shift]:
    """Every person's shifts in one schedule that start after ``window_start`` (not those
    already running when the window opens), in order of start."""
    people = sorted({p for s in found for p in s.people})
    out = [sh for p in people for sh in shifts_of(schedule, found, p, window_start, window_end) if sh.from_start]
    return sorted(out, key=lambda sh: (sh.start, sh.person))
