"""People and their shifts: who a Slack user is in the providers, and when they are on call.

Shared by `/oncall me` (the app) and the heads-up DMs (the daemon). A Slack user is matched to
the providers' people by their Slack e-mail, and by every ``users:`` entry that maps to that
e-mail or to their Slack id.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cachetools import TTLCache

from slackgenie.settings import Config
from slackgenie.core.model import ReadFailure, SlackUser
from slackgenie.core.shifts import Shift, Stretch, shifts_of
from slackgenie.sources.base import Forecasting

HORIZON = timedelta(days=14)  # how far ahead `/oncall me` looks
KEEP = 120.0  # seconds one read of every schedule's shifts is reused by `/oncall me`

Reads = dict[str, list[Stretch] | ReadFailure]


def identities(user: SlackUser, user_map: Mapping[str, str]) -> frozenset[str]:
    """Who a Slack user is in the providers: their e-mail, and whatever ``users:`` maps to them."""
    email = (user.email or "").strip().lower()
    mine = {user.id.lower()} | ({email} if email else set())
    out = {p for p, target in user_map.items() if target.strip().lower() in mine}
    out |= {p.lower() for p in out}
    return frozenset(out | ({email} if email else set()))


@dataclass(frozen=True)
class GroupShift:
    """A person's shift, with the groups whose handle it puts them in."""

    shift: Shift
    groups: tuple[str, ...]


class ShiftBook:
    """The configured schedules' shifts over the coming ``HORIZON``: one read for every asker,
    reused for ``KEEP`` seconds (read again after that, never while another read is under way)."""

    def __init__(self, config: Config, source: Forecasting, now: Callable[[], datetime],
                 timer: Callable[[], float] = time.monotonic):
        self.config, self.source, self._now = config, source, now
        self.keys = sorted({k for s in config.syncs for k in s.keys})
        self._kept: TTLCache[str, tuple[datetime, Reads]] = TTLCache(maxsize=1, ttl=KEEP, timer=timer)
        self._lock = threading.Lock()  # one read at a time: the others wait for it, and use it

    def read(self) -> tuple[datetime, Reads]:
        """(the window's start, each schedule's stretches or why they could not be read)."""
        with self._lock:
            kept = self._kept.get("shifts")
            if kept is None:
                start = self._now().replace(microsecond=0)
                kept = (start, self.source.stretches(self.keys, start, start + HORIZON))
                self._kept["shifts"] = kept
            return kept

    def forget(self) -> None:
        """Read afresh at the next ask (a shift was just taken or given back)."""
        with self._lock:
            self._kept.clear()

    def groups_of(self, key: str) -> tuple[str, ...]:
        return tuple(s.usergroup for s in self.config.syncs if key in s.keys)

    def mine(self, who: Iterable[str], now: datetime) -> tuple[list[GroupShift], list[tuple[str, str]]]:
        """A person's shifts still to come or under way, in order, and the schedules that could not
        be read (key, why): their shifts there are unknown, never "none"."""
        start, reads = self.read()
        people = frozenset(who)
        found: list[GroupShift] = []
        failed: list[tuple[str, str]] = []
        for key, got in reads.items():
            if isinstance(got, ReadFailure):
                failed.append((key, got.error))
                continue
            for person in people:
                for shift in shifts_of(key, got, person, start, start + HORIZON):
                    if shift.end > now:
                        found.append(GroupShift(shift, self.groups_of(key)))
        found.sort(key=lambda g: (g.shift.start, g.shift.schedule))
        return found, failed


def merged(shifts: Sequence[GroupShift]) -> list[GroupShift]:
    """One line per shift: the same span of one schedule found under two of a person's
    identities (an e-mail and a mapped username) is one shift."""
    seen: dict[tuple[str, datetime, datetime], GroupShift] = {}
    for g in shifts:
        seen.setdefault((g.shift.schedule, g.shift.start, g.shift.end), g)
    return list(seen.values())
