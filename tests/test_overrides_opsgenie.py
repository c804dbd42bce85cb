"""Opsgenie's overrides, what only Opsgenie does, end to end over loopback HTTP against the
emulator. What every provider does (members, take, list, give back, refusals) is in
test_provider_contract.py.

Worked out by hand from the sample organisation (slackgenie_emulators.sample): Delivery Support's
daily turns run alice, bob, carol from 2026-11-02 09:00 UTC, so turn 21 (alice) runs from Mon
2026-11-23 09:00 to Tue 09:00: at 10:30 on Mon 23 alice is on call, unless overridden.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from slackgenie.sources.http import SourceError
from slackgenie.sources.opsgenie import OpsgenieSource
from slackgenie_emulators import Emulators

from providers_fixtures import BOB, DELIVERY, DURING, END, START, sample_source, truth


@pytest.fixture
def opsgenie(emulators: Emulators, tmp_path: Path) -> Iterator[OpsgenieSource]:
    with sample_source(emulators, tmp_path, OpsgenieSource) as source:
        yield source


def test_a_shift_is_taken_under_a_slackgenie_alias_naming_the_schedule_as_given(emulators: Emulators,
                                                                                 opsgenie: OpsgenieSource) -> None:
    alias = opsgenie.create_override(DELIVERY, BOB, START, END)
    assert alias.startswith("slackgenie-")
    [held] = truth(emulators, DELIVERY).overrides
    assert held.alias == alias and held.user.get("username") == BOB
    [post] = [r for r in emulators.opsgenie.requests if r.method == "POST"]
    assert post.params.get("scheduleIdentifierType") == "name"


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
    assert truth(emulators, DELIVERY).overrides == []
    assert emulators.opsgenie.calls(r"/overrides/") == 1
