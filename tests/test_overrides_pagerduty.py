"""PagerDuty's overrides end to end, over loopback HTTP against the emulator: who may take a shift
(the schedule's members), taking one (create), listing one's own and giving it back (delete).

Worked out by hand from the sample organisation (slackgenie_emulators.sample): Delivery Support's
one layer runs daily turns of alice, bob, carol from 2026-11-02 09:00 UTC, so turn 21 (alice) runs
from Mon 2026-11-23 09:00 to Tue 09:00: at 10:30 on Mon 23 alice is on call, unless overridden.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from slackgenie.core.model import OnCall, ReadFailure
from slackgenie.wiring import Service
from slackgenie.sources.base import Override
from slackgenie.sources.http import SourceAuthError, SourceError, SourceNotFound
from slackgenie.sources.pagerduty import PagerDutySource
from slackgenie.sources.routed import RoutedSource
from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import DEMO_START, SAMPLE_CONFIG

from conftest import service_for

UTC = timezone.utc
DELIVERY = "Delivery Support_schedule"
ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
END = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DURING = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


@pytest.fixture
def service(emulators: Emulators, tmp_path: Path) -> Iterator[Service]:
    svc = service_for(emulators, tmp_path, "provider: pagerduty\n" + SAMPLE_CONFIG)
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def pagerduty(service: Service) -> PagerDutySource:
    assert isinstance(service.source, RoutedSource)
    source = service.source.sources["pagerduty"]
    assert isinstance(source, PagerDutySource)
    return source


def pd(emulators: Emulators, email: str) -> str:
    return emulators.pagerduty.user_id(email)


def on_call_at(source: PagerDutySource, at: datetime) -> frozenset[str]:
    read = source.on_calls([DELIVERY], at=at)[DELIVERY]
    assert isinstance(read, OnCall), read
    return read.usernames


def test_members_are_the_users_of_the_schedules_layers(emulators: Emulators, pagerduty: PagerDutySource) -> None:
    expected = {ALICE: pd(emulators, ALICE), BOB: pd(emulators, BOB), CAROL: pd(emulators, CAROL)}
    assert pagerduty.members(DELIVERY) == expected
    # by id as well as by name; the e-mails are kept: no user is read again
    users_read = emulators.pagerduty.calls(r"^/users/")
    assert users_read == 3
    assert pagerduty.members(emulators.pagerduty.schedule_id(DELIVERY)) == expected
    assert emulators.pagerduty.calls(r"^/users/") == users_read


def test_members_through_the_routed_source(emulators: Emulators, service: Service) -> None:
    assert isinstance(service.source, RoutedSource)
    got = service.source.members(f"pagerduty:{DELIVERY}")
    assert got == {ALICE: pd(emulators, ALICE), BOB: pd(emulators, BOB), CAROL: pd(emulators, CAROL)}


def test_members_of_an_unknown_schedule_is_a_read_failure(pagerduty: PagerDutySource) -> None:
    got = pagerduty.members("No Such_schedule")
    assert isinstance(got, ReadFailure)
    assert got.subject == "No Such_schedule" and "no such schedule" in got.error


def test_a_member_without_a_usable_email_fails_the_schedule(emulators: Emulators,
                                                          pagerduty: PagerDutySource) -> None:
    bob = pd(emulators, BOB)

    def no_email(body: Any) -> Any:
        body["user"]["email"] = None
        return body

    emulators.pagerduty.inject(rf"^/users/{bob}$", kind="transform", transform=no_email)
    got = pagerduty.members(DELIVERY)
    assert isinstance(got, ReadFailure)
    assert bob in got.error and "e-mail" in got.error


def test_take_list_and_give_back_an_override(emulators: Emulators, pagerduty: PagerDutySource) -> None:
    bob, alice = pd(emulators, BOB), pd(emulators, ALICE)
    assert on_call_at(pagerduty, DURING) == {ALICE}

    override_id = pagerduty.create_override(DELIVERY, bob, START, END)
    assert override_id
    assert on_call_at(pagerduty, DURING) == {BOB}
    assert on_call_at(pagerduty, END) == {ALICE}  # the override ends at 12:00

    assert pagerduty.overrides_of(DELIVERY, bob, DEMO_START) == [Override(override_id, bob, START, END)]
    # under way, it is still listed with its own start (overflow), not the range's
    assert pagerduty.overrides_of(DELIVERY, bob, DURING) == [Override(override_id, bob, START, END)]
    assert pagerduty.overrides_of(DELIVERY, bob, END) == []  # ended
    assert pagerduty.overrides_of(DELIVERY, alice, DEMO_START) == []  # someone else's

    pagerduty.delete_override(DELIVERY, override_id)
    assert on_call_at(pagerduty, DURING) == {ALICE}
    assert pagerduty.overrides_of(DELIVERY, bob, DEMO_START) == []
    pagerduty.delete_override(DELIVERY, override_id)  # gone already (a retry after a lost answer): done


def test_overrides_are_listed_in_order_of_start(emulators: Emulators, pagerduty: PagerDutySource) -> None:
    bob = pd(emulators, BOB)
    later = pagerduty.create_override(DELIVERY, bob, datetime(2026, 11, 24, 10, tzinfo=UTC),
                                      datetime(2026, 11, 24, 11, tzinfo=UTC))
    sooner = pagerduty.create_override(DELIVERY, bob, START, END)
    assert [o.id for o in pagerduty.overrides_of(DELIVERY, bob, DEMO_START)] == [sooner, later]


def test_a_refused_create_raises_auth_error_and_creates_nothing(emulators: Emulators,
                                                                pagerduty: PagerDutySource) -> None:
    bob = pd(emulators, BOB)
    emulators.pagerduty.inject(r"/schedules/[^/]+/overrides$", status=403, times=1)
    with pytest.raises(SourceAuthError):
        pagerduty.create_override(DELIVERY, bob, START, END)
    assert emulators.pagerduty.calls(r"/overrides$") == 1  # never retried
    assert on_call_at(pagerduty, DURING) == {ALICE}


def test_a_read_only_key_may_not_create(emulators: Emulators, pagerduty: PagerDutySource) -> None:
    token = next(iter(emulators.pagerduty.api_tokens))
    emulators.pagerduty.read_only_tokens.add(token)
    emulators.pagerduty.api_tokens.discard(token)
    with pytest.raises(SourceAuthError):
        pagerduty.create_override(DELIVERY, pd(emulators, BOB), START, END)


def test_an_override_refused_in_the_status_list_raises_its_reason(emulators: Emulators,
                                                                  pagerduty: PagerDutySource) -> None:
    with pytest.raises(SourceError, match="end after its start"):
        pagerduty.create_override(DELIVERY, pd(emulators, BOB), END, START)
    with pytest.raises(SourceError, match="existing user"):
        pagerduty.create_override(DELIVERY, "PNOBODY", START, END)
    assert on_call_at(pagerduty, DURING) == {ALICE}


def test_a_create_answer_without_statuses_is_an_error(emulators: Emulators, pagerduty: PagerDutySource) -> None:
    emulators.pagerduty.inject(r"/overrides$", kind="transform", transform=lambda body: {"overrides": body})
    with pytest.raises(SourceError, match="one status per override"):
        pagerduty.create_override(DELIVERY, pd(emulators, BOB), START, END)


def test_a_malformed_override_list_is_a_source_error(emulators: Emulators, pagerduty: PagerDutySource) -> None:
    bob = pd(emulators, BOB)
    pagerduty.create_override(DELIVERY, bob, START, END)

    def no_end(body: Any) -> Any:
        for item in body["overrides"]:
            item.pop("end", None)
        return body

    emulators.pagerduty.inject(r"/overrides$", kind="transform", transform=no_end)
    with pytest.raises(SourceError, match="malformed"):
        pagerduty.overrides_of(DELIVERY, bob, DEMO_START)


def test_overrides_of_an_unknown_schedule_raise(emulators: Emulators, pagerduty: PagerDutySource) -> None:
    with pytest.raises(SourceNotFound):
        pagerduty.overrides_of("No Such_schedule", pd(emulators, BOB), DEMO_START)
    with pytest.raises(SourceNotFound):
        pagerduty.create_override("No Such_schedule", pd(emulators, BOB), START, END)
