"""The loop: a pass at start, then one at each predicted handoff (plus a guard delay) and at the
latest ``interval`` seconds after the previous pass, until SIGTERM or SIGINT.

Passes run in a worker thread so a signal is answered within a second or two even while a pass
waits on a slow API; reconciliation is level-triggered, so a pass cut short is simply completed
by the next one.

Why not the ``schedule`` library here: its jobs run at fixed periods, and this loop's next
wake-up moves with every pass (the interval restarts) and with every forecast handoff. The
wait itself is a few lines over ``threading.Event``, behind a ``Clock`` that tests replace with
a simulated one.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from slackgenie.core.clock import Clock, RealClock
from slackgenie.core.wakes import next_wake
from slackgenie.core.model import PassReport
from slackgenie.retry import Stop

log = structlog.get_logger("slackgenie.engine.daemon")

STOP_GRACE = 1.5  # how long a stop waits for a pass in flight (it writes nothing more meanwhile)
BACKLOG_GUARD = 0.5  # seconds after the rate limit's window opens before writing the backlog
WAKES_KEPT = 256  # the latest passes' (when, why) kept in ``Daemon.wakes``: a daemon runs for months


class Daemon:
    def __init__(self, run_pass: Callable[[], PassReport], interval: float, *,
                 next_handoff: Callable[[datetime], datetime | None] | None = None, guard: float = 2.0,
                 clock: Clock | None = None, on_report: Callable[[PassReport], None] | None = None,
                 heartbeat: Callable[[], None] | None = None, max_passes: int | None = None,
                 pass_deadline: float = 60.0, stop: Stop | None = None):
        self.run_pass = run_pass
        self.stop = stop or Stop()  # the service's: set on SIGTERM/SIGINT, seen by every client
        self.interval = interval
        self.next_handoff = next_handoff
        self.guard = guard
        self.clock = clock or RealClock()
        self.on_report = on_report
        self.heartbeat = heartbeat
        self.max_passes = max_passes
        self.pass_deadline = pass_deadline
        self._generation = 0  # a pass abandoned past its deadline must not report late
        self._woken = threading.Event()  # a wait ends early: a stop, or ``wake``
        self.stop_event = _AlsoWakes(self._woken)
        self._wake_reason: str | None = None
        self.passes = 0
        self._handoff: datetime | None = None
        self._backlog: datetime | None = None  # when writes a pass queued for the rate limit can be made
        # (when, why) of the latest WAKES_KEPT passes, oldest first: for tests and the benchmark.
        self.wakes: deque[tuple[datetime, str]] = deque(maxlen=WAKES_KEPT)

    def request_stop(self, signum: int | None = None, frame: object = None) -> None:
        if not self.stop_event.is_set():
            log.info("daemon.stopping", signal=signal.Signals(signum).name if signum else None)
        self.stop.set()  # no retry, no write, no wait from here on
        self.stop_event.set()

    def wake(self, reason: str) -> None:
        """A pass now (after the one in flight, if any), e.g. on becoming the lease holder."""
        self._wake_reason = reason
        self._woken.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def _pass(self, started: datetime, generation: int) -> None:
        self._backlog = None
        try:
            report = self.run_pass()
            backlog = getattr(report, "backlog_in", None)
            if isinstance(backlog, (int, float)):
                self._backlog = self.clock.now() + timedelta(seconds=backlog + BACKLOG_GUARD)
            if self.on_report and generation == self._generation:
                self.on_report(report)
        except Exception as exc:  # a pass must never take the daemon down
            log.exception("daemon.pass_crashed", error=f"{type(exc).__name__}: {exc}")
        finally:
            self.passes += 1
        if generation != self._generation:
            return
        # The forecast may need Opsgenie: ask here, in the worker, so the main thread stays
        # free to answer signals and keep the heartbeat.
        self._handoff = None
        if self.next_handoff is not None:
            try:
                # From the pass's start: a handoff that fell during the pass still gets its wake-up.
                self._handoff = self.next_handoff(started)
            except Exception as exc:
                log.warning("daemon.forecast_failed", error=f"{type(exc).__name__}: {exc}")

    def _run_one(self, started: datetime) -> bool:
        """Run a pass in a worker; False if a stop was requested meanwhile. A pass still running
        past its deadline (plus a grace) is abandoned: it writes nothing more (the reconciler
        stops writing at the deadline) and reports nothing; the loop goes on."""
        self._generation += 1
        worker = threading.Thread(target=self._pass, args=(started, self._generation), name="pass", daemon=True)
        worker.start()
        give_up = time.monotonic() + self.pass_deadline + STOP_GRACE
        while worker.is_alive():
            if self.heartbeat:
                self.heartbeat()
            worker.join(timeout=0.2)
            if self.stop_event.is_set():
                worker.join(timeout=STOP_GRACE)
                return False
            if worker.is_alive() and time.monotonic() > give_up:
                self._generation += 1
                log.error("daemon.pass_abandoned", deadline=self.pass_deadline,
                          reason="a pass outlived its deadline: an API is not answering")
                return True
        return True

    def _next(self, last: datetime) -> tuple[datetime, str]:
        wake, reason = next_wake(last, self.interval, self._handoff, self.guard)
        if self._backlog is not None and self._backlog < wake:
            return self._backlog, "backlog"  # queued writes: as soon as Slack's limit allows
        return wake, reason

    def run(self) -> int:
        log.info("daemon.started", interval=self.interval, handoffs=self.next_handoff is not None)
        reason = "start"
        while not self.stop_event.is_set():
            started = self.clock.now()
            started_mono = self.clock.monotonic()
            self.wakes.append((started, reason))
            if not self._run_one(started):
                break
            if self.max_passes is not None and self.passes >= self.max_passes:
                break
            wake, reason = self._next(started)
            # The interval is a duration, counted on the monotonic clock: if the wall clock is
            # stepped back meanwhile, the next pass still comes ``interval`` seconds after this one.
            left = self.interval - (self.clock.monotonic() - started_mono)
            wake = min(wake, self.clock.now() + timedelta(seconds=max(left, 0.0)))
            log.debug("daemon.next_pass", at=wake.isoformat(), reason=reason)
            self.clock.wait_until(wake, self._woken, self.heartbeat)
            self._woken.clear()  # before the reason is taken: a wake from now on is not lost
            woken, self._wake_reason = self._wake_reason, None
            reason = woken or reason
        log.info("daemon.stopped", passes=self.passes)
        return 0


class _AlsoWakes(threading.Event):
    """The stop event: setting it also ends the loop's wait (which waits on ``woken``)."""

    def __init__(self, woken: threading.Event):
        super().__init__()
        self._also = woken

    def set(self) -> None:
        super().set()
        self._also.set()
