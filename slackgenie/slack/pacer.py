"""Writes paced to Slack's rate tiers, so steady operation provokes no HTTP 429.

Each method we write with has a moving window seeded with Slack's published tier (``limits``'
moving-window limiter), one second wider than a minute so that our count and Slack's, taken a
moment apart, never disagree at the edge. A 429 tightens it: its ``Retry-After`` holds the method
back for that long, whatever the window says.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from slackgenie.retry import Holds, Stop

# Requests per minute, Slack's published tiers for the methods Slackgenie writes with.
TIERS: Mapping[str, int] = {
    "usergroups.users.update": 20,  # Tier 2
    "conversations.setTopic": 20,  # Tier 2
}
WINDOW = 61.0  # seconds: a minute, and a second's margin


class Pacer:
    def __init__(self, per_minute: Mapping[str, int] = TIERS, window: float = WINDOW, stop: Stop | None = None):
        self.window = window
        self.stop = stop or Stop()  # the service's: a stop ends a wait for a slot
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._items: dict[str, RateLimitItem] = {m: RateLimitItemPerSecond(n, int(window))
                                                 for m, n in per_minute.items()}
        self._held = Holds()  # by method: held back after a 429, for its Retry-After
        self._lock = threading.Lock()

    def per_window(self, method: str) -> int | None:
        item = self._items.get(method)
        return item.amount if item else None

    def delay(self, method: str) -> float:
        """Seconds before a request to ``method`` may be sent (0: now)."""
        held = self._held.left(method)
        item = self._items.get(method)
        if item is None:
            return held
        stats = self._limiter.get_window_stats(item, method)
        window = max(stats.reset_time - time.time(), 0.0) if stats.remaining <= 0 else 0.0
        return max(held, window)

    def take(self, method: str, deadline: float) -> bool:
        """Wait for a slot for ``method`` and take it; False (nothing taken) if the slot would
        come after ``deadline`` (monotonic) or a stop is asked meanwhile."""
        item = self._items.get(method)
        for _ in range(10_000):  # bounded: each turn waits for the slot it was told of
            with self._lock:
                wait = self.delay(method)
                if wait <= 0 and (item is None or self._limiter.hit(item, method)):
                    return True
            if time.monotonic() + wait > deadline:
                return False
            if self.stop.wait(min(max(wait, 0.05), 5.0)):
                return False
        return False

    def hold(self, method: str, seconds: float) -> None:
        """Slack answered 429 with ``Retry-After: seconds``: send nothing to it before then."""
        self._held.hold(method, seconds)
