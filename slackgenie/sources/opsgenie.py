"""The Opsgenie client (httpx), its retry policy and typed errors, and the on-call source built on it."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Annotated, Any

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictBool, StringConstraints, ValidationError
from tenacity.stop import stop_base
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from slackgenie.model import OnCall, ReadFailure
from slackgenie.observe import redact
from slackgenie.retry import MAX_THROTTLE, STOPPING, ApiObserver, RetryPolicy, read_within
from slackgenie.rotation import Override, ScheduleModel, overrides_from_api, schedule_from_api

log = structlog.get_logger("slackgenie.opsgenie")

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


class OpsgenieError(Exception):
    """Any failure to get an answer from Opsgenie."""

    def __init__(self, message: str, status: int | None = None, request_id: str | None = None):
        super().__init__(redact(message))  # Opsgenie's own text may echo what it was sent
        self.status, self.request_id = status, request_id


class OpsgenieAuthError(OpsgenieError):
    """401/403: the key is wrong, disabled, or lacks the rights."""


class OpsgenieNotFound(OpsgenieError):
    """404: no such schedule (or user, or team)."""


class OpsgenieUnavailable(OpsgenieError):
    """Timeouts, dropped connections, 5xx and 429 that outlasted the retries."""


class _Transient(OpsgenieError):
    """A retryable answer (429, 5xx); becomes OpsgenieUnavailable when retries run out."""

    def __init__(self, message: str, status: int, retry_after: float | None, period: float | None = None):
        super().__init__(message, status)
        self.retry_after = retry_after
        self.period = period  # X-RateLimit-Period-In-Sec: the window that throttled us


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, (_Transient, httpx.TransportError))


class _RetryAfterBeyondBudget(stop_base):
    """Stop at once when the API asks us to wait longer than the budget has left."""

    def __init__(self, budget: float):
        self.budget = budget

    def __call__(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        wait = getattr(exc, "retry_after", None)
        return wait is not None and wait > self.budget - (state.seconds_since_start or 0.0)


class _Stopping(stop_base):
    def __call__(self, state: RetryCallState) -> bool:
        return STOPPING.is_set()


class OpsgenieClient:
    """A few typed calls over Opsgenie's REST API v2. Thread-safe; the key never leaves the header."""

    def __init__(self, base_url: str, api_key: SecretStr, policy: RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None, observer: ApiObserver | None = None):
        self.policy = policy or RetryPolicy()
        self._http = httpx.Client(
            base_url=base_url, timeout=self.policy.timeout, transport=transport,
            headers={"Authorization": f"GenieKey {api_key.get_secret_value()}", "Accept": "application/json"},
        )
        self._observer = observer
        # Once a rate limit outlasts the retries, no request is sent until its window has passed:
        # fanning out into a throttled API only keeps it throttled.
        self._throttled_until = 0.0
        self._throttle_lock = threading.Lock()

    def throttled_for(self) -> float:
        """Seconds before a request may be sent again after a rate limit outlasted the retries."""
        with self._throttle_lock:
            return max(self._throttled_until - time.monotonic(), 0.0)

    def __repr__(self) -> str:
        return f"OpsgenieClient(base_url={str(self._http.base_url)!r})"

    def close(self) -> None:
        self._http.close()

    # --- the calls -----------------------------------------------------------------------
    def list_on_calls(self, at: datetime | None = None) -> list[dict[str, Any]]:
        """Who is on call in every schedule, flattened to usernames: one request."""
        data = self._get("listOnCalls", "/v2/schedules/on-calls", {"flat": "true", **_date(at)})["data"]
        if not isinstance(data, list):
            raise OpsgenieError("list on-calls answered without a list")
        return data

    def schedule_on_calls(self, ref: str, at: datetime | None = None) -> dict[str, Any]:
        params = {"scheduleIdentifierType": _ident_type(ref), "flat": "true", **_date(at)}
        data = self._get("getOnCalls", f"/v2/schedules/{_quote(ref)}/on-calls", params)["data"]
        if not isinstance(data, dict):
            raise OpsgenieError(f"on-calls of {ref!r} answered without an object")
        return data

    def list_overrides(self, schedule_id: str) -> list[dict[str, Any]]:
        params = {"scheduleIdentifierType": "id"}
        data = self._get("listOverrides", f"/v2/schedules/{_quote(schedule_id)}/overrides", params)["data"]
        if not isinstance(data, list):
            raise OpsgenieError("list overrides answered without a list")
        return data

    def list_schedules(self, rotations: bool = False) -> list[dict[str, Any]]:
        return self._get("listSchedules", "/v2/schedules", {"expand": "rotation"} if rotations else {})["data"]

    # --- transport, retries and errors ----------------------------------------------------
    def _get(self, op: str, path: str, params: dict[str, str]) -> dict[str, Any]:
        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            wait=self._wait,
            stop=stop_after_attempt(self.policy.attempts) | stop_after_delay(self.policy.budget)
            | _RetryAfterBeyondBudget(self.policy.budget) | _Stopping(),
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        wait = self.throttled_for()
        if wait > 0:
            raise OpsgenieUnavailable(f"HTTP 429: rate-limited for {wait:.0f} s more (not sent)", 429)
        try:
            return retrying(self._get_once, op, path, params)
        except _Transient as exc:
            if exc.status == 429:
                window = exc.retry_after if exc.retry_after is not None else exc.period
                with self._throttle_lock:
                    self._throttled_until = time.monotonic() + min(window if window is not None else 60.0,
                                                                   MAX_THROTTLE)
            raise OpsgenieUnavailable(f"{exc} (gave up after retries)", exc.status) from None
        except httpx.TimeoutException:
            raise OpsgenieUnavailable(f"timed out after retries ({self.policy.timeout:g}s per attempt)") from None
        except httpx.TransportError as exc:
            raise OpsgenieUnavailable(f"connection failed after retries: {type(exc).__name__}") from None

    def _get_once(self, op: str, path: str, params: dict[str, str]) -> dict[str, Any]:
        status: int | None = None
        deadline = time.monotonic() + self.policy.timeout
        try:
            with self._http.stream("GET", path, params=params) as response:
                status = response.status_code
                try:
                    raw = read_within(response.iter_bytes(), deadline, op)
                except TimeoutError as exc:
                    raise httpx.ReadTimeout(str(exc)) from None
        finally:
            if self._observer is not None:
                self._observer.api_request("opsgenie", op, status)
        body: Any
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        message = body.get("message") if isinstance(body, dict) else None
        request_id = response.headers.get("X-Request-ID")
        if status == 200 or status == 201:
            if not isinstance(body, dict) or "data" not in body:
                raise OpsgenieError(f"HTTP {status} without an Opsgenie envelope (is OPSGENIE_API_URL right?)", status)
            return body
        text = f"HTTP {status}: {message or response.reason_phrase}"
        if status == 429 or (status >= 500 and status != 501):
            raise _Transient(text, status, _seconds(response, "Retry-After"),
                             _seconds(response, "X-RateLimit-Period-In-Sec"))
        if status in (401, 403):
            raise OpsgenieAuthError(text + " (check OPSGENIE_API_KEY and its access rights)", status, request_id)
        if status == 404:
            raise OpsgenieNotFound(text, status, request_id)
        raise OpsgenieError(text, status, request_id)


    def _sleep(self, seconds: float) -> None:
        if STOPPING.wait(seconds):
            raise OpsgenieUnavailable("stopping: not retried")

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
            self._observer.api_retry("opsgenie", reason, wait)
        log.warning("opsgenie.retry", attempt=state.attempt_number, error=str(exc) or type(exc).__name__,
                    wait=round(state.next_action.sleep, 2) if state.next_action else None)


