"""The one interface every provider implements: who should be on call, typed at the edge.

Paging, concurrency, retries, deadlines and rate limits live inside each source; what comes out
is ``OnCall`` (an answer to trust) or ``ReadFailure`` (none), per schedule reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from slackgenie.model import OnCall, ReadFailure
from slackgenie.rotation import Override, ScheduleModel


class OnCallSource(Protocol):
    def on_calls(self, refs: Sequence[str], at: datetime | None = None) -> dict[str, OnCall | ReadFailure]:
        """Who is on call in each schedule (by name or id), now or at ``at``; one entry per ref."""

    def schedules(self) -> list[ScheduleModel]:
        """Every schedule with its rotations, for forecasting handoffs."""

    def overrides(self, schedule_id: str) -> list[Override]:
        """One schedule's overrides, for forecasting."""
