"""The one HTTP client every source uses: deadlines, retries, rate limits and typed errors.

What differs between vendors (how an error reads, which header says how long a rate limit
lasts, what a success looks like) is a ``Dialect``; everything else is shared, so each
provider gets the same behaviour at the edges: a bounded time per attempt and per call
(tenacity), ``Retry-After`` honoured, no retry once a stop is asked, and, once a rate limit
outlasted the retries, no request at all until its window has passed (at most the retry budget).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from slackgenie.telemetry.logging import redact
from slackgenie.retry import ApiObserver, Holds, RetryPolicy, Stop, read_within, retry_after

log = structlog.get_logger("slackgenie.sources")

Params = Mapping[str, str] | list[tuple[str, str]]


class SourceError(Exception):
    """Any failure to get an answer from a schedule provider."""

    def __init__(self, message: str, status: int | None = None, request_id: str | None = None):
        super().__init__(redact(message))  # a vendor's own text may echo what it was sent
        self.status, self.request_id = status, request_id


class SourceAuthError(SourceError):
    """401/403: the credentials are wrong, disabled, or lack the rights."""


class SourceNotFound(SourceError):
    """404: no such schedule (or user)."""


class SourceUnavailable(SourceError):
    """Timeouts, dropped connections, 5xx and 429 that outlasted the retries."""


class _Transient(SourceError):
    """A retryable answer (429, 5xx); becomes SourceUnavailable when retries run out."""

    def __init__(self, message: str, status: int, retry_after: float | None, window: float | None = None):
        super().__init__(message, status)
        self.retry_after = retry_after
        self.window = window  # how long the rate limit that answered lasts, where the vendor says


@dataclass(frozen=True)
class Dialect:
    """How one vendor's API speaks."""

    api: str  # the metrics' and logs' name for it: opsgenie, jsm, jira, pagerduty
    title: str  # as people name it: "Opsgenie", "JSM Ops"
    auth_fix: str  # what to check when the credentials are refused
    message: Callable[[Any], str | None]  # the error text in an error body
    ok: Callable[[int, Any], None] = lambda status, body: None  # raise SourceError if a 2xx body does not fit
    window_header: str | None = None  # besides Retry-After: a header giving a rate limit's seconds


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, (_Transient, httpx.TransportError))


