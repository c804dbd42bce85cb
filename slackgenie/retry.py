"""How hard to try: one policy shared by the Opsgenie and Slack clients (the ``retry:`` config key)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
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
