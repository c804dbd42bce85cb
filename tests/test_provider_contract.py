"""One contract for every provider, through the source interface (sources/base.py: OnCallSource,
and the Forecasting and ShiftTaking capabilities), each provider against its own emulator and
wire contract, serving the one sample organisation.

Expected values are written by hand from the sample (see providers_fixtures.py's header) or come
from the emulators' own schedule engine (``truth``), never from the code under test. Where the
providers legitimately differ, the difference is a field of ``Provider``, not a branch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from slackgenie.core.model import OnCall, ReadFailure
from slackgenie.sources.base import Forecasting, OnCallSource, Override, ShiftTaking
from slackgenie.sources.http import SourceAuthError, SourceError, SourceUnavailable
from slackgenie.wiring import Service
from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import DEMO_AFTER_HANDOFF, DEMO_START

from providers_fixtures import (ALICE, BOB, CAROL, DELIVERY, DURING, END, HANDOFF, PAYMENTS, PLATFORM, PROVIDERS,
                                SCHEDULES, START, UTC, Provider, sample_service, truth)

NOBODY = frozenset[str]()
UNKNOWN = "No Such_schedule"


@pytest.fixture(params=PROVIDERS, ids=str)
def provider(request: pytest.FixtureRequest) -> Provider:
    provider: Provider = request.param
    return provider


@pytest.fixture
def service(emulators: Emulators, tmp_path: Path, provider: Provider) -> Iterator[Service]:
    with sample_service(emulators, tmp_path, provider.name) as svc:
        yield svc


@pytest.fixture
def source(service: Service, provider: Provider) -> OnCallSource:
    return service.source.sources[provider.name]


@pytest.fixture
def forecasting(source: OnCallSource) -> Forecasting:
    assert isinstance(source, Forecasting)
    return source


@pytest.fixture
def taking(source: OnCallSource) -> ShiftTaking:
    assert isinstance(source, ShiftTaking)
    return source


def who(source: OnCallSource, ref: str, at: datetime | None = None) -> frozenset[str]:
    read = source.on_calls([ref], at=at)[ref]
    assert isinstance(read, OnCall), read
    return read.usernames


def test_every_provider_forecasts_and_takes_shifts(source: OnCallSource, provider: Provider) -> None:
    assert source.provider == provider.name
    assert isinstance(source, Forecasting) and isinstance(source, ShiftTaking)


# --- OnCallSource: who is on call -------------------------------------------------------------------

@pytest.mark.parametrize("at,expected", [
    (None, {DELIVERY: {CAROL}, PAYMENTS: {"dave@example.com"}, PLATFORM: NOBODY}),  # now: Mon 08:58
    (DEMO_AFTER_HANDOFF, {DELIVERY: {ALICE}, PAYMENTS: {"grace@example.com"}, PLATFORM: {"frank.og@example.com"}}),
    (datetime(2026, 12, 24, 18, 0, tzinfo=UTC),  # Delivery turn 52: bob; Payments week 7: erin; after hours
     {DELIVERY: {BOB}, PAYMENTS: {"erin@example.com"}, PLATFORM: NOBODY}),
], ids=["now", "after the handoff", "christmas eve"])
def test_on_calls_name_who_the_sample_puts_on_call(source: OnCallSource, at: datetime | None,
                                                   expected: dict[str, set[str]]) -> None:
    reads = source.on_calls(list(SCHEDULES), at=at)
    assert set(reads) == set(SCHEDULES)
    for ref, people in expected.items():
        read = reads[ref]
        assert isinstance(read, OnCall), read
        assert (read.schedule, read.schedule_name, read.usernames) == (ref, ref, people)  # nobody is an answer


def test_on_calls_by_id_and_by_name_alike(emulators: Emulators, source: OnCallSource, provider: Provider) -> None:
    ids = {name: provider.schedule_id(emulators, name) for name in SCHEDULES}
    reads = source.on_calls([ids[DELIVERY], PAYMENTS, ids[PLATFORM]])
    assert set(reads) == {ids[DELIVERY], PAYMENTS, ids[PLATFORM]}  # keyed as asked
    delivery = reads[ids[DELIVERY]]
    assert isinstance(delivery, OnCall) and delivery.usernames == {CAROL}
    assert (delivery.schedule_id, delivery.schedule_name) == (ids[DELIVERY], DELIVERY)
    payments = reads[PAYMENTS]
    assert isinstance(payments, OnCall) and payments.schedule_id == ids[PAYMENTS]
    assert reads[ids[PLATFORM]] == OnCall(ids[PLATFORM], ids[PLATFORM], PLATFORM, NOBODY)


def test_on_calls_agree_with_the_emulators_engine_across_three_days(emulators: Emulators,
                                                                     source: OnCallSource) -> None:
    """Every 3 h 10 min from Mon 08:58 (so across turn changes, nights and working hours)."""
    for step in range(23):
        at = DEMO_START + timedelta(minutes=190 * step)
        reads = source.on_calls(list(SCHEDULES), at=at)
        for ref in SCHEDULES:
            read = reads[ref]
            assert isinstance(read, OnCall), (at, read)
            assert read.usernames == truth(emulators, ref).recipients(at), (ref, at)


def test_an_unknown_schedule_is_a_read_failure_never_nobody(source: OnCallSource, provider: Provider) -> None:
    reads = source.on_calls([UNKNOWN, DELIVERY])
    failure = reads[UNKNOWN]
    assert isinstance(failure, ReadFailure) and failure.subject == UNKNOWN
    assert f"no such schedule in {provider.title}" in failure.error
    assert isinstance(reads[DELIVERY], OnCall)  # the others are answered all the same


def _list_instead_of_object(body: Any) -> Any:
    return ["unexpected"]


FAULTS: dict[str, dict[str, Any]] = {
    "HTTP 500": {"status": 500},
    "HTTP 429": {"status": 429, "retry_after": 60},  # longer than the retry budget: not waited for
    "not JSON": {"status": 200, "body": "<html><body>Service maintenance</body></html>"},
    "wrong shape": {"kind": "transform", "transform": _list_instead_of_object},
    "dropped connection": {"kind": "drop"},
}


@pytest.mark.parametrize("fault", FAULTS)
def test_an_answer_that_cannot_be_trusted_is_a_read_failure(emulators: Emulators, source: OnCallSource,
                                                            provider: Provider, fault: str) -> None:
    assert source.catalog()  # the schedule list is read (names to ids): only the on-call read is bad
    injected = emulators.servers[provider.name].inject(provider.on_call_path, **FAULTS[fault])
    read = source.on_calls([DELIVERY])[DELIVERY]
    assert injected.hits >= 1
    assert isinstance(read, ReadFailure), read
    assert read.subject == DELIVERY and provider.title in read.error


SLOW_RETRY = "retry: {attempts: 1, budget: 2, backoff: 0.05, max_backoff: 0.1, timeout: 1}\n"


def test_a_slow_answer_is_a_read_failure_by_the_timeout(emulators: Emulators, tmp_path: Path,
                                                         provider: Provider) -> None:
    with sample_service(emulators, tmp_path, provider.name, retry=SLOW_RETRY) as service:
        source = service.source.sources[provider.name]
        assert source.catalog()
        slow = emulators.servers[provider.name].inject(provider.on_call_path, kind="latency", delay=2.5)
        began = time.monotonic()
        read = source.on_calls([DELIVERY])[DELIVERY]
        took = time.monotonic() - began
    assert slow.hits >= 1
    assert isinstance(read, ReadFailure) and "timed out" in read.error, read
    assert took < 5  # 1 s per attempt (Opsgenie: its all-schedules read, then the schedule's own)


# --- OnCallSource: the catalog --------------------------------------------------------------------

def test_the_catalog_lists_the_schedules(emulators: Emulators, source: OnCallSource, provider: Provider) -> None:
    teams = {DELIVERY: "Delivery", PAYMENTS: "Payments", PLATFORM: "Platform"}
    got = {(s.id, s.name, s.team, s.enabled) for s in source.catalog()}
    assert got == {(provider.schedule_id(emulators, name), name, teams[name] if provider.catalog_teams else None, True)
                   for name in SCHEDULES}


def test_a_catalog_that_cannot_be_read_raises(emulators: Emulators, source: OnCallSource, provider: Provider) -> None:
    down = emulators.servers[provider.name].inject(provider.list_path, status=503)
    with pytest.raises(SourceUnavailable):
        source.catalog()
    assert down.hits >= 1


# --- Forecasting ------------------------------------------------------------------------------------

@pytest.mark.parametrize("after,expected", [
    (DEMO_START, {DELIVERY: HANDOFF, PAYMENTS: HANDOFF, PLATFORM: HANDOFF}),
    # after 09:01: alice until Tue 09:00; grace's override until 18:00; frank.og until 17:00
    (DEMO_AFTER_HANDOFF, {DELIVERY: datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
                          PAYMENTS: datetime(2026, 11, 23, 18, 0, tzinfo=UTC),
                          PLATFORM: datetime(2026, 11, 23, 17, 0, tzinfo=UTC)}),
], ids=["before the handoff", "after it"])
def test_next_handoff_is_the_schedules_next_change(emulators: Emulators, source: OnCallSource,
                                                   forecasting: Forecasting, after: datetime,
                                                   expected: dict[str, datetime]) -> None:
    """As foreseen once read and checked against a pass's answers, as the daemon does (Opsgenie's
    rotation maths learn of an override, grace's, when an answer disagrees with them)."""
    emulators.clock.set(after)
    forecasting.next_handoff(list(SCHEDULES), after)
    forecasting.observe(source.on_calls(list(SCHEDULES)), after)
    for ref, when in expected.items():
        assert truth(emulators, ref).next_change(after) == when  # the hand-worked value, as the engine sees it
        assert forecasting.next_handoff([ref], after) == when, ref
    assert forecasting.next_handoff(list(SCHEDULES), after) == min(expected.values())


