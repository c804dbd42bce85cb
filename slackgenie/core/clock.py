"""Time, injectable: the daemon waits on a ``Clock`` so tests and benchmarks can run a simulated day.

Waits are measured on the monotonic clock: stepping the wall clock (NTP, a VM resumed) neither
stalls the loop nor makes it race. The wall clock is read only to say *what time it is* (which
schedule turn applies); ``SLACKGENIE_NOW`` moves that reading for a whole process (tests and
demos run the daemon against emulators that live at a fixed date).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Protocol

CLOCK_ENV = "SLACKGENIE_NOW"


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float:
        """Seconds on a clock that never steps (durations are measured on it)."""

    def wait_until(self, when: datetime, stop: threading.Event, tick: Callable[[], None] | None = None) -> None:
        """Return at ``when`` or as soon as ``stop`` is set, calling ``tick`` now and then."""


class RealClock:
    """The system's wall clock, optionally shifted to start at ``start`` (then it runs at normal speed)."""

    def __init__(self, start: datetime | None = None):
        self._offset = timedelta() if start is None else start - datetime.now(timezone.utc)

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self._offset

    def monotonic(self) -> float:
        return time.monotonic()

    def wait_until(self, when: datetime, stop: threading.Event, tick: Callable[[], None] | None = None) -> None:
        # The distance to ``when`` is read once and then counted down on the monotonic clock.
        deadline = time.monotonic() + (when - self.now()).total_seconds()
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if tick:
                tick()
            stop.wait(min(left, 1.0))


def clock_from_env(env: Mapping[str, str]) -> RealClock:
    """The process's clock: the system's, or one starting at ``$SLACKGENIE_NOW`` (ISO-8601)."""
    raw = (env.get(CLOCK_ENV) or "").strip()
    if not raw:
        return RealClock()
    try:
        start = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{raw!r} is not an ISO-8601 time such as 2026-11-23T08:58:00Z") from None
    return RealClock(start if start.tzinfo else start.replace(tzinfo=timezone.utc))


class SteppedClock:
    """A simulated clock that jumps straight to each wake-up (discrete-event simulation).

    Wraps anything with ``now()`` and ``set(datetime)``, such as the emulators' clock, so the
    daemon and the emulators share one notion of time.
    """

    def __init__(self, target: _Settable):
        self.target = target

    def now(self) -> datetime:
        return self.target.now()

    def monotonic(self) -> float:
        return self.target.now().timestamp()  # simulated time only moves by jumps

    def wait_until(self, when: datetime, stop: threading.Event, tick: Callable[[], None] | None = None) -> None:
        if not stop.is_set() and when > self.now():
            self.target.set(when)


class _Settable(Protocol):
    def now(self) -> datetime: ...

    def set(self, at: datetime) -> None: ...
