"""Escalation levels on Opsgenie under attack: malformed policy answers, odd names, odd teams and
users, failing and throttled reads, and odd ways of asking. Each case must end in the right
people, or in a failed read of its own level only, with a clear message: never "nobody" from a
partial answer, never an exception out of the pass, never a group emptied, never a secret shown.

Who is on call is worked out by hand from the sample organisation (slackgenie_emulators.sample)
at DEMO_START (Mon 2026-11-23 08:58 UTC):
- Payments_schedule: weekly turns of dave, erin from Mon 2026-11-02 09:00: week 2: dave.
- Delivery Support_schedule: daily turns of alice, bob, carol from 2026-11-02 09:00: turn 20:
  carol; the next (turn 21, from 09:00) alice; the one before (turn 19) bob.
- Team Payments: dave, erin, grace (grace its admin). Team Delivery: alice, bob, carol.
- "Payments Escalation": level 1 Payments_schedule (default), level 2 team Payments (all),
  level 3 user dana.lead.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from slackgenie.core.clock import SteppedClock
from slackgenie.core.model import OnCall, ReadFailure
from slackgenie.settings import load
from slackgenie.sources.levels import Policy, rule_at
from slackgenie.sources.opsgenie import OpsgenieSource
from slackgenie.sources.opsgenie.wire import policies_from_api, policy_from_api
from slackgenie.sources.validate import Malformed
from slackgenie.wiring import build
from slackgenie_emulators import Emulators
from slackgenie_emulators.opsgenie import OpsgenieState
from slackgenie_emulators.sample import DEMO_START, Org, sample_org

from conftest import FAST_RETRY, write_config
from providers_fixtures import run_main

ALICE, BOB, CAROL, DAVE, ERIN, GRACE = (f"{n}@example.com" for n in ("alice", "bob", "carol", "dave", "erin", "grace"))
DANA = "dana.lead@example.com"
DELIVERY, PAYMENTS = "Delivery Support_schedule", "Payments_schedule"
KEY = "og-emulator-key"  # the emulators' Opsgenie key: never in any output


def _schedule(name: str, notify: str = "default", delay: int = 0) -> dict[str, Any]:
    return {"delay": delay, "notifyType": notify, "recipient": {"type": "schedule", "name": name}}


def _team(name: str, notify: str = "all", delay: int = 0) -> dict[str, Any]:
    return {"delay": delay, "notifyType": notify, "recipient": {"type": "team", "name": name}}


def _user(username: str, delay: int = 0) -> dict[str, Any]:
    return {"delay": delay, "notifyType": "default", "recipient": {"type": "user", "username": username}}


def _raw(rules: list[dict[str, Any]], name: str = "P", ident: str = "p-1") -> dict[str, Any]:
    """An Opsgenie policy answer's ``data`` written by hand."""
    return {"id": ident, "name": name, "rules": rules}


def _rule(delay: Any = None, notify: Any = "default", recipient: Any = None) -> dict[str, Any]:
    return {"condition": "if-not-acked", "notifyType": notify,
            "delay": {"timeAmount": 0, "timeUnit": "minutes"} if delay is None else delay,
            "recipient": {"type": "user", "id": "u-1", "username": ALICE} if recipient is None else recipient}


# --- the policy answer, malformed field by field (pure) ---------------------------------------------

@pytest.mark.parametrize(("rules", "where"), [
    ({"0": _rule()}, "rules"),  # rules not a list
    (None, "rules"),
    ([{k: v for k, v in _rule().items() if k != "recipient"}], "rules.0.recipient"),  # a rule without recipient
    ([{k: v for k, v in _rule().items() if k != "delay"}], "rules.0.delay"),
    ([{k: v for k, v in _rule().items() if k != "notifyType"}], "rules.0.notifyType"),
    ([_rule(), _rule(delay={"timeAmount": "15", "timeUnit": "minutes"})], "rules.1.delay.timeAmount"),  # a string
    ([_rule(delay="15")], "rules.0.delay"),
    ([_rule(delay=15)], "rules.0.delay"),  # JSM's shape is not Opsgenie's
    ([_rule(delay={"timeAmount": 1.5})], "rules.0.delay.timeAmount"),
    ([_rule(delay={"timeAmount": True})], "rules.0.delay.timeAmount"),
    ([_rule(delay={"timeAmount": -5, "timeUnit": "minutes"})], "rules.0.delay.timeAmount"),  # negative
    ([_rule(delay={"timeAmount": 2, "timeUnit": "weeks"})], "rules.0.delay.timeUnit"),
    ([_rule(delay={"timeAmount": 10 ** 12, "timeUnit": "days"})], "rules.0.delay"),  # beyond any timedelta
    ([_rule(notify=None)], "rules.0.notifyType"),
    ([_rule(notify="")], "rules.0.notifyType"),
    ([_rule(recipient={"type": "escalation", "id": "e-1", "name": "Other"})], "rules.0.recipient.type"),
    ([_rule(recipient={"type": "none"})], "rules.0.recipient.type"),
    ([_rule(recipient={"type": "user"})], "rules.0.recipient"),  # neither id nor username
    ([_rule(recipient={"type": "schedule", "username": "x"})], "rules.0.recipient"),  # a schedule has a name
    ([_rule(recipient={"type": "team", "id": "", "name": "T"})], "rules.0.recipient.id"),  # an empty id
    ([_rule(recipient={"type": "user", "id": "u-2", "username": "bad\nname"})], "rules.0.recipient.username"),
    ([_rule(recipient="alice")], "rules.0.recipient"),
    (["rule"], "rules.0"),
])
def test_a_malformed_rule_fails_the_policy_saying_where(rules: Any, where: str) -> None:
    with pytest.raises(Malformed) as caught:
        policy_from_api({"data": _raw(rules)})
    assert re.search(rf"malformed at (data\.)?{re.escape(where)}\b", str(caught.value)), str(caught.value)