def test_no_handoff_is_foreseen_in_an_unknown_schedule(forecasting: Forecasting) -> None:
    assert forecasting.next_handoff([UNKNOWN], DEMO_START) is None  # not known, never made up


def test_stretches_agree_with_the_emulators_engine(emulators: Emulators, forecasting: Forecasting) -> None:
    window = (DEMO_START, DEMO_START + timedelta(days=3))
    found = forecasting.stretches(list(SCHEDULES), *window)
    delivery, platform = found[DELIVERY], found[PLATFORM]
    assert isinstance(delivery, list) and isinstance(platform, list)
    assert [(s.start, s.end, s.people) for s in delivery[:3]] == [  # by hand, cut at the window's start
        (DEMO_START, HANDOFF, {CAROL}),
        (HANDOFF, HANDOFF + timedelta(days=1), {ALICE}),
        (HANDOFF + timedelta(days=1), HANDOFF + timedelta(days=2), {BOB})]
    assert (platform[0].start, platform[0].end, platform[0].people) == \
        (HANDOFF, datetime(2026, 11, 23, 17, 0, tzinfo=UTC), {"frank.og@example.com"})  # nobody's spans left out
    for ref in SCHEDULES:
        stretches = found[ref]
        assert isinstance(stretches, list), stretches
        engine = truth(emulators, ref)
        for step in range(3 * 24 * 4):  # every quarter of an hour of the window
            at = window[0] + timedelta(minutes=15 * step)
            covering = [s.people for s in stretches if s.start <= at < s.end]
            assert (covering[0] if covering else NOBODY) == engine.recipients(at), (ref, at)
            assert len(covering) <= 1


