"""The one-shot's supervision (``slackgenie sync``): its passes run in a worker thread, so that
a signal or a deadline ends the command on time, whatever a server is doing. Calls still in
flight then are abandoned with the process (``exit_now``): a pass cut short has written nothing
since the stop, and the next run completes it."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

import structlog

from slackgenie.core.model import PassReport
from slackgenie.engine.daemon import STOP_GRACE
from slackgenie.retry import Stop

log = structlog.get_logger("slackgenie.engine.oneshot")

Work = Callable[[Callable[[PassReport], None]], object]  # given where to hand each pass's report


@dataclass
class Supervised:
    """How supervised work ended: its reports (the last is the latest), and what cut it short."""

    reports: list[PassReport] = field(default_factory=list)
    failure: BaseException | None = None  # what the work raised
    signum: int | None = None  # the first SIGTERM/SIGINT that stopped it
    abandoned: bool = False  # still running when given up on (its calls are left to the process's end)

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""


class Supervisor:
    """Runs work in a worker thread until it ends, a signal comes (the stop is then asked of the
    work) or ``allowance`` seconds pass (the stop is asked too, and the work is given
    ``STOP_GRACE`` more). A wait the work announces (``extend``) moves the deadline past it."""

    def __init__(self, stop: Stop, allowance: float):
        self.stop = stop
        self.allowance = allowance
        self._give_up = time.monotonic() + allowance

    def extend(self, wait: float) -> None:
        self._give_up = time.monotonic() + wait + self.allowance

    def run(self, work: Work) -> Supervised:
        result = Supervised()

        def body() -> None:
            try:
                work(result.reports.append)
            except BaseException as exc:  # reported by the caller, in the main thread
                result.failure = exc

        def on_signal(signum: int, frame: object) -> None:
            if result.signum is None:
                result.signum = signum
            self.stop.set()

        worker = threading.Thread(target=body, name="pass", daemon=True)
        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            worker.start()
            while worker.is_alive() and result.signum is None and time.monotonic() < self._give_up:
                worker.join(timeout=0.2)
            if worker.is_alive():
                self.stop.set()
                worker.join(timeout=STOP_GRACE)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        result.abandoned = worker.is_alive()
        return result


def exit_now(code: int) -> NoReturn:
    """Leave now: worker threads still waiting on a slow API are not joined (Python would wait
    for them at exit, for as long as the API takes). Nothing is lost: a pass that was cut short
    has written nothing since the stop, and the next run completes it."""
    stuck = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if stuck:
        log.info("exit.abandoning_calls", threads=len(stuck))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
