"""Fetching one feed: a conditional GET (``If-None-Match`` / ``If-Modified-Since``) with the same
deadlines, retries and size limit as every provider's calls (the file's ``retry:``; the answer
read against its timeout and cut at ``retry.MAX_ANSWER``), and errors typed as ``sources/http.py``
types them.

``http.ApiClient`` speaks JSON to one API at one base address, and hands back a parsed answer: a
feed needs its own request headers, the answer's validators and its raw bytes, one address per
feed. So the call is made here, on the same pieces (``RetryPolicy``, ``read_within``,
``retry_after``, the error types). What an error says names the feed, never its address, and
never repeats the server's own words: a feed server's error page may echo the secret address.
"""

from __future__ import annotations

import http
import time
from dataclasses import dataclass

import httpx
import structlog
from tenacity import (RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay,
                      wait_exponential_jitter)

from slackgenie import __version__
from slackgenie.retry import MAX_ANSWER, ApiObserver, RetryPolicy, Stop, read_within, retry_after
from slackgenie.sources.http import (RetryAfterBeyondBudget, SourceAuthError, SourceError, SourceNotFound,
                                     SourceUnavailable, Stopping)

log = structlog.get_logger("slackgenie.ical")

API = "ical"  # the metrics' and logs' name for feed reads (never a feed's address)
OP = "getFeed"
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Validators:
    """What the server said identifies the version it sent: sent back to ask "changed since?"."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        out = {}
        if self.etag:
            out["If-None-Match"] = self.etag
        if self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out


@dataclass(frozen=True)
class Fetched:
    """A feed's answer: its bytes (None: ``304 Not Modified``, the copy held is current) and validators."""

    body: bytes | None
    validators: Validators


class FeedUnavailable(SourceUnavailable):
    """Timeouts, dropped connections, 5xx and 429 that outlasted the retries; ``retry_after``:
    how long the server asked us to wait, where it said."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message, status)
        self.retry_after = retry_after


class _Transient(SourceError):
    def __init__(self, message: str, status: int, wait: float | None):
        super().__init__(message, status)
        self.retry_after = wait


def _phrase(status: int) -> str:
    try:
        return f"HTTP {status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


class FeedClient:
    """Feeds over HTTP(S). Thread-safe; one connection pool for every feed."""

    def __init__(self, policy: RetryPolicy | None = None, observer: ApiObserver | None = None,
                 stop: Stop | None = None, transport: httpx.BaseTransport | None = None):
        self.policy = policy or RetryPolicy()
        self.stop = stop or Stop()
        self._observer = observer
        # A User-Agent: without one, some calendar servers answer a web page instead of the calendar.
        self._http = httpx.Client(timeout=self.policy.timeout, transport=transport, follow_redirects=True,
                                  max_redirects=MAX_REDIRECTS,
                                  headers={"User-Agent": f"Slackgenie/{__version__} (calendar feed reader)",
                                           "Accept": "text/calendar, */*;q=0.1"})

    def __repr__(self) -> str:
        return "FeedClient()"  # never an address

    def close(self) -> None:
        self._http.close()

    def fetch(self, name: str, url: str, known: Validators = Validators()) -> Fetched:
        """The feed ``name`` at ``url``, asked whether it changed since ``known``; raises
        ``SourceError`` (``FeedUnavailable`` once the retries are spent)."""
        what = f"calendar feed {name!r}"
        retrying = Retrying(
            retry=retry_if_exception(lambda exc: isinstance(exc, (_Transient, httpx.TransportError))),
            wait=self._wait,
            stop=stop_after_attempt(self.policy.attempts) | stop_after_delay(self.policy.budget)
            | RetryAfterBeyondBudget(self.policy.budget) | Stopping(self.stop),
            sleep=self._sleep,
            before_sleep=lambda state: self._before_sleep(name, state),
            reraise=True,
        )
        try:
            return retrying(self._once, what, url, known)
        except _Transient as exc:
            raise FeedUnavailable(f"{exc} (gave up after retries)", exc.status, exc.retry_after) from None
        except httpx.TimeoutException:
            raise FeedUnavailable(f"{what}: timed out after retries ({self.policy.timeout:g}s per attempt)") from None
        except httpx.TransportError as exc:
            raise FeedUnavailable(f"{what}: connection failed after retries: {type(exc).__name__}") from None
        except httpx.HTTPError as exc:  # too many redirects, an address httpx cannot use: not retried
            raise SourceError(f"{what}: cannot be fetched: {type(exc).__name__}") from None

    def _once(self, what: str, url: str, known: Validators) -> Fetched:
        status: int | None = None
        deadline = time.monotonic() + self.policy.timeout
        try:
            with self._http.stream("GET", url, headers=known.headers()) as response:
                status = response.status_code
                length = response.headers.get("Content-Length", "")
                if status == 200 and length.isdigit() and int(length) > MAX_ANSWER:
                    raise SourceError(f"{what}: the answer is {int(length) // 2**20} MiB: larger than "
                                      f"{MAX_ANSWER // 2**20} MiB", status)
                try:
                    body = read_within(response.iter_bytes(), deadline, what) if status == 200 else b""
                except TimeoutError as exc:
                    raise httpx.ReadTimeout(str(exc)) from None
                except ValueError as exc:  # larger than any real answer
                    raise SourceError(str(exc), status) from None
        finally:
            if self._observer is not None:
                self._observer.api_request(API, OP, status)
        return self._answer(what, response, body)

    def _answer(self, what: str, response: httpx.Response, body: bytes) -> Fetched:
        status = response.status_code
        validators = Validators(response.headers.get("ETag"), response.headers.get("Last-Modified"))
        if status == 200:
            return Fetched(body, validators)
        if status == 304:
            return Fetched(None, validators)
        text = f"{what}: {_phrase(status)}"
        if status == 429 or (status >= 500 and status != 501):
            raise _Transient(text, status, retry_after(response.headers.get("Retry-After")))
        if status in (401, 403):
            raise SourceAuthError(f"{text} (the feed's address was refused: a revoked or expired link? "
                                  "copy its current address again)", status)
        if status == 404:
            raise SourceNotFound(f"{text} (no feed at that address: deleted, or its address changed)", status)
        raise SourceError(f"{text} (a feed answers 200 with the calendar)", status)

    def _sleep(self, secs: float) -> None:
        if self.stop.wait(secs):
            raise FeedUnavailable("stopping: not retried")

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return max(exc.retry_after, 0.0)
        return float(wait_exponential_jitter(multiplier=self.policy.backoff, max=self.policy.max_backoff,
                                             jitter=self.policy.backoff)(state))

    def _before_sleep(self, name: str, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        if self._observer is not None:
            reason = ("rate_limited" if isinstance(exc, _Transient) and exc.status == 429 else
                      "server_error" if isinstance(exc, _Transient) else "connection")
            self._observer.api_retry(API, reason, wait)
        error = str(exc) if isinstance(exc, SourceError) else type(exc).__name__  # httpx's words may hold the address
        log.warning("ical.retry", feed=name, attempt=state.attempt_number, error=error, wait=round(wait, 2))
