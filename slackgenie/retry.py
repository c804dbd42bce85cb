"""How hard to try: one policy shared by the Opsgenie and Slack clients (the ``retry:`` config key)."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


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

    timeout: float = Field(10.0, gt=0, le=120)
    attempts: int = Field(5, ge=1, le=20)
    budget: float = Field(30.0, gt=0, le=600)
    backoff: float = Field(0.5, ge=0, le=60)
    max_backoff: float = Field(8.0, ge=0, le=300)
