"""The slack_sdk WebClient, with slack_sdk's own retry handlers bounded by our retry budget."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from http.client import RemoteDisconnected
from typing import Any
from urllib.error import URLError
from urllib.request import Request, urlopen

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse
from slack_sdk.http_retry import RetryHandler, RetryState
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse

from slackgenie.slack.pacer import Pacer
from slackgenie.retry import ApiObserver, Holds, RetryPolicy, Stop, read_within, retry_after


_CODE = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")


def error_code(exc: BaseException) -> str:
    """Slack's error code for a failed call, or what stands for one: ``HTTP 503`` when Slack's
    answer was not Slack's (slack_sdk puts a non-JSON page's text in ``error``: never shown),
    or the exception's type for a call that got no answer."""
    response = getattr(exc, "response", None) if isinstance(exc, SlackApiError) else None
    if response is None:
        return type(exc).__name__
    code = response.get("error")
    if isinstance(code, str) and _CODE.match(code):
        return code
    return f"HTTP {response.status_code}"


# A call Slack may have carried out although no answer came back (a timeout, a dropped
# connection, a 500) is not sent again when repeating it is not harmless: a second message
# (slack/delivery.py settles those by looking). A 429 or a 503 is safe to repeat: Slack did
# not carry the call out.
NOT_REPEATABLE = ("chat.postMessage",)


def _repeatable(request: HttpRequest) -> bool:
    return not request.url.rstrip("/").endswith(NOT_REPEATABLE)


# The write gate of the write under way in this thread (``delivery.gated`` sets it): a retry of a
# write is sent only while the gate is still open, so a replica that lost the lease during a
# 429's wait does not send the write again after the new holder's.
_GATE: ContextVar[Callable[[], bool] | None] = ContextVar("slackgenie_write_gate", default=None)


@contextmanager
def gate_for_retries(may_write: Callable[[], bool]) -> Iterator[None]:
    token = _GATE.set(may_write)
    try:
        yield
    finally:
        _GATE.reset(token)


def _gate_shut() -> bool:
    may_write = _GATE.get()
    return may_write is not None and not may_write()


def _within_budget(state: RetryState, policy: RetryPolicy, wait: float, stop: Stop) -> bool:
    """slack_sdk makes a fresh RetryState per call: the budget runs from the call's first failure."""
    if state.custom_values is None:
        state.custom_values = {}
    first = state.custom_values.setdefault("first_failure", time.monotonic())
    return not stop.is_set() and not _gate_shut() and (time.monotonic() - first) + wait <= policy.budget


class _Interruptible:
    """slack_sdk's handlers sleep with ``time.sleep`` before the next attempt; ours wait on
    the service's stop, so a stop ends the wait and sends nothing more."""

    stop: Stop

    def pause(self, state: RetryState, response: HttpResponse | None) -> float:
        raise NotImplementedError

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None, error: Exception | None = None) -> None:
        state.next_attempt_requested = True
        if self.stop.wait(self.pause(state, response)):
            raise SlackClientError("stopping: the call is not retried")
        if _gate_shut():  # the lease was lost during the wait: the new holder writes
            raise SlackClientError("not retried: this replica no longer holds the lease (leader_election)")
        state.increment_current_attempt()


class _RateLimited(_Interruptible, RateLimitErrorRetryHandler):
    """Honours Retry-After (slack_sdk's handler) unless waiting would outrun the budget, and
    tells the pacer, so the method's other writes wait too."""

    def __init__(self, policy: RetryPolicy, observer: ApiObserver | None, stop: Stop, pacer: Pacer | None = None):
        super().__init__(max_retry_count=policy.attempts - 1)
        self.policy, self.observer, self.pacer, self.stop = policy, observer, pacer, stop

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = _retry_after(response.headers)
        if self.pacer is not None:
            self.pacer.hold(request.url.rstrip("/").rsplit("/", 1)[-1], wait)
        return _report(self.observer, "rate_limited", wait, _within_budget(state, self.policy, wait, self.stop))

    def pause(self, state: RetryState, response: HttpResponse | None) -> float:
        return _retry_after(response.headers) if response is not None else 1.0


class _ServerError(_Interruptible, ServerErrorRetryHandler):
    def __init__(self, policy: RetryPolicy, observer: ApiObserver | None, stop: Stop):
        super().__init__(max_retry_count=policy.attempts - 1,
                         interval_calculator=BackoffRetryIntervalCalculator(backoff_factor=policy.backoff))
        self.policy, self.observer, self.stop = policy, observer, stop

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        if response is None or response.status_code not in (500, 502, 503, 504):
            return False
        if response.status_code != 503 and not _repeatable(request):
            return False  # Slack's 503 is an outage at its door (nothing done): safe to repeat; a 500 may not be
        wait = self.interval_calculator.calculate_sleep_duration(state.current_attempt)
        return _report(self.observer, "server_error", wait, _within_budget(state, self.policy, wait, self.stop))

    def pause(self, state: RetryState, response: HttpResponse | None) -> float:
        return self.interval_calculator.calculate_sleep_duration(state.current_attempt)


