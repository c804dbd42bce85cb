"""When the next handoff is: schedules' rotations from Opsgenie, run forward with the rotation maths.

One ``GET /v2/schedules?expand=rotation`` covers every schedule. The forecast is refreshed
when it is old, or sooner (but at most hourly) when a pass sees Opsgenie disagree with it.
Overrides are not in that answer: the regular ``interval`` pass is the safety net for them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

import structlog

from slackgenie.model import OnCall, ReadFailure
from slackgenie.rotation import ScheduleModel

log = structlog.get_logger("slackgenie.handoffs")


class Forecast:
    def __init__(self, fetch: Callable[[], list[ScheduleModel]], now: Callable[[], datetime],
                 max_age: timedelta = timedelta(hours=6), min_age: timedelta = timedelta(hours=1),
                 retry_after: timedelta = timedelta(minutes=2)):
        self._fetch = fetch
        self._now = now
        self.max_age, self.min_age = max_age, min_age
        self._lock = threading.Lock()
        self._schedules: dict[str, ScheduleModel] = {}
        self._fetched_at: datetime | None = None
        self._stale = False
        self._failed_at: datetime | None = None
        self.retry_after = retry_after
        self.fetches = 0

    def _ensure(self) -> None:
        now = self._now()
        with self._lock:
            age = None if self._fetched_at is None else now - self._fetched_at
            due = age is None or age > self.max_age or (self._stale and age > self.min_age)
            if not due or (self._failed_at is not None and now - self._failed_at < self.retry_after):
                return
            try:
                schedules = self._fetch()
            except Exception as exc:  # a forecast is an optimisation: never let it stop a pass
                log.warning("handoffs.forecast_failed", error=f"{type(exc).__name__}: {exc}",
                            retry_in=self.retry_after.total_seconds())
                self._failed_at = now  # try again soon; keep what we knew meanwhile
                return
            self._failed_at = None
            self.fetches += 1
            fresh: dict[str, ScheduleModel] = {}
            for s in schedules:
                fresh[s.id] = s
                fresh[s.name] = s
            self._schedules = fresh  # one assignment: readers see the old map or the new one
            self._fetched_at, self._stale = now, False

    def next_handoff(self, refs: Iterable[str], after: datetime | None = None) -> datetime | None:
        """The earliest predicted handoff among these schedules after ``after`` (default: now)."""
        self._ensure()
        after = after or self._now()
        times = [t for ref in set(refs) if (s := self._schedules.get(ref)) and (t := s.next_change(after))]
        return min(times) if times else None

    def models(self) -> dict[str, ScheduleModel]:
        """Every schedule the forecast knows, by id and by name."""
        self._ensure()
        with self._lock:
            return dict(self._schedules)

    def observe(self, reads: Mapping[str, OnCall | ReadFailure], at: datetime) -> None:
        """Mark the forecast stale when Opsgenie's answer differs from its prediction."""
        for ref, read in reads.items():
            s = self._schedules.get(ref)
            if s is None or isinstance(read, ReadFailure):
                continue
            entries = s.on_call(at)
            if any(p.get("type") != "user" for _, p, _ in entries):
                continue  # teams and escalations expand server-side: nothing to compare
            predicted = {p.get("username") for _, p, _ in entries}
            if predicted != set(read.usernames):
                if not self._stale:
                    log.info("handoffs.forecast_differs", schedule=ref, predicted=sorted(predicted),
                             actual=sorted(read.usernames))
                self._stale = True
                return


def next_wake(last_pass: datetime, interval: float, handoff: datetime | None,
              guard: float) -> tuple[datetime, str]:
    """When the daemon should run its next pass, and why. Pure.

    The safety net is a pass ``interval`` seconds after the last one; a predicted handoff
    brings it forward to the handoff plus ``guard``. Every pass restarts the interval, so
    on a fleet whose handoffs fall on round hours the passes line up with them and a day
    holds no more passes than plain polling.
    """
    regular = last_pass + timedelta(seconds=interval)
    if handoff is not None:
        wake = handoff + timedelta(seconds=guard)
        if wake < regular:
            return wake, "handoff"
    return regular, "interval"