def test_a_policy_without_id_or_name_or_data_is_malformed() -> None:
    for answer, where in (({"data": {"name": "P", "rules": []}}, "data.id"),
                          ({"data": {"id": "p", "rules": []}}, "data.name"),
                          ({"data": None}, "data"), ({"data": []}, "data"), ({}, "data")):
        with pytest.raises(Malformed) as caught:
            policy_from_api(answer)
        assert f"malformed at {where}" in str(caught.value), (answer, str(caught.value))


def test_delays_in_mixed_units_order_the_levels_by_time() -> None:
    """1 hour, 90 seconds, 1 day, 5000 ms (the spec's spelling), 2 minutes (no unit: minutes),
    3,000,000 micros (3 s), 240,000,000,000 nanos (4 min): in time order 3 s, 5 s, 90 s, 2 min,
    4 min, 1 h, 1 day."""
    users = ["h1", "s90", "d1", "ms5000", "m2", "us3", "ns240"]
    delays: list[dict[str, Any]] = [{"timeAmount": 1, "timeUnit": "hours"}, {"timeAmount": 90, "timeUnit": "seconds"},
                                    {"timeAmount": 1, "timeUnit": "days"},
                                    {"timeAmount": 5000, "timeUnit": "miliseconds"}, {"timeAmount": 2},
                                    {"timeAmount": 3_000_000, "timeUnit": "micros"},
                                    {"timeAmount": 240_000_000_000, "timeUnit": "nanos"}]
    rules = [_rule(delay=d, recipient={"type": "user", "id": u, "username": f"{u}@example.com"})
             for u, d in zip(users, delays)]
    policy = policy_from_api({"data": _raw(rules)})
    order = []
    for level in range(1, 8):
        rule = rule_at(policy, level)
        assert not isinstance(rule, str)
        order.append(rule.recipient.id)
    assert order == ["us3", "ms5000", "s90", "m2", "ns240", "h1", "d1"]
    assert rule_at(policy, 8) == "escalation policy 'P' has 7 level(s), so no level 8: fix 'escalation.level' or the policy"


def test_equal_delays_keep_the_policys_order() -> None:
    rules = [_rule(delay={"timeAmount": 60, "timeUnit": "minutes"}, recipient={"type": "user", "id": "a", "username": "a"}),
             _rule(delay={"timeAmount": 1, "timeUnit": "hours"}, recipient={"type": "user", "id": "b", "username": "b"}),
             _rule(delay={"timeAmount": 0}, recipient={"type": "user", "id": "c", "username": "c"})]
    policy = policy_from_api({"data": _raw(rules)})
    assert [getattr(rule_at(policy, n), "recipient").id for n in (1, 2, 3)] == ["c", "a", "b"]


def test_a_listed_policy_that_does_not_fit_costs_only_itself() -> None:
    fine = _raw([_rule()], "Fine", "id-fine")
    bad = _raw([_rule(delay={"timeAmount": "x"})], "Bad", "id-bad")
    nameless: dict[str, Any] = {"rules": "nope"}
    policies, broken, unnamed = policies_from_api([fine, bad, nameless, "not a policy"])
    assert [p.name for p in policies] == ["Fine"]
    assert set(broken) == {"Bad", "id-bad"} and "rules.0.delay.timeAmount" in broken["Bad"]
    assert unnamed == 2


def test_an_empty_policy_has_no_level() -> None:
    policy = policy_from_api({"data": _raw([], "Empty")})
    assert isinstance(policy, Policy) and policy.rules == ()
    assert rule_at(policy, 1) == ("escalation policy 'Empty' has 0 level(s), so no level 1: "
                                  "fix 'escalation.level' or the policy")


# --- over HTTP: the source against the emulator -------------------------------------------------------

