"""Prometheus metrics: Slackgenie's own health, exported as numbers (prometheus-client).

One ``Metrics`` object per process holds its own registry, so tests and several daemons in one
interpreter never collide. The clients report API requests and retries to it through small
callbacks; the daemon reports each pass.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, write_to_textfile
from prometheus_client.parser import text_string_to_metric_families

from slackgenie.core.model import Action, PassReport


GENERIC_STATUSES = frozenset({"ok", "error"})


def status_label(status: str | int | None, known: frozenset[str] = GENERIC_STATUSES) -> str:
    """A request's ``status`` label: an HTTP status, or one of the ``known`` words (the API's own
    codes its client is handed: ``slack/refusals.py``), else "other". Label values come from a
    fixed set: whatever an API answers (an error page, a token it echoes) can neither reach the
    unauthenticated /metrics nor make a new series per distinct answer."""
    text = str(status) if status is not None else "error"
    if text.isdigit() and len(text) == 3:
        return text  # an HTTP status
    return text if text in known else "other"


class Metrics:
    def __init__(self, interval: float = 60.0, statuses: Iterable[str] = ()) -> None:
        """``statuses``: the words (an API's error codes) a request's status label may be, besides
        an HTTP status, "ok" and "error"."""
        self._statuses = GENERIC_STATUSES | frozenset(statuses)
        self.registry = CollectorRegistry()
        r = self.registry
        self.started = time.time()
        self.pass_duration = Histogram("slackgenie_pass_duration_seconds", "Duration of a reconciliation pass.",
                                       buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120), registry=r)
        self.passes = Counter("slackgenie_passes_total", "Reconciliation passes by result (ok, partial, failed).",
                              ["result"], registry=r)
        for result in ("ok", "partial", "failed"):  # present from the start, so increase() sees the first one
            self.passes.labels(result)
        self.changes = Counter("slackgenie_group_membership_changes_total",
                               "People added to or removed from a user group.", ["group", "change"], registry=r)
        self.group_ok = Gauge("slackgenie_group_in_sync", "1 if the group was confirmed in sync by the last pass.",
                              ["group"], registry=r)
        self.group_confirmed = Gauge(
            "slackgenie_group_last_in_sync_timestamp_seconds",
            "When the group was last confirmed in sync (the process start until the first confirmation).",
            ["group"], registry=r)
        self.group_queued = Gauge(
            "slackgenie_group_queued_until_timestamp_seconds",
            "When a write queued for Slack's rate limit is expected for the group (0: nothing queued).",
            ["group"], registry=r)
        self.api_requests = Counter("slackgenie_api_requests_total", "API requests by api, method and status.",
                                    ["api", "method", "status"], registry=r)
        self.retries = Counter("slackgenie_api_retries_total", "Retried API requests by api and reason.",
                               ["api", "reason"], registry=r)
        self.rate_limit_wait = Counter("slackgenie_rate_limit_wait_seconds_total",
                                       "Seconds spent waiting because an API rate-limited us.", ["api"], registry=r)
        self.last_pass = Gauge("slackgenie_last_pass_timestamp_seconds", "When the last pass finished.", registry=r)
        self.interval = Gauge("slackgenie_interval_seconds",
                              "The configured interval: the longest expected gap between passes (alerts scale by it).",
                              registry=r)
        self.interval.set(interval)
        self._groups: set[str] = set()
        self.state_not_saved = Counter(
            "slackgenie_state_not_saved_total",
            "Passes' failures to record a side effect in the state file (the side effect was not carried out).",
            registry=r)
        self.heads_up = Counter("slackgenie_heads_ups_total", "Heads-up DMs before shifts, by result (sent, failed).",
                                ["result"], registry=r)
        self.next_gap = Gauge("slackgenie_schedule_next_gap_timestamp_seconds",
                              "When the next stretch with nobody on call starts in a schedule (within the next "
                              "7 days, overrides included); no series: none foreseen.", ["schedule"], registry=r)
        self._gaps: set[str] = set()
        self._leader: Gauge | None = None  # only with leader_election

    def leader(self, holder: bool) -> None:
        """With ``leader_election``: whether this replica holds the lease (the one writer) now."""
        if self._leader is None:
            self._leader = Gauge("slackgenie_leader", "1 while this replica holds the lease and writes to Slack "
                                 "(leader_election); 0 on the others.", registry=self.registry)
        self._leader.set(1 if holder else 0)

    def expect_groups(self, groups: Iterable[str]) -> None:
        self._groups = set(groups)
        for group in self._groups:
            self.group_ok.labels(group).set(0)
            self.group_confirmed.labels(group).set(self.started)
            self.group_queued.labels(group).set(0)

    # --- reported by the clients ---------------------------------------------------------
    def heads_ups(self, sent: int, failed: int) -> None:
        if sent:
            self.heads_up.labels("sent").inc(sent)
        if failed:
            self.heads_up.labels("failed").inc(failed)

    def gaps(self, next_gap: dict[str, float | None]) -> None:
        """Each schedule read: when its next gap starts (None: none foreseen)."""
        for schedule, at in next_gap.items():
            if at is None:
                if schedule in self._gaps:
                    self.next_gap.remove(schedule)
                    self._gaps.discard(schedule)
            else:
                self.next_gap.labels(schedule).set(at)
                self._gaps.add(schedule)

    def api_request(self, api: str, method: str, status: str | int | None) -> None:
        self.api_requests.labels(api, method, status_label(status, self._statuses)).inc()

    def api_retry(self, api: str, reason: str, wait: float) -> None:
        self.retries.labels(api, reason).inc()
        if reason == "rate_limited":
            self.rate_limit_wait.labels(api).inc(max(wait, 0.0))

    # --- reported by the daemon ----------------------------------------------------------
    def observe_pass(self, report: PassReport, duration: float) -> None:
        self.pass_duration.observe(duration)
        failed = sum(1 for o in report.outcomes if not o.ok)
        result = "ok" if failed == 0 else ("failed" if failed == len(report.outcomes) else "partial")
        if report.faults and result == "ok":
            result = "partial"  # every group synced, but a side effect's record could not be saved
        self.passes.labels(result).inc()
        if report.faults:
            self.state_not_saved.inc(len(report.faults))
        now = time.time()
        self.last_pass.set(now)
        for outcome in report.outcomes:
            plan = outcome.plan
            confirmed = outcome.ok and (plan.action in (Action.IN_SYNC, Action.KEEP) or outcome.applied)
            if outcome.applied:
                self.changes.labels(plan.handle, "added").inc(len(plan.add))
                self.changes.labels(plan.handle, "removed").inc(len(plan.remove))
            self.group_ok.labels(plan.handle).set(1 if confirmed else 0)
            if not report.dry_run:
                queued = outcome.queued_in
                self.group_queued.labels(plan.handle).set(now + queued if queued is not None else 0)
            if confirmed and not report.dry_run:
                self.group_confirmed.labels(plan.handle).set(now)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def carry_over(self, path: str) -> None:
        """Continue from an earlier run's textfile: its pass counters and when each group was
        last confirmed, so that a one-shot run every few minutes still reads as one series."""
        try:
            with open(path, encoding="utf-8") as f:
                families = list(text_string_to_metric_families(f.read()))
        except (OSError, ValueError, UnicodeDecodeError):
            return  # first run, or an unreadable file: start afresh
        for family in families:
            for sample in family.samples:
                if not math.isfinite(sample.value) or sample.value < 0:
                    continue  # a damaged file must not poison the counters for ever
                if sample.name == "slackgenie_passes_total" and sample.labels.get("result") in ("ok", "partial", "failed"):
                    self.passes.labels(sample.labels["result"]).inc(sample.value)
                elif (sample.name == "slackgenie_group_last_in_sync_timestamp_seconds"
                      and sample.labels.get("group") in self._groups):  # a group no longer configured is dropped
                    self.group_confirmed.labels(sample.labels["group"]).set(sample.value)

    def write_textfile(self, path: str) -> None:
        """The same numbers for node_exporter's textfile collector (cron and one-shot runs),
        written to a temporary file and renamed, so a scrape never reads half a file."""
        write_to_textfile(path, self.registry)
