"""Escalation levels on JSM Ops, end to end over loopback HTTP: `slackgenie sync` (in-process)
against the JSM Ops and Slack emulators. Who each group must hold is worked out by hand from the
organisation below, never from the product's code.

The organisation is the sample's (slackgenie_emulators.sample) with more policies, each owned by a
team (JSM Ops lists escalations per team only). At DEMO_START (Mon 2026-11-23 08:58 UTC):
- Payments_schedule (team Payments): weekly turns of dave, erin from Mon 2026-11-02 09:00: week 2
  (2 % 2 = 0): dave; grace's override holds 09:00-18:00 on the 23rd.
- Delivery Support_schedule (team Delivery): daily turns of alice, bob, carol from 2026-11-02
  09:00: turn 20 (20 % 3 = 2): carol; the next turn (21, from 09:00) alice; the one before
  (19) bob.
- Team Payments: dave, erin, grace. Team Platform: frank.og, heidi, ivan.
Policies:
- "Payments Escalation" (the sample's): level 1 Payments_schedule, level 2 team Payments (all),
  level 3 user dana.lead. JSM Ops gives no API listing a team's members to these credentials
  (see slackgenie/sources/jsm/escalations.py ``no_members``), so level 2 fails naming the fix.
- "Delivery Escalation" (team Delivery): level 1 Delivery Support_schedule, level 2 its next
  on-call, level 3 its previous on-call.
- "Platform Escalation" (team Platform): level 1 team Platform by its own routing rules.
- "Old Escalation" (team Platform), disabled: level 1 user heidi.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from slackgenie.core.clock import SteppedClock
from slackgenie.core.model import OnCall, ReadFailure
from slackgenie.settings import load
from slackgenie.sources.base import LevelView
from slackgenie.sources.jsm import JsmSource
from slackgenie.wiring import build
from slackgenie_emulators import Emulators
from slackgenie_emulators.opsgenie import OpsgenieState
from slackgenie_emulators.sample import DEMO_START, Org, sample_org

from conftest import CliResult, FAST_RETRY, write_config
from escalation_fixtures import level_config, members, seed, sync_file

UTC = timezone.utc
ALICE, BOB, CAROL, DAVE, ERIN, GRACE, HEIDI = (
    f"{n}@example.com" for n in ("alice", "bob", "carol", "dave", "erin", "grace", "heidi"))
DANA = "dana.lead@example.com"
DELIVERY, PAYMENTS = "Delivery Support_schedule", "Payments_schedule"

GROUPS = {  # handle: (policy, level): the levels that are people
    "payments-primary": ("Payments Escalation", 1),
    "payments-escalation": ("Payments Escalation", 3),
    "delivery-now": ("Delivery Escalation", 1),
    "delivery-next": ("Delivery Escalation", 2),
    "delivery-previous": ("Delivery Escalation", 3),
}
AT_START = {  # who each group holds at DEMO_START, by hand (see above)
    "payments-primary": [DAVE],
    "payments-escalation": [DANA],
    "delivery-now": [CAROL],
    "delivery-next": [ALICE],
    "delivery-previous": [BOB],
    "payments-oncall": [DAVE],  # a schedule's group beside the levels (the sample's)
}
NOT_PEOPLE = {  # handle: (policy, level): levels that cannot be read as people
    "payments-secondary": ("Payments Escalation", 2),
    "platform-team": ("Platform Escalation", 1),
    "old-escalation": ("Old Escalation", 1),
}


def _schedule(name: str) -> dict[str, object]:
    return {"type": "schedule", "name": name}


def escalation_org() -> Org:
    org = sample_org()
    og: OpsgenieState = org.opsgenie
    og.add_escalation("Delivery Escalation", [
        {"delay": 0, "notifyType": "default", "recipient": _schedule(DELIVERY)},
        {"delay": 10, "notifyType": "next", "recipient": _schedule(DELIVERY)},
        {"delay": 20, "notifyType": "previous", "recipient": _schedule(DELIVERY)},
    ], team="Delivery")
    og.add_escalation("Platform Escalation", [
        {"delay": 0, "notifyType": "default", "recipient": {"type": "team", "name": "Platform"}},
    ], team="Platform")
    og.add_escalation("Old Escalation", [
        {"delay": 0, "notifyType": "default", "recipient": {"type": "user", "username": HEIDI}},
    ], team="Platform").enabled = False
    for handle in [*GROUPS, *NOT_PEOPLE]:
        org.slack.add_group(handle, handle.replace("-", " ").title(), [])
    return org


def config(groups: dict[str, tuple[str, int]], extra: str = "") -> str:
    return level_config("jsm", groups, extra)


@pytest.fixture
def emu() -> Iterator[Emulators]:
    with Emulators(escalation_org(), at=DEMO_START) as emulators:
        yield emulators


def sync(emu: Emulators, tmp_path: Path, *args: str, text: str | None = None) -> CliResult:
    return sync_file(emu, tmp_path, text if text is not None else config(GROUPS), *args)


def held(emu: Emulators) -> dict[str, list[str]]:
    return members(emu, AT_START)



def team_id(emu: Emulators, name: str) -> str:
    team = emu.opsgenie.state.team(name)
    assert team is not None
    return team.id


# --- levels fill their groups ---------------------------------------------------------------------

def test_each_level_fills_its_group_with_whom_the_policy_notifies(emu: Emulators, tmp_path: Path) -> None:
    result = sync(emu, tmp_path)
    assert result.code == 0, result.both
    assert held(emu) == AT_START
    # the policies found by listing the escalations of the teams owning the visible schedules
    # (Delivery, Payments, Platform: one page each), each policy's place then kept
    listed = sorted(r.path.rsplit("/teams/", 1)[1] for r in emu.jsm.requests if r.path.endswith("/escalations"))
    assert listed == sorted(f"{team_id(emu, t)}/escalations" for t in ("Delivery", "Payments", "Platform"))
    # the schedules behind the levels read with payments-oncall's (Payments once for two groups)
    assert emu.jsm.calls(r"/schedules/[^/]+/on-calls$") == 2
    assert emu.jsm.calls(r"/next-on-calls$") == 1


def test_a_team_level_fails_clearly_naming_the_team_and_the_fix(emu: Emulators, tmp_path: Path) -> None:
    seed(emu, "payments-secondary", ERIN)
    result = sync(emu, tmp_path, text=config({**GROUPS, "payments-secondary": NOT_PEOPLE["payments-secondary"]}))
    assert result.code == 1, result.both
    assert re.search(r"payments-secondary.*FAILED", result.out), result.out
    out = " ".join(result.out.split())
    assert (f"team {team_id(emu, 'Payments')} (the team of schedule 'Payments_schedule') (notifyType 'all') cannot "
            "be read as people: JSM Ops gives these credentials no API that lists a team's members") in out
    assert "make this level notify the team's schedule ('Payments_schedule') instead" in out
    assert "`users:`" in out
    assert emu.slack.state.emails_of("payments-secondary") == [ERIN]  # untouched
    assert held(emu) == AT_START  # every other group synced


def test_a_team_routed_by_its_own_rules_fails_its_group_with_the_fix(emu: Emulators, tmp_path: Path) -> None:
    seed(emu, "platform-team", HEIDI)
    result = sync(emu, tmp_path, text=config({**GROUPS, "platform-team": NOT_PEOPLE["platform-team"]}))
    assert result.code == 1, result.both
    assert re.search(r"platform-team.*FAILED", result.out), result.out
    out = " ".join(result.out.split())
    assert (f"team {team_id(emu, 'Platform')} (the team of schedule 'Platform_schedule') is notified by its own "
            "routing rules (notifyType 'default')") in out
    # the fix: never the team's members (JSM Ops gives no members API), its schedule or `users:`
    assert "make this level notify the team's schedule ('Platform_schedule') instead" in out and "`users:`" in out
    assert emu.slack.state.emails_of("platform-team") == [HEIDI]  # untouched
    assert held(emu) == AT_START


def test_a_disabled_escalation_is_not_read_as_people(emu: Emulators, tmp_path: Path) -> None:
    seed(emu, "old-escalation", DANA)
    result = sync(emu, tmp_path, text=config({**GROUPS, "old-escalation": NOT_PEOPLE["old-escalation"]}))
    assert result.code == 1, result.both
    assert "escalation policy 'Old Escalation' is disabled" in " ".join(result.out.split())
    assert emu.slack.state.emails_of("old-escalation") == [DANA]  # untouched
    assert held(emu) == AT_START


def test_a_policy_edited_between_passes_changes_the_group_at_the_next_pass(emu: Emulators, tmp_path: Path) -> None:
    groups = {**GROUPS, "payments-secondary": NOT_PEOPLE["payments-secondary"]}
    assert sync(emu, tmp_path, text=config(groups)).code == 1  # level 2 is a team
    policy = emu.opsgenie.state.escalation("Payments Escalation", "name")
    assert policy is not None
    emu.opsgenie.state.set_rules(policy, [  # level 2 is now erin alone, level 3 the Delivery schedule
        {"delay": 0, "notifyType": "default", "recipient": _schedule(PAYMENTS)},
        {"delay": 15, "notifyType": "default", "recipient": {"type": "user", "username": ERIN}},
        {"delay": 30, "notifyType": "default", "recipient": _schedule(DELIVERY)},
    ])
    emu.jsm.reset_log()
    result = sync(emu, tmp_path, text=config(groups))
    assert result.code == 0, result.both
    assert held(emu) == {**AT_START, "payments-escalation": [CAROL]}
    assert emu.slack.state.emails_of("payments-secondary") == [ERIN]


def test_an_unreadable_schedule_behind_a_level_fails_its_group_only(emu: Emulators, tmp_path: Path) -> None:
    assert sync(emu, tmp_path).code == 0
    delivery = emu.opsgenie.state.schedule(DELIVERY, "name")
    assert delivery is not None
    emu.clock.set(datetime(2026, 11, 23, 9, 1, tzinfo=UTC))  # alice's turn now
    emu.jsm.inject(rf"/schedules/{delivery.id}/on-calls$", status=503)  # Delivery's on-calls, for good
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
    assert emu.slack.state.emails_of("payments-escalation") == [DANA]


def test_dry_run_and_at_work_for_a_level(emu: Emulators, tmp_path: Path) -> None:
    result = sync(emu, tmp_path, "--dry-run")
    assert result.code == 0, result.both
    assert all(emu.slack.state.emails_of(h) == [] for h in GROUPS)
    assert re.search(r"delivery-previous.*would.*\+bob@example.com", result.out), result.out
    # 2026-12-24 18:00 UTC: Payments week 7 (7 % 2 = 1): erin. Delivery turn 52 (52 % 3 = 1): bob; next
    # (turn 53, from 25th 09:00) carol; previous (turn 51) alice.
    result = sync(emu, tmp_path, "--at", "2026-12-24T18:00:00Z")
    assert result.code == 0, result.both
    assert emu.slack.calls(r"usergroups\.users\.update$") == 0
    for handle, who in (("payments-primary", ERIN), ("delivery-now", BOB), ("delivery-next", CAROL),
                        ("delivery-previous", ALICE), ("payments-escalation", DANA)):
        assert re.search(rf"@{handle} .*\+{re.escape(who)}", result.out), (handle, result.out)
    nexts = [r for r in emu.jsm.requests if r.path.endswith("/next-on-calls")]
    assert nexts[-1].params.get("date", "").startswith("2026-12-24T18:00:00")


def test_escalations_listed_over_more_than_one_page(tmp_path: Path) -> None:
    """Platform owns 105 escalations before the one asked for: JSM Ops answers at most 100 a page."""
    org = escalation_org()
    og = org.opsgenie
    for i in range(105):
        og.add_escalation(f"Filler {i:03d}", [
            {"delay": 0, "notifyType": "default", "recipient": {"type": "user", "username": ALICE}}], team="Platform")
    og.add_escalation("Platform Leads", [
        {"delay": 5, "notifyType": "default", "recipient": {"type": "user", "username": HEIDI}}], team="Platform")
    org.slack.add_group("platform-leads", "Platform leads", [])
    with Emulators(org, at=DEMO_START) as emu:
        result = sync(emu, tmp_path, text=config({**GROUPS, "platform-leads": ("Platform Leads", 1)}))
        assert result.code == 0, result.both
        assert emu.slack.state.emails_of("platform-leads") == [HEIDI]
        assert held(emu) == AT_START
        pages = [r.params for r in emu.jsm.requests if r.path.endswith(f"/teams/{team_id(emu, 'Platform')}/escalations")]
        assert [(p.get("offset"), p.get("size")) for p in pages] == [("0", "100"), ("100", "100")]


# --- check, handoffs and stretches: the source's own answers ----------------------------------------

@pytest.fixture
def source(emu: Emulators, tmp_path: Path) -> Iterator[JsmSource]:
    groups = {**GROUPS, **NOT_PEOPLE}
    path = write_config(tmp_path, config(groups) + FAST_RETRY, fast_retry=False)
    service = build(load(str(path), emu.env()), clock=SteppedClock(emu.clock))
    try:
        found = service.source.sources["jsm"]
        assert isinstance(found, JsmSource)
        yield found
    finally:
        service.close()


def test_a_level_is_described_for_check(emu: Emulators, source: JsmSource) -> None:
    view = source.level("escalation:1:Payments Escalation")
    assert isinstance(view, LevelView)
    [r] = view.recipients
    assert (view.policy, view.level, r.kind, r.name, r.notify, r.people) == (
        "Payments Escalation", 1, "schedule", PAYMENTS, "default", {DAVE})
    view = source.level("escalation:2:Payments Escalation")
    assert isinstance(view, LevelView)
    [r] = view.recipients
    assert (r.kind, r.name, r.notify, r.people) == ("team", team_id(emu, "Payments"), "all", None)
    assert r.problem is not None and "no API that lists a team's members" in r.problem
    view = source.level("escalation:3:Payments Escalation")
    assert isinstance(view, LevelView) and view.recipients[0].people == {DANA}
    missing = source.level("escalation:4:Payments Escalation")
    assert not isinstance(missing, LevelView) and "has 3 level(s), so no level 4" in missing.error
    unknown = source.level("escalation:1:Nobody's Policy")
    assert not isinstance(unknown, LevelView) and "no such escalation policy in JSM Ops" in unknown.error


def test_a_levels_handoffs_and_stretches_are_its_schedules(source: JsmSource) -> None:
    refs = ["escalation:1:Delivery Escalation", "escalation:2:Delivery Escalation",
            "escalation:3:Delivery Escalation", "escalation:3:Payments Escalation"]
    found_now = source.on_calls(refs)
    assert [sorted(v.usernames) if isinstance(v, OnCall) else v for v in found_now.values()] == [
        [CAROL], [ALICE], [BOB], [DANA]]
    assert source.next_handoff(refs[:1], DEMO_START) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert source.next_handoff(refs[3:], DEMO_START) is None  # a user: none foreseen
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
    assert spans(refs[3]) == [(start, end, {DANA})]  # a user, all along


def test_a_malformed_policy_is_a_failed_read_never_nobody(emu: Emulators, source: JsmSource) -> None:
    def corrupt(body: dict[str, object]) -> dict[str, object]:
        body["rules"][1]["delay"] = {"timeAmount": 15}  # type: ignore[index]  # Opsgenie's shape, not JSM's
        return body

    assert isinstance(source.on_calls(["escalation:1:Payments Escalation"])["escalation:1:Payments Escalation"],
                      OnCall)  # found (its place now kept): read by id from now on
    payments = emu.opsgenie.state.escalation("Payments Escalation", "name")
    assert payments is not None  # only its answer is corrupted: the two are read at once, in either order
    emu.jsm.inject(rf"/escalations/{payments.id}$", kind="transform", transform=corrupt, times=1)
    found = source.on_calls(["escalation:1:Payments Escalation", "escalation:1:Delivery Escalation"])
    broken, fine = found["escalation:1:Payments Escalation"], found["escalation:1:Delivery Escalation"]
    assert isinstance(broken, ReadFailure) and "malformed at rules.1.delay" in broken.error
    assert isinstance(fine, OnCall) and fine.usernames == {CAROL}


def test_a_hidden_email_is_the_account_id_to_map(emu: Emulators, source: JsmSource) -> None:
    emu.jsm.hidden_emails.add(DANA)
    got = source.on_calls(["escalation:3:Payments Escalation"])["escalation:3:Payments Escalation"]
    assert isinstance(got, OnCall)
    account = emu.jsm.account_id(DANA)
    assert got.usernames == {account} and [a for a, _ in got.needs_mapping] == [account]


# --- the calls of a no-change pass ------------------------------------------------------------------

def test_the_calls_of_a_no_change_pass_with_20_level_groups(tmp_path: Path) -> None:
    """Five policies, each its own team's, of four levels each (a schedule, its next, its previous,
    a user): 20 groups, beside the sample's payments-oncall (a schedule's group). A no-change pass
    costs 21 JSM Ops calls before any forecast, 5 once the handoffs are foreseen (the daemon)."""
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
            {"delay": 5, "notifyType": "next", "recipient": _schedule(f"Team {i}_schedule")},
            {"delay": 10, "notifyType": "previous", "recipient": _schedule(f"Team {i}_schedule")},
            {"delay": 15, "notifyType": "default", "recipient": {"type": "user", "username": DANA}}], team=team.name)
        for level in (1, 2, 3, 4):
            groups[f"team-{i}-level-{level}"] = (f"Team {i} Escalation", level)
            org.slack.add_group(f"team-{i}-level-{level}", f"Team {i} level {level}", [])
    with Emulators(org, at=DEMO_START) as emu:
        path = write_config(tmp_path, config(groups))
        service = build(load(str(path), emu.env()), clock=SteppedClock(emu.clock))
        try:
            first = service.run_pass()
            assert first.ok, first
            # as written by hand: turn 20 of alice, bob, carol is carol; the next alice; before, bob
            assert emu.slack.state.emails_of("team-3-level-1") == [CAROL]
            assert emu.slack.state.emails_of("team-3-level-2") == [ALICE]
            assert emu.slack.state.emails_of("team-3-level-3") == [BOB]
            assert emu.slack.state.emails_of("team-3-level-4") == [DANA]
            emu.reset_logs()
            emu.clock.advance(30)
            again = service.run_pass()
            assert again.ok and emu.slack.calls(r"usergroups\.users\.update$") == 0
            calls = sorted(f"{r.method} {r.path.split('/v1', 1)[1]}" for r in emu.jsm.requests)
            # as the daemon runs: the handoffs foreseen (each schedule's timeline, kept 6 h), then a
            # pass before the 09:00 handoff reuses the schedules' answers (jsm.recheck)
            assert service.next_handoff(emu.clock.now()) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
            emu.reset_logs()
            emu.clock.advance(20)
            third = service.run_pass()
            assert third.ok and emu.slack.calls(r"usergroups\.users\.update$") == 0
            daemon = sorted(f"{r.method} {r.path.split('/v1', 1)[1]}" for r in emu.jsm.requests)
        finally:
            service.close()
        teams = {s.id: s.owner_team["id"] for s in og.schedules.values()  # type: ignore[index]
                 if s.name.startswith("Team ")}
        policies = {e.owner_team: e.id for e in og.escalations.values() if e.name.startswith("Team ")}
        payments = og.schedule(PAYMENTS, "name")
        assert payments is not None
    # each policy read again by id (its team known), each schedule's on-calls (payments-oncall's too),
    # next-on-calls and timeline (previous); the schedule list and the people are kept
    assert calls == sorted([*(f"GET /teams/{t}/escalations/{policies[t]}" for t in teams.values()),
                            *(f"GET /schedules/{s}/on-calls" for s in [*teams, payments.id]),
                            *(f"GET /schedules/{s}/next-on-calls" for s in teams),
                            *(f"GET /schedules/{s}/timeline" for s in teams)]), calls
    assert len(calls) == 21
    # with the forecast known (as in the daemon), only the policies are read: 5 calls
    assert daemon == sorted(f"GET /teams/{t}/escalations/{policies[t]}" for t in teams.values()), daemon
