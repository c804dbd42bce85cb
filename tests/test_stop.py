"""Cancellation is passed in: a stop asked of one service stops its retries and writes, and no
other's (there is no process-wide flag left over for the next service or test)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from slackgenie.retry import RetryPolicy, Stop
from slackgenie.sources.http import SourceError
from slackgenie.sources.opsgenie import OpsgenieClient
from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import OPSGENIE_KEY

POLICY = RetryPolicy(attempts=4, budget=6, backoff=0.05, max_backoff=0.2, timeout=3)


def test_a_stop_ends_only_its_own_services_retries(emulators: Emulators) -> None:
    stopped, running = Stop(), Stop()
    stopped.set()
    emulators.opsgenie.inject(r"^/v2/schedules/on-calls$", status=503)  # every request, until cleared
    for stop, tries in ((stopped, 1), (running, 4)):
        client = OpsgenieClient(emulators.opsgenie.url, SecretStr(OPSGENIE_KEY), POLICY, stop=stop)
        emulators.opsgenie.reset_log()
        try:
            with pytest.raises(SourceError):
                client.list_on_calls(None)
        finally:
            client.close()
        assert emulators.opsgenie.calls(r"on-calls") == tries  # stopped: the first answer is final
    assert not running.is_set()
