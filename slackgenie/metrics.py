"""Prometheus metrics: Slackgenie's own health, exported as numbers (prometheus-client).

One ``Metrics`` object per process holds its own registry, so tests and several daemons in one
interpreter never collide. The clients report API requests and retries to it through small
callbacks; the daemon reports each pass.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from slackgenie.model import Action, PassReport


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.pass_duration = Histogram("slackgenie_pass_duration_seconds", "Duration of a reconciliation pass.",
                                       buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120), registry=r)
        self.passes = Counter("slackgenie_passes_total", "Reconciliation passes by result (ok, partial, failed).",
                              ["result"], registry=r)
        self.changes = Counter("slackgenie_group_membership_changes_total",
                               "People added to or removed from a user group.", ["group", "change"], registry=r)
        self.group_ok = Gauge("slackgenie_group_in_sync", "1 if the group was confirmed in sync by the last pass.",
                              ["group"], registry=r)
        self.api_requests = Counter("slackgenie_api_requests_total", "API requests by api, method and status.",
                                    ["api", "method", "status"], registry=r)
        self.retries = Counter("slackgenie_api_retries_total", "Retried API requests by api and reason.",
                               ["api", "reason"], registry=r)
        self.rate_limit_wait = Counter("slackgenie_rate_limit_wait_seconds_total",
                                       "Seconds spent waiting because an API rate-limited us.", ["api"], registry=r)
        self.last_pass = Gauge("slackgenie_last_pass_timestamp_seconds", "When the last pass finished.", registry=r)
        self._lock = threading.Lock()
        self._confirmed: dict[str, float] = {}  # group -> when last confirmed in sync
        self._groups: set[str] = set()
        r.register(_SinceConfirmed(self))

    def __deepcopy__(self, memo: dict) -> Metrics:
        # One sink per process: Bolt deep-copies requests (and the client that reports here)
        # for lazy listeners, and the copies must keep reporting to the same registry.
        return self

    def expect_groups(self, groups: Iterable[str]) -> None:
        with self._lock:
            self._groups = set(groups)
        for group in self._groups:
            self.group_ok.labels(group).set(0)

    # --- reported by the clients ---------------------------------------------------------
    def api_request(self, api: str, method: str, status: str | int | None) -> None:
        self.api_requests.labels(api, method, str(status if status is not None else "error")).inc()

    def api_retry(self, api: str, reason: str, wait: float) -> None:
        self.retries.labels(api, reason).inc()
        if reason == "rate_limited":
            self.rate_limit_wait.labels(api).inc(max(wait, 0.0))

    # --- reported by the daemon ----------------------------------------------------------
    def observe_pass(self, report: PassReport, duration: float) -> None:
        self.pass_duration.observe(duration)
        failed = sum(1 for o in report.outcomes if not o.ok)
        result = "ok" if failed == 0 else ("failed" if failed == len(report.outcomes) else "partial")
        self.passes.labels(result).inc()
        now = time.time()
        self.last_pass.set(now)
        for outcome in report.outcomes:
            plan = outcome.plan
            confirmed = outcome.ok and (plan.action in (Action.IN_SYNC, Action.KEEP) or outcome.applied)
            if outcome.applied:
                self.changes.labels(plan.handle, "added").inc(len(plan.add))
                self.changes.labels(plan.handle, "removed").inc(len(plan.remove))
            self.group_ok.labels(plan.handle).set(1 if confirmed else 0)
            if confirmed and not report.dry_run:
                with self._lock:
                    self._confirmed[plan.handle] = now

    def seconds_since_confirmed(self) -> dict[str, float | None]:
        now = time.time()
        with self._lock:
            return {g: (now - self._confirmed[g]) if g in self._confirmed else None
                    for g in sorted(self._groups | set(self._confirmed))}

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _SinceConfirmed(Collector):
    """Seconds since each group was last confirmed in sync, computed at scrape time."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "slackgenie_group_seconds_since_in_sync",
            "Seconds since the group was last confirmed in sync (+Inf: never since start).", labels=["group"])
        for group, seconds in self.metrics.seconds_since_confirmed().items():
            family.add_metric([group], float("inf") if seconds is None else seconds)
        yield family
