"""The one-shot's supervision (engine/oneshot.py): work in a worker thread, ended by its own end,
a signal or a deadline. Stand-in work, no server; every wait bounded."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from slackgenie.core.model import PassReport
from slackgenie.engine.daemon import STOP_GRACE
from slackgenie.engine.oneshot import Supervisor
from slackgenie.retry import Stop

REPORT = PassReport(outcomes=[], dry_run=True, started=datetime(2030, 3, 4, tzinfo=timezone.utc))
Report = Callable[[PassReport], None]


def test_work_that_ends_hands_over_its_reports() -> None:
    stop = Stop()

    def work(report: Report) -> None:
        report(REPORT)
        report(REPORT)

    result = Supervisor(stop, allowance=5).run(work)
    assert result.reports == [REPORT, REPORT] and result.failure is None and result.signum is None
    assert not result.abandoned and not stop.is_set()


def test_what_the_work_raises_is_kept_for_the_caller() -> None:
    def work(report: Report) -> None:
        raise RuntimeError("boom")

    result = Supervisor(Stop(), allowance=5).run(work)
    assert isinstance(result.failure, RuntimeError) and str(result.failure) == "boom" and result.reports == []


def test_past_the_deadline_the_stop_is_asked_and_work_that_heeds_it_ends() -> None:
    stop = Stop()
    began = time.monotonic()
    result = Supervisor(stop, allowance=0.3).run(lambda report: stop.wait(10))
    assert stop.is_set() and not result.abandoned and result.reports == []
    assert time.monotonic() - began < 3


def test_work_that_ignores_the_stop_is_abandoned_after_the_grace() -> None:
    release = threading.Event()
    began = time.monotonic()
    try:
        result = Supervisor(Stop(), allowance=0.2).run(lambda report: release.wait(10))
        took = time.monotonic() - began
    finally:
        release.set()
    assert result.abandoned
    assert STOP_GRACE <= took < 0.2 + STOP_GRACE + 2


def test_a_wait_the_work_announces_moves_the_deadline() -> None:
    stop = Stop()
    supervisor = Supervisor(stop, allowance=0.2)

    def work(report: Report) -> None:
        supervisor.extend(1.0)  # e.g. waiting for Slack's rate limit
        time.sleep(0.6)
        report(REPORT)

    result = supervisor.run(work)
    assert result.reports == [REPORT] and not stop.is_set() and not result.abandoned


def test_a_signal_stops_the_work_and_is_named() -> None:
    before = signal.getsignal(signal.SIGTERM)
    stop = Stop()

    def work(report: Report) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        stop.wait(10)

    result = Supervisor(stop, allowance=5).run(work)
    assert result.signum == signal.SIGTERM and result.signal_name == "SIGTERM"
    assert stop.is_set() and result.reports == []
    assert signal.getsignal(signal.SIGTERM) == before  # the handler put back