def attack_org() -> Org:
    org = sample_org()
    og: OpsgenieState = org.opsgenie
    og.add_user("zoe@example.com", "Zoë")
    og.add_team("Empty", [])
    og.add_team("Leaderless", [ALICE, BOB])  # no admins
    og.add_escalation("Delivery Escalation", [_schedule(DELIVERY), _schedule(DELIVERY, "next", 10),
                                              _schedule(DELIVERY, "previous", 20)], team="Delivery")
    og.add_escalation("Odd Teams", [_team("Empty"), _team("Leaderless", "admins", 5), _team("Delivery", "users", 10),
                                    _team("Delivery", "random", 15), _team("Delivery", "everyone", 20)])
    og.add_escalation("Odd Schedules", [_schedule(DELIVERY, "all"), _schedule(PAYMENTS, "random", 5)])
    return org


@pytest.fixture
def emu() -> Iterator[Emulators]:
    with Emulators(attack_org(), at=DEMO_START) as emulators:
        yield emulators


@contextmanager
def opened(emu: Emulators, tmp_path: Path, extra: str = "") -> Iterator[OpsgenieSource]:
    config = (f"provider: opsgenie\ninterval: 60\nsyncs:\n  - usergroup: payments-oncall\n"
              f"    schedules: [{PAYMENTS}]\n" + FAST_RETRY + extra)
    path = write_config(tmp_path, config, fast_retry=False)
    service = build(load(str(path), emu.env()), clock=SteppedClock(emu.clock))
    try:
        found = service.source.sources["opsgenie"]
        assert isinstance(found, OpsgenieSource)
        yield found
    finally:
        service.close()


@pytest.fixture
def source(emu: Emulators, tmp_path: Path) -> Iterator[OpsgenieSource]:
    with opened(emu, tmp_path) as found:
        yield found


def people(read: OnCall | ReadFailure) -> frozenset[str]:
    assert isinstance(read, OnCall), read
    return read.usernames


def failed(read: OnCall | ReadFailure) -> str:
    assert isinstance(read, ReadFailure), read
    assert KEY not in read.error
    return read.error


def ref(policy: str, level: int) -> str:
    return f"escalation:{level}:{policy}"


def test_odd_teams_and_schedules(source: OpsgenieSource) -> None:
    asked = [ref("Odd Teams", n) for n in (1, 2, 3, 4, 5)] + [ref("Odd Schedules", n) for n in (1, 2)]
    found = source.on_calls(asked)
    assert people(found[asked[0]]) == frozenset()  # a team of nobody is read whole: nobody, not a failure
    assert people(found[asked[1]]) == frozenset()  # a team without admins, its admins: nobody
    assert people(found[asked[2]]) == {ALICE, BOB, CAROL}  # Delivery's users: all (no admins)
    assert "notifyType 'random'" in failed(found[asked[3]]) and "notifyType all" in failed(found[asked[3]])
    assert "team 'Delivery' with notifyType 'everyone' is not something Opsgenie notifies" in failed(found[asked[4]])
    assert f"schedule {DELIVERY!r} with notifyType 'all' is not something" in failed(found[asked[5]])
    assert f"schedule {PAYMENTS!r} with notifyType 'random' is not something" in failed(found[asked[6]])


def test_a_level_beyond_the_policy_and_an_unknown_policy(source: OpsgenieSource) -> None:
    asked = [ref("Payments Escalation", 50), ref("Nobody's Policy", 1), ref("Payments Escalation", 3)]
    found = source.on_calls(asked)
    assert failed(found[asked[0]]).startswith("escalation policy 'Payments Escalation' has 3 level(s), so no level 50")
    assert "no such escalation policy in Opsgenie" in failed(found[asked[1]])
    assert people(found[asked[2]]) == {DANA}
    alone = source.on_calls([asked[1]])[asked[1]]  # read alone, by name: a 404
    assert "no such escalation policy in Opsgenie" in failed(alone)


@pytest.mark.parametrize("name", ["Tier: 1 / Payments", "Payments #2 escalation", "Zahlungen – Eskalation ü", "50% off?",
                                  "a+b=c & d", "escalation:2:Inner"])
def test_a_policy_named_with_odd_characters_is_found_alone_and_listed(emu: Emulators, source: OpsgenieSource,
                                                                      name: str) -> None:
    policy = emu.opsgenie.state.add_escalation(name, [_user("zoe@example.com"), _schedule(PAYMENTS, delay=5)])
    alone = source.on_calls([ref(name, 1)])[ref(name, 1)]
    assert people(alone) == {"zoe@example.com"}
    assert isinstance(alone, OnCall) and (alone.schedule_id, alone.schedule_name) == (f"{policy.id}#1", f"{name}, level 1")
    listed = source.on_calls([ref(name, 2), ref("Payments Escalation", 3)])
    assert people(listed[ref(name, 2)]) == {DAVE}
    assert people(listed[ref("Payments Escalation", 3)]) == {DANA}


