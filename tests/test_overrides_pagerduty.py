"""PagerDuty's overrides, what only PagerDuty does, end to end over loopback HTTP against the
emulator: members' e-mails read once per user, a status per requested override, read-only keys.
What every provider does (members, take, list, give back, refusals) is in
test_provider_contract.py.

Worked out by hand from the sample organisation (slackgenie_emulators.sample): Delivery Support's
one layer runs daily turns of alice, bob, carol from 2026-11-02 09:00 UTC, so turn 21 (alice) runs
from Mon 2026-11-23 09:00 to Tue 09:00: at 10:30 on Mon 23 alice is on call, unless overridden.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slackgenie.core.model import OnCall, ReadFailure
from slackgenie.sources.http import SourceAuthError, SourceError
from slackgenie.sources.pagerduty import PagerDutySource
from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import DEMO_START

from providers_fixtures import ALICE, BOB, CAROL, DELIVERY, DURING, END, START, sample_source


@pytest.fixture
def pagerduty(emulators: Emulators, tmp_path: Path) -> Iterator[PagerDutySource]:
    with sample_source(emulators, tmp_path, PagerDutySource) as source:
        yield source


def pd(emulators: Emulators, email: str) -> str:
    return emulators.pagerduty.user_id(email)


def test_the_members_emails_are_read_once(emulators: Emulators, pagerduty: PagerDutySource) -> None:
    expected = {ALICE: pd(emulators, ALICE), BOB: pd(emulators, BOB), CAROL: pd(emulators, CAROL)}
    assert pagerduty.members(DELIVERY) == expected
    users_read = emulators.pagerduty.calls(r"^/users/")
    assert users_read == 3
    assert pagerduty.members(emulators.pagerduty.schedule_id(DELIVERY)) == expected
    assert emulators.pagerduty.calls(r"^/users/") == users_read  # kept: no user is read again


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
    read = pagerduty.on_calls([DELIVERY], at=DURING)[DELIVERY]
    assert isinstance(read, OnCall) and read.usernames == {ALICE}


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
