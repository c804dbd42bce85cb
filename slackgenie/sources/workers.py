"""The threads a source reads with: one pool per source, made once and shut in ``close()``, of
``concurrency`` threads however many callers (a pass, the app's look-ups) ask at once."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

A = TypeVar("A")
R = TypeVar("R")


class Workers:
    def __init__(self, concurrency: int, name: str):
        self.concurrency = max(1, concurrency)
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=name)

    def map(self, fn: Callable[[A], R], items: Iterable[A]) -> list[R]:
        """``fn`` of each item, in order, ``concurrency`` at a time; one item is run here (no
        thread to wait for). A task never waits for another task of the same pool."""
        todo = list(items)
        if len(todo) <= 1:
            return [fn(item) for item in todo]
        return list(self._pool.map(fn, todo))

    def close(self) -> None:
        """Start no more tasks; those under way end on their own (their calls are bounded)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
