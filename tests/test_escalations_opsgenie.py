"""Escalation levels on Opsgenie, end to end over loopback HTTP: `slackgenie sync` (in-process)
against the Opsgenie and Slack emulators. Who each group must hold is worked out by hand from the
organisation below, never from the product's code.

The organisation is the sample's (slackgenie_emulators.sample) with three more policies. At
DEMO_START (Mon 2026-11-23 08:58 UTC):
- Payments_schedule: weekly turns of dave, erin from Mon 2026-11-02 09:00: week 2 (2 % 2 = 0): dave.
- Delivery Support_schedule: daily turns of alice, bob, carol from 2026-11-02 09:00: 20 days 23 h 58
  min on is turn 20 (20 % 3 = 2): carol; the next turn (21, from 09:00) is alice; the turn before
  (19, from Sat 21 09:00 to Sun 22 09:00; 19 % 3 = 1) is bob.
- Team Payments: dave, erin, grace; grace is its admin. Team Platform: frank.og, heidi, ivan.
Policies:
- "Payments Escalation" (the sample's): level 1 Payments_schedule (default), level 2 team Payments
  (all), level 3 user dana.lead.
- "Delivery Escalation": level 1 Delivery Support_schedule (default), level 2 its next on-call,
  level 3 its previous on-call.
- "Payments Leads", its rules given out of order: after 10 min the team's users (dave, erin), at
  once its admins (grace). Levels count by delay: level 1 is grace, level 2 dave and erin.
- "Platform Escalation": level 1 team Platform by its own routing (notifyType default): not people.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from slackgenie.core.clock import SteppedClock
from slackgenie.core.model import OnCall, ReadFailure
from slackgenie.core.shifts import Stretch
from slackgenie.settings import load
from slackgenie.sources.levels import around
from slackgenie.sources.base import LevelView
from slackgenie.sources.opsgenie import OpsgenieSource
from slackgenie.wiring import build
from slackgenie_emulators import Emulators
from slackgenie_emulators.opsgenie import OpsgenieState
from slackgenie_emulators.sample import DEMO_START, Org, sample_org

from conftest import CliResult, FAST_RETRY, write_config
from escalation_fixtures import level_config, members, sync_file

UTC = timezone.utc
ALICE, BOB, CAROL, DAVE, ERIN, GRACE = (f"{n}@example.com" for n in ("alice", "bob", "carol", "dave", "erin", "grace"))
DANA = "dana.lead@example.com"
DELIVERY, PAYMENTS = "Delivery Support_schedule", "Payments_schedule"

GROUPS = {  # handle: (policy, level)
    "payments-primary": ("Payments Escalation", 1),
    "payments-secondary": ("Payments Escalation", 2),
    "payments-escalation": ("Payments Escalation", 3),
    "delivery-now": ("Delivery Escalation", 1),
    "delivery-next": ("Delivery Escalation", 2),
    "delivery-previous": ("Delivery Escalation", 3),
    "payments-admins": ("Payments Leads", 1),
    "payments-users": ("Payments Leads", 2),
}
AT_START = {  # who each group holds at DEMO_START, by hand (see above)
    "payments-primary": [DAVE],
    "payments-secondary": [DAVE, ERIN, GRACE],
    "payments-escalation": [DANA],
    "delivery-now": [CAROL],
    "delivery-next": [ALICE],
    "delivery-previous": [BOB],
    "payments-admins": [GRACE],
    "payments-users": [DAVE, ERIN],
    "payments-oncall": [DAVE],  # a schedule's group beside the levels (the sample's)
}


def _schedule(name: str) -> dict[str, object]:
    return {"type": "schedule", "name": name}


def escalation_org(handles: dict[str, tuple[str, int]] | None = None) -> Org:
    org = sample_org()
    og: OpsgenieState = org.opsgenie
    og.add_escalation("Delivery Escalation", [
        {"delay": 0, "notifyType": "default", "recipient": _schedule(DELIVERY)},
        {"delay": 10, "notifyType": "next", "recipient": _schedule(DELIVERY)},
        {"delay": 20, "notifyType": "previous", "recipient": _schedule(DELIVERY)},
    ], team="Delivery")
    og.add_escalation("Payments Leads", [
        {"delay": 10, "notifyType": "users", "recipient": {"type": "team", "name": "Payments"}},
        {"delay": {"timeAmount": 0, "timeUnit": "minutes"}, "notifyType": "admins",
         "recipient": {"type": "team", "name": "Payments"}},
    ])
    og.add_escalation("Platform Escalation", [
        {"delay": 0, "notifyType": "default", "recipient": {"type": "team", "name": "Platform"}},
    ])
    for handle in handles or GROUPS:
        org.slack.add_group(handle, handle.replace("-", " ").title(), [])
    org.slack.add_group("platform-team", "Platform team", [])
    return org


def config(groups: dict[str, tuple[str, int]], extra: str = "") -> str:
    return level_config("opsgenie", groups, extra)


@pytest.fixture
def emu() -> Iterator[Emulators]:
    with Emulators(escalation_org(), at=DEMO_START) as emulators:
        yield emulators


def sync(emu: Emulators, tmp_path: Path, *args: str, text: str | None = None) -> CliResult:
    return sync_file(emu, tmp_path, text if text is not None else config(GROUPS), *args)


def held(emu: Emulators) -> dict[str, list[str]]:
    return members(emu, AT_START)


def writes(emu: Emulators) -> int:
    return emu.slack.calls(r"usergroups\.users\.update$")


# --- levels fill their groups ---------------------------------------------------------------------

def test_each_level_fills_its_group_with_whom_the_policy_notifies(emu: Emulators, tmp_path: Path) -> None:
    result = sync(emu, tmp_path)
    assert result.code == 0, result.both
    assert held(emu) == AT_START
    # one read of every policy; the schedules behind the levels read with payments-oncall's, at once
    assert emu.opsgenie.calls(r"^/v2/escalations$") == 1
    assert emu.opsgenie.calls(r"^/v2/schedules/on-calls$") == 1
    assert emu.opsgenie.calls(r"/next-on-calls$") == 1
    assert emu.opsgenie.calls(r"^/v2/teams/") == 1  # team Payments once, for three groups


def test_a_policy_edited_between_passes_changes_the_group_at_the_next_pass(emu: Emulators, tmp_path: Path) -> None:
    assert sync(emu, tmp_path).code == 0
    policy = emu.opsgenie.state.escalation("Payments Escalation", "name")
    assert policy is not None
    emu.opsgenie.state.set_rules(policy, [  # level 2 is now erin alone, and level 3 the team's admins
        {"delay": 0, "notifyType": "default", "recipient": _schedule(PAYMENTS)},
        {"delay": 15, "notifyType": "default", "recipient": {"type": "user", "username": ERIN}},
        {"delay": 30, "notifyType": "admins", "recipient": {"type": "team", "name": "Payments"}},
    ])
    result = sync(emu, tmp_path)
    assert result.code == 0, result.both
    assert held(emu) == {**AT_START, "payments-secondary": [ERIN], "payments-escalation": [GRACE]}


def test_an_unreadable_schedule_behind_a_level_fails_its_group_only(emu: Emulators, tmp_path: Path) -> None:
    assert sync(emu, tmp_path).code == 0
    delivery = emu.opsgenie.state.schedule(DELIVERY, "name")
    assert delivery is not None
    emu.clock.set(datetime(2026, 11, 23, 9, 1, tzinfo=UTC))  # alice's turn now; bob would be previous of alice…
    emu.opsgenie.inject(r"^/v2/schedules/on-calls$", status=503)  # the bulk read is down
    emu.opsgenie.inject(rf"^/v2/schedules/{delivery.id}/on-calls$", status=503)  # and Delivery's for good
    result = sync(emu, tmp_path)
    assert result.code == 1, result.both
    assert emu.slack.state.emails_of("delivery-now") == [CAROL]  # left alone, not emptied
    assert re.search(r"delivery-now.*FAILED", result.out) and "Delivery Escalation" in result.out
    assert "Delivery Support_schedule" in result.out and "503" in result.out
    # the others are synced: grace's override holds Payments from 09:00; Delivery's next is bob
    # (turn 22 from Tue 09:00) and its previous carol (turn 20)
    assert emu.slack.state.emails_of("payments-primary") == [GRACE]
    assert emu.slack.state.emails_of("delivery-next") == [BOB]
    assert emu.slack.state.emails_of("delivery-previous") == [CAROL]
    assert emu.slack.state.emails_of("payments-secondary") == [DAVE, ERIN, GRACE]


def test_a_team_routed_by_its_own_rules_fails_its_group_with_the_fix(emu: Emulators, tmp_path: Path) -> None:
    groups = {**GROUPS, "platform-team": ("Platform Escalation", 1)}
    emu.slack.state.group_by_handle("platform-team").users = [  # type: ignore[union-attr]
        emu.slack.state.user_by_email("heidi@example.com").id]  # type: ignore[union-attr]
    result = sync(emu, tmp_path, text=config(groups))
    assert result.code == 1, result.both
    assert "team 'Platform' is notified by its own routing rules (notifyType 'default')" in result.out
    assert "notifyType all" in result.out  # the fix
    assert emu.slack.state.emails_of("platform-team") == ["heidi@example.com"]  # untouched
    assert held(emu) == AT_START  # every other group synced


def test_dry_run_and_at_work_for_a_level(emu: Emulators, tmp_path: Path) -> None:
    result = sync(emu, tmp_path, "--dry-run")
    assert result.code == 0, result.both
    assert writes(emu) == 0 and all(emu.slack.state.emails_of(h) == [] for h in GROUPS)
    assert re.search(r"payments-secondary.*would.*\+dave@example.com \+erin@example.com \+grace@example.com",
                     result.out), result.out
    # 2026-12-24 18:00 UTC: Payments week 7 (7 % 2 = 1): erin. Delivery turn 52 (52 % 3 = 1): bob; next
    # (turn 53, from 25th 09:00) carol; previous (turn 51) alice.
    result = sync(emu, tmp_path, "--at", "2026-12-24T18:00:00Z")
    assert result.code == 0, result.both
    assert writes(emu) == 0
    for handle, who in (("payments-primary", ERIN), ("delivery-now", BOB), ("delivery-next", CAROL),
                        ("delivery-previous", ALICE)):
        assert re.search(rf"@{handle} .*\+{re.escape(who)}", result.out), (handle, result.out)
    nexts = [r for r in emu.opsgenie.requests if r.path.endswith("/next-on-calls")]
    assert nexts[-1].params.get("date", "").startswith("2026-12-24T18:00:00")


# --- check, and the source's own answers ------------------------------------------------------------

@pytest.fixture
def source(emu: Emulators, tmp_path: Path) -> Iterator[OpsgenieSource]:
    path = write_config(tmp_path, config(GROUPS) + FAST_RETRY, fast_retry=False)
    service = build(load(str(path), emu.env()), clock=SteppedClock(emu.clock))
    try:
        found = service.source.sources["opsgenie"]
        assert isinstance(found, OpsgenieSource)
        yield found
    finally:
        service.close()


def test_a_level_is_described_for_check(source: OpsgenieSource) -> None:
    view = source.level("escalation:2:Payments Escalation")
    assert isinstance(view, LevelView)
    [r] = view.recipients
    assert (view.policy, view.level, r.kind, r.name, r.notify) == ("Payments Escalation", 2, "team", "Payments", "all")
    assert r.people == {DAVE, ERIN, GRACE}
    view = source.level("escalation:1:Platform Escalation")
    assert isinstance(view, LevelView)
    [r] = view.recipients
    assert r.people is None and r.problem is not None and "own routing rules" in r.problem
    missing = source.level("escalation:4:Payments Escalation")
    assert not isinstance(missing, LevelView) and "has 3 level(s), so no level 4" in missing.error
    unknown = source.level("escalation:1:Nobody's Policy")
    assert not isinstance(unknown, LevelView) and "no such escalation policy" in unknown.error


def test_one_policy_is_read_alone_by_its_id_or_its_name(emu: Emulators, source: OpsgenieSource) -> None:
    policy = emu.opsgenie.state.escalation("Payments Escalation", "name")
    assert policy is not None
    for ref, kind in ((f"escalation:3:{policy.id}", "id"), ("escalation:3:Payments Escalation", "name")):
        emu.reset_logs()
        read = source.on_calls([ref])[ref]
        assert isinstance(read, OnCall) and read.usernames == {DANA}
        assert (read.schedule_id, read.schedule_name) == (f"{policy.id}#3", "Payments Escalation, level 3")
        [asked] = emu.opsgenie.requests  # a user named in the policy: nothing else to read
        assert asked.path.startswith("/v2/escalations/") and asked.params.get("identifierType") == kind


def test_a_levels_handoffs_and_stretches_are_its_schedules(source: OpsgenieSource) -> None:
    refs = ["escalation:1:Delivery Escalation", "escalation:2:Delivery Escalation",
            "escalation:3:Delivery Escalation", "escalation:2:Payments Escalation"]
    source.on_calls(refs)
    assert source.next_handoff(refs[:1], DEMO_START) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert source.next_handoff(refs[3:], DEMO_START) is None  # a team: none foreseen
    start, end = datetime(2026, 11, 23, 9, 0, tzinfo=UTC), datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    found = source.stretches(refs, start, end)
    day1, day2 = (start, datetime(2026, 11, 24, 9, 0, tzinfo=UTC)), (datetime(2026, 11, 24, 9, 0, tzinfo=UTC), end)

    def spans(ref: str) -> list[tuple[datetime, datetime, frozenset[str]]]:
        got = found[ref]
        assert not isinstance(got, ReadFailure), got
        return [(s.start, s.end, s.people) for s in got]

    assert spans(refs[0]) == [(*day1, {ALICE}), (*day2, {BOB})]  # who is on call
    assert spans(refs[1]) == [(*day1, {BOB}), (*day2, {CAROL})]  # who comes next
    assert spans(refs[2]) == [(*day1, {CAROL}), (*day2, {ALICE})]  # who was on before
    assert spans(refs[3]) == [(start, end, {DAVE, ERIN, GRACE})]  # the team, all along


def test_a_malformed_policy_is_a_failed_read_never_nobody(emu: Emulators, source: OpsgenieSource) -> None:
    def corrupt(body: dict[str, object]) -> dict[str, object]:
        for policy in body["data"]:  # type: ignore[attr-defined]
            if policy["name"] == "Payments Escalation":
                policy["rules"][1]["delay"] = {"timeAmount": "soon"}
        return body

    emu.opsgenie.inject(r"^/v2/escalations$", kind="transform", transform=corrupt, times=1)
    found = source.on_calls(["escalation:1:Payments Escalation", "escalation:1:Delivery Escalation"])
    broken, fine = found["escalation:1:Payments Escalation"], found["escalation:1:Delivery Escalation"]
    assert isinstance(broken, ReadFailure) and "malformed at rules.1.delay" in broken.error
    assert isinstance(fine, OnCall) and fine.usernames == {CAROL}


def test_next_and_previous_over_a_window_skip_nobody_only_for_previous() -> None:
    """``levels.around`` on stretches written by hand: a on call 0-8 h, nobody 8-10 h, b 10-20 h,
    a 20-24 h (hours from a midnight), read from 0 to 24 h, asked for 2 h to 22 h."""
    day = datetime(2026, 11, 23, tzinfo=UTC)

    def h(n: int) -> datetime:
        return day + timedelta(hours=n)

    found = [Stretch(h(0), h(8), frozenset({"a"})), Stretch(h(10), h(20), frozenset({"b"})),
             Stretch(h(20), h(24), frozenset({"a"}))]
    nxt = around(found, "next", h(2), h(22), h(0), h(24))
    assert [(s.start, s.end, s.people) for s in nxt] == [  # a's next is nobody (Opsgenie's exact next)
        (h(8), h(10), {"b"}), (h(10), h(20), {"a"})]  # the last span's next is beyond the read: not foreseen
    prev = around(found, "previous", h(2), h(22), h(0), h(24))
    assert [(s.start, s.end, s.people) for s in prev] == [  # nothing before the first span read
        (h(8), h(20), {"a"}), (h(20), h(22), {"b"})]


# --- the calls of a no-change pass ------------------------------------------------------------------

def test_the_calls_of_a_no_change_pass_with_20_level_groups(tmp_path: Path) -> None:
    """Five policies of four levels each (a schedule, its team, the schedule's next, a user): 20
    groups, beside the sample's payments-oncall (a schedule's group, read in the same bulk read)."""
    org = sample_org()
    og = org.opsgenie
    groups: dict[str, tuple[str, int]] = {}
    for i in range(5):
        team = og.add_team(f"Team {i}", [ALICE, BOB, CAROL], admins=[ALICE])
        og.add_schedule(f"Team {i}_schedule", "UTC", team=team.name, rotations=[{
            "name": "Daily", "type": "daily", "length": 1, "startDate": "2026-11-02T09:00:00Z",
            "participants": [{"type": "user", "username": u} for u in (ALICE, BOB, CAROL)]}])
        og.add_escalation(f"Team {i} Escalation", [
            {"delay": 0, "notifyType": "default", "recipient": _schedule(f"Team {i}_schedule")},
            {"delay": 5, "notifyType": "all", "recipient": {"type": "team", "name": team.name}},
            {"delay": 10, "notifyType": "next", "recipient": _schedule(f"Team {i}_schedule")},
            {"delay": 15, "notifyType": "default", "recipient": {"type": "user", "username": DANA}}])
        for level in (1, 2, 3, 4):
            groups[f"team-{i}-level-{level}"] = (f"Team {i} Escalation", level)
            org.slack.add_group(f"team-{i}-level-{level}", f"Team {i} level {level}", [])
    with Emulators(org, at=DEMO_START) as emu:
        path = write_config(tmp_path, config(groups))
        service = build(load(str(path), emu.env()), clock=SteppedClock(emu.clock))
        try:
            first = service.run_pass()
            assert first.ok, first
            # the first pass reads each team too (then kept): 5 more calls
            assert len(emu.opsgenie.requests) == 1 + 1 + 5 + 5, [r.path for r in emu.opsgenie.requests]
            assert emu.opsgenie.calls(r"^/v2/teams/") == 5
            # as written by hand: turn 20 of alice, bob, carol is carol, the next alice
            assert emu.slack.state.emails_of("team-3-level-1") == [CAROL]
            assert emu.slack.state.emails_of("team-3-level-2") == [ALICE, BOB, CAROL]
            assert emu.slack.state.emails_of("team-3-level-3") == [ALICE]
            assert emu.slack.state.emails_of("team-3-level-4") == [DANA]
            emu.reset_logs()
            emu.clock.advance(60)
            again = service.run_pass()
            assert again.ok and writes(emu) == 0
        finally:
            service.close()
        calls = sorted(f"{r.method} {r.path}" for r in emu.opsgenie.requests)
    # one list of the policies, one bulk on-call read (the five schedules with payments-oncall's),
    # one next-on-calls per schedule whose next is asked; the teams are kept (5 min)
    ids = [s.id for s in og.schedules.values() if s.name.startswith("Team ")]
    assert len(ids) == 5
    assert calls == sorted(["GET /v2/escalations", "GET /v2/schedules/on-calls",
                            *(f"GET /v2/schedules/{sid}/next-on-calls" for sid in ids)]), calls