def test_a_policy_named_like_anothers_id_is_found_by_that_id(emu: Emulators, source: OpsgenieSource) -> None:
    payments = emu.opsgenie.state.escalation("Payments Escalation", "name")
    assert payments is not None
    emu.opsgenie.state.add_escalation(payments.id, [_user("zoe@example.com")])  # named as Payments' id
    for asked in ([ref(payments.id, 3)], [ref(payments.id, 3), ref("Delivery Escalation", 1)]):
        assert people(source.on_calls(asked)[asked[0]]) == {DANA}, asked  # an id is an id: alone and listed


def test_two_policies_of_one_name_are_no_guess(emu: Emulators, source: OpsgenieSource) -> None:
    twin = emu.opsgenie.state.add_escalation("Twin", [_user("zoe@example.com")])
    other = emu.opsgenie.state.add_escalation("Twin", [_user(DANA)])  # the emulator keeps both
    assert other.id != twin.id and len(emu.opsgenie.state.escalations) == 6
    asked = [ref("Twin", 1), ref("Payments Escalation", 3)]
    found = source.on_calls(asked)
    error = failed(found[asked[0]])
    assert "Opsgenie has 2 escalation policies named 'Twin': name it by id" in error
    assert twin.id in error and other.id in error
    assert people(found[asked[1]]) == {DANA}
    assert people(source.on_calls([ref(twin.id, 1)])[ref(twin.id, 1)]) == {"zoe@example.com"}


def test_a_level_behind_a_disabled_schedule_says_it_is_disabled(emu: Emulators, source: OpsgenieSource) -> None:
    schedule = emu.opsgenie.state.schedule(DELIVERY, "name")
    assert schedule is not None
    schedule.enabled = False  # Opsgenie then has nobody on call in it
    asked = [ref("Delivery Escalation", 1), DELIVERY]
    found = source.on_calls(asked)
    assert people(found[DELIVERY]) == frozenset() and not found[DELIVERY].enabled  # type: ignore[union-attr]
    level = found[asked[0]]
    assert people(level) == frozenset()
    assert isinstance(level, OnCall) and not level.enabled  # as the schedule's own read says: the plan warns


def test_a_sync_warns_of_a_level_behind_a_disabled_schedule(emu: Emulators, tmp_path: Path) -> None:
    schedule = emu.opsgenie.state.schedule(DELIVERY, "name")
    assert schedule is not None
    schedule.enabled = False
    result = synced(emu, tmp_path, {"delivery-now": ("Delivery Escalation", 1), "delivery-users": ("Odd Teams", 3)})
    assert "the schedule behind 'Delivery Escalation, level 1' is disabled in Opsgenie" in result.out, result.out
    assert emu.slack.state.emails_of("delivery-users") == [ALICE, BOB, CAROL]


def test_a_team_that_cannot_be_read_fails_its_levels_only(emu: Emulators, source: OpsgenieSource) -> None:
    asked = [ref("Payments Escalation", 1), ref("Payments Escalation", 2), ref("Odd Teams", 3)]
    payments = emu.opsgenie.state.team("Payments")
    assert payments is not None
    emu.opsgenie.inject(rf"^/v2/teams/{payments.id}$", status=404)
    found = source.on_calls(asked)
    assert people(found[asked[0]]) == {DAVE}
    assert failed(found[asked[1]]) == "team 'Payments' (all): no such team in Opsgenie (check the policy)"
    assert people(found[asked[2]]) == {ALICE, BOB, CAROL}


def test_a_team_answer_without_members_is_a_failed_read(emu: Emulators, source: OpsgenieSource) -> None:
    def strip(body: dict[str, Any]) -> dict[str, Any]:
        body["data"].pop("members")
        return body

    emu.opsgenie.inject(r"^/v2/teams/", kind="transform", transform=strip)
    asked = [ref("Payments Escalation", 2), ref("Odd Teams", 1)]
    found = source.on_calls(asked)
    for one in asked:
        assert "Opsgenie: the team is malformed at data.members" in failed(found[one])


def test_a_throttled_team_is_waited_for_as_opsgenie_asks(emu: Emulators, source: OpsgenieSource) -> None:
    emu.opsgenie.inject(r"^/v2/teams/", status=429, retry_after=1, times=1)
    asked = [ref("Payments Escalation", 2)]
    assert people(source.on_calls(asked)[asked[0]]) == {DAVE, ERIN, GRACE}
    assert emu.opsgenie.calls(r"^/v2/teams/") == 2


def test_a_team_that_never_answers_fails_its_levels_within_the_budget(emu: Emulators, source: OpsgenieSource) -> None:
    """Three groups on one silent team: the team is asked once for all three (not three retry
    budgets one after another), and the pass's other levels are read."""
    emu.opsgenie.state.add_escalation("More Payments", [_team("Payments", "admins"), _team("Payments", "users", 5)])
    payments = emu.opsgenie.state.team("Payments")
    assert payments is not None
    emu.opsgenie.inject(rf"^/v2/teams/{payments.id}$", kind="latency", delay=4)  # beyond the 3 s timeout
    asked = [ref("Payments Escalation", 2), ref("More Payments", 1), ref("More Payments", 2), ref("Payments Escalation", 3)]
    began = time.monotonic()
    found = source.on_calls(asked)
    took = time.monotonic() - began
    for one in asked[:3]:
        assert "timed out" in failed(found[one]), found[one]
    assert people(found[asked[3]]) == {DANA}
    assert took < 12, took  # one retry budget (6 s) and a timeout, not three
    assert emu.opsgenie.calls(rf"^/v2/teams/{payments.id}$") <= 4


