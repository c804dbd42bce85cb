"""The forecast of handoffs a provider states outright, as instants (``ShiftForecast``: JSM Ops
timelines, PagerDuty shifts). Opsgenie's, from its rotations, is in ``opsgenie/forecast.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

import structlog

from slackgenie.core.model import OnCall, ReadFailure

log = structlog.get_logger("slackgenie.sources.forecast")


class ShiftForecast:
    """Handoffs a provider states outright, as instants (JSM Ops timelines, PagerDuty shifts).

    ``fetch(refs, start, end)`` returns, for each schedule it could read, every instant in
    ``(start, end]`` at which someone's shift begins or ends; a schedule it could not read is
    left out (and costs only its own forecast). What is known is kept for ``max_age``, or until
    ``after`` nears the end of the range read, or until a pass's answer changes where no
    instant was foreseen (an override created since): then that schedule is read again, at most
    every ``min_age``.
    """

    def __init__(self, fetch: Callable[[list[str], datetime, datetime], Mapping[str, Iterable[datetime]]],
                 now: Callable[[], datetime], horizon: timedelta = timedelta(hours=24),
                 max_age: timedelta = timedelta(hours=6), min_age: timedelta = timedelta(minutes=10),
                 retry_after: timedelta = timedelta(minutes=2)):
        self._fetch = fetch
        self._now = now
        self.horizon, self.max_age, self.min_age, self.retry_after = horizon, max_age, min_age, retry_after
        self._lock = threading.Lock()
        self._known: dict[str, tuple[datetime, datetime, list[datetime]]] = {}  # ref -> (read at, covers until, instants)
        self._stale: set[str] = set()
        self._failed_at: dict[str, datetime] = {}
        self._last: dict[str, tuple[datetime, frozenset[str]]] = {}  # ref -> (read at, who) from passes
        self.fetches = 0

    def _due(self, ref: str, after: datetime, now: datetime) -> bool:
        failed = self._failed_at.get(ref)
        if failed is not None and now - failed < self.retry_after:
            return False
        known = self._known.get(ref)
        if known is None:
            return True
        read_at, until, _ = known
        age = now - read_at
        if ref in self._stale:
            return age >= self.min_age
        return age > self.max_age or after + timedelta(hours=1) > until

    def _ensure(self, refs: Iterable[str], after: datetime) -> None:
        now = self._now()
        with self._lock:
            due = sorted(r for r in set(refs) if self._due(r, after, now))
        if not due:
            return
        start, end = now, max(now, after) + self.horizon
        try:
            got = self._fetch(due, start, end)
        except Exception as exc:  # a forecast is an optimisation: never let it stop a pass
            log.warning("handoffs.forecast_failed", schedules=len(due), error=f"{type(exc).__name__}: {exc}",
                        retry_in=self.retry_after.total_seconds())
            got = {}
        with self._lock:
            self.fetches += 1
            for ref in due:
                if ref in got:
                    self._known[ref] = (now, end, sorted(t for t in got[ref] if start < t <= end))
                    self._stale.discard(ref)
                    self._failed_at.pop(ref, None)
                else:
                    self._failed_at[ref] = now

    def next_handoff(self, refs: Iterable[str], after: datetime | None = None) -> datetime | None:
        refs = list(refs)
        after = after or self._now()
        self._ensure(refs, after)
        times = []
        with self._lock:
            for ref in set(refs):
                known = self._known.get(ref)
                if known is None:
                    continue
                later = [t for t in known[2] if t > after]
                if later:
                    times.append(later[0])
        return min(times) if times else None

    def unchanged_since(self, ref: str, since: datetime, now: datetime) -> bool:
        """Whether the forecast knows this schedule and foresees no handoff in ``(since, now]``:
        an answer read at ``since`` still holds (short of an override created meanwhile)."""
        with self._lock:
            known = self._known.get(ref)
            if known is None or ref in self._stale or known[1] < now:
                return False
            return not any(since < t <= now for t in known[2])

    def observe(self, reads: Mapping[str, OnCall | ReadFailure], at: datetime) -> None:
        """An answer that changed where no handoff was foreseen makes that schedule stale."""
        for ref, read in reads.items():
            if not isinstance(read, OnCall):
                continue
            who = frozenset(read.usernames)
            with self._lock:
                last = self._last.get(ref)
                self._last[ref] = (at, who)
                known = self._known.get(ref)
                if last is None or known is None or last[1] == who:
                    continue
                if not any(last[0] < t <= at for t in known[2]) and ref not in self._stale:
                    log.info("handoffs.forecast_differs", schedule=ref, actual=sorted(who))
                    self._stale.add(ref)