class RetryAfterBeyondBudget(stop_base):
    """Stop at once when the API asks us to wait longer than the budget has left."""

    def __init__(self, budget: float):
        self.budget = budget

    def __call__(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        wait = getattr(exc, "retry_after", None)
        return wait is not None and wait > self.budget - (state.seconds_since_start or 0.0)


class Stopping(stop_base):
    """Stop retrying once the service is asked to stop."""

    def __init__(self, stop: Stop):
        self.stop = stop

    def __call__(self, state: RetryCallState) -> bool:
        return self.stop.is_set()


class ApiClient:
    """JSON over HTTPS with one vendor. Thread-safe; credentials never leave the headers."""

    def __init__(self, base_url: str, dialect: Dialect, headers: Mapping[str, str], policy: RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None, observer: ApiObserver | None = None,
                 auth: httpx.Auth | None = None, stop: Stop | None = None):
        self.policy = policy or RetryPolicy()
        self.stop = stop or Stop()  # the service's: once set, nothing is retried or waited for
        self.dialect = dialect
        self._http = httpx.Client(base_url=base_url, timeout=self.policy.timeout, transport=transport,
                                  headers={"Accept": "application/json", **headers}, auth=auth)
        self._observer = observer
        # Once a rate limit outlasts the retries, no request is sent until its window has passed
        # (at most the retry budget, see _hold): fanning out into a throttled API only keeps it
        # throttled.
        self._holds = Holds()

    def __repr__(self) -> str:
        return f"ApiClient({self.dialect.api}, base_url={str(self._http.base_url)!r})"

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    def close(self) -> None:
        self._http.close()

    def throttled_for(self) -> float:
        """Seconds before a request may be sent again after a rate limit outlasted the retries."""
        return self._holds.left(self.dialect.api)

    def get(self, op: str, path: str, params: Params | None = None) -> Any:
        return self.call(op, "GET", path, params)

    def call(self, op: str, method: str, path: str, params: Params | None = None, body: Any = None,
             retry: bool = True) -> Any:
        """The parsed JSON answer of a 2xx; typed errors otherwise. A write is sent with
        ``retry=False`` unless repeating it is harmless."""
        title = self.dialect.title
        wait = self.throttled_for()
        if wait > 0:
            raise SourceUnavailable(f"{title}: HTTP 429: rate-limited for {wait:.0f} s more (not sent)", 429)
        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            wait=self._wait,
            stop=stop_after_attempt(self.policy.attempts if retry else 1) | stop_after_delay(self.policy.budget)
            | RetryAfterBeyondBudget(self.policy.budget) | Stopping(self.stop),
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            return retrying(self._once, op, method, path, params, body)
        except _Transient as exc:
            if exc.status == 429:
                self._hold(exc.retry_after if exc.retry_after is not None else exc.window)
            raise SourceUnavailable(f"{exc} (gave up after retries)", exc.status) from None
        except httpx.TimeoutException:
            raise SourceUnavailable(f"{title}: timed out after retries ({self.policy.timeout:g}s per attempt)") from None
        except httpx.TransportError as exc:
            raise SourceUnavailable(f"{title}: connection failed after retries: {type(exc).__name__}") from None

    def _hold(self, window: float | None) -> None:
        """Send nothing more for the rate limit's ``window`` (60 s if unsaid), but for no longer
        than this client's retry budget: the call that was refused fails, while a Retry-After
        of minutes on one read (an app's look-up) must not fail every other read of the
        provider, the sync's included, for those minutes. Never shortens a hold already longer."""
        self._holds.hold(self.dialect.api, min(window if window is not None else 60.0, self.policy.budget))

    def _once(self, op: str, method: str, path: str, params: Params | None, body: Any) -> Any:
        status: int | None = None
        deadline = time.monotonic() + self.policy.timeout
        items = params.items() if isinstance(params, Mapping) else (params or [])
        query: list[tuple[str, str | int | float | bool | None]] = [(k, v) for k, v in items]
        try:
            with self._http.stream(method, path, params=query, json=body) as response:
                status = response.status_code
                try:
                    raw = read_within(response.iter_bytes(), deadline, op)
                except TimeoutError as exc:
                    raise httpx.ReadTimeout(str(exc)) from None
                except ValueError as exc:  # larger than any real answer
                    raise SourceError(f"{self.dialect.title}: {exc}", status) from None
        finally:
            if self._observer is not None:
                self._observer.api_request(self.dialect.api, op, status)
        parsed: Any
        try:
            parsed = json.loads(raw) if raw else None
        except (ValueError, RecursionError):  # not JSON, or nested beyond reason
            parsed = {}
        request_id = response.headers.get("X-Request-ID")
        title = self.dialect.title
        if 200 <= status < 300:
            self.dialect.ok(status, parsed)
            return parsed
        message = None
        try:
            message = self.dialect.message(parsed)
        except Exception:  # an error body of an unexpected shape says no more than its status
            message = None
        text = f"{title}: HTTP {status}: {message or response.reason_phrase}"
        if status == 429 or (status >= 500 and status != 501):
            window = retry_after(response.headers.get(self.dialect.window_header)) if self.dialect.window_header else None
            raise _Transient(text, status, retry_after(response.headers.get("Retry-After")), window)
        if status in (401, 403):
            raise SourceAuthError(f"{text} ({self.dialect.auth_fix})", status, request_id)
        if status == 404:
            raise SourceNotFound(text, status, request_id)
        raise SourceError(text, status, request_id)

    def _sleep(self, secs: float) -> None:
        if self.stop.wait(secs):
            raise SourceUnavailable("stopping: not retried")

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        backoff = wait_exponential_jitter(multiplier=self.policy.backoff, max=self.policy.max_backoff,
                                          jitter=self.policy.backoff)(state)
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return max(exc.retry_after, 0.0)
        return backoff

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        if self._observer is not None:
            reason = ("rate_limited" if isinstance(exc, _Transient) and exc.status == 429 else
                      "server_error" if isinstance(exc, _Transient) else "connection")
            self._observer.api_retry(self.dialect.api, reason, wait)
        log.warning(f"{self.dialect.api}.retry", attempt=state.attempt_number, error=str(exc) or type(exc).__name__,
                    wait=round(wait, 2))