class _ConnectionError(_Interruptible, ConnectionErrorRetryHandler):
    def __init__(self, policy: RetryPolicy, observer: ApiObserver | None, stop: Stop):
        super().__init__(
            max_retry_count=policy.attempts - 1,
            interval_calculator=BackoffRetryIntervalCalculator(backoff_factor=policy.backoff),
            error_types=[URLError, ConnectionError, RemoteDisconnected, TimeoutError],
        )
        self.policy, self.observer, self.stop = policy, observer, stop

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        if not _repeatable(request) or not super()._can_retry(state=state, request=request, response=response,
                                                               error=error):
            return False
        wait = self.interval_calculator.calculate_sleep_duration(state.current_attempt)
        return _report(self.observer, "connection", wait, _within_budget(state, self.policy, wait, self.stop))

    def pause(self, state: RetryState, response: HttpResponse | None) -> float:
        return self.interval_calculator.calculate_sleep_duration(state.current_attempt)


def _report(observer: ApiObserver | None, reason: str, wait: float, retrying: bool) -> bool:
    if retrying and observer is not None:
        observer.api_retry("slack", reason, wait)
    return retrying


def _retry_after(headers: Any) -> float:
    """Slack's ``Retry-After`` (``retry.retry_after``); 1 s when it is absent or unreadable."""
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            seconds = retry_after(value)
            return seconds if seconds is not None else 1.0
    return 1.0


class ObservedWebClient(WebClient):
    """A WebClient that reports each API call (method and outcome: ok, an error code, or an HTTP
    status) to an observer, for metrics, and that respects a rate limit it ran into.

    Once a method's 429 outlasts the retry budget, further calls to that method fail here,
    without a request, until Slack's Retry-After has passed: hammering a limit only prolongs it.
    """

    def __init__(self, *args: Any, observer: ApiObserver | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._observer = observer
        self._blocked = Holds()  # by method: held back after a 429 that outlasted the retries

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        """slack_sdk's request, with the answer read against a deadline: its own ``resp.read()``
        waits as long as a server keeps dripping bytes, each within the socket timeout.

        A private method of slack_sdk's, kept on purpose: its public extension points cannot do
        this. A ``RetryHandler`` is handed the answer only once this method has read all of it, and
        the client takes no transport or opener (only a proxy URL and an SSL context).
        tests/test_edges.py (a dripping Slack) fails if an upgrade stops calling it."""
        if self.proxy is not None or not url.lower().startswith(("http://", "https://")):
            return super()._perform_urllib_http_request_internal(url, req)
        deadline = time.monotonic() + self.timeout
        with urlopen(req, context=self.ssl, timeout=self.timeout) as resp:  # noqa: S310 - http(s) only
            body = read_within(iter(lambda: resp.read1(65536), b""), deadline, url.rsplit("/", 1)[-1])
            if resp.headers.get_content_type() == "application/gzip":
                return {"status": resp.code, "headers": resp.headers, "body": body}
            charset = resp.headers.get_content_charset() or "utf-8"
            return {"status": resp.code, "headers": resp.headers, "body": body.decode(charset, errors="replace")}

    def api_call(self, api_method: str, **kwargs: Any) -> Any:
        wait = self._blocked.left(api_method)
        if wait > 0:
            raise SlackApiError(f"{api_method} is rate-limited for {wait:.0f} s more (not sent)", SlackResponse(
                client=self, http_verb="POST", api_url=self.base_url + api_method, req_args={},
                data={"ok": False, "error": "ratelimited"}, headers={"Retry-After": str(int(wait) + 1)},
                status_code=429))
        outcome = "error"
        try:
            response = super().api_call(api_method, **kwargs)
            outcome = "ok"
            return response
        except SlackApiError as exc:
            status = exc.response.status_code if exc.response is not None else None
            outcome = str(status) if status and status != 200 else error_code(exc)
            if status == 429:
                self._blocked.hold(api_method, _retry_after(exc.response.headers))
            raise
        finally:
            if self._observer is not None:
                self._observer.api_request("slack", api_method, outcome)


def make_web_client(token: SecretStr, base_url: str, policy: RetryPolicy,
                    observer: ApiObserver | None = None, pacer: Pacer | None = None, stop: Stop | None = None
                    ) -> WebClient:
    stop = stop or Stop()
    handlers: list[RetryHandler] = [_ConnectionError(policy, observer, stop), _RateLimited(policy, observer, stop, pacer),
                                    _ServerError(policy, observer, stop)]
    return ObservedWebClient(token=token.get_secret_value(), base_url=base_url, timeout=int(max(1, policy.timeout)),
                             retry_handlers=handlers, observer=observer)