def _seconds(response: httpx.Response, header: str) -> float | None:
    try:
        value = response.headers.get(header)
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    if seconds is None or seconds != seconds:  # absent, or NaN
        return None
    return min(max(seconds, 0.0), MAX_THROTTLE)


def _ident_type(ref: str) -> str:
    return "id" if UUID_RE.match(ref) else "name"


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _date(at: datetime | None) -> dict[str, str]:
    if at is None:
        return {}
    return {"date": at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")}


class OpsgenieSource:
    """Who should be on call: one bulk read, per-schedule reads only where the bulk read falls short."""

    def __init__(self, client: OpsgenieClient, concurrency: int = 8):
        self.client = client
        self.concurrency = concurrency

    def on_calls(self, refs: Sequence[str], at: datetime | None = None) -> dict[str, OnCall | ReadFailure]:
        wanted = list(dict.fromkeys(refs))
        results: dict[str, OnCall | ReadFailure] = {}
        try:
            entries = self.client.list_on_calls(at)
        except (OpsgenieAuthError, OpsgenieUnavailable) as exc:
            # A bad key, or a rate limit that outlasted the retries, fails every read alike:
            # asking each schedule too would only add load on the same limit.
            if exc.status in (401, 429):
                return {ref: ReadFailure(ref, str(exc)) for ref in wanted}
            log.warning("opsgenie.list_on_calls_failed", error=str(exc), fallback="per-schedule reads")
            entries = []
        except OpsgenieError as exc:
            log.warning("opsgenie.list_on_calls_failed", error=str(exc), fallback="per-schedule reads")
            entries = []
        # An entry whose _parent cannot be read belongs to no schedule we can name: the schedules
        # it might be are read one by one below, like any schedule the bulk answer left out.
        parents = [(e, p) for e in entries if (p := _parent(e)) is not None]
        by_id: dict[str, list[object]] = {}
        by_name: dict[str, list[object]] = {}
        for e, p in parents:
            by_id.setdefault(p.id, []).append(e)
            by_name.setdefault(p.name, []).append(e)
        missing = []
        for ref in wanted:
            found = by_id.get(ref) or by_name.get(ref)
            if not found:
                missing.append(ref)
            elif len(found) > 1:  # two answers for one schedule, or two schedules of one name: no guess
                results[ref] = ReadFailure(ref, f"Opsgenie's answer holds {len(found)} entries for {ref!r} "
                                                "(two schedules of that name? name it by id)")
            else:
                results[ref] = _on_call(ref, found[0])
        if missing:
            # One schedule first: if Opsgenie throttles it, the others are not asked this pass.
            results[missing[0]] = self._one(missing[0], at)
            if self.client.throttled_for() > 0:
                error = f"not read: Opsgenie is rate-limiting ({self.client.throttled_for():.0f} s more)"
                results.update({ref: ReadFailure(ref, error) for ref in missing[1:]})
                return results
        if len(missing) > 1:
            with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="opsgenie") as pool:
                futures = {ref: pool.submit(self._one, ref, at) for ref in missing[1:]}
                results.update({ref: future.result() for ref, future in futures.items()})
        return results

    def schedules(self) -> list[ScheduleModel]:
        """Every schedule with its rotations: one request, for forecasting handoffs. A schedule
        that cannot be read (an unknown time zone, a rotation without a start) costs only its
        own forecast: its groups are still synced every interval."""
        out = []
        for raw in self.client.list_schedules(rotations=True):
            try:
                out.append(schedule_from_api(raw))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                name = raw.get("name") if isinstance(raw, dict) else None
                log.warning("opsgenie.schedule_unreadable", schedule=name, error=f"{type(exc).__name__}: {exc}",
                            effect="no handoff forecast for it; synced every interval")
        return out

    def overrides(self, schedule_id: str) -> list[Override]:
        """One schedule's overrides: one request."""
        return overrides_from_api(self.client.list_overrides(schedule_id))

    def _one(self, ref: str, at: datetime | None) -> OnCall | ReadFailure:
        try:
            return _on_call(ref, self.client.schedule_on_calls(ref, at))
        except OpsgenieNotFound:
            return ReadFailure(ref, "no such schedule in Opsgenie (check the name or id)")
        except OpsgenieError as exc:
            return ReadFailure(ref, str(exc))
        except Exception as exc:  # a malformed answer is a failed read, never "nobody"
            return ReadFailure(ref, f"unexpected answer: {type(exc).__name__}")


