"""A provider that can only be read (a calendar feed, next): the router asks each provider for
the capabilities it has, and says plainly when one lacks them, instead of the provider faking
them. A read-only stand-in beside the real Opsgenie source against its emulator."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr

from slackgenie.core.model import OnCall, ReadFailure, ScheduleInfo
from slackgenie.sources.base import Forecasting, ShiftTaking
from slackgenie.sources.opsgenie import OpsgenieClient, OpsgenieSource
from slackgenie.sources.routed import RoutedSource, Unable
from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import DEMO_START, OPSGENIE_KEY


class ReadOnly:
    """Who is on call and the schedules: nothing more (as a calendar feed will be)."""

    provider = "pagerduty"  # a name the keys know; what it can do is all that matters here

    def on_calls(self, refs: Sequence[str], at: datetime | None = None) -> dict[str, OnCall | ReadFailure]:
        return {r: OnCall(r, r, r, frozenset({"erin@example.com"})) for r in refs}

    def catalog(self) -> list[ScheduleInfo]:
        return [ScheduleInfo("payments", "payments")]

    def close(self) -> None:
        pass


def test_the_router_asks_each_provider_only_for_what_it_can_do(emulators: Emulators) -> None:
    opsgenie = OpsgenieSource(OpsgenieClient(emulators.opsgenie.url, SecretStr(OPSGENIE_KEY)), now=lambda: DEMO_START)
    routed = RoutedSource({"opsgenie": opsgenie, "pagerduty": ReadOnly()})
    try:
        assert isinstance(opsgenie, Forecasting) and isinstance(opsgenie, ShiftTaking)
        assert not isinstance(ReadOnly(), Forecasting) and not isinstance(ReadOnly(), ShiftTaking)
        keys = ["opsgenie:Delivery Support_schedule", "pagerduty:payments"]
        reads = routed.on_calls(keys)
        assert isinstance(reads["pagerduty:payments"], OnCall) and isinstance(reads["opsgenie:Delivery Support_schedule"], OnCall)
        # Delivery's daily turn hands over at 09:00 (two minutes on); the feed foresees nothing.
        assert routed.next_handoff(keys, DEMO_START) == DEMO_START.replace(hour=9, minute=0)
        found = routed.stretches(keys, DEMO_START, DEMO_START + timedelta(days=1))
        assert isinstance(found["opsgenie:Delivery Support_schedule"], list)
        failed = found["pagerduty:payments"]
        assert isinstance(failed, ReadFailure) and "gives no forecast" in failed.error  # never "nobody"
        assert routed.cannot_take("opsgenie:Delivery Support_schedule") is None
        why = routed.cannot_take("pagerduty:payments")
        assert why is not None and "cannot be changed from Slack" in why
        with pytest.raises(Unable):
            routed.members("pagerduty:payments")
    finally:
        routed.close()
