"""JSM Ops overrides end to end, over loopback HTTP against the emulator: who may take a shift
(the schedule's members, from its rotations), taking one (create), listing one's own and giving
it back (delete).

Worked out by hand from the sample organisation (slackgenie_emulators.sample): Delivery Support's
one rotation is a daily one of alice, bob and carol from 2026-11-02 09:00 UTC, so turn 21 (alice)
runs from Mon 2026-11-23 09:00 to Tue 09:00: at 10:30 on Mon 23 alice is on call, unless
overridden. JSM Ops names people by Atlassian account id; Jira's user API gives their e-mails.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from slackgenie.core.model import OnCall, ReadFailure
from slackgenie.wiring import Service
from slackgenie.sources.base import Override
from slackgenie.sources.http import SourceAuthError, SourceError, SourceUnavailable
from slackgenie.sources.jsm import JsmSource
from slackgenie.sources.routed import RoutedSource
from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import SAMPLE_CONFIG
from slackgenie_emulators.schedules import Schedule

from conftest import service_for

UTC = timezone.utc
DELIVERY = "Delivery Support_schedule"
ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
END = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DURING = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


@pytest.fixture
def service(emulators: Emulators, tmp_path: Path) -> Iterator[Service]:
    svc = service_for(emulators, tmp_path, "provider: jsm\n" + SAMPLE_CONFIG)
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def jsm(service: Service) -> JsmSource:
    assert isinstance(service.source, RoutedSource)
    source = service.source.sources["jsm"]
    assert isinstance(source, JsmSource)
    return source


def account(emulators: Emulators, email: str) -> str:
    return emulators.jsm.account_id(email)


def delivery(emulators: Emulators) -> Schedule:
    schedule = emulators.opsgenie.state.schedule(DELIVERY, "name")
    assert schedule is not None
    return schedule


def on_call_at(source: JsmSource, at: datetime) -> frozenset[str]:
    """An ``at=`` read: never answered from the source's cache of current answers."""
    read = source.on_calls([DELIVERY], at=at)[DELIVERY]
    assert isinstance(read, OnCall), read
    return read.usernames


def test_members_are_the_people_in_the_schedules_rotations(emulators: Emulators, jsm: JsmSource,
                                                           service: Service) -> None:
    want = {e: account(emulators, e) for e in (ALICE, BOB, CAROL)}
    assert jsm.members(DELIVERY) == want
    assert jsm.members(delivery(emulators).id) == want  # by id as well as by name
    assert service.source.members(f"jsm:{DELIVERY}") == want  # through the routed source, by key
    lists = [r for r in emulators.jsm.requests if r.path.endswith("/schedules")]
    assert any(r.params.get("expand") == "rotation" and r.params.get("query") == DELIVERY for r in lists)


def test_members_of_an_unknown_schedule_is_a_read_failure(jsm: JsmSource) -> None:
    got = jsm.members("No Such_schedule")
    assert isinstance(got, ReadFailure)
    assert got.subject == "No Such_schedule" and "no such schedule" in got.error


def test_a_member_whose_email_is_hidden_is_named_by_account_id(emulators: Emulators, jsm: JsmSource) -> None:
    emulators.jsm.hidden_emails.add(BOB)
    bob = account(emulators, BOB)
    assert jsm.members(DELIVERY) == {ALICE: account(emulators, ALICE), bob: bob, CAROL: account(emulators, CAROL)}


def test_members_leave_out_teams(emulators: Emulators, jsm: JsmSource) -> None:
    emulators.opsgenie.state.add_user("Zed.Mixed@Example.com")
    emulators.opsgenie.state.add_rotation(delivery(emulators), {
        "name": "Team backup", "type": "weekly", "startDate": "2026-11-02T09:00:00Z",
        "participants": [{"type": "team", "name": "Payments"}, {"type": "user", "username": "Zed.Mixed@Example.com"}],
    })
    got = jsm.members(DELIVERY)
    assert got == {ALICE: account(emulators, ALICE), BOB: account(emulators, BOB), CAROL: account(emulators, CAROL),
                   "zed.mixed@example.com": account(emulators, "Zed.Mixed@Example.com")}


def test_members_fail_when_the_people_cannot_be_looked_up(emulators: Emulators, jsm: JsmSource) -> None:
    emulators.jsm.inject(r"/user/bulk$", status=400)
    got = jsm.members(DELIVERY)
    assert isinstance(got, ReadFailure) and got.subject == DELIVERY
    assert "could not look up" in got.error


