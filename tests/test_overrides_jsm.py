"""JSM Ops overrides, what only JSM Ops does, end to end over loopback HTTP against the emulator:
members read with the schedule list, people named by Atlassian account id (Jira's user API gives
their e-mails, unless profile privacy hides them), paged override lists, the token's scopes, and
overrides joining the answers and the handoff forecast at once. What every provider does
(members, take, list, give back, refusals) is in test_provider_contract.py.

Worked out by hand from the sample organisation (slackgenie_emulators.sample): Delivery Support's
one rotation is a daily one of alice, bob and carol from 2026-11-02 09:00 UTC, so turn 21 (alice)
runs from Mon 2026-11-23 09:00 to Tue 09:00: at 10:30 on Mon 23 alice is on call, unless
overridden.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from slackgenie.core.model import OnCall, ReadFailure
from slackgenie.sources.http import SourceAuthError, SourceError
from slackgenie.sources.jsm import JsmSource
from slackgenie_emulators import Emulators

from providers_fixtures import ALICE, BOB, CAROL, DELIVERY, DURING, END, START, UTC, sample_source, truth


@pytest.fixture
def jsm(emulators: Emulators, tmp_path: Path) -> Iterator[JsmSource]:
    with sample_source(emulators, tmp_path, JsmSource) as source:
        yield source


def account(emulators: Emulators, email: str) -> str:
    return emulators.jsm.account_id(email)


def test_members_are_read_from_the_schedule_list_with_its_rotations(emulators: Emulators, jsm: JsmSource) -> None:
    assert jsm.members(DELIVERY) == {e: account(emulators, e) for e in (ALICE, BOB, CAROL)}
    lists = [r for r in emulators.jsm.requests if r.path.endswith("/schedules")]
    assert any(r.params.get("expand") == "rotation" and r.params.get("query") == DELIVERY for r in lists)


def test_a_member_whose_email_is_hidden_is_named_by_account_id(emulators: Emulators, jsm: JsmSource) -> None:
    emulators.jsm.hidden_emails.add(BOB)
    bob = account(emulators, BOB)
    assert jsm.members(DELIVERY) == {ALICE: account(emulators, ALICE), bob: bob, CAROL: account(emulators, CAROL)}


def test_members_fail_when_the_people_cannot_be_looked_up(emulators: Emulators, jsm: JsmSource) -> None:
    emulators.jsm.inject(r"/user/bulk$", status=400)
    got = jsm.members(DELIVERY)
    assert isinstance(got, ReadFailure) and got.subject == DELIVERY
    assert "could not look up" in got.error


def test_a_shift_is_created_with_the_times_and_no_alias_of_ours(emulators: Emulators, jsm: JsmSource) -> None:
    alias = jsm.create_override(DELIVERY, account(emulators, BOB), START, END)
    [held] = truth(emulators, DELIVERY).overrides
    assert held.alias == alias and held.user.get("username") == BOB
    [post] = [r for r in emulators.jsm.requests if r.method == "POST"]
    assert post.params.get("startDate") == "2026-11-23T10:00:00Z" and "alias" not in post.params


def test_overrides_are_read_page_by_page_in_order_of_start(emulators: Emulators, jsm: JsmSource) -> None:
    """51 of carol's overrides (one page and one more) before bob's two: his come from page two."""
    delivery = truth(emulators, DELIVERY)
    bob, carol = account(emulators, BOB), account(emulators, CAROL)
    for hour in range(51):
        at = datetime(2026, 11, 25, 0, 0, tzinfo=UTC) + timedelta(hours=hour)
        emulators.opsgenie.state.add_override(delivery, CAROL, at, at + timedelta(minutes=30), alias=f"carol-{hour}")
    later = jsm.create_override(delivery.id, bob, datetime(2026, 11, 28, 10, 0, tzinfo=UTC),
                                datetime(2026, 11, 28, 11, 0, tzinfo=UTC))
    earlier = jsm.create_override(DELIVERY, bob, datetime(2026, 11, 28, 8, 0, tzinfo=UTC),
                                  datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    got = jsm.overrides_of(delivery.id, bob, DURING)
    assert [o.id for o in got] == [earlier, later] and all(o.user_id == bob for o in got)
    assert len(jsm.overrides_of(DELIVERY, carol, DURING)) == 51
    pages = [r for r in emulators.jsm.requests if r.method == "GET" and r.path.endswith("/overrides")]
    assert {r.params.get("offset") for r in pages} == {"0", "50"}


def test_a_token_without_the_write_scope_raises_an_auth_error(emulators: Emulators, jsm: JsmSource) -> None:
    jsm.catalog()  # the schedule list is read with the read scope
    emulators.jsm.set_scopes(read=True, write=False)
    with pytest.raises(SourceAuthError, match="scope does not match"):
        jsm.create_override(DELIVERY, account(emulators, BOB), START, END)
    assert truth(emulators, DELIVERY).overrides == []


def test_a_malformed_answer_is_a_source_error(emulators: Emulators, jsm: JsmSource) -> None:
    emulators.jsm.inject(r"/overrides$", kind="transform", times=1, transform=lambda body: {**body, "alias": 7})
    with pytest.raises(SourceError, match="malformed"):
        jsm.create_override(DELIVERY, account(emulators, BOB), START, END)
    emulators.jsm.inject(r"/overrides$", kind="transform", times=1,
                         transform=lambda body: {"values": [{"alias": "x", "responder": {"type": "user"}}]})
    with pytest.raises(SourceError, match="malformed"):
        jsm.overrides_of(DELIVERY, account(emulators, BOB), DURING)


def test_an_override_written_here_is_seen_at_once_and_its_edges_are_handoffs(emulators: Emulators,
                                                                               jsm: JsmSource) -> None:
    """Current answers are kept (``jsm.recheck``) while the timeline foresees no handoff; an
    override written since is a change the timeline read before it does not foresee. At 08:58
    carol is on call until 09:00; bob takes 08:58-10:58, then 13:00-14:00."""
    now = emulators.clock.now()
    assert jsm.next_handoff([DELIVERY], now) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # the timeline is read
    first = jsm.on_calls([DELIVERY])[DELIVERY]
    assert isinstance(first, OnCall) and first.usernames == {CAROL}
    reads = emulators.jsm.calls(r"/on-calls$")
    assert jsm.on_calls([DELIVERY])[DELIVERY] == first and emulators.jsm.calls(r"/on-calls$") == reads  # kept

    bob = account(emulators, BOB)
    alias = jsm.create_override(DELIVERY, bob, now, now + timedelta(hours=2))
    taken = jsm.on_calls([DELIVERY])[DELIVERY]
    assert isinstance(taken, OnCall) and taken.usernames == {BOB}
    assert jsm.next_handoff([DELIVERY], datetime(2026, 11, 23, 9, 30, tzinfo=UTC)) == \
        datetime(2026, 11, 23, 10, 58, tzinfo=UTC)  # the override's end, which the timeline read did not show
    jsm.create_override(DELIVERY, bob, datetime(2026, 11, 23, 13, 0, tzinfo=UTC),
                        datetime(2026, 11, 23, 14, 0, tzinfo=UTC))
    assert jsm.next_handoff([DELIVERY], datetime(2026, 11, 23, 11, 0, tzinfo=UTC)) == \
        datetime(2026, 11, 23, 13, 0, tzinfo=UTC)

    jsm.delete_override(DELIVERY, alias)
    back = jsm.on_calls([DELIVERY])[DELIVERY]
    assert isinstance(back, OnCall) and back.usernames == {CAROL}
