"""The PagerDuty emulator follows PagerDuty's REST API v2 contract, over the Opsgenie organisation.

Part one checks behaviour with plain HTTP: the ``Token token=`` header and the error envelope,
who ``/oncalls`` says is on call (against the schedule engine, and once by hand), shift bounds,
classic paging, ``earliest``, detached schedules, overrides (201 lists, per-item bulk creation),
read-only keys, rate limits and date checks. Part two validates answers against the response
schemas of the OpenAPI subset in ../shared/specs/pagerduty, skipped (saying why) where that
folder is absent.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from slackgenie_emulators.base import Clock
from slackgenie_emulators.opsgenie import OpsgenieState
from slackgenie_emulators.pagerduty import PAGERDUTY_TOKEN, PagerDutyEmulator
from slackgenie_emulators.sample import DEMO_START, sample_org

SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs" / "pagerduty"
UTC = timezone.utc
DELIVERY, PAYMENTS, PLATFORM = "Delivery Support_schedule", "Payments_schedule", "Platform_schedule"
ID = re.compile(r"P[0-9A-Z]{6}")
Params = dict[str, str] | list[tuple[str, str]]


@pytest.fixture
def org() -> OpsgenieState:
    state = sample_org().opsgenie
    # this file checks schedules, each in a policy of its own; the organisation's escalation
    # policies (direct user targets: permanent on-calls) are test_emulator_escalations_pagerduty.py's
    state.escalations.clear()
    return state


@pytest.fixture
def pd(org: OpsgenieState) -> Iterator[PagerDutyEmulator]:
    emu = PagerDutyEmulator(org, clock=Clock(frozen_at=DEMO_START))
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


def call(pd: PagerDutyEmulator, method: str, path: str, params: Params | None = None, body: Any = None,
         token: str | None = PAGERDUTY_TOKEN, auth: str | None = None) -> httpx.Response:
    headers = {"Accept": "application/vnd.pagerduty+json;version=2"}
    if auth is not None:
        headers["Authorization"] = auth
    elif token is not None:
        headers["Authorization"] = f"Token token={token}"
    query: list[tuple[str, str | int | float | bool | None]] = list(
        params.items() if isinstance(params, dict) else params or [])
    return httpx.request(method, pd.url + path, params=query, json=body, headers=headers, timeout=10)


def get(pd: PagerDutyEmulator, path: str, params: Params | None = None, **kw: Any) -> httpx.Response:
    return call(pd, "GET", path, params, **kw)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def z(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def oncalls(pd: PagerDutyEmulator, params: Params) -> list[dict[str, Any]]:
    r = get(pd, "/oncalls", params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["more"] is False, "ask for fewer entries than a page in these tests"
    return list(body["oncalls"])


def assert_error(r: httpx.Response, status: int, code: int | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert isinstance(error["message"], str) and isinstance(error["code"], int)
    assert code is None or error["code"] == code
    assert all(isinstance(e, str) for e in error.get("errors", []))
    return dict(error)


# --- auth and envelopes ----------------------------------------------------------------------

@pytest.mark.parametrize("auth", [None, "Token token=wrong", f"Bearer {PAGERDUTY_TOKEN}",
                                  f"Token {PAGERDUTY_TOKEN}", f"token={PAGERDUTY_TOKEN}"])
def test_every_request_needs_the_token_header_exactly(pd: PagerDutyEmulator, auth: str | None) -> None:
    r = get(pd, "/oncalls", token=None, auth=auth)
    error = assert_error(r, 401, 2006)
    assert error["errors"], "a 401 says what is wrong"


def test_any_accept_header_is_answered_with_json(pd: PagerDutyEmulator) -> None:
    for accept in ("application/vnd.pagerduty+json;version=2", "application/json", "*/*", "text/html"):
        r = httpx.get(pd.url + "/schedules", headers={"Authorization": f"Token token={PAGERDUTY_TOKEN}",
                                                      "Accept": accept}, timeout=10)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        assert len(r.json()["schedules"]) == 3


def test_ids_are_deterministic_pagerduty_style(pd: PagerDutyEmulator) -> None:
    other = PagerDutyEmulator(sample_org().opsgenie)  # never started: ids need no server
    try:
        for name in (DELIVERY, PAYMENTS, PLATFORM):
            assert ID.fullmatch(pd.schedule_id(name)) and pd.schedule_id(name) == other.schedule_id(name)
            assert pd.schedule_id(pd.org.schedule(name, "name").id) == pd.schedule_id(name)  # type: ignore[union-attr]
        assert ID.fullmatch(pd.user_id("alice@example.com"))
        assert pd.user_id("alice@example.com") == other.user_id("alice@example.com") != pd.user_id("bob@example.com")
        with pytest.raises(KeyError):
            pd.schedule_id("No such_schedule")
    finally:
        other._httpd.server_close()


# --- who is on call --------------------------------------------------------------------------

def test_oncalls_with_users_give_the_engines_recipients(pd: PagerDutyEmulator, org: OpsgenieState) -> None:
    entries = oncalls(pd, [("include[]", "users"), ("limit", "100")])
    for schedule in org.schedules.values():
        emails = {e["user"]["email"] for e in entries if e["schedule"]["id"] == pd.schedule_id(schedule.name)}
        assert emails == schedule.recipients(DEMO_START), schedule.name
        one = oncalls(pd, [("include[]", "users"), ("schedule_ids[]", pd.schedule_id(schedule.name))])
        assert {e["user"]["email"] for e in one} == schedule.recipients(DEMO_START)
    for e in entries:  # include[]=users: the full User, not a reference
        assert e["user"]["type"] == "user" and e["user"]["id"] == pd.user_id(e["user"]["email"])
        assert e["schedule"]["type"] == "schedule_reference"
        assert e["escalation_policy"]["type"] == "escalation_policy_reference" and e["escalation_level"] == 1
    assert {e["user"]["email"] for e in entries} == {"carol@example.com", "dave@example.com"}


def test_delivery_support_on_call_at_demo_start_worked_out_by_hand(pd: PagerDutyEmulator) -> None:
    # Delivery Support_schedule: one daily rotation of alice, bob, carol (in that order) whose turn 0
    # begins 2026-11-02T09:00Z (UTC, so no DST), each turn one day long. DEMO_START is 2026-11-23
    # 08:58Z, two minutes before that day's 09:00 handoff, so the turn in progress is the one that
    # began on 2026-11-22 at 09:00: 20 days after the 2nd, turn k = 20; 20 mod 3 = 2, i.e. carol.
    # Her shift began at that handoff (turn 19 was bob's: 19 mod 3 = 1) and ends at the next one,
    # 2026-11-23T09:00Z, when turn 21 (21 mod 3 = 0) hands over to alice.
    [entry] = oncalls(pd, [("schedule_ids[]", pd.schedule_id(DELIVERY))])
    assert entry["user"] == {
        "id": pd.user_id("carol@example.com"), "type": "user_reference", "summary": "Carol Chen",
        "self": f"{pd.url}/users/{pd.user_id('carol@example.com')}", "html_url": entry["user"]["html_url"]}
    assert (entry["start"], entry["end"]) == ("2026-11-22T09:00:00Z", "2026-11-23T09:00:00Z")
    assert entry["schedule"]["summary"] == DELIVERY
    assert entry["escalation_policy"]["summary"] == f"{DELIVERY} policy"


def test_entry_bounds_are_the_engines_neighbouring_change_instants(pd: PagerDutyEmulator, org: OpsgenieState) -> None:
    entries = oncalls(pd, [("include[]", "users"), ("since", z(DEMO_START)), ("until", z(DEMO_START + timedelta(days=2)))])
    assert len(entries) >= 6
    tick = timedelta(microseconds=1)
    for e in entries:
        schedule = next(s for s in org.schedules.values() if pd.schedule_id(s.name) == e["schedule"]["id"])
        start, end, who = at(e["start"]), at(e["end"]), e["user"]["email"]
        # the schedule changes at start, from an answer without them to one with them ...
        assert schedule.next_change(start - tick) == start
        assert who not in schedule.recipients(start - tick) and who in schedule.recipients(start)
        # ... and next changes at end (each sample schedule has one person on at a time)
        assert schedule.next_change(start) == end and who not in schedule.recipients(end)
        assert start < DEMO_START + timedelta(days=2) and end > DEMO_START  # overlaps the range, unclipped


def test_entries_are_whole_shifts_whatever_the_range(pd: PagerDutyEmulator) -> None:
    params = [("schedule_ids[]", pd.schedule_id(PAYMENTS))]
    noon = DEMO_START.replace(hour=12)
    [grace] = oncalls(pd, params + [("since", z(noon)), ("until", z(noon))])
    assert grace["user"]["summary"] == "Grace Green"  # the sample's override: 09:00 to 18:00
    assert (grace["start"], grace["end"]) == ("2026-11-23T09:00:00Z", "2026-11-23T18:00:00Z")
    # a range that ends exactly at a handoff leaves out the shift that begins there
    [dave] = oncalls(pd, params + [("since", z(DEMO_START)), ("until", "2026-11-23T09:00:00Z")])
    assert dave["user"]["summary"] == "Dave Diaz" and dave["end"] == "2026-11-23T09:00:00Z"


def test_time_zone_renders_offsets_and_offsets_are_accepted(pd: PagerDutyEmulator) -> None:
    params = [("schedule_ids[]", pd.schedule_id(DELIVERY))]
    [ny] = oncalls(pd, params + [("time_zone", "America/New_York")])
    assert (ny["start"], ny["end"]) == ("2026-11-22T04:00:00-05:00", "2026-11-23T04:00:00-05:00")
    [offset] = oncalls(pd, params + [("since", "2026-11-23T09:58:00+01:00"), ("until", "2026-11-23T09:58:00+01:00")])
    [utc] = oncalls(pd, params + [("since", "2026-11-23T08:58:00Z"), ("until", "2026-11-23T08:58:00Z")])
    assert offset == utc
    assert_error(get(pd, "/oncalls", {"time_zone": "Mars/Olympus_Mons"}), 400)


def test_paging_with_limit_one_walks_every_entry(pd: PagerDutyEmulator) -> None:
    base = [("since", z(DEMO_START)), ("until", z(DEMO_START + timedelta(days=2)))]
    everything = oncalls(pd, base + [("limit", "100")])
    assert len({e["schedule"]["id"] for e in everything}) == 3 and len(everything) >= 6
    seen: list[dict[str, Any]] = []
    offset, more = 0, True
    for _ in range(50):  # bounded: there are far fewer entries than this
        body = get(pd, "/oncalls", base + [("limit", "1"), ("offset", str(offset))]).json()
        assert body["limit"] == 1 and body["offset"] == offset and len(body["oncalls"]) <= 1
        seen += body["oncalls"]
        more, offset = body["more"], offset + body["limit"]
        if not more:
            break
    assert more is False and seen == everything
    order = [(e["schedule"]["summary"], e["start"], e["user"]["id"]) for e in everything]
    assert order == sorted(order)  # by schedule, then start, then user


def test_total_is_null_unless_asked_for_and_limit_is_capped(pd: PagerDutyEmulator) -> None:
    assert get(pd, "/oncalls").json()["total"] is None
    body = get(pd, "/oncalls", {"total": "true"}).json()
    assert body["total"] == len(body["oncalls"]) == 2
    default = get(pd, "/users").json()
    assert (default["limit"], default["offset"], default["more"]) == (25, 0, False)
    assert get(pd, "/users", {"limit": "500"}).json()["limit"] == 100
    assert_error(get(pd, "/users", {"limit": "100", "offset": "9950"}), 400)  # offset + limit <= 10000
    assert_error(get(pd, "/users", {"limit": "ten"}), 400)
    past = get(pd, "/users", {"offset": "40", "total": "true"}).json()
    assert (past["users"], past["more"], past["total"]) == ([], False, 10)


def test_earliest_keeps_the_first_shift_per_policy_level_and_user(pd: PagerDutyEmulator) -> None:
    week = [("schedule_ids[]", pd.schedule_id(DELIVERY)), ("since", z(DEMO_START)),
            ("until", z(DEMO_START + timedelta(days=7))), ("limit", "100")]
    every = oncalls(pd, week)
    first = oncalls(pd, week + [("earliest", "true")])
    assert len(every) == 8 and len(first) == 3
    for entry in first:
        theirs = [e["start"] for e in every if e["user"]["id"] == entry["user"]["id"]]
        assert len(theirs) > 1 and entry["start"] == min(theirs)
    assert [e["user"]["summary"] for e in first] == ["Carol Chen", "Alice Archer", "Bob Baker"]


def test_filters_and_unknown_schedule_ids(pd: PagerDutyEmulator) -> None:
    assert oncalls(pd, [("schedule_ids[]", "PNOPE00")]) == []  # unknown ids: simply no entries
    assert oncalls(pd, [("schedule_ids[]", "null")]) == []  # direct user targets: there are none
    assert oncalls(pd, {"schedule_ids": pd.schedule_id(DELIVERY)}) != []  # no brackets: not the filter
    dave = oncalls(pd, [("user_ids[]", pd.user_id("dave@example.com"))])
    assert [e["user"]["summary"] for e in dave] == ["Dave Diaz"]
    policy = oncalls(pd, [])[0]["escalation_policy"]["id"]
    assert {e["escalation_policy"]["id"] for e in oncalls(pd, [("escalation_policy_ids[]", policy)])} == {policy}
    both = oncalls(pd, [("schedule_ids[]", pd.schedule_id(DELIVERY)), ("schedule_ids[]", pd.schedule_id(PAYMENTS))])
    assert len(both) == 2
    assert_error(get(pd, "/oncalls", {"include[]": "everything"}), 400)


@pytest.mark.parametrize("status,code", [(403, 2010), (404, 2100), (500, 2000)])
def test_a_refusing_schedule_fails_every_request_naming_it_as_a_whole(pd: PagerDutyEmulator, status: int,
                                                                      code: int) -> None:
    refused = pd.refuse(PAYMENTS, status)
    assert refused == pd.schedule_id(PAYMENTS)
    others = [("schedule_ids[]", pd.schedule_id(DELIVERY)), ("schedule_ids[]", pd.schedule_id(PLATFORM))]
    assert_error(get(pd, "/oncalls", [*others, ("schedule_ids[]", refused)]), status, code)  # no partial answer
    assert_error(get(pd, "/oncalls", [("schedule_ids[]", refused), ("include[]", "users")]), status, code)
    assert [e["schedule"]["id"] for e in oncalls(pd, others)] == [pd.schedule_id(DELIVERY)]  # without it: answered
    assert_error(get(pd, f"/schedules/{refused}/users"), status, code)
    assert refused in [s["id"] for s in get(pd, "/schedules").json()["schedules"]]  # still listed


def test_a_detached_schedule_is_left_out_of_oncalls_but_its_users_answer(pd: PagerDutyEmulator) -> None:
    sid = pd.schedule_id(DELIVERY)
    pd.detached.add(DELIVERY)
    assert all(e["schedule"]["id"] != sid for e in oncalls(pd, []))
    assert oncalls(pd, [("schedule_ids[]", sid)]) == []
    users = get(pd, f"/schedules/{sid}/users").json()["users"]
    assert [u["email"] for u in users] == ["carol@example.com"]
    assert get(pd, f"/schedules/{sid}").json()["schedule"]["escalation_policies"] == []
    pd.detached.discard(DELIVERY)
    assert [e["user"]["summary"] for e in oncalls(pd, [("schedule_ids[]", sid)])] == ["Carol Chen"]


def test_schedule_users_over_a_range_and_nobody(pd: PagerDutyEmulator) -> None:
    sid = pd.schedule_id(PLATFORM)
    assert get(pd, f"/schedules/{sid}/users").json() == {"users": []}  # Monday 08:58: business hours not begun
    day = {"since": z(DEMO_START), "until": z(DEMO_START + timedelta(days=1, hours=1))}
    assert [u["email"] for u in get(pd, f"/schedules/{sid}/users", day).json()["users"]] == [
        "frank.og@example.com", "heidi@example.com"]
    assert_error(get(pd, "/schedules/PNOPE00/users"), 404, 2100)


def test_changes_to_the_organisation_show_up_at_once(pd: PagerDutyEmulator, org: OpsgenieState) -> None:
    delivery = org.schedule(DELIVERY, "name")
    assert delivery is not None
    org.add_override(delivery, "ivan@example.com", DEMO_START - timedelta(hours=1), DEMO_START + timedelta(hours=1))
    [entry] = oncalls(pd, [("schedule_ids[]", pd.schedule_id(DELIVERY)), ("include[]", "users")])
    assert entry["user"]["email"] == "ivan@example.com" and entry["end"] == z(DEMO_START + timedelta(hours=1))
    org.rename_schedule(delivery, "Delivery Renamed_schedule")
    assert get(pd, f"/schedules/{pd.schedule_id('Delivery Renamed_schedule')}").json()["schedule"]["name"] == \
        "Delivery Renamed_schedule"


# --- schedules and users -------------------------------------------------------------------

def test_schedules_list_query_and_detail(pd: PagerDutyEmulator) -> None:
    listed = get(pd, "/schedules", {"total": "true"}).json()
    assert [s["name"] for s in listed["schedules"]] == [DELIVERY, PAYMENTS, PLATFORM] and listed["total"] == 3
    assert "schedule_layers" not in listed["schedules"][0]
    assert [s["name"] for s in get(pd, "/schedules", {"query": "PAYMENTS"}).json()["schedules"]] == [PAYMENTS]
    assert_error(get(pd, "/schedules", {"include[]": "users"}), 400)
    r = get(pd, "/schedules/PNOPE00")
    assert r.status_code == 404 and r.json() == {"error": {"message": "Not Found", "code": 2100}}
    schedule = get(pd, f"/schedules/{pd.schedule_id(PAYMENTS)}").json()["schedule"]
    assert schedule["time_zone"] == "Europe/London" and schedule["type"] == "schedule"
    assert [u["summary"] for u in schedule["users"]] == ["Dave Diaz", "Erin Evans"]
    assert schedule["final_schedule"]["rendered_schedule_entries"] == []  # without since/until: not rendered
    [layer] = schedule["schedule_layers"]
    assert layer["rotation_turn_length_seconds"] == 7 * 86_400 and layer["name"] == "Weekly"


def test_final_schedule_is_the_engines_answer_and_overflow_unclips(pd: PagerDutyEmulator) -> None:
    sid = pd.schedule_id(PAYMENTS)
    day = {"since": "2026-11-23T06:00:00Z", "until": "2026-11-24T06:00:00Z", "time_zone": "UTC"}
    final = get(pd, f"/schedules/{sid}", day).json()["schedule"]["final_schedule"]
    entries = [(e["user"]["summary"], e["start"], e["end"]) for e in final["rendered_schedule_entries"]]
    assert entries == [("Dave Diaz", "2026-11-23T06:00:00Z", "2026-11-23T09:00:00Z"),
                       ("Grace Green", "2026-11-23T09:00:00Z", "2026-11-23T18:00:00Z"),
                       ("Erin Evans", "2026-11-23T18:00:00Z", "2026-11-24T06:00:00Z")]
    assert final["rendered_coverage_percentage"] == 100.0
    unclipped = get(pd, f"/schedules/{sid}", {**day, "overflow": "true"}).json()["schedule"]["final_schedule"]
    assert [(e["start"], e["end"]) for e in unclipped["rendered_schedule_entries"]][::2] == [
        ("2026-11-16T09:00:00Z", "2026-11-23T09:00:00Z"), ("2026-11-23T18:00:00Z", "2026-11-30T09:00:00Z")]
    overrides = get(pd, f"/schedules/{sid}", day).json()["schedule"]["overrides_subschedule"]
    assert [e["user"]["summary"] for e in overrides["rendered_schedule_entries"]] == ["Grace Green"]


def test_next_oncall_for_user(pd: PagerDutyEmulator) -> None:
    params = {"include_next_oncall_for_user": pd.user_id("alice@example.com"), "time_zone": "UTC"}
    schedule = get(pd, f"/schedules/{pd.schedule_id(DELIVERY)}", params).json()["schedule"]
    following = schedule["next_oncall_for_user"]  # alice takes over from carol at the 09:00 handoff
    assert (following["start"], following["end"]) == ("2026-11-23T09:00:00Z", "2026-11-24T09:00:00Z")
    assert following["user"]["id"] == pd.user_id("alice@example.com")
    listed = get(pd, "/schedules", {**params, "query": "delivery"}).json()["schedules"]
    assert listed[0]["next_oncall_for_user"] == following
    assert_error(get(pd, "/schedules", {"include_next_oncall_for_user": "PNOPE00"}), 400)


def test_users_list_detail_and_me(pd: PagerDutyEmulator) -> None:
    body = get(pd, "/users", {"total": "true", "limit": "4"}).json()
    assert len(body["users"]) == 4 and body["more"] is True and body["total"] == 10
    [alice] = get(pd, "/users", {"query": "alice"}).json()["users"]
    assert (alice["email"], alice["name"], alice["type"]) == ("alice@example.com", "Alice Archer", "user")
    frank = get(pd, f"/users/{pd.user_id('frank.og@example.com')}").json()["user"]
    assert frank["email"] == "frank.og@example.com" and "http_cal_url" not in frank
    assert [t["summary"] for t in frank["teams"]] == ["Platform"]
    r = get(pd, "/users/PNOPE00")
    assert r.status_code == 404 and r.json() == {"error": {"message": "Not Found", "code": 2100}}
    assert_error(get(pd, "/users/me"), 400)  # an account-level key acts as no user


# --- overrides ---------------------------------------------------------------------------------

def test_overrides_list_answers_201_and_needs_a_range(pd: PagerDutyEmulator) -> None:
    sid = pd.schedule_id(PAYMENTS)
    r = get(pd, f"/schedules/{sid}/overrides", {"since": "2026-11-23T00:00:00Z", "until": "2026-11-24T00:00:00Z"})
    assert r.status_code == 201
    [override] = r.json()["overrides"]
    assert (override["start"], override["end"]) == ("2026-11-23T09:00:00Z", "2026-11-23T18:00:00Z")
    assert override["user"]["id"] == pd.user_id("grace@example.com") and override["id"]
    for params in ({}, {"since": "2026-11-23T00:00:00Z"}, {"until": "2026-11-24T00:00:00Z"}):
        assert_error(get(pd, f"/schedules/{sid}/overrides", params), 400)
    clipped = get(pd, f"/schedules/{sid}/overrides", {"since": "2026-11-23T10:00:00Z", "until": "2026-11-23T11:00:00Z"})
    assert clipped.json()["overrides"][0]["start"] == "2026-11-23T10:00:00Z"  # truncated unless overflow=true


def test_bulk_override_creation_is_per_item_and_changes_who_is_on_call(pd: PagerDutyEmulator,
                                                                       org: OpsgenieState) -> None:
    sid = pd.schedule_id(DELIVERY)
    heidi = {"id": pd.user_id("heidi@example.com"), "type": "user_reference"}
    body = {"overrides": [
        {"start": z(DEMO_START - timedelta(hours=1)), "end": z(DEMO_START + timedelta(hours=1)), "user": heidi,
         "time_zone": "UTC"},
        {"start": "2026-11-25T10:00:00Z", "end": "2026-11-25T09:00:00Z", "user": heidi},  # ends before it starts
    ]}
    r = call(pd, "POST", f"/schedules/{sid}/overrides", body=body)
    assert r.status_code == 201
    created, refused = r.json()
    assert created["status"] == 201 and "errors" not in created and created["override"]["id"]
    assert created["override"]["user"]["summary"] == "Heidi Hall"
    assert refused["status"] == 400 and refused["errors"] and "id" not in refused["override"]
    [entry] = oncalls(pd, [("schedule_ids[]", sid), ("include[]", "users")])
    assert entry["user"]["email"] == "heidi@example.com"
    assert (entry["start"], entry["end"]) == (z(DEMO_START - timedelta(hours=1)), z(DEMO_START + timedelta(hours=1)))
    assert org.schedule(DELIVERY, "name").recipients(DEMO_START) == {"heidi@example.com"}  # type: ignore[union-attr]
    ended = call(pd, "DELETE", f"/schedules/{sid}/overrides/{created['override']['id']}")
    assert ended.status_code == 200 and ended.content == b""  # under way: truncated to now
    assert [e["user"]["summary"] for e in oncalls(pd, [("schedule_ids[]", sid)])] == ["Carol Chen"]
    assert_error(call(pd, "DELETE", f"/schedules/{sid}/overrides/{created['override']['id']}"), 400)  # past now


def test_deleting_an_override_truncates_one_under_way_deletes_a_future_one_and_refuses_a_past_one(
        pd: PagerDutyEmulator) -> None:
    """``deleteScheduleOverride`` (upstream openapiv3.json): "You cannot remove a past override";
    one under way "will be truncated to the current time", 200 instead of 204."""
    sid = pd.schedule_id(DELIVERY)
    heidi = {"id": pd.user_id("heidi@example.com"), "type": "user_reference"}
    spans = {"under way": (DEMO_START - timedelta(hours=1), DEMO_START + timedelta(hours=1)),
             "future": (DEMO_START + timedelta(hours=2), DEMO_START + timedelta(hours=3)),
             "past": (DEMO_START - timedelta(hours=3), DEMO_START - timedelta(hours=2))}
    body = {"overrides": [{"start": z(a), "end": z(b), "user": heidi} for a, b in spans.values()]}
    ids = dict(zip(spans, (item["override"]["id"] for item in call(pd, "POST", f"/schedules/{sid}/overrides",
                                                                    body=body).json())))

    def listed() -> dict[str, tuple[str, str]]:
        r = get(pd, f"/schedules/{sid}/overrides", {"since": z(DEMO_START - timedelta(days=1)),
                                                     "until": z(DEMO_START + timedelta(days=1)), "overflow": "true"})
        return {o["id"]: (o["start"], o["end"]) for o in r.json()["overrides"]}

    under_way = call(pd, "DELETE", f"/schedules/{sid}/overrides/{ids['under way']}")
    assert under_way.status_code == 200 and under_way.content == b""
    assert listed()[ids["under way"]] == (z(spans["under way"][0]), z(DEMO_START))
    future = call(pd, "DELETE", f"/schedules/{sid}/overrides/{ids['future']}")
    assert future.status_code == 204 and ids["future"] not in listed()
    assert_error(call(pd, "DELETE", f"/schedules/{sid}/overrides/{ids['past']}"), 400)
    assert listed()[ids["past"]] == tuple(z(t) for t in spans["past"])
    assert_error(call(pd, "DELETE", f"/schedules/{sid}/overrides/{ids['future']}"), 404)  # gone


def test_the_last_created_override_has_priority(pd: PagerDutyEmulator) -> None:
    sid = pd.schedule_id(DELIVERY)
    span = {"start": z(DEMO_START - timedelta(hours=1)), "end": z(DEMO_START + timedelta(hours=1))}
    for who in ("heidi@example.com", "ivan@example.com"):
        r = call(pd, "POST", f"/schedules/{sid}/overrides",
                 body={"overrides": [{**span, "user": {"id": pd.user_id(who), "type": "user_reference"}}]})
        assert r.json()[0]["status"] == 201
    assert [e["user"]["summary"] for e in oncalls(pd, [("schedule_ids[]", sid)])] == ["Ivan Ivanov"]


def test_bad_override_requests(pd: PagerDutyEmulator) -> None:
    sid = pd.schedule_id(DELIVERY)
    assert_error(call(pd, "POST", f"/schedules/{sid}/overrides", body={"nope": []}), 400)
    assert_error(call(pd, "POST", "/schedules/PNOPE00/overrides", body={"overrides": []}), 404)
    r = call(pd, "POST", f"/schedules/{sid}/overrides", body={"overrides": [
        {"start": "soon", "end": "2026-11-25T09:00:00Z", "user": {"id": pd.user_id("heidi@example.com")}},
        {"start": "2026-11-25T08:00:00Z", "end": "2026-11-25T09:00:00Z", "user": {"id": "PNOPE00"}}]})
    assert r.status_code == 201 and [item["status"] for item in r.json()] == [400, 400]


def test_read_only_keys_get_403_on_anything_but_get(pd: PagerDutyEmulator) -> None:
    pd.read_only_tokens.add("u+readonly")
    sid = pd.schedule_id(DELIVERY)
    body = {"overrides": [{"start": z(DEMO_START), "end": z(DEMO_START + timedelta(hours=1)),
                           "user": {"id": pd.user_id("heidi@example.com"), "type": "user_reference"}}]}
    assert_error(call(pd, "POST", f"/schedules/{sid}/overrides", body=body, token="u+readonly"), 403, 2010)
    assert_error(call(pd, "DELETE", f"/schedules/{sid}/overrides/Q123", token="u+readonly"), 403)
    assert get(pd, "/oncalls", token="u+readonly").status_code == 200
    assert pd.org.schedule(DELIVERY, "name").recipients(DEMO_START) == {"carol@example.com"}  # type: ignore[union-attr]


# --- rate limits, faults and dates --------------------------------------------------------------

def test_rate_limit_answers_429_with_ratelimit_headers(pd: PagerDutyEmulator) -> None:
    assert "ratelimit-limit" not in get(pd, "/oncalls").headers  # no limit set: not evaluated
    pd.set_rate_limit(2, 60)
    answers = [get(pd, "/oncalls") for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in answers] == ["1", "0", "0"]
    assert all(r.headers["ratelimit-limit"] == "2" for r in answers)
    throttled = answers[2]
    assert throttled.json() == {"error": {"message": "Rate Limit Exceeded", "code": 2020}}
    assert 1 <= int(throttled.headers["ratelimit-reset"]) <= 60 and "Retry-After" not in throttled.headers
    pd.api_tokens.add("u+second-key")
    assert get(pd, "/oncalls", token="u+second-key").status_code == 200  # each key has its own budget


def test_injected_faults_have_pagerduty_shapes(pd: PagerDutyEmulator) -> None:
    pd.inject(r"^/oncalls$", status=429, retry_after=3, times=1)
    r = get(pd, "/oncalls")
    assert_error(r, 429, 2020)
    assert r.headers["ratelimit-reset"] == "3" and r.headers["Retry-After"] == "3"
    pd.inject(r"^/oncalls$", status=429, times=1)
    r = get(pd, "/oncalls")
    assert r.status_code == 429 and int(r.headers["ratelimit-reset"]) >= 1 and "Retry-After" not in r.headers
    pd.inject(r"^/users$", status=503, times=1)
    assert_error(get(pd, "/users"), 503, 2000)
    assert get(pd, "/oncalls").status_code == 200 and get(pd, "/users").status_code == 200


@pytest.mark.parametrize("params", [
    {"since": "2026-11-24T00:00:00Z", "until": "2026-11-23T00:00:00Z"},  # until before since
    {"since": "2026-11-24T00:00:00Z"},  # until defaults to now, which is before since
    {"since": "2026-11-01T00:00:00Z", "until": "2027-02-01T00:00:00Z"},  # more than 90 days
    {"since": "yesterday"},
    {"until": "2026-13-01T00:00:00Z"},
])
def test_bad_ranges_and_dates_are_400(pd: PagerDutyEmulator, params: dict[str, str]) -> None:
    assert_error(get(pd, "/oncalls", params), 400)


def test_a_raw_plus_in_a_date_is_a_space_and_so_a_bad_date(pd: PagerDutyEmulator) -> None:
    r = httpx.get(f"{pd.url}/oncalls?since=2026-11-23T09:58:00+01:00&until=2026-11-23T09:58:00+01:00",
                  headers={"Authorization": f"Token token={PAGERDUTY_TOKEN}"}, timeout=10)
    assert_error(r, 400)


def test_ninety_days_is_allowed(pd: PagerDutyEmulator) -> None:
    r = get(pd, "/oncalls", {"since": z(DEMO_START), "until": z(DEMO_START + timedelta(days=90)), "total": "true"})
    assert r.status_code == 200 and r.json()["total"] > 90


# --- against the OpenAPI subset -----------------------------------------------------------------

def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects as JSON Schema (draft 4): ``nullable`` becomes a ``null`` type.

    The subset also says in prose, without ``nullable``, that some fields may be null: Oncall
    ``start``/``end`` ("If `null`, the user does not go off-call"), ScheduleLayer and
    ScheduleLayerEntry ``end``, ``rendered_coverage_percentage`` ("Returns null unless since or
    until are set") and User ``time_zone``. Those descriptions are taken at their word.
    """
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if k not in ("nullable", "discriminator", "example", "examples")}
    says_null = node.get("nullable") is True or re.search(r"\bnull\b", str(node.get("description", ""))) is not None
    if says_null and isinstance(node.get("type"), str):
        out["type"] = [node["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    path = SPECS / "openapi-oncall-subset.json"
    if not path.is_file():
        pytest.skip(f"{path} not present: the vendor specs live beside the repo in ../shared")
    return dict(_json_schema(json.loads(path.read_text())))


def _validate(spec: dict[str, Any], schema: dict[str, Any], instance: Any) -> None:
    from jsonschema import Draft4Validator, FormatChecker

    formats = FormatChecker(formats=())

    @formats.checks("date-time")
    def _date_time(value: object) -> bool:
        return not isinstance(value, str) or re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value) is not None

    @formats.checks("email")
    def _email(value: object) -> bool:
        return not isinstance(value, str) or re.fullmatch(r"[^@\s]+@[^@\s]+", value) is not None

    root = {**copy.deepcopy(schema), "components": spec["components"]}
    Draft4Validator(root, format_checker=formats).validate(instance)


def _response_schema(spec: dict[str, Any], template: str, method: str, status: int) -> dict[str, Any]:
    responses = spec["paths"][template][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {template} documents no {status}: {sorted(responses)}"
    response = responses[str(status)]
    if "$ref" in response:  # "#/components/responses/NotFound"
        response = spec["components"]["responses"][response["$ref"].split("/")[-1]]
    return dict(response["content"]["application/json"]["schema"])


SINCE, UNTIL = "2026-11-23T00:00:00Z", "2026-11-25T00:00:00Z"
SPEC_CASES: list[tuple[str, str, str, Params, Any, str | None, int]] = [
    # (spec path, method, request path, params, body, token, status); {payments}/{grace}: ids
    ("/oncalls", "get", "/oncalls", {}, None, PAGERDUTY_TOKEN, 200),
    ("/oncalls", "get", "/oncalls", {"since": SINCE, "until": UNTIL, "total": "true", "limit": "3"}, None,
     PAGERDUTY_TOKEN, 200),
    ("/oncalls", "get", "/oncalls", {"time_zone": "Europe/Paris", "earliest": "true"}, None, PAGERDUTY_TOKEN, 200),
    ("/oncalls", "get", "/oncalls", {"since": UNTIL, "until": SINCE}, None, PAGERDUTY_TOKEN, 400),
    ("/oncalls", "get", "/oncalls", {}, None, "wrong", 401),
    ("/schedules", "get", "/schedules", {}, None, PAGERDUTY_TOKEN, 200),
    ("/schedules", "get", "/schedules", [("include[]", "schedule_layers"), ("include[]", "final_schedule"),
                                         ("include[]", "overrides_subschedule"), ("since", SINCE),
                                         ("until", UNTIL), ("total", "true")], None, PAGERDUTY_TOKEN, 200),
    ("/schedules/{id}", "get", "/schedules/{payments}", {"include_next_oncall_for_user": "{grace}"}, None,
     PAGERDUTY_TOKEN, 200),
    ("/schedules/{id}", "get", "/schedules/{platform}", {"since": SINCE, "until": UNTIL, "overflow": "true"}, None,
     PAGERDUTY_TOKEN, 200),
    ("/schedules/{id}", "get", "/schedules/PNOPE00", {}, None, PAGERDUTY_TOKEN, 404),
    ("/schedules/{id}/users", "get", "/schedules/{payments}/users", {"since": SINCE, "until": UNTIL}, None,
     PAGERDUTY_TOKEN, 200),
    ("/schedules/{id}/overrides", "get", "/schedules/{payments}/overrides", {"since": SINCE, "until": UNTIL}, None,
     PAGERDUTY_TOKEN, 201),
    ("/schedules/{id}/overrides", "get", "/schedules/{payments}/overrides", {}, None, PAGERDUTY_TOKEN, 400),
    ("/schedules/{id}/overrides", "post", "/schedules/{payments}/overrides", {}, {"overrides": [
        {"start": "2026-11-24T09:00:00Z", "end": "2026-11-24T17:00:00Z",
         "user": {"id": "{grace}", "type": "user_reference"}, "time_zone": "UTC"},
        {"start": "2026-11-25T09:00:00Z", "end": "2026-11-25T09:00:00Z",
         "user": {"id": "{grace}", "type": "user_reference"}}]}, PAGERDUTY_TOKEN, 201),
    ("/schedules/{id}/overrides", "post", "/schedules/{payments}/overrides", {}, {"overrides": []},
     "u+readonly", 403),
    ("/users", "get", "/users", {"limit": "3", "total": "true"}, None, PAGERDUTY_TOKEN, 200),
    ("/users/{id}", "get", "/users/{grace}", [("include[]", "calendar_urls")], None, PAGERDUTY_TOKEN, 200),
    ("/users/{id}", "get", "/users/PNOPE00", {}, None, PAGERDUTY_TOKEN, 404),
    ("/users/me", "get", "/users/me", {}, None, PAGERDUTY_TOKEN, 400),
]


@pytest.mark.parametrize("template, method, path, params, body, token, status", SPEC_CASES,
                         ids=[f"{c[1]} {c[2]} {c[6]}" for c in SPEC_CASES])
def test_answers_match_the_openapi_subset(pd: PagerDutyEmulator, spec: dict[str, Any], template: str, method: str,
                                          path: str, params: Params, body: Any, token: str | None,
                                          status: int) -> None:
    pd.read_only_tokens.add("u+readonly")
    ids = {"{payments}": pd.schedule_id(PAYMENTS), "{platform}": pd.schedule_id(PLATFORM),
           "{grace}": pd.user_id("grace@example.com")}

    def fill(text: str) -> str:
        for key, value in ids.items():
            text = text.replace(key, value)
        return text

    body = json.loads(fill(json.dumps(body))) if body is not None else None
    pairs = params.items() if isinstance(params, dict) else params
    r = call(pd, method.upper(), fill(path), [(k, fill(v)) for k, v in pairs], body, token=token)
    assert r.status_code == status, r.text
    _validate(spec, _response_schema(spec, template, method, status), r.json())


def test_rate_limited_answers_match_the_openapi_subset(pd: PagerDutyEmulator, spec: dict[str, Any]) -> None:
    pd.set_rate_limit(1, 60)
    assert get(pd, "/oncalls").status_code == 200
    r = get(pd, "/oncalls")
    _validate(spec, _response_schema(spec, "/oncalls", "get", r.status_code), r.json())


def test_included_objects_are_full_users_of_the_user_schema(pd: PagerDutyEmulator, spec: dict[str, Any]) -> None:
    """With include[]=users each ``user`` is a whole User, as the Includes guide says (the subset's
    Oncall schema types the field as a UserReference only, so the rest of the entry is checked
    against Oncall with the reference put back)."""
    entries = oncalls(pd, [("include[]", "users"), ("since", SINCE), ("until", UNTIL), ("limit", "100")])
    assert entries
    user_schema = {"$ref": "#/components/schemas/User"}
    oncall_schema = {"$ref": "#/components/schemas/Oncall"}
    for entry in entries:
        _validate(spec, user_schema, entry["user"])
        reference = {k: entry["user"][k] for k in ("id", "summary", "self", "html_url")}
        _validate(spec, oncall_schema, {**entry, "user": {**reference, "type": "user_reference"}})