def test_a_user_named_by_id_alone_who_is_gone_fails_the_level(emu: Emulators, source: OpsgenieSource) -> None:
    zoe = emu.opsgenie.state.user("zoe@example.com")
    assert zoe is not None
    emu.opsgenie.state.add_escalation("By Id", [_user(ALICE), _user("zoe@example.com", 5)])

    def ids_only(body: dict[str, Any]) -> dict[str, Any]:
        for rule in body["data"]["rules"]:
            rule["recipient"].pop("username", None)
        return body

    emu.opsgenie.inject(r"^/v2/escalations/", kind="transform", transform=ids_only)
    first = source.on_calls([ref("By Id", 1)])[ref("By Id", 1)]
    assert people(first) == {ALICE}  # read by id
    with emu.opsgenie.state.lock:
        del emu.opsgenie.state.users[zoe.id]  # deleted from Opsgenie, the policy still names their id
    gone = source.on_calls([ref("By Id", 2)])[ref("By Id", 2)]
    assert failed(gone) == f"user {zoe.id!r} (default): no such user in Opsgenie (check the policy)"


@pytest.mark.parametrize(("change", "words"), [
    (lambda d: d.pop("exactNextOnCallParticipants"), "malformed at data.exactNextOnCallParticipants"),
    (lambda d: d.pop("_parent"), "malformed at data._parent"),
    (lambda d: d.update(exactNextOnCallParticipants=[None]), "malformed at data.exactNextOnCallParticipants.0"),
    (lambda d: d.update(exactNextOnCallParticipants="alice@example.com"), "malformed at data.exactNextOnCallParticipants"),
])
def test_a_malformed_next_on_call_answer_fails_the_level(emu: Emulators, source: OpsgenieSource,
                                                         change: Callable[[dict[str, Any]], None], words: str) -> None:
    def corrupt(body: dict[str, Any]) -> dict[str, Any]:
        change(body["data"])
        return body

    emu.opsgenie.inject(r"/next-on-calls$", kind="transform", transform=corrupt)
    asked = [ref("Delivery Escalation", n) for n in (1, 2, 3)]
    found = source.on_calls(asked)
    assert people(found[asked[0]]) == {CAROL}
    assert words in failed(found[asked[1]])
    assert people(found[asked[2]]) == {BOB}


def test_one_level_asked_twice_and_beside_its_schedule_is_read_once(emu: Emulators, source: OpsgenieSource) -> None:
    delivery = emu.opsgenie.state.schedule(DELIVERY, "name")
    assert delivery is not None
    asked = [ref("Delivery Escalation", 1), ref("Delivery Escalation", 1), DELIVERY, delivery.id,
             ref("Delivery Escalation", 2), ref("Payments Escalation", 1), PAYMENTS]
    found = source.on_calls(asked)
    assert people(found[asked[0]]) == {CAROL} and people(found[DELIVERY]) == {CAROL}
    assert people(found[delivery.id]) == {CAROL} and people(found[asked[4]]) == {ALICE}
    assert people(found[asked[5]]) == {DAVE} and people(found[PAYMENTS]) == {DAVE}
    assert sorted(r.path for r in emu.opsgenie.requests) == sorted([
        "/v2/escalations", "/v2/schedules/on-calls", f"/v2/schedules/{delivery.id}/next-on-calls"])


def test_a_levels_stretches_beside_its_schedule_read_its_overrides_once(emu: Emulators, source: OpsgenieSource) -> None:
    delivery = emu.opsgenie.state.schedule(DELIVERY, "name")
    assert delivery is not None
    asked = [ref("Delivery Escalation", 1), DELIVERY, delivery.id, ref("Delivery Escalation", 2)]
    source.on_calls(asked)
    emu.reset_logs()
    start = DEMO_START + timedelta(minutes=2)  # Mon 09:00: alice until Tue 09:00, then bob
    found = source.stretches(asked, start, start + timedelta(days=2))
    for one in asked[:3]:
        got = found[one]
        assert not isinstance(got, ReadFailure), got
        assert [(s.start - start, s.people) for s in got] == [(timedelta(0), {ALICE}), (timedelta(days=1), {BOB})]
    nxt = found[asked[3]]
    assert not isinstance(nxt, ReadFailure)
    assert [(s.start - start, s.people) for s in nxt] == [(timedelta(0), {BOB}), (timedelta(days=1), {CAROL})]
    assert emu.opsgenie.calls(rf"^/v2/schedules/{delivery.id}/overrides$") == 1, [r.path for r in emu.opsgenie.requests]


