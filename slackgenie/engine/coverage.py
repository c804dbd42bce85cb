"""The coverage metric: when the next gap (nobody on call) starts in each schedule, so an alert can
show a hole before it opens. Read every ``GAPS_EVERY`` seconds, on its own thread, never holding
up a pass; one read at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import structlog

from slackgenie.core.model import ReadFailure
from slackgenie.core.shifts import covered, gaps
from slackgenie.sources.base import Forecasting
from slackgenie.telemetry.metrics import Metrics

log = structlog.get_logger("slackgenie.engine.coverage")

GAPS_EVERY = 900.0  # seconds between two reads of every schedule's coverage, for the gap metric
GAPS_AHEAD = timedelta(days=7)


class Coverage:
    def __init__(self, source: Forecasting, keys: Sequence[str], metrics: Metrics, now: Callable[[], datetime],
                 timer: Callable[[], float] = time.monotonic):
        self.source, self.keys, self.metrics, self._now, self._timer = source, list(keys), metrics, now, timer
        self._read_at = float("-inf")

    def watch(self, wait: bool = False) -> None:
        """Read it when ``GAPS_EVERY`` seconds have passed since the last read: on its own thread
        (``wait``: on this one)."""
        if self._timer() - self._read_at < GAPS_EVERY:
            return
        self._read_at = self._timer()
        if wait:
            self._read()
        else:
            threading.Thread(target=self._read, name="coverage", daemon=True).start()

    def _read(self) -> None:
        try:
            self._measure()
        except Exception as exc:  # a metric must never stop the sync
            log.warning("coverage.unreadable", error=f"{type(exc).__name__}: {exc}", effect="gap metrics unchanged")

    def _measure(self) -> None:
        now = self._now().replace(microsecond=0)
        found = self.source.stretches(self.keys, now, now + GAPS_AHEAD)
        next_gap: dict[str, float | None] = {}
        for key, got in found.items():
            if isinstance(got, ReadFailure):
                log.warning("coverage.unreadable", schedule=key, error=got.error, effect="its gap metric is unchanged")
                continue
            future = [a for a, _ in gaps(covered(got), now, now + GAPS_AHEAD) if a > now]
            next_gap[key] = future[0].timestamp() if future else None
        self.metrics.gaps(next_gap)
