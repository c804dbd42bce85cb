"""What a source keeps between reads, for a time (``cachetools.TTLCache``, on a clock the source is
given so that tests and benchmarks can move it): a value read once however many threads ask
(``Kept``: a schedule list), and answers by key (``TimedMap``: people, e-mails, recent on-calls).
A failed read is never kept: only answers are."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TTLCache

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MANY = 100_000  # entries a map keeps at most: far more schedules or people than a configuration names


class Kept(Generic[T]):
    """A value read from an API and kept for ``age`` seconds (a schedule list, a name index).
    Read once however many threads ask at the same moment."""

    def __init__(self, fetch: Callable[[], T], age: float, timer: Callable[[], float] = time.monotonic):
        self._fetch, self._timer = fetch, timer
        self._kept: TTLCache[str, tuple[float, T]] = TTLCache(maxsize=1, ttl=age, timer=timer)
        self._lock = threading.Lock()

    def get(self, refresh_if_older: float | None = None) -> T:
        """The kept value, read again when ``age`` has passed (or ``refresh_if_older`` seconds)."""
        with self._lock:
            kept = self._kept.get("value")
            if kept is None or (refresh_if_older is not None and self._timer() - kept[0] >= refresh_if_older):
                kept = (self._timer(), self._fetch())
                self._kept["value"] = kept
            return kept[1]


class TimedMap(Generic[K, V]):
    """Values by key, each kept ``age`` seconds from when it was put. Thread-safe."""

    def __init__(self, age: float, timer: Callable[[], float] = time.monotonic):
        self._map: TTLCache[K, V] = TTLCache(maxsize=MANY, ttl=age, timer=timer)
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            return self._map.get(key)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._map[key] = value

    def drop_where(self, doomed: Callable[[V], bool]) -> None:
        """Forget every value ``doomed`` says no longer holds."""
        with self._lock:
            for key in [k for k, v in self._map.items() if doomed(v)]:
                try:
                    del self._map[key]
                except KeyError:  # expired meanwhile: gone all the same
                    pass