# --- end to end: `slackgenie sync` --------------------------------------------------------------------

def sync_config(groups: dict[str, tuple[str, int] | list[str]], extra: str = "") -> str:
    lines = ["provider: opsgenie", "interval: 60", "syncs:"]
    for handle, what in groups.items():
        lines.append(f"  - usergroup: {handle}")
        if isinstance(what, tuple):
            lines.append(f"    escalation: {{policy: {what[0]!r}, level: {what[1]}}}")
        else:
            lines.append(f"    schedules: [{', '.join(what)}]")
    return "\n".join(lines) + "\n" + extra


def synced(emu: Emulators, tmp_path: Path, groups: dict[str, tuple[str, int] | list[str]], *args: str):  # type: ignore[no-untyped-def]
    for handle in groups:  # each group starts empty: what a sync leaves it holding shows
        group = emu.slack.state.group_by_handle(handle)
        if group is None:
            emu.slack.state.add_group(handle, handle.title(), [])
        else:
            group.users = []
    write_config(tmp_path, sync_config(groups))
    result = run_main(["sync", *args], emu.env())
    assert KEY not in result.out and KEY not in result.err
    return result


def test_groups_of_levels_in_the_past_and_the_future(emu: Emulators, tmp_path: Path) -> None:
    """--at Tue 2026-11-10 12:00 UTC: Delivery turn 8 (8 % 3 = 2): carol; next (turn 9) alice; the
    one before (turn 7) bob; Payments week 1: erin. --at Fri 2027-01-01 00:00: Delivery turn 59
    (from Thu 31st 09:00; 59 % 3 = 2): carol, next alice, previous bob; Payments week 8 (from Mon
    28th 09:00, 8 % 2 = 0): dave."""
    groups: dict[str, tuple[str, int] | list[str]] = {
        "delivery-now": ("Delivery Escalation", 1), "delivery-next": ("Delivery Escalation", 2),
        "delivery-previous": ("Delivery Escalation", 3), "payments-primary": ("Payments Escalation", 1)}
    for at, expected in (("2026-11-10T12:00:00Z", (CAROL, ALICE, BOB, ERIN)),
                         ("2027-01-01T00:00:00Z", (CAROL, ALICE, BOB, DAVE))):
        result = synced(emu, tmp_path, groups, "--at", at)
        assert result.code == 0, result.both
        for handle, who in zip(groups, expected):
            assert re.search(rf"@{handle} .*\+{re.escape(who)}", result.out), (at, handle, result.out)


def test_a_throttled_policy_list_fails_the_levels_not_the_schedules(emu: Emulators, tmp_path: Path) -> None:
    """Opsgenie throttles the escalations (its Configuration domain) for good: the levels fail
    saying so; the schedules' own groups (another domain) are synced all the same."""
    emu.opsgenie.inject(r"^/v2/escalations", status=429)
    groups: dict[str, tuple[str, int] | list[str]] = {
        "payments-oncall": [PAYMENTS], "delivery-oncall": [DELIVERY],
        "payments-secondary": ("Payments Escalation", 2), "delivery-next": ("Delivery Escalation", 2)}
    result = synced(emu, tmp_path, groups)
    assert result.code == 1, result.both
    assert emu.slack.state.emails_of("payments-oncall") == [DAVE]
    assert emu.slack.state.emails_of("delivery-oncall") == [CAROL]
    assert re.search(r"payments-secondary.*FAILED", result.out) and "429" in result.out, result.out
    assert emu.slack.state.emails_of("payments-secondary") == []


def test_a_throttled_policy_read_alone_fails_its_level_not_the_schedules(emu: Emulators, tmp_path: Path) -> None:
    emu.opsgenie.inject(r"^/v2/escalations", status=429)
    groups: dict[str, tuple[str, int] | list[str]] = {
        "payments-oncall": [PAYMENTS], "payments-secondary": ("Payments Escalation", 2)}
    result = synced(emu, tmp_path, groups)
    assert result.code == 1, result.both
    assert emu.slack.state.emails_of("payments-oncall") == [DAVE]
    assert re.search(r"payments-secondary.*FAILED", result.out), result.out


# --- more odd answers ---------------------------------------------------------------------------------

def test_a_policy_list_that_is_not_a_list_fails_the_levels_only(emu: Emulators, source: OpsgenieSource) -> None:
    emu.opsgenie.inject(r"^/v2/escalations$", kind="transform", transform=lambda body: {**body, "data": {}})
    asked = [ref("Payments Escalation", 1), ref("Delivery Escalation", 1), PAYMENTS]
    found = source.on_calls(asked)
    for one in asked[:2]:
        assert failed(found[one]) == "Opsgenie: list escalations answered without a list"
    assert people(found[PAYMENTS]) == {DAVE}