def test_the_stretches_of_an_unknown_schedule_are_a_read_failure(forecasting: Forecasting) -> None:
    found = forecasting.stretches([UNKNOWN, DELIVERY], DEMO_START, DEMO_START + timedelta(hours=6))
    assert isinstance(found[UNKNOWN], ReadFailure) and isinstance(found[DELIVERY], list)


# --- ShiftTaking ------------------------------------------------------------------------------------

def test_members_are_the_people_in_the_schedules_rotations(emulators: Emulators, service: Service,
                                                           taking: ShiftTaking, provider: Provider) -> None:
    expected = {e: provider.user_id(emulators, e) for e in (ALICE, BOB, CAROL)}
    assert taking.members(DELIVERY) == expected
    assert taking.members(provider.schedule_id(emulators, DELIVERY)) == expected  # by id as well as by name
    assert service.source.members(f"{provider.name}:{DELIVERY}") == expected  # through the routed source, by key


def test_the_members_of_an_unknown_schedule_are_a_read_failure(taking: ShiftTaking) -> None:
    got = taking.members(UNKNOWN)
    assert isinstance(got, ReadFailure)
    assert got.subject == UNKNOWN and "no such schedule" in got.error


def test_members_are_keyed_as_on_calls_names_people(emulators: Emulators, taking: ShiftTaking,
                                                    provider: Provider) -> None:
    """A user spelt in mixed case is keyed in lower case, valued by the provider's own id; a team
    in a rotation is no member (PagerDuty's layers hold users only: its emulator lists the
    team's members as the layer's users, so they are members there)."""
    og = emulators.opsgenie.state
    og.add_user("Zed.Mixed@Example.com")
    og.add_rotation(truth(emulators, DELIVERY), {
        "name": "Team backup", "type": "weekly", "startDate": "2026-11-02T09:00:00Z",
        "participants": [{"type": "team", "name": "Payments"}, {"type": "user", "username": "Zed.Mixed@Example.com"}],
    })
    people = [ALICE, BOB, CAROL] + ([] if provider.layers_hold_teams else
                                    ["dave@example.com", "erin@example.com", "grace@example.com"])
    expected = {e: provider.user_id(emulators, e) for e in people}
    expected["zed.mixed@example.com"] = provider.user_id(emulators, "Zed.Mixed@Example.com")
    assert taking.members(DELIVERY) == expected


