"""Time, injectable: the daemon waits on a ``Clock`` so tests and benchmarks can run a simulated day."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def wait_until(self, when: datetime, stop: threading.Event, tick: Callable[[], None] | None = None) -> None:
        """Return at ``when`` or as soon as ``stop`` is set, calling ``tick`` now and then."""


class RealClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def wait_until(self, when: datetime, stop: threading.Event, tick: Callable[[], None] | None = None) -> None:
        while not stop.is_set():
            left = (when - self.now()).total_seconds()
            if left <= 0:
                return
            if tick:
                tick()
            stop.wait(min(left, 1.0))


class SteppedClock:
    """A simulated clock that jumps straight to each wake-up (discrete-event simulation).

    Wraps anything with ``now()`` and ``set(datetime)``, such as the emulators' clock, so the
    daemon and the emulators share one notion of time.
    """

    def __init__(self, target: object):
        self.target = target

    def now(self) -> datetime:
        return self.target.now()  # type: ignore[attr-defined, no-any-return]

    def wait_until(self, when: datetime, stop: threading.Event, tick: Callable[[], None] | None = None) -> None:
        if not stop.is_set() and when > self.now():
            self.target.set(when)  # type: ignore[attr-defined]