def test_an_error_echoing_the_key_is_not_shown(emu: Emulators, tmp_path: Path) -> None:
    emu.opsgenie.inject(r"^/v2/escalations", status=422, body='{"message": "key GenieKey %s is not allowed"}' % KEY)
    result = synced(emu, tmp_path, {"payments-secondary": ("Payments Escalation", 2), "payments-oncall": [PAYMENTS]})
    assert result.code == 1 and "HTTP 422" in result.out, result.both
    assert emu.slack.state.emails_of("payments-oncall") == [DAVE]


def test_a_schedule_gone_from_behind_a_level_fails_it(emu: Emulators, source: OpsgenieSource) -> None:
    delivery = emu.opsgenie.state.schedule(DELIVERY, "name")
    assert delivery is not None
    source.on_calls([ref("Delivery Escalation", 1)])
    with emu.opsgenie.state.lock:
        del emu.opsgenie.state.schedules[delivery.id]  # deleted; the policy still names it
    asked = [ref("Delivery Escalation", n) for n in (1, 2, 3)] + [ref("Payments Escalation", 1)]
    found = source.on_calls(asked)
    assert failed(found[asked[0]]) == f"schedule {DELIVERY!r} (default): no such schedule in Opsgenie (check the name or id)"
    assert failed(found[asked[1]]) == f"schedule {DELIVERY!r} (next): no such schedule in Opsgenie (check the policy)"
    assert "no such schedule in Opsgenie's schedule list" in failed(found[asked[2]])
    assert people(found[asked[3]]) == {DAVE}


def test_previous_of_a_schedule_with_a_team_in_its_rotations_cannot_be_read_as_people(emu: Emulators,
                                                                                        source: OpsgenieSource) -> None:
    og = emu.opsgenie.state
    og.add_schedule("Teamed_schedule", "UTC", rotations=[{
        "name": "Weekly", "type": "weekly", "startDate": "2026-11-02T09:00:00Z",
        "participants": [{"type": "team", "name": "Delivery"}, {"type": "user", "username": DAVE}]}])
    og.add_escalation("Teamed", [_schedule("Teamed_schedule", "previous")])
    error = failed(source.on_calls([ref("Teamed", 1)])[ref("Teamed", 1)])
    assert "has a team or an escalation in its rotations" in error and "cannot be read as people" in error


def test_a_policy_whose_name_has_spaces_at_its_ends_in_opsgenie_is_found(emu: Emulators, source: OpsgenieSource) -> None:
    """The config trims the name it is given: Opsgenie's own name with a space at its end (typed so
    in its UI) is found all the same, alone and listed."""
    emu.opsgenie.state.add_escalation("Spaced Policy ", [_user("zoe@example.com")])
    assert people(source.on_calls([ref("Spaced Policy", 1)])[ref("Spaced Policy", 1)]) == {"zoe@example.com"}
    asked = [ref("Spaced Policy", 1), ref("Payments Escalation", 3)]
    found = source.on_calls(asked)
    assert people(found[asked[0]]) == {"zoe@example.com"} and people(found[asked[1]]) == {DANA}


def test_a_policy_named_like_an_id_is_found_by_its_name(emu: Emulators, source: OpsgenieSource) -> None:
    name = "0b7c1a2e-0000-4c1e-9d6f-000000000001"  # no policy has this id
    emu.opsgenie.state.add_escalation(name, [_user("zoe@example.com")])
    assert people(source.on_calls([ref(name, 1)])[ref(name, 1)]) == {"zoe@example.com"}


def test_spaces_around_the_policy_in_the_config_are_trimmed(emu: Emulators, tmp_path: Path) -> None:
    result = synced(emu, tmp_path, {"payments-escalation": ("  Payments Escalation  ", 3)})
    assert result.code == 0, result.both
    assert emu.slack.state.emails_of("payments-escalation") == [DANA]


def test_one_schedules_next_and_previous_asked_by_two_policies_are_read_once(emu: Emulators,
                                                                             source: OpsgenieSource) -> None:
    delivery = emu.opsgenie.state.schedule(DELIVERY, "name")
    assert delivery is not None
    emu.opsgenie.state.add_escalation("Delivery Again", [_schedule(DELIVERY, "previous"), _schedule(DELIVERY, "next", 5)])
    asked = [ref("Delivery Escalation", 2), ref("Delivery Escalation", 3), ref("Delivery Again", 1),
             ref("Delivery Again", 2)]
    found = source.on_calls(asked)
    assert people(found[asked[0]]) == {ALICE} and people(found[asked[3]]) == {ALICE}
    assert people(found[asked[1]]) == {BOB} and people(found[asked[2]]) == {BOB}
    assert emu.opsgenie.calls(rf"^/v2/schedules/{delivery.id}/next-on-calls$") == 1
    assert emu.opsgenie.calls(rf"^/v2/schedules/{delivery.id}/overrides$") == 1


