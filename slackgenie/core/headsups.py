"""Which heads-ups are due: pure. A heads-up is a direct message the configured time
(``heads_up: 1h``) before a person's shift starts; ``engine/headsup.py`` sends those due, once.

- Only for a shift that starts after the window read opened (never one already under way when
  Slackgenie learns of it) and after now, within the longest lead of the groups that want it.
- Each is recorded in the state file under ``Due.key``; a record starting ``sending|`` is an
  attempt whose outcome is not known yet, so the heads-up is still open.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from slackgenie.core.durations import iso_utc
from slackgenie.core.model import ReadFailure
from slackgenie.core.shifts import Shift, Stretch, starting

FORGET_AFTER = timedelta(days=2)  # records of heads-ups for shifts this old are dropped
PREFIX = "headsup:"

Reads = Mapping[str, list[Stretch] | ReadFailure]
Wanted = Mapping[str, tuple[timedelta, tuple[str, ...]]]  # schedule key -> (longest lead, its groups)


class WantsHeadsUps(Protocol):
    """One group's rule, as far as heads-ups go (``settings.GroupSync`` is one)."""

    @property
    def usergroup(self) -> str: ...
    @property
    def keys(self) -> tuple[str, ...]: ...
    @property
    def heads_up(self) -> timedelta | None: ...


@dataclass(frozen=True)
class Due:
    shift: Shift
    groups: tuple[str, ...]
    lead: timedelta

    @property
    def key(self) -> str:
        """The shift's record in the state file."""
        return f"{PREFIX}{iso_utc(self.shift.start)}:{self.shift.schedule}:{self.shift.person}"


def is_open(record: str | None) -> bool:
    """Whether a heads-up still needs something done: never tried, or tried without an answer."""
    return record is None or record.startswith("sending|")


def is_stale(key: str, now: datetime) -> bool:
    """Whether a state record is a heads-up's for a shift that started over ``FORGET_AFTER`` ago."""
    return key.startswith(PREFIX) and key[len(PREFIX):][:20] < iso_utc(now - FORGET_AFTER)


def leads(syncs: Sequence[WantsHeadsUps]) -> dict[str, tuple[timedelta, tuple[str, ...]]]:
    """For each schedule some sync wants heads-ups for: the longest lead, and those groups."""
    out: dict[str, tuple[timedelta, tuple[str, ...]]] = {}
    for sync in syncs:
        lead = sync.heads_up or timedelta(0)
        if lead <= timedelta(0):
            continue
        for key in sync.keys:
            before, groups = out.get(key, (timedelta(0), ()))
            out[key] = (max(before, lead), (*groups, sync.usergroup))
    return out


def due(reads: Reads, wanted: Wanted, window_start: datetime, now: datetime,
        window_end: datetime | None = None) -> list[Due]:
    """The heads-ups whose moment has come: shifts that start after the window opened (not
    those already under way then) and after ``now``, within their lead."""
    out = []
    for key, found in reads.items():
        if isinstance(found, ReadFailure) or key not in wanted:
            continue
        lead, groups = wanted[key]
        out += [Due(sh, groups, lead) for sh in starting(key, found, window_start, window_end)
                if sh.start - lead <= now < sh.start]
    return out


def next_moment(reads: Reads, wanted: Wanted, window_start: datetime, after: datetime) -> datetime | None:
    """When the next heads-up falls due after ``after`` (None: none foreseen in the window)."""
    moments = [sh.start - wanted[key][0] for key, found in reads.items()
               if not isinstance(found, ReadFailure) and key in wanted
               for sh in starting(key, found, window_start) if sh.start - wanted[key][0] > after]
    return min(moments, default=None)


def lead_text(lead: timedelta) -> str:
    """How long until a shift, as a heads-up says it: ``1 h 30 min``, ``45 min``, ``2 h`` (at least a minute)."""
    minutes = max(1, round(lead.total_seconds() / 60))
    hours, minutes = divmod(minutes, 60)
    return " ".join(p for p in (f"{hours} h" if hours else "", f"{minutes} min" if minutes else "") if p)
