"""When the next handoff is, foreseen from Opsgenie's rotations run forward with the rotation maths.

One ``GET /v2/schedules?expand=rotation`` covers every schedule's rotations. Overrides are not
in that answer, and reading them for every schedule would cost a call per schedule, so they are
read only for a schedule whose on-call answer disagrees with the forecast (usually: an override
has begun), one ``GET …/overrides`` for that schedule, at most every 10 minutes. An override
that has not begun yet is therefore seen when it begins, by the regular ``interval`` pass: that
pass stays the safety net. The rotations are refreshed every 6 hours, or sooner (at most
hourly) when the disagreement remains after the overrides are known.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

import structlog

from slackgenie.core.model import OnCall, ReadFailure
from slackgenie.core.rotation import Override, ScheduleModel

log = structlog.get_logger("slackgenie.sources.forecast")


class Forecast:
    def __init__(self, fetch: Callable[[], list[ScheduleModel]], now: Callable[[], datetime],
                 max_age: timedelta = timedelta(hours=6), min_age: timedelta = timedelta(hours=1),
                 retry_after: timedelta = timedelta(minutes=2),
                 fetch_overrides: Callable[[str], list[Override]] | None = None,
                 overrides_every: timedelta = timedelta(minutes=10)):
        self._fetch = fetch
        self._fetch_overrides = fetch_overrides
        self.overrides_every = overrides_every
        self._overrides_at: dict[str, datetime] = {}  # schedule id -> when its overrides were read
        self.override_fetches = 0
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
                known = self._schedules.get(s.id)
                if known is not None:
                    s.overrides = known.overrides  # what we learnt of overrides outlives a refresh
                fresh[s.id] = s
                fresh[s.name] = s
            self._schedules = fresh  # one assignment: readers see the old map or the new one
            self._fetched_at, self._stale = now, False

    def next_handoff(self, refs: Iterable[str], after: datetime | None = None) -> datetime | None:
        """The earliest predicted handoff among these schedules after ``after`` (default: now)."""
        self._ensure()
        after = after or self._now()
        times = []
        for ref in set(refs):
            s = self._schedules.get(ref)
            if s is None:
                continue
            try:
                t = s.next_change(after)
            except Exception as exc:  # one odd schedule must cost only its own forecast
                log.warning("handoffs.schedule_forecast_failed", schedule=ref, error=f"{type(exc).__name__}: {exc}")
                continue
            if t is not None:
                times.append(t)
        return min(times) if times else None

    def models(self) -> dict[str, ScheduleModel]:
        """Every schedule the forecast knows, by id and by name."""
        self._ensure()
        with self._lock:
            return dict(self._schedules)

    def observe(self, reads: Mapping[str, OnCall | ReadFailure], at: datetime) -> None:
        """Check the forecast against Opsgenie's answers: read the overrides of a schedule that
        disagrees, and mark the rotations stale if it still disagrees."""
        for ref, read in reads.items():
            s = self._schedules.get(ref)
            if s is None or isinstance(read, ReadFailure) or _agrees(s, read, at) is not False:
                continue
            last = self._overrides_at.get(s.id)
            if self._fetch_overrides is not None and (last is None or at - last >= self.overrides_every):
                self._overrides_at[s.id] = at
                try:
                    s.overrides = self._fetch_overrides(s.id)
                    self.override_fetches += 1
                except Exception as exc:
                    log.warning("handoffs.overrides_failed", schedule=ref, error=f"{type(exc).__name__}: {exc}")
                if _agrees(s, read, at) is not False:
                    continue
            if not self._stale:
                log.info("handoffs.forecast_differs", schedule=ref, actual=sorted(read.usernames))
            self._stale = True


def _agrees(s: ScheduleModel, read: OnCall, at: datetime) -> bool | None:
    """Whether the model predicts Opsgenie's answer; None when it cannot tell (teams, escalations,
    a rotation the model cannot run)."""
    try:
        entries = s.on_call(at)
    except Exception:
        return None
    if any(p.kind != "user" for _, p, _ in entries):
        return None
    return {p.name or None for _, p, _ in entries} == set(read.usernames)