def test_check_shows_a_level_that_cannot_be_read_as_its_failure(emu: Emulators, source: OpsgenieSource) -> None:
    payments = emu.opsgenie.state.team("Payments")
    assert payments is not None
    emu.opsgenie.inject(rf"^/v2/teams/{payments.id}$", status=500)
    view = source.level(ref("Payments Escalation", 2))
    assert isinstance(view, ReadFailure) and view.error.startswith("team 'Payments' (all): Opsgenie: HTTP 500")
    random = source.level(ref("Odd Teams", 4))  # not people: shown as the recipient, with its fix
    assert not isinstance(random, ReadFailure)
    [recipient] = random.recipients
    assert (recipient.kind, recipient.name, recipient.notify, recipient.people) == ("team", "Delivery", "random", None)
    assert recipient.problem is not None and "notifyType all" in recipient.problem
    empty = source.level(ref("Odd Teams", 1))
    assert not isinstance(empty, ReadFailure) and empty.recipients[0].people == frozenset()


@pytest.mark.parametrize("escalation", ["{policy: Payments Escalation, level: 0}", "{policy: Payments Escalation, level: '2'}",
                                        "{policy: Payments Escalation, level: 51}", "{policy: '   ', level: 1}",
                                        "{policy: Payments Escalation}", "{level: 1}", "Payments Escalation",
                                        "{policy: Payments Escalation, level: 1, notify: all}"])
def test_a_level_written_wrong_is_a_configuration_error(emu: Emulators, tmp_path: Path, escalation: str) -> None:
    write_config(tmp_path, f"provider: opsgenie\nsyncs:\n  - usergroup: payments-secondary\n    escalation: {escalation}\n")
    result = run_main(["sync"], emu.env())
    assert result.code == 2 and "escalation" in result.err, result.both
    assert emu.opsgenie.requests == [] and KEY not in result.both


def test_a_level_cut_or_a_policy_deleted_between_passes_leaves_its_group_as_it_was(emu: Emulators, tmp_path: Path) -> None:
    groups: dict[str, tuple[str, int] | list[str]] = {
        "payments-escalation": ("Payments Escalation", 3), "delivery-next": ("Delivery Escalation", 2),
        "payments-oncall": [PAYMENTS]}
    for handle in groups:
        if emu.slack.state.group_by_handle(handle) is None:
            emu.slack.state.add_group(handle, handle.title(), [])
    path = write_config(tmp_path, sync_config(groups))
    service = build(load(str(path), emu.env()), clock=SteppedClock(emu.clock))
    try:
        first = service.run_pass()
        assert first.ok, first
        assert emu.slack.state.emails_of("payments-escalation") == [DANA]
        assert emu.slack.state.emails_of("delivery-next") == [ALICE]
        og = emu.opsgenie.state
        payments, delivery = og.escalation("Payments Escalation", "name"), og.escalation("Delivery Escalation", "name")
        assert payments is not None and delivery is not None
        og.set_rules(payments, [_schedule(PAYMENTS), _team("Payments", delay=15)])  # level 3 cut
        with og.lock:
            del og.escalations[delivery.id]
        emu.clock.advance(60)
        second = service.run_pass()
        errors = {o.plan.handle: " ".join(o.plan.errors) for o in second.outcomes if o.plan.errors}
        assert set(errors) == {"payments-escalation", "delivery-next"}, errors
        assert "'Payments Escalation' has 2 level(s), so no level 3" in errors["payments-escalation"]
        assert "no such escalation policy in Opsgenie" in errors["delivery-next"]
        assert emu.slack.state.emails_of("payments-escalation") == [DANA]  # left as it was, not emptied
        assert emu.slack.state.emails_of("delivery-next") == [ALICE]
        assert emu.slack.state.emails_of("payments-oncall") == [DAVE]
    finally:
        service.close()


def test_opsgenies_configuration_limit_spent_fails_only_what_needs_it(emu: Emulators, tmp_path: Path) -> None:
    """The emulator's own per-domain limits: one configuration request a minute (the policy list
    spends it). Who-is-on-call is its own domain: the schedules, their levels and next are read;
    a team's level and a previous (the schedules' rotations, configuration) fail saying 429."""
    emu.opsgenie.set_rate_limit("Configuration", 1, period=600)
    groups: dict[str, tuple[str, int] | list[str]] = {
        "payments-oncall": [PAYMENTS], "payments-primary": ("Payments Escalation", 1),
        "payments-secondary": ("Payments Escalation", 2), "delivery-next": ("Delivery Escalation", 2),
        "delivery-previous": ("Delivery Escalation", 3)}
    result = synced(emu, tmp_path, groups)
    assert result.code == 1, result.both
    assert emu.slack.state.emails_of("payments-oncall") == [DAVE]
    assert emu.slack.state.emails_of("payments-primary") == [DAVE]
    assert emu.slack.state.emails_of("delivery-next") == [ALICE]
    for handle in ("payments-secondary", "delivery-previous"):
        assert re.search(rf"@{handle} +FAILED", result.out), result.out
        assert emu.slack.state.emails_of(handle) == []
    assert "team 'Payments' (all): Opsgenie: HTTP 429" in result.out