# --- the typed boundary: Opsgenie's flat on-call answer, as the contract documents it ---------
# A name or username: no control characters (a NUL or a line break is nobody's username, and
# would forge lines in the printed plan).
Name = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=512, pattern=r"^[^\x00-\x1f\x7f]+$")]


class _Parent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Name
    name: Name
    enabled: StrictBool = True


class _FlatOnCalls(BaseModel):
    """``GET /v2/schedules/{id}/on-calls?flat=true`` (and each item of the bulk list)."""

    model_config = ConfigDict(extra="ignore")
    parent: _Parent = Field(alias="_parent")
    recipients: list[Name] = Field(alias="onCallRecipients")


def _parent(entry: object) -> _Parent | None:
    try:
        return _Parent.model_validate(entry.get("_parent")) if isinstance(entry, dict) else None
    except ValidationError:
        return None


def _on_call(ref: str, entry: object) -> OnCall | ReadFailure:
    """An answer that does not fit the contract is a failed read of this schedule: never a
    person (``None`` is nobody's username), never "nobody"."""
    try:
        answer = _FlatOnCalls.model_validate(entry)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(answer)"
        return ReadFailure(ref, f"Opsgenie's on-call answer is malformed at {where}: {first['msg']}")
    return OnCall(schedule=ref, schedule_id=answer.parent.id, schedule_name=answer.parent.name,
                  usernames=frozenset(answer.recipients), enabled=answer.parent.enabled)
