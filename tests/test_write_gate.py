"""The write gate (issue 23) at the Slack edge: a shut gate sends nothing and says why in words,
not as an exception's class name."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import pytest

from slackgenie.slack.dm import DirectMessages, NotSent


class Shut:
    def may_write(self) -> bool:
        return False

    def writing(self) -> AbstractContextManager[bool]:
        return nullcontext(False)


class NoCalls:
    """A Slack client that fails the test if it is called at all."""

    token = "xoxb-never-used"

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Slack was called ({name}) through a shut gate")


def test_a_shut_gate_opens_and_sends_no_dm_and_says_the_holder_sends_it() -> None:
    dms = DirectMessages(NoCalls(), None, {}, Shut())  # type: ignore[arg-type]
    with pytest.raises(NotSent) as opened:
        dms.open("U00000001")
    assert opened.value.why == "this replica no longer holds the lease (leader_election): the holder sends it"
    assert not opened.value.final  # the holder tries it: not recorded as never to send
    with pytest.raises(NotSent) as sent:
        dms.send("D00000001", "heads-up", "mark")
    assert sent.value.why == opened.value.why


def test_slacks_own_refusal_still_reads_as_slacks() -> None:
    refused = NotSent("missing_scope")
    assert refused.why == "Slack said missing_scope (add im:write and chat:write to the app, then reinstall it)"