def test_take_list_and_give_back_a_shift(emulators: Emulators, jsm: JsmSource) -> None:
    bob = account(emulators, BOB)
    assert on_call_at(jsm, DURING) == {ALICE}

    alias = jsm.create_override(DELIVERY, bob, START, END)
    held = [o for o in delivery(emulators).overrides if o.alias == alias]
    assert len(held) == 1
    assert held[0].user.get("username") == BOB
    assert (held[0].start_date, held[0].end_date) == (START, END)
    assert held[0].rotations == []  # every rotation
    [post] = [r for r in emulators.jsm.requests if r.method == "POST"]
    assert post.params.get("startDate") == "2026-11-23T10:00:00Z" and "alias" not in post.params

    assert on_call_at(jsm, DURING) == {BOB}
    assert on_call_at(jsm, datetime(2026, 11, 23, 12, 30, tzinfo=UTC)) == {ALICE}

    mine = jsm.overrides_of(DELIVERY, bob, datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    assert mine == [Override(alias, bob, START, END)]
    assert jsm.overrides_of(DELIVERY, account(emulators, ALICE), DURING) == []
    assert jsm.overrides_of(DELIVERY, bob, END) == []  # ended: not listed

    jsm.delete_override(DELIVERY, alias)
    assert not [o for o in delivery(emulators).overrides if o.alias == alias]
    assert on_call_at(jsm, DURING) == {ALICE}
    assert jsm.overrides_of(DELIVERY, bob, DURING) == []

    jsm.delete_override(DELIVERY, alias)  # already gone: done all the same


def test_overrides_are_read_page_by_page_in_order_of_start(emulators: Emulators, jsm: JsmSource) -> None:
    """51 of carol's overrides (one page and one more) before bob's two: his come from page two."""
    schedule_id = delivery(emulators).id
    bob, carol = account(emulators, BOB), account(emulators, CAROL)
    for hour in range(51):
        at = datetime(2026, 11, 25, 0, 0, tzinfo=UTC) + timedelta(hours=hour)
        emulators.opsgenie.state.add_override(delivery(emulators), CAROL, at, at + timedelta(minutes=30),
                                              alias=f"carol-{hour}")
    later = jsm.create_override(schedule_id, bob, datetime(2026, 11, 28, 10, 0, tzinfo=UTC),
                                datetime(2026, 11, 28, 11, 0, tzinfo=UTC))
    earlier = jsm.create_override(DELIVERY, bob, datetime(2026, 11, 28, 8, 0, tzinfo=UTC),
                                  datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    got = jsm.overrides_of(schedule_id, bob, DURING)
    assert [o.id for o in got] == [earlier, later] and all(o.user_id == bob for o in got)
    assert len(jsm.overrides_of(DELIVERY, carol, DURING)) == 51
    pages = [r for r in emulators.jsm.requests if r.method == "GET" and r.path.endswith("/overrides")]
    assert {r.params.get("offset") for r in pages} == {"0", "50"}


def test_a_key_that_may_not_write_raises_an_auth_error(emulators: Emulators, jsm: JsmSource) -> None:
    emulators.jsm.inject(r"/overrides$", status=403)
    with pytest.raises(SourceAuthError):
        jsm.create_override(DELIVERY, account(emulators, BOB), START, END)
    assert delivery(emulators).overrides == []
    assert emulators.jsm.calls(r"/overrides$") == 1  # a write is never retried


def test_a_token_without_the_write_scope_raises_an_auth_error(emulators: Emulators, jsm: JsmSource) -> None:
    jsm.catalog()  # the schedule list is read with the read scope
    emulators.jsm.set_scopes(read=True, write=False)
    with pytest.raises(SourceAuthError, match="scope does not match"):
        jsm.create_override(DELIVERY, account(emulators, BOB), START, END)
    assert delivery(emulators).overrides == []


def test_a_create_that_fails_on_the_server_is_not_sent_twice(emulators: Emulators, jsm: JsmSource) -> None:
    emulators.jsm.inject(r"/overrides$", status=503, times=1)
    with pytest.raises(SourceUnavailable):
        jsm.create_override(DELIVERY, account(emulators, BOB), START, END)
    assert emulators.jsm.calls(r"/overrides$") == 1


def test_an_unknown_schedule_or_a_malformed_answer_is_a_source_error(emulators: Emulators,
                                                                       jsm: JsmSource) -> None:
    with pytest.raises(SourceError, match="no such schedule"):
        jsm.create_override("No Such_schedule", account(emulators, BOB), START, END)
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
