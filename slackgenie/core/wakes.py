"""When the daemon runs its next pass: the regular interval, brought forward by a foreseen handoff."""

from __future__ import annotations

from datetime import datetime, timedelta


def next_wake(last_pass: datetime, interval: float, handoff: datetime | None,
              guard: float) -> tuple[datetime, str]:
    """When the daemon should run its next pass, and why. Pure.

    The safety net is a pass ``interval`` seconds after the last one; a predicted handoff
    brings it forward to the handoff plus ``guard``. Every pass restarts the interval, so
    on a fleet whose handoffs fall on round hours the passes line up with them and a day
    holds no more passes than plain polling.
    """
    regular = last_pass + timedelta(seconds=interval)
    if handoff is not None:
        wake = handoff + timedelta(seconds=guard)
        if wake < regular:
            return wake, "handoff"
    return regular, "interval"
