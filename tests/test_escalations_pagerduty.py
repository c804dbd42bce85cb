"""Escalation levels on PagerDuty, end to end over loopback HTTP: `slackgenie sync` (in-process)
against the PagerDuty and Slack emulators. Who each group must hold is worked out by hand from the
organisation below, never from the product's code.

The organisation is the sample's (slackgenie_emulators.sample) with one more policy. At DEMO_START
(Mon 2026-11-23 08:58 UTC):
- Payments_schedule: weekly turns of dave, erin from Mon 2026-11-02 09:00: week 2 (2 % 2 = 0):
  dave; grace's override holds 09:00-18:00 on the 23rd, then erin (week 3).
- Delivery Support_schedule: daily turns of alice, bob, carol from 2026-11-02 09:00: turn 20
  (20 % 3 = 2): carol; from 09:00 turn 21 alice; from Tue 09:00 bob.
- Team Payments: dave, erin, grace.
Policies, as PagerDuty shows them (the emulator: level i is the i-th rule by delay; PagerDuty has
no team targets, so a team is its members as users):
- "Payments Escalation" (the sample's): level 1 Payments_schedule, level 2 the team Payments (dave,
  erin, grace, each a user target), level 3 the user dana.lead.
- "Mixed Escalation": level 1 Delivery Support_schedule *and* the user heidi (PagerDuty allows up
  to ten targets a level), level 2 the user ivan.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from slackgenie.core.clock import SteppedClock
from slackgenie.core.model import OnCall, ReadFailure
from slackgenie.settings import load
from slackgenie.sources.base import LevelView
from slackgenie.sources.pagerduty import PagerDutySource
from slackgenie.wiring import build
from slackgenie_emulators import Emulators
from slackgenie_emulators.opsgenie import OpsgenieState
from slackgenie_emulators.sample import DEMO_START, Org, sample_org

from conftest import CliResult, FAST_RETRY, write_config
from escalation_fixtures import level_config, members, seed, sync_file

UTC = timezone.utc
ALICE, BOB, CAROL, DAVE, ERIN, GRACE, HEIDI, IVAN = (
    f"{n}@example.com" for n in ("alice", "bob", "carol", "dave", "erin", "grace", "heidi", "ivan"))
DANA = "dana.lead@example.com"
DELIVERY, PAYMENTS = "Delivery Support_schedule", "Payments_schedule"

GROUPS = {  # handle: (policy, level)
    "payments-primary": ("Payments Escalation", 1),
    "payments-secondary": ("Payments Escalation", 2),
    "payments-escalation": ("Payments Escalation", 3),
    "delivery-mixed": ("Mixed Escalation", 1),
    "mixed-last": ("Mixed Escalation", 2),
}
AT_START = {  # who each group holds at DEMO_START, by hand (see above)
    "payments-primary": [DAVE],
    "payments-secondary": [DAVE, ERIN, GRACE],
    "payments-escalation": [DANA],
    "delivery-mixed": [CAROL, HEIDI],
    "mixed-last": [IVAN],
    "payments-oncall": [DAVE],  # a schedule's group beside the levels (the sample's)
}


def _schedule(name: str) -> dict[str, object]:
    return {"type": "schedule", "name": name}


def _user(email: str) -> dict[str, object]:
    return {"type": "user", "username": email}


def escalation_org() -> Org:
    org = sample_org()
    og: OpsgenieState = org.opsgenie
    og.add_escalation("Mixed Escalation", [
        {"delay": 0, "notifyType": "default", "recipient": _schedule(DELIVERY)},
        {"delay": 10, "notifyType": "default", "recipient": _user(IVAN)},
    ], team="Delivery")
    for handle in GROUPS:
        org.slack.add_group(handle, handle.replace("-", " ").title(), [])
    return org


def config(groups: dict[str, tuple[str, int]], extra: str = "") -> str:
    return level_config("pagerduty", groups, extra)


def _emulators(org: Org) -> Emulators:
    emulators = Emulators(org, at=DEMO_START)
    mixed = org.opsgenie.escalation("Mixed Escalation", "name")
    assert mixed is not None
    emulators.pagerduty.also_notify(mixed, 1, _user(HEIDI))  # level 1: the schedule and heidi
    return emulators


@pytest.fixture
def emu() -> Iterator[Emulators]:
    with _emulators(escalation_org()) as emulators:
        yield emulators


def sync(emu: Emulators, tmp_path: Path, *args: str, text: str | None = None) -> CliResult:
    return sync_file(emu, tmp_path, text if text is not None else config(GROUPS), *args)


def held(emu: Emulators) -> dict[str, list[str]]:
    return members(emu, AT_START)



def policy_requests(emu: Emulators) -> list[dict[str, str]]:
    return [r.params for r in emu.pagerduty.requests if r.path == "/oncalls" and "escalation_policy_ids[]" in r.params]


# --- levels fill their groups ---------------------------------------------------------------------

def test_each_level_fills_its_group_with_whom_the_policy_notifies(emu: Emulators, tmp_path: Path) -> None:
    result = sync(emu, tmp_path)
    assert result.code == 0, result.both
    assert held(emu) == AT_START
    # each name looked up once (query=), then one /oncalls for both policies' every level
    queries = sorted(r.params.get("query", "") for r in emu.pagerduty.requests if r.path == "/escalation_policies")
    assert queries == ["Mixed Escalation", "Payments Escalation"]
    assert len(policy_requests(emu)) == 1


def test_a_level_the_policy_lacks_fails_its_group_naming_the_levels_it_has(emu: Emulators, tmp_path: Path) -> None:
    emu.org.slack.add_group("payments-fourth", "Payments fourth", [])
    seed(emu, "payments-fourth", ERIN)
    result = sync(emu, tmp_path, text=config({**GROUPS, "payments-fourth": ("Payments Escalation", 4)}))
    assert result.code == 1, result.both
    assert re.search(r"payments-fourth.*FAILED", result.out), result.out
    assert "escalation policy 'Payments Escalation' has 3 level(s), so no level 4" in " ".join(result.out.split())
    assert emu.slack.state.emails_of("payments-fourth") == [ERIN]  # untouched
    assert held(emu) == AT_START  # every other group synced


def test_an_unknown_policy_fails_its_group_clearly(emu: Emulators, tmp_path: Path) -> None:
    emu.org.slack.add_group("nobodys", "Nobody's", [])
    result = sync(emu, tmp_path, text=config({**GROUPS, "nobodys": ("Nobody's Policy", 1)}))
    assert result.code == 1, result.both
    assert "no such escalation policy in PagerDuty" in " ".join(result.out.split())
    assert held(emu) == AT_START


def test_a_policy_edited_between_passes_changes_the_group_at_the_next_pass(emu: Emulators, tmp_path: Path) -> None:
    path = write_config(tmp_path, config(GROUPS) + FAST_RETRY, fast_retry=False)
    service = build(load(str(path), emu.env()), clock=SteppedClock(emu.clock))
    try:
        assert service.run_pass().ok
        assert held(emu) == AT_START
        policy = emu.org.opsgenie.escalation("Payments Escalation", "name")
        assert policy is not None
        emu.org.opsgenie.set_rules(policy, [  # level 2 is now erin alone, level 3 the Delivery schedule
            {"delay": 0, "notifyType": "default", "recipient": _schedule(PAYMENTS)},
            {"delay": 15, "notifyType": "default", "recipient": _user(ERIN)},
            {"delay": 30, "notifyType": "default", "recipient": _schedule(DELIVERY)},
        ])
        emu.clock.advance(60)
        assert service.run_pass().ok
    finally:
        service.close()
    assert held(emu) == {**AT_START, "payments-secondary": [ERIN], "payments-escalation": [CAROL]}


def test_an_unreadable_oncalls_leaves_the_groups_alone(emu: Emulators, tmp_path: Path) -> None:
    seed(emu, "payments-secondary", ERIN)
    emu.pagerduty.inject(r"^/oncalls$", status=503)  # for good
    result = sync(emu, tmp_path)
    assert result.code == 1, result.both
    assert re.search(r"payments-secondary.*FAILED", result.out), result.out
    assert "503" in result.out
    assert emu.slack.state.emails_of("payments-secondary") == [ERIN]  # untouched, not emptied
    assert all(emu.slack.state.emails_of(h) == [] for h in GROUPS if h != "payments-secondary")


def test_an_unreadable_schedule_behind_a_level_fails_its_group_only(emu: Emulators, tmp_path: Path) -> None:
    seed(emu, "delivery-mixed", BOB)
    emu.pagerduty.refuse(DELIVERY, 503)  # any request naming it, or a policy that targets it, fails
    result = sync(emu, tmp_path)
    assert result.code == 1, result.both
    assert re.search(r"delivery-mixed.*FAILED", result.out), result.out
    assert re.search(r"mixed-last.*FAILED", result.out), result.out  # the same policy: read as one
    assert emu.slack.state.emails_of("delivery-mixed") == [BOB]  # left alone
    # the other policy, asked for with it, is read again alone and synced
    assert {h: held(emu)[h] for h in ("payments-primary", "payments-secondary", "payments-escalation")} == {
        h: AT_START[h] for h in ("payments-primary", "payments-secondary", "payments-escalation")}


def test_dry_run_and_at_work_for_a_level(emu: Emulators, tmp_path: Path) -> None:
    result = sync(emu, tmp_path, "--dry-run")
    assert result.code == 0, result.both
    assert all(emu.slack.state.emails_of(h) == [] for h in GROUPS)
    assert re.search(r"delivery-mixed.*would.*\+carol@example.com", result.out), result.out
    # 2026-12-24 18:00 UTC: Payments week 7 (7 % 2 = 1): erin. Delivery turn 52 (52 % 3 = 1): bob.
    result = sync(emu, tmp_path, "--at", "2026-12-24T18:00:00Z")
    assert result.code == 0, result.both
    assert emu.slack.calls(r"usergroups\.users\.update$") == 0
    for handle, who in (("payments-primary", ERIN), ("delivery-mixed", BOB), ("delivery-mixed", HEIDI),
                        ("payments-escalation", DANA), ("payments-secondary", GRACE)):
        assert re.search(rf"@{handle} .*\+{re.escape(who)}", result.out), (handle, result.out)
    assert policy_requests(emu)[-1].get("since") == "2026-12-24T18:00:00Z"


# --- check, handoffs and stretches: the source's own answers ----------------------------------------

@pytest.fixture
def source(emu: Emulators, tmp_path: Path) -> Iterator[PagerDutySource]:
    path = write_config(tmp_path, config(GROUPS) + FAST_RETRY, fast_retry=False)
    service = build(load(str(path), emu.env()), clock=SteppedClock(emu.clock))
    try:
        found = service.source.sources["pagerduty"]
        assert isinstance(found, PagerDutySource)
        yield found
    finally:
        service.close()


def test_a_level_is_described_for_check(emu: Emulators, source: PagerDutySource) -> None:
    view = source.level("escalation:1:Mixed Escalation")
    assert isinstance(view, LevelView)
    assert (view.policy, view.level) == ("Mixed Escalation", 1)
    assert [(r.kind, r.name, r.notify, r.people, r.problem) for r in view.recipients] == [
        ("schedule", DELIVERY, "default", {CAROL}, None), ("user", "Heidi Hall", "default", {HEIDI}, None)]
    view = source.level("escalation:2:Payments Escalation")
    assert isinstance(view, LevelView)
    assert sorted((r.kind, sorted(r.people or ())) for r in view.recipients) == [
        ("user", [DAVE]), ("user", [ERIN]), ("user", [GRACE])]  # the team, as PagerDuty holds it: users
    missing = source.level("escalation:4:Payments Escalation")
    assert not isinstance(missing, LevelView) and "has 3 level(s), so no level 4" in missing.error
    # by id as well as by name
    by_id = source.level(f"escalation:3:{emu.pagerduty.policy_id('Payments Escalation')}")
    assert isinstance(by_id, LevelView) and by_id.recipients[0].people == {DANA}


def test_a_levels_handoffs_and_stretches_are_its_entries(source: PagerDutySource) -> None:
    refs = ["escalation:1:Mixed Escalation", "escalation:3:Payments Escalation", "escalation:1:Payments Escalation"]
    found_now = source.on_calls(refs)
    assert [sorted(v.usernames) if isinstance(v, OnCall) else v for v in found_now.values()] == [
        [CAROL, HEIDI], [DANA], [DAVE]]
    mixed = found_now[refs[0]]
    assert isinstance(mixed, OnCall) and mixed.schedule_name == "Mixed Escalation, level 1"
    assert mixed.schedule_id.endswith("#1")
    assert source.next_handoff(refs[:1], DEMO_START) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert source.next_handoff(refs[1:2], DEMO_START) is None  # a user: on call for good
    start, end = datetime(2026, 11, 23, 9, 0, tzinfo=UTC), datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    found = source.stretches(refs, start, end)
    tue = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

    def spans(ref: str) -> list[tuple[datetime, datetime, frozenset[str]]]:
        got = found[ref]
        assert not isinstance(got, ReadFailure), got
        return [(s.start, s.end, s.people) for s in got]

    assert spans(refs[0]) == [(start, tue, {ALICE, HEIDI}), (tue, end, {BOB, HEIDI})]
    assert spans(refs[1]) == [(start, end, {DANA})]  # a user, all along
    # grace's override 09:00-18:00, then erin's week (to Mon 30th 09:00)
    assert spans(refs[2]) == [(start, datetime(2026, 11, 23, 18, 0, tzinfo=UTC), {GRACE}),
                              (datetime(2026, 11, 23, 18, 0, tzinfo=UTC), end, {ERIN})]


def test_a_malformed_or_partial_answer_is_a_failed_read_never_nobody(emu: Emulators, source: PagerDutySource) -> None:
    ref = "escalation:3:Payments Escalation"

    def odd_level(body: dict[str, Any]) -> dict[str, Any]:
        for entry in body["oncalls"]:
            entry["escalation_level"] = "three"
        return body

    emu.pagerduty.inject(r"^/oncalls$", kind="transform", transform=odd_level, times=1)
    got = source.on_calls([ref])[ref]
    assert isinstance(got, ReadFailure) and "malformed" in got.error

    def without_dana(body: dict[str, Any]) -> dict[str, Any]:
        body["oncalls"] = [e for e in body["oncalls"] if e["user"]["email"] != DANA]
        return body

    emu.pagerduty.inject(r"^/oncalls$", kind="transform", transform=without_dana, times=1)
    got = source.on_calls([ref])[ref]
    assert isinstance(got, ReadFailure) and "leaves out user" in got.error

    def more_forever(body: dict[str, Any]) -> dict[str, Any]:
        body["more"] = True
        return body

    emu.pagerduty.inject(r"^/oncalls$", kind="transform", transform=more_forever, times=2)
    got = source.on_calls([ref])[ref]
    assert isinstance(got, ReadFailure) and "more follow" in got.error
    emu.pagerduty.clear_faults()
    got = source.on_calls([ref])[ref]
    assert isinstance(got, OnCall) and got.usernames == {DANA}


# --- the calls of a no-change pass ------------------------------------------------------------------

def test_the_calls_of_a_no_change_pass_with_20_level_groups(tmp_path: Path) -> None:
    """Five policies of four levels each (a schedule; a team, as its members; a user; a schedule
    and a user): 20 groups. A no-change pass costs 2 PagerDuty calls: the policy list and one
    /oncalls for the five policies; the first pass 6 (each name looked up once, by query=)."""
    org = sample_org()
    og = org.opsgenie
    groups: dict[str, tuple[str, int]] = {}
    for i in range(5):
        team = og.add_team(f"Team {i}", [ALICE, BOB, CAROL])
        og.add_schedule(f"Team {i}_schedule", "UTC", team=team.name, rotations=[{
            "name": "Daily", "type": "daily", "length": 1, "startDate": "2026-11-02T09:00:00Z",
            "participants": [{"type": "user", "username": u} for u in (ALICE, BOB, CAROL)]}])
        og.add_escalation(f"Team {i} Escalation", [
            {"delay": 0, "notifyType": "default", "recipient": _schedule(f"Team {i}_schedule")},
            {"delay": 5, "notifyType": "all", "recipient": {"type": "team", "name": team.name}},
            {"delay": 10, "notifyType": "default", "recipient": _user(DANA)},
            {"delay": 15, "notifyType": "default", "recipient": _schedule(f"Team {i}_schedule")}], team=team.name)
        for level in (1, 2, 3, 4):
            groups[f"team-{i}-level-{level}"] = (f"Team {i} Escalation", level)
            org.slack.add_group(f"team-{i}-level-{level}", f"Team {i} level {level}", [])
    with Emulators(org, at=DEMO_START) as emu:
        for i in range(5):
            policy = og.escalation(f"Team {i} Escalation", "name")
            assert policy is not None
            emu.pagerduty.also_notify(policy, 4, _user(HEIDI))
        lines = ["provider: pagerduty", "interval: 60", "syncs:"]
        for handle, (policy_name, level) in groups.items():
            lines += [f"  - usergroup: {handle}", f"    escalation: {{policy: {policy_name}, level: {level}}}"]
        path = write_config(tmp_path, "\n".join(lines) + "\n")
        service = build(load(str(path), emu.env()), clock=SteppedClock(emu.clock))
        try:
            first = service.run_pass()
            assert first.ok, first
            # as written by hand: turn 20 of alice, bob, carol is carol
            assert emu.slack.state.emails_of("team-3-level-1") == [CAROL]
            assert sorted(emu.slack.state.emails_of("team-3-level-2")) == [ALICE, BOB, CAROL]
            assert emu.slack.state.emails_of("team-3-level-3") == [DANA]
            assert sorted(emu.slack.state.emails_of("team-3-level-4")) == [CAROL, HEIDI]
            first_calls = sorted(f"{r.method} {r.path}" for r in emu.pagerduty.requests)
            emu.reset_logs()
            emu.clock.advance(30)
            again = service.run_pass()
            assert again.ok and emu.slack.calls(r"usergroups\.users\.update$") == 0
            calls = sorted(f"{r.method} {r.path}" for r in emu.pagerduty.requests)
            asked = [r for r in emu.pagerduty.requests if r.path == "/oncalls"]
            # as the daemon runs: the handoffs foreseen (one /oncalls over the next day, kept an hour)
            emu.reset_logs()
            assert service.next_handoff(emu.clock.now()) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
            forecast = sorted(f"{r.method} {r.path}" for r in emu.pagerduty.requests)
            emu.reset_logs()
            emu.clock.advance(20)
            third = service.run_pass()
            assert third.ok and emu.slack.calls(r"usergroups\.users\.update$") == 0
            daemon = sorted(f"{r.method} {r.path}" for r in emu.pagerduty.requests)
        finally:
            service.close()
    assert first_calls == sorted(["GET /oncalls", *["GET /escalation_policies"] * 5]), first_calls
    assert calls == ["GET /escalation_policies", "GET /oncalls"], calls
    assert [r.params.get("include[]") for r in asked] == ["users"]
    assert forecast == ["GET /oncalls"], forecast
    assert daemon == ["GET /escalation_policies", "GET /oncalls"], daemon
