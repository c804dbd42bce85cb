"""Opsgenie's overrides end to end, over loopback HTTP against the emulator: who may take a shift
(the schedule's members), taking one (create), listing one's own and giving it back (delete).

Worked out by hand from the sample organisation (slackgenie_emulators.sample): Delivery Support's
daily turns run alice, bob, carol from 2026-11-02 09:00 UTC, so turn 21 (alice) runs from Mon
2026-11-23 09:00 to Tue 09:00: at 10:30 on Mon 23 alice is on call, unless overridden.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from slackgenie.core.model import OnCall, ReadFailure
from slackgenie.wiring import Service
from slackgenie.sources.base import Override
from slackgenie.sources.http import SourceAuthError, SourceError, SourceUnavailable
from slackgenie.sources.opsgenie import OpsgenieSource
from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import SAMPLE_CONFIG

from conftest import service_for

UTC = timezone.utc
DELIVERY = "Delivery Support_schedule"
ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
END = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DURING = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


@pytest.fixture
def service(emulators: Emulators, tmp_path: Path) -> Iterator[Service]:
    svc = service_for(emulators, tmp_path, "provider: opsgenie\n" + SAMPLE_CONFIG)
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def opsgenie(service: Service) -> OpsgenieSource:
    source = service.source.sources["opsgenie"]
    assert isinstance(source, OpsgenieSource)
    return source


def delivery(emulators: Emulators):  # type: ignore[no-untyped-def]
    schedule = emulators.opsgenie.state.schedule(DELIVERY, "name")
    assert schedule is not None
    return schedule


def on_call_at(source: OpsgenieSource, at: datetime) -> frozenset[str]:
    read = source.on_calls([DELIVERY], at=at)[DELIVERY]
    assert isinstance(read, OnCall), read
    return read.usernames


def test_members_are_the_people_in_the_schedules_rotations(opsgenie: OpsgenieSource) -> None:
    assert opsgenie.members(DELIVERY) == {ALICE: ALICE, BOB: BOB, CAROL: CAROL}
    # by id as well as by name
    schedule_id = next(m.id for m in opsgenie.forecast.models().values() if m.name == DELIVERY)
    assert opsgenie.members(schedule_id) == {ALICE: ALICE, BOB: BOB, CAROL: CAROL}


def test_members_of_an_unknown_schedule_is_a_read_failure(opsgenie: OpsgenieSource) -> None:
    got = opsgenie.members("No Such_schedule")
    assert isinstance(got, ReadFailure)
    assert got.subject == "No Such_schedule" and "no such schedule" in got.error


def test_members_leave_out_teams(emulators: Emulators, opsgenie: OpsgenieSource) -> None:
    emulators.opsgenie.state.add_user("Zed.Mixed@Example.com")
    emulators.opsgenie.state.add_rotation(delivery(emulators), {
        "name": "Team backup", "type": "weekly", "startDate": "2026-11-02T09:00:00Z",
        "participants": [{"type": "team", "name": "Payments"}, {"type": "user", "username": "Zed.Mixed@Example.com"}],
    })
    # keyed by the identity on_calls gives (lower case), valued by the username Opsgenie takes
    assert opsgenie.members(DELIVERY) == {ALICE: ALICE, BOB: BOB, CAROL: CAROL,
                                          "zed.mixed@example.com": "Zed.Mixed@Example.com"}


def test_take_list_and_give_back_a_shift(emulators: Emulators, opsgenie: OpsgenieSource) -> None:
    assert on_call_at(opsgenie, DURING) == {ALICE}

    alias = opsgenie.create_override(DELIVERY, BOB, START, END)
    assert alias.startswith("slackgenie-")
    held = [o for o in delivery(emulators).overrides if o.alias == alias]
    assert len(held) == 1
    assert held[0].user.get("username") == BOB
    assert (held[0].start_date, held[0].end_date) == (START, END)
    assert held[0].rotations == []  # every rotation
    posts = [r for r in emulators.opsgenie.requests if r.method == "POST"]
    assert len(posts) == 1 and posts[0].params.get("scheduleIdentifierType") == "name"

    assert on_call_at(opsgenie, DURING) == {BOB}
    assert on_call_at(opsgenie, datetime(2026, 11, 23, 12, 30, tzinfo=UTC)) == {ALICE}

    mine = opsgenie.overrides_of(DELIVERY, "Bob@Example.com", datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    assert mine == [Override(alias, BOB, START, END)]
    assert opsgenie.overrides_of(DELIVERY, ALICE, DURING) == []
    assert opsgenie.overrides_of(DELIVERY, BOB, END) == []  # ended: not listed

    opsgenie.delete_override(DELIVERY, alias)
    assert not [o for o in delivery(emulators).overrides if o.alias == alias]
    assert on_call_at(opsgenie, DURING) == {ALICE}
    assert opsgenie.overrides_of(DELIVERY, BOB, DURING) == []

    opsgenie.delete_override(DELIVERY, alias)  # already gone: done all the same


def test_overrides_are_listed_in_order_of_start_and_by_schedule_id(emulators: Emulators,
                                                                   opsgenie: OpsgenieSource) -> None:
    schedule_id = delivery(emulators).id
    later = opsgenie.create_override(schedule_id, BOB, datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
                                     datetime(2026, 11, 24, 11, 0, tzinfo=UTC))
    earlier = opsgenie.create_override(DELIVERY, BOB, START, END)
    opsgenie.create_override(DELIVERY, CAROL, START, END)
    got = opsgenie.overrides_of(schedule_id, BOB, DURING)
    assert [o.id for o in got] == [earlier, later]
    assert all(o.user_id == BOB for o in got)


def test_a_key_that_may_not_write_raises_an_auth_error(emulators: Emulators, opsgenie: OpsgenieSource) -> None:
    emulators.opsgenie.inject(r"/overrides$", status=403, times=1)
    with pytest.raises(SourceAuthError):
        opsgenie.create_override(DELIVERY, BOB, START, END)
    assert delivery(emulators).overrides == []
    assert emulators.opsgenie.calls(r"/overrides$") == 1  # a write is never retried


def test_a_create_that_fails_on_the_server_is_not_sent_twice(emulators: Emulators,
                                                             opsgenie: OpsgenieSource) -> None:
    emulators.opsgenie.inject(r"/overrides$", status=503, times=1)
    with pytest.raises(SourceUnavailable):
        opsgenie.create_override(DELIVERY, BOB, START, END)
    assert emulators.opsgenie.calls(r"/overrides$") == 1


def test_a_malformed_answer_is_a_source_error(emulators: Emulators, opsgenie: OpsgenieSource) -> None:
    emulators.opsgenie.inject(r"/overrides$", kind="transform", times=1,
                              transform=lambda body: {**body, "data": [{"alias": "x", "user": {"type": "user"}}]})
    with pytest.raises(SourceError, match="malformed"):
        opsgenie.overrides_of(DELIVERY, BOB, DURING)
    emulators.opsgenie.inject(r"/overrides$", kind="transform", times=1,
                              transform=lambda body: {**body, "data": {}})
    with pytest.raises(SourceError, match="malformed"):
        opsgenie.create_override(DELIVERY, BOB, START, END)


def test_a_delete_answered_as_the_contract_writes_it_is_done(emulators: Emulators, opsgenie: OpsgenieSource) -> None:
    """The contract's answer to a DELETE is a ``SuccessResponse``: ``{result, took, requestId}``,
    ``data`` optional; an answer without it is a success all the same."""
    alias = opsgenie.create_override(DELIVERY, BOB, START, END)
    emulators.opsgenie.inject(r"/overrides/", kind="transform", times=1,
                              transform=lambda body: {k: v for k, v in body.items() if k != "data"})
    opsgenie.delete_override(DELIVERY, alias)
    assert delivery(emulators).overrides == []
    assert emulators.opsgenie.calls(r"/overrides/") == 1
