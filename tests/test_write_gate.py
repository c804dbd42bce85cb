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


class Closing:
    """A gate open for one write, shut from then on: the lease lost while that write is at Slack."""

    def __init__(self) -> None:
        self.open = True

    def may_write(self) -> bool:
        return self.open

    def writing(self) -> AbstractContextManager[bool]:
        allowed, self.open = self.open, False
        return nullcontext(allowed)


def test_a_write_throttled_while_the_lease_is_lost_is_not_sent_again(emulators: Any) -> None:
    """slack_sdk retries a 429 after its Retry-After on its own: that retry must not go out once the
    gate has shut (the new holder writes by then), and the write must not count as made."""
    from pydantic import SecretStr

    from slackgenie.retry import RetryPolicy, Stop
    from slackgenie.slack.client import make_web_client
    from slackgenie.slack.directory import Directory
    from slackgenie.slack.target import SlackTarget
    from slackgenie_emulators.sample import BOT_TOKEN

    emulators.slack.inject(r"usergroups\.users\.update", status=429, retry_after=1, times=1)
    client = make_web_client(SecretStr(BOT_TOKEN), emulators.slack.url + "/api/", RetryPolicy(), stop=Stop())
    target = SlackTarget(client, Directory(client, None), gate=Closing())
    group = emulators.slack.state.group_by_handle("payments-oncall")
    before = list(group.users)
    outcome = target.set_members(group.id, [emulators.slack.state.user_by_email("erin@example.com").id])
    sent = [r for r in emulators.slack.requests if r.path.endswith("usergroups.users.update")]
    assert len(sent) == 1  # the throttled attempt only: no retry after the gate shut
    assert outcome is not None  # not reported as written
    assert emulators.slack.state.group_by_handle("payments-oncall").users == before


def test_a_record_is_cleared_only_while_it_is_still_the_one_this_process_wrote(tmp_path: Any) -> None:
    """A replica paused mid-announcement must not clear the record the new holder wrote since."""
    from slackgenie.engine.state import StateStore

    ours, theirs = StateStore(tmp_path / "state.json"), StateStore(tmp_path / "state.json")  # two processes
    ours.put("announced:g:sending", "alice|100.000")
    theirs.put("announced:g:sending", "bob|200.000")  # the new holder's attempt, while we were paused
    assert not ours.change_if({"announced:g:sending": "alice|100.000"}, {"announced:g:sending": None})
    assert theirs.get("announced:g:sending") == "bob|200.000"
    assert theirs.change_if({"announced:g:sending": "bob|200.000"}, {"announced:g:sending": None, "announced:g": "bob"})
    assert ours.get("announced:g:sending") is None and ours.get("announced:g") == "bob"
