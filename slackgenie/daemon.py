"""The loop: a pass at start, then one every ``interval`` seconds, until SIGTERM or SIGINT.

Passes run in a worker thread so a signal is answered within a second or two even while a
pass is waiting on a slow API; reconciliation is level-triggered, so a pass cut short is
simply completed by the next one.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

import schedule
import structlog

from slackgenie.model import PassReport

log = structlog.get_logger("slackgenie.daemon")

STOP_GRACE = 3.0


class Daemon:
    def __init__(self, run_pass: Callable[[], PassReport], interval: float,
                 on_report: Callable[[PassReport], None] | None = None, heartbeat: Callable[[], None] | None = None):
        self.run_pass = run_pass
        self.interval = interval
        self.on_report = on_report
        self.heartbeat = heartbeat
        self.stop_event = threading.Event()
        self._scheduler = schedule.Scheduler()
        self._worker: threading.Thread | None = None
        self.passes = 0

    def request_stop(self, signum: int | None = None, frame: object = None) -> None:
        if not self.stop_event.is_set():
            log.info("daemon.stopping", signal=signal.Signals(signum).name if signum else None)
        self.stop_event.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def _pass(self) -> None:
        try:
            report = self.run_pass()
            if self.on_report:
                self.on_report(report)
        except Exception as exc:  # a pass must never take the daemon down
            log.exception("daemon.pass_crashed", error=f"{type(exc).__name__}: {exc}")
        finally:
            self.passes += 1

    def _start_pass(self) -> None:
        if self._worker is not None and self._worker.is_alive():
            log.warning("daemon.pass_overrun", detail="the previous pass is still running; skipping this tick")
            return
        self._worker = threading.Thread(target=self._pass, name="pass", daemon=True)
        self._worker.start()

    def run(self) -> int:
        log.info("daemon.started", interval=self.interval)
        self._scheduler.every(self.interval).seconds.do(self._start_pass)
        self._start_pass()
        while not self.stop_event.is_set():
            if self.heartbeat:
                self.heartbeat()
            self._scheduler.run_pending()
            idle = self._scheduler.idle_seconds
            self.stop_event.wait(timeout=max(0.05, min(idle if idle is not None else 1.0, 1.0)))
        if self._worker is not None and self._worker.is_alive():
            self._worker.join(timeout=STOP_GRACE)
        log.info("daemon.stopped", passes=self.passes)
        return 0