def test_take_list_and_give_back_a_shift(emulators: Emulators, source: OnCallSource, taking: ShiftTaking,
                                         provider: Provider) -> None:
    bob, alice = provider.user_id(emulators, BOB), provider.user_id(emulators, ALICE)
    assert who(source, DELIVERY, DURING) == {ALICE}

    taken = taking.create_override(DELIVERY, bob, START, END)
    held = [o for o in truth(emulators, DELIVERY).overrides if o.user.get("username") == BOB]
    assert len(held) == 1  # what the emulator holds
    assert (held[0].start_date, held[0].end_date, held[0].rotations) == (START, END, [])  # every rotation
    assert who(source, DELIVERY, DURING) == {BOB}
    assert who(source, DELIVERY, END) == {ALICE}  # it ends at 12:00
    assert who(source, DELIVERY, END + timedelta(minutes=30)) == {ALICE}

    mine = [Override(taken, bob, START, END)]
    assert taking.overrides_of(DELIVERY, bob, DEMO_START) == mine
    assert taking.overrides_of(DELIVERY, bob, DURING) == mine  # under way: listed with its own start
    assert taking.overrides_of(DELIVERY, bob, END) == []  # ended
    assert taking.overrides_of(DELIVERY, alice, DEMO_START) == []  # someone else's

    taking.delete_override(DELIVERY, taken)
    assert not [o for o in truth(emulators, DELIVERY).overrides if o.user.get("username") == BOB]
    assert who(source, DELIVERY, DURING) == {ALICE}
    assert taking.overrides_of(DELIVERY, bob, DEMO_START) == []
    taking.delete_override(DELIVERY, taken)  # gone already (a retry after a lost answer): done all the same


def test_overrides_are_listed_in_order_of_start_by_name_or_id(emulators: Emulators, taking: ShiftTaking,
                                                              provider: Provider) -> None:
    bob, carol = provider.user_id(emulators, BOB), provider.user_id(emulators, CAROL)
    schedule_id = provider.schedule_id(emulators, DELIVERY)
    later = taking.create_override(schedule_id, bob, datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
                                   datetime(2026, 11, 24, 11, 0, tzinfo=UTC))
    sooner = taking.create_override(DELIVERY, bob, START, END)
    taking.create_override(DELIVERY, carol, datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
                           datetime(2026, 11, 25, 11, 0, tzinfo=UTC))
    for ref in (DELIVERY, schedule_id):
        got = taking.overrides_of(ref, bob, DURING)
        assert [o.id for o in got] == [sooner, later] and all(o.user_id == bob for o in got)


@pytest.mark.parametrize("refusal,error", [(403, SourceAuthError), (503, SourceUnavailable)],
                         ids=["the key may not write", "a server error"])
def test_a_create_the_vendor_refuses_raises_and_is_never_sent_twice(emulators: Emulators, source: OnCallSource,
                                                                    taking: ShiftTaking, provider: Provider,
                                                                    refusal: int, error: type[SourceError]) -> None:
    server = emulators.servers[provider.name]
    server.inject(r"/overrides$", status=refusal, method="POST", times=1)
    with pytest.raises(error):
        taking.create_override(DELIVERY, provider.user_id(emulators, BOB), START, END)
    assert sum(1 for r in server.requests if r.method == "POST") == 1  # a write is never retried
    assert truth(emulators, DELIVERY).overrides == []
    assert who(source, DELIVERY, DURING) == {ALICE}


def test_a_create_for_someone_the_vendor_does_not_know_raises(emulators: Emulators, source: OnCallSource,
                                                              taking: ShiftTaking) -> None:
    with pytest.raises(SourceError):
        taking.create_override(DELIVERY, "nobody-we-know", START, END)
    assert truth(emulators, DELIVERY).overrides == []
    assert who(source, DELIVERY, DURING) == {ALICE}


def test_overrides_in_an_unknown_schedule_raise(emulators: Emulators, taking: ShiftTaking,
                                                provider: Provider) -> None:
    bob = provider.user_id(emulators, BOB)
    with pytest.raises(SourceError):
        taking.create_override(UNKNOWN, bob, START, END)
    with pytest.raises(SourceError):
        taking.overrides_of(UNKNOWN, bob, DEMO_START)


def test_an_override_answer_of_the_wrong_shape_is_a_source_error(emulators: Emulators, taking: ShiftTaking,
                                                                 provider: Provider) -> None:
    server = emulators.servers[provider.name]
    bob = provider.user_id(emulators, BOB)
    server.inject(r"/overrides$", kind="transform", transform=_list_instead_of_object, method="GET", times=1)
    with pytest.raises(SourceError):
        taking.overrides_of(DELIVERY, bob, DEMO_START)
    server.inject(r"/overrides$", kind="transform", transform=_list_instead_of_object, method="POST", times=1)
    with pytest.raises(SourceError):
        taking.create_override(DELIVERY, bob, START, END)
