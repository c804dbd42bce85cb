"""How hard to try, and how long to hold back: one retry policy shared by the providers' and
Slack's clients (the ``retry:`` config key), one reading of ``Retry-After`` and one hold after a
429, used by the providers' client, Slack's client and the pacer alike."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt


class Stop:
    """A stop asked of one service (SIGTERM, SIGINT), handed to everything that waits, retries or
    writes: from then on no call is retried, no group is written and no wait goes on. Passed
    in, never global: each service, and each test, has its own."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True (at once) when the stop is asked meanwhile."""
        return self._event.wait(seconds)

# The longest a rate limit is taken to last, whatever an API says (a Retry-After of 1e9 must not
# silence an API until a restart): Slack's and Opsgenie's windows are a minute.
MAX_THROTTLE = 300.0


def retry_after(value: object, now: float | None = None) -> float | None:
    """A ``Retry-After`` (or a rate limit's window) as seconds within [0, MAX_THROTTLE]: a number
    of seconds, or an HTTP-date (counted from ``now``, wall-clock seconds; default: the time now).
    None when absent or neither (garbage, NaN): the caller's default applies."""
    if isinstance(value, (list, tuple)):  # a header some clients give as the list of its values
        value = value[0] if value else None
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    try:
        secs = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        when = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
        secs = when.timestamp() - (time.time() if now is None else now)
    if secs != secs:  # NaN
        return None
    return min(max(secs, 0.0), MAX_THROTTLE)


class Holds:
    """What is held back after a 429, by key (an API, a Slack method): nothing is sent to a key
    before its hold has passed. A hold lasts at most ``MAX_THROTTLE``, and a shorter one never
    cuts a longer one short. Thread-safe; ``clock`` is monotonic seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def hold(self, key: str, seconds: float) -> None:
        until = self._clock() + min(max(seconds, 0.0), MAX_THROTTLE)
        with self._lock:
            self._until[key] = max(self._until.get(key, until), until)

    def left(self, key: str) -> float:
        """Seconds before ``key`` may be sent to again (0: now)."""
        with self._lock:
            until = self._until.get(key)
        return 0.0 if until is None else max(until - self._clock(), 0.0)

# The most an answer may hold: Opsgenie's and Slack's largest pages are a few MiB.
MAX_ANSWER = 32 * 1024 * 1024


def read_within(chunks: Iterable[bytes], deadline: float, what: str) -> bytes:
    """An answer's body, read chunk by chunk until ``deadline`` (monotonic): a server that
    drips its answer cannot hold a call past its timeout, nor fill memory."""
    out = bytearray()
    for chunk in chunks:
        out += chunk
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: the answer took longer than its timeout to arrive")
        if len(out) > MAX_ANSWER:
            raise ValueError(f"{what}: the answer is larger than {MAX_ANSWER // 2**20} MiB")
    return bytes(out)


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):  # YAML's yes/true is not a number of seconds
        raise ValueError("expected a number, not true/false")
    return value


Number = Annotated[float, BeforeValidator(_not_bool)]


class ApiObserver(Protocol):
    """Told of every API request and retry (the metrics implement it)."""

    def api_request(self, api: str, method: str, status: str | int | None) -> None: ...

    def api_retry(self, api: str, reason: str, wait: float) -> None: ...


class RetryPolicy(BaseModel):
    """Retries on timeouts, dropped connections, 5xx and 429, within a bounded total time.

    timeout: seconds per attempt; attempts: tries per call, the first included;
    budget: seconds after which a call stops retrying, so one bad API cannot hang a pass;
    backoff / max_backoff: the exponential backoff's first and largest wait when the API
    gives no Retry-After (Opsgenie never does). A Retry-After longer than what is left of
    the budget is not waited for: the call fails at once, loudly.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout: Number = Field(10.0, gt=0, le=120)
    attempts: StrictInt = Field(5, ge=1, le=20)
    budget: Number = Field(30.0, gt=0, le=600)
    backoff: Number = Field(0.5, ge=0, le=60)
    max_backoff: Number = Field(8.0, ge=0, le=300)
