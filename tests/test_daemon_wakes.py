"""The daemon's record of its wake-ups stays small however long it runs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from slackgenie.core.clock import SteppedClock
from slackgenie.engine.daemon import Daemon
from slackgenie.core.model import PassReport

START = datetime(2026, 11, 23, 8, 58, tzinfo=timezone.utc)
PASSES = 3000  # about two days of passes at a 60 s interval


class Settable:
    def __init__(self, at: datetime):
        self.at = at

    def now(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at


def test_wakes_keep_only_the_latest_passes() -> None:
    clock = SteppedClock(Settable(START))

    def run_pass() -> PassReport:
        return PassReport(outcomes=[], dry_run=False, started=clock.now())

    daemon = Daemon(run_pass, 60, clock=clock, max_passes=PASSES)
    daemon.run()

    assert daemon.passes == PASSES
    assert len(daemon.wakes) <= 1000, f"{len(daemon.wakes)} wake-ups kept for {PASSES} passes"
    # The newest are the ones kept, oldest first: the last pass started 2,999 intervals after the first.
    assert daemon.wakes[-1] == (START + timedelta(seconds=60 * (PASSES - 1)), "interval")
    assert daemon.wakes[0][0] > START
    assert [t for t, _ in daemon.wakes] == sorted(t for t, _ in daemon.wakes)
