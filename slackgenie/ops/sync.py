"""`slackgenie sync`: one pass (or a plan), then, unless told otherwise, the writes Slack's rate
limit queued; printed as it goes; the exit code says how it ended."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from slackgenie.core.clock import Clock
from slackgenie.core.model import PassReport
from slackgenie.engine.daemon import STOP_GRACE
from slackgenie.engine.oneshot import Supervised, Supervisor, Work, exit_now
from slackgenie.ops.report import render
from slackgenie.settings import Config
from slackgenie.wiring import Service, build

if TYPE_CHECKING:
    from slackgenie.kube.lease import Lease

EXIT_PARTIAL = 1
LEFT = "groups not yet written are left as they were"


def run_sync(config: Config, clock: Clock, dry_run: bool, at: datetime | None, metrics_file: str | None,
             backlog_wait: float | None = None) -> int:
    service = build(config, clock=clock)
    if metrics_file:
        service.metrics.carry_over(metrics_file)
    lease = service.lease if not dry_run and at is None else None  # leader_election: write only as its holder
    held = lease is not None and _take(lease, service)
    supervisor = Supervisor(service.stop, config.file.pass_deadline + STOP_GRACE)
    try:
        result = supervisor.run(_work(service, supervisor, dry_run or (lease is not None and not held), at,
                                      backlog_wait))
    finally:
        if lease is not None and held:
            lease.release()
    if lease is not None and not held:
        if result.reports:
            print(render(result.reports[-1]), flush=True)
        who = (f"is held by {lease.holder} (a `run` replica): it writes" if lease.holder else
               "could not be taken (the Kubernetes API server did not answer)")
        _say(f"slackgenie: {lease.where} {who}, so this run only planned and wrote nothing")
        service.close()
        return EXIT_PARTIAL
    deadline = config.file.pass_deadline
    if not result.reports:
        _say(f"slackgenie: {_why_none(result, deadline)}; {LEFT}")
        exit_now(128 + result.signum if result.signum is not None else EXIT_PARTIAL)
    report = result.reports[-1]
    if not result.abandoned:  # a backlog pass still running past its deadline keeps its clients
        service.close()
    print(render(report), flush=True)
    still = sum(1 for o in report.outcomes if o.queued)
    if still:
        print(f"{still} group(s) still queued for Slack's rate limit: the next run writes them first", flush=True)
    if result.signum is not None:
        _say(f"slackgenie: stopped by {result.signal_name}; {LEFT}")
        exit_now(128 + result.signum)
    if result.abandoned:
        _say(f"slackgenie: a pass for the backlog did not finish within pass_deadline ({deadline} s): an API is not "
             f"answering; {LEFT}")
        exit_now(max(report.exit_code, EXIT_PARTIAL))
    if metrics_file and not dry_run:
        try:
            service.metrics.write_textfile(metrics_file)
        except OSError as exc:
            print(f"slackgenie: cannot write the metrics file {metrics_file}: {exc.strerror}", file=sys.stderr)
            return max(report.exit_code, EXIT_PARTIAL)
    return report.exit_code


def _work(service: Service, supervisor: Supervisor, dry_run: bool, at: datetime | None,
          backlog_wait: float | None) -> Work:
    def waiting(report: PassReport, wait: float) -> None:
        queued = sum(1 for o in report.outcomes if o.queued)
        print(render(report) + f"\nWaiting {wait:.0f} s for Slack's rate limit to write {queued} queued group(s)...",
              flush=True)
        supervisor.extend(wait)

    def work(report_to: Callable[[PassReport], None]) -> None:
        if dry_run or at is not None:
            report_to(service.run_pass(dry_run=dry_run, at=at))
        else:
            service.run_through_backlog(backlog_wait, report_to, waiting)

    return work


def _take(lease: Lease, service: Service) -> bool:
    """With leader_election, a one-shot writes only as the lease holder: it takes the lease if
    nobody holds it, or once its holder has not renewed it for its duration (a replica that died:
    a process that sees a Lease for the first time must watch it that long, as every candidate
    does), renewing it while it runs (released at the end); False: a live replica holds it, or the
    API server did not answer in that time."""
    until = time.monotonic() + lease.duration + 2 * lease.poll
    while True:
        wait = lease.step()
        if lease.may_write():
            lease.start()
            return True
        left = until - time.monotonic()
        if left <= 0 or service.stop.wait(min(wait, left)):
            return False


def _why_none(result: Supervised, deadline: int) -> str:
    if result.signum is not None:
        return f"stopped by {result.signal_name} before the pass finished"
    if result.failure is not None:
        return f"the pass failed: {type(result.failure).__name__}: {result.failure}"
    return f"the pass did not finish within pass_deadline ({deadline} s): an API is not answering"


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
