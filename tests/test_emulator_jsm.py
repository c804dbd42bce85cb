"""The JSM Operations emulator follows the wire contract of JSM Ops and the Jira user lookups.

Part one checks, with plain HTTP, the behaviour ../shared/specs/jsm-ops/REFERENCE.md names: Basic
auth and its 401 shapes, cloudId discovery, offset/size paging with a relative ``links.next``,
schedules by id only, ``onCallUsers`` as account ids agreeing with the on-call engine, overrides
that really move who is on call, the timeline's periods, ``user/bulk``'s default page of 10,
private e-mails, 422s and 429s. Part two validates the answers against the OpenAPI subsets in
../shared/specs/jsm-ops/, skipped, saying why, where that folder is absent (a user's clone).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from slackgenie_emulators.base import Clock
from slackgenie_emulators.jsm import JSM_CLOUD_ID, JSM_EMAIL, JSM_TOKEN, JsmEmulator
from slackgenie_emulators.opsgenie import OpsgenieState
from slackgenie_emulators.sample import DEMO_AFTER_HANDOFF, DEMO_START, sample_org
from slackgenie_emulators.schedules import Schedule

SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs" / "jsm-ops"
AUTH = (JSM_EMAIL, JSM_TOKEN)


@pytest.fixture
def jsm() -> Iterator[JsmEmulator]:
    org = sample_org().opsgenie
    emulator = JsmEmulator(org, clock=Clock(frozen_at=DEMO_START))
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def ops_url(jsm: JsmEmulator, rest: str, cloud_id: str = JSM_CLOUD_ID) -> str:
    return f"{jsm.url}/jsm/ops/api/{cloud_id}/v1{rest}"


def ops(jsm: JsmEmulator, rest: str, auth: Any = AUTH, **params: Any) -> httpx.Response:
    return httpx.get(ops_url(jsm, rest), params=params, auth=auth, timeout=5)


def jira(jsm: JsmEmulator, path: str, params: Any = None, auth: Any = AUTH) -> httpx.Response:
    return httpx.get(f"{jsm.url}/rest/api/3/{path}", params=params, auth=auth, timeout=5)


def schedule(jsm: JsmEmulator, name: str) -> Schedule:
    found = jsm.org.schedule(name, by="name")
    assert found is not None
    return found


def engine_account_ids(jsm: JsmEmulator, s: Schedule, at: datetime) -> set[str]:
    """Who the on-call engine says is on call, as account ids."""
    return {jsm.account_id(username) for username in s.recipients(at)}


def assert_errors_shape(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"errors"} and body["errors"], body
    assert isinstance(body["errors"][0]["title"], str) and isinstance(body["errors"][0]["code"], str)


# --- auth and discovery -------------------------------------------------------------------------

def test_missing_or_wrong_credentials_get_401_with_the_unauthorized_shape(jsm: JsmEmulator) -> None:
    attempts: list[Any] = [None, (JSM_EMAIL, "wrong-token"), ("someone@example.com", JSM_TOKEN)]
    for auth in attempts:
        r = ops(jsm, "/schedules", auth=auth)
        assert r.status_code == 401
        body = r.json()
        assert body["code"] == 401 and isinstance(body["message"], str) and "errors" not in body
    genie = httpx.get(ops_url(jsm, "/schedules"), headers={"Authorization": f"GenieKey {JSM_TOKEN}"}, timeout=5)
    assert genie.status_code == 401  # the spec declares Basic and OAuth2 only
    assert jira(jsm, "myself", auth=None).status_code == 401
    assert jira(jsm, "myself", auth=(JSM_EMAIL, "nope")).status_code == 401
    me = jira(jsm, "myself").json()
    assert me["emailAddress"] == JSM_EMAIL and me["accountId"] == jsm.account_id(JSM_EMAIL)


def test_cloud_id_is_discovered_without_auth_and_a_wrong_one_is_404(jsm: JsmEmulator) -> None:
    r = httpx.get(f"{jsm.url}/_edge/tenant_info", timeout=5)
    assert r.status_code == 200 and r.json() == {"cloudId": JSM_CLOUD_ID}
    discovered = r.json()["cloudId"]
    assert httpx.get(ops_url(jsm, "/schedules", discovered), auth=AUTH, timeout=5).status_code == 200
    wrong = httpx.get(ops_url(jsm, "/schedules", "00000000-0000-0000-0000-000000000000"), auth=AUTH, timeout=5)
    assert_errors_shape(wrong, 404)


def test_missing_scopes_are_401_scope_does_not_match(jsm: JsmEmulator) -> None:
    sid = schedule(jsm, "Delivery Support_schedule").id
    body = {"responder": {"type": "user", "id": jsm.account_id("heidi@example.com")},
            "startDate": "2026-11-23T08:00:00Z", "endDate": "2026-11-23T10:00:00Z"}
    jsm.set_scopes(read=True, write=False)
    denied = httpx.post(ops_url(jsm, f"/schedules/{sid}/overrides"), json=body, auth=AUTH, timeout=5)
    assert denied.status_code == 401 and re.search("scope does not match", denied.json()["message"])
    assert denied.json()["code"] == 401
    assert ops(jsm, f"/schedules/{sid}/on-calls").status_code == 200
    assert schedule(jsm, "Delivery Support_schedule").overrides == []  # nothing was created
    jsm.set_scopes(read=False)
    r = ops(jsm, "/schedules")
    assert r.status_code == 401 and "scope does not match" in r.json()["message"]
    assert jira(jsm, "myself").status_code == 200  # the Jira user lookups are another grant


def test_a_token_without_the_delete_scope_gets_401_on_a_delete_and_may_read_and_write(jsm: JsmEmulator) -> None:
    """As an Atlassian account API token: read and write, no delete (REFERENCE.md §1, §3.6): the
    delete is 401 scope does not match, in the unauthorized shape, and the override stays."""
    s = schedule(jsm, "Delivery Support_schedule")
    jsm.set_scopes(read=True, write=True, delete=False)
    body = {"responder": {"type": "user", "id": jsm.account_id("heidi@example.com")},
            "startDate": "2026-11-23T08:00:00Z", "endDate": "2026-11-23T10:00:00Z"}
    created = httpx.post(ops_url(jsm, f"/schedules/{s.id}/overrides"), json=body, auth=AUTH, timeout=5)
    assert created.status_code == 201, created.text
    alias = created.json()["alias"]
    denied = httpx.delete(ops_url(jsm, f"/schedules/{s.id}/overrides/{alias}"), auth=AUTH, timeout=5)
    assert denied.status_code == 401 and denied.json() == {"code": 401, "message": "Unauthorized; scope does not match"}
    assert [o.alias for o in s.overrides] == [alias]
    assert ops(jsm, f"/schedules/{s.id}/overrides").status_code == 200
    jsm.set_scopes(delete=True)
    assert httpx.delete(ops_url(jsm, f"/schedules/{s.id}/overrides/{alias}"), auth=AUTH, timeout=5).status_code == 204
    assert s.overrides == []


# --- schedules --------------------------------------------------------------------------------------

def test_schedules_page_with_size_2_until_links_next_is_absent(jsm: JsmEmulator) -> None:
    seen: list[str] = []
    offset, pages = 0, 0
    while pages < 10:
        r = ops(jsm, "/schedules", size=2, offset=offset)
        assert r.status_code == 200
        body = r.json()
        assert "data" not in body and set(body) == {"values", "links", "_expands"}
        assert len(body["values"]) <= 2
        seen += [s["id"] for s in body["values"]]
        pages += 1
        following = body["links"].get("next")
        if not following:
            break
        assert following.startswith("/v1/schedules?")  # relative, without /jsm/ops/api/{cloudId}
        query = parse_qs(urlsplit(following).query)
        assert query["size"] == ["2"]
        offset = int(query["offset"][0])
    assert pages == 2
    assert seen == list(jsm.org.schedules)  # every schedule once, ids are the Opsgenie ids
    assert all("rotations" not in s for s in ops(jsm, "/schedules").json()["values"])


def test_schedule_query_is_exact_case_insensitive_or_prefix_with_a_star(jsm: JsmEmulator) -> None:
    def names(query: str) -> list[str]:
        return [s["name"] for s in ops(jsm, "/schedules", query=query).json()["values"]]

    assert names("payments_SCHEDULE") == ["Payments_schedule"]
    assert names("Payments") == []  # exact unless it ends with *
    assert names("p*") == ["Payments_schedule", "Platform_schedule"]
    assert names("Delivery Support_schedule") == ["Delivery Support_schedule"]
    assert len(names("*")) == 3


def test_schedules_are_addressed_by_id_only(jsm: JsmEmulator) -> None:
    s = schedule(jsm, "Payments_schedule")
    got = ops(jsm, f"/schedules/{s.id}").json()
    assert got["id"] == s.id and got["name"] == "Payments_schedule" and got["timezone"] == "Europe/London"
    team = jsm.org.team("Payments")
    assert team is not None and got["teamId"] == team.id and "ownerTeam" not in got
    assert_errors_shape(ops(jsm, "/schedules/Payments_schedule"), 404)
    assert_errors_shape(ops(jsm, "/schedules/Delivery%20Support_schedule/on-calls"), 404)
    assert_errors_shape(ops(jsm, "/schedules/Payments_schedule", identifierType="name"), 404)


def test_expand_rotation_shows_participants_as_account_ids(jsm: JsmEmulator) -> None:
    values = ops(jsm, "/schedules", expand="rotation").json()["values"]
    delivery = next(v for v in values if v["name"] == "Delivery Support_schedule")
    (rotation,) = delivery["rotations"]
    assert rotation["type"] == "daily" and rotation["startDate"] == "2026-11-02T09:00:00Z"
    assert rotation["participants"] == [{"type": "user", "id": jsm.account_id(f"{n}@example.com")}
                                        for n in ("alice", "bob", "carol")]
    platform = next(v for v in values if v["name"] == "Platform_schedule")
    assert platform["rotations"][0]["timeRestriction"]["type"] == "weekday-and-time-of-day"


def test_changes_to_the_shared_organisation_show_up(jsm: JsmEmulator) -> None:
    s = schedule(jsm, "Platform_schedule")
    jsm.org.rename_schedule(s, "Platform Primary")
    assert ops(jsm, f"/schedules/{s.id}").json()["name"] == "Platform Primary"
    assert [v["id"] for v in ops(jsm, "/schedules", query="platform primary").json()["values"]] == [s.id]
    jsm.org.add_override(s, "ivan@example.com", DEMO_START - timedelta(hours=1), DEMO_START + timedelta(hours=1))
    flat = ops(jsm, f"/schedules/{s.id}/on-calls", flat="true").json()
    assert flat == {"onCallUsers": [jsm.account_id("ivan@example.com")]}


# --- who is on call ---------------------------------------------------------------------------

def test_flat_on_calls_by_hand_at_the_demo_start(jsm: JsmEmulator) -> None:
    # Delivery Support_schedule: a daily rotation alice, bob, carol from 2026-11-02T09:00Z (UTC).
    # DEMO_START is 2026-11-23T08:58Z: 20 days 23 h 58 min after the start, two minutes short of
    # 21 days. So 20 whole turns have begun after turn 0: it is turn 20 (begun 2026-11-22T09:00Z),
    # and 20 % 3 = 2 -> the third participant, carol. At 09:00 turn 21 begins: 21 % 3 = 0 -> alice.
    delivery = schedule(jsm, "Delivery Support_schedule").id
    carol, alice = jsm.account_id("carol@example.com"), jsm.account_id("alice@example.com")
    assert ops(jsm, f"/schedules/{delivery}/on-calls", flat="true").json() == {"onCallUsers": [carol]}
    assert ops(jsm, f"/schedules/{delivery}/on-calls", flat="true",
               date="2026-11-23T09:01:00Z").json() == {"onCallUsers": [alice]}
    # Payments_schedule: weekly dave, erin from Monday 2026-11-02T09:00Z (London is on GMT in
    # November, so 09:00 local). On 11-23 08:58 the turn begun 11-16 09:00 is turn 2 -> dave; at
    # 09:00 turn 3 (erin) begins, but the sample override puts grace on until 18:00.
    payments = schedule(jsm, "Payments_schedule").id
    assert ops(jsm, f"/schedules/{payments}/on-calls", flat="true").json() == {
        "onCallUsers": [jsm.account_id("dave@example.com")]}
    assert ops(jsm, f"/schedules/{payments}/on-calls", flat="true", date="2026-11-23T12:00:00+00:00").json() == {
        "onCallUsers": [jsm.account_id("grace@example.com")]}
    # Platform_schedule: weekdays 09:00-17:00 London only; at 08:58 nobody: an empty list, not an error.
    platform = schedule(jsm, "Platform_schedule").id
    assert ops(jsm, f"/schedules/{platform}/on-calls", flat="true").json() == {"onCallUsers": []}


@pytest.mark.parametrize("at", [DEMO_START, DEMO_AFTER_HANDOFF, datetime(2026, 11, 24, 3, 0, tzinfo=UTC),
                                datetime(2026, 11, 25, 12, 30, tzinfo=UTC), datetime(2026, 11, 28, 12, 0, tzinfo=UTC)])
def test_flat_on_calls_are_the_engines_recipients_as_account_ids(jsm: JsmEmulator, at: datetime) -> None:
    for s in list(jsm.org.schedules.values()):
        body = ops(jsm, f"/schedules/{s.id}/on-calls", flat="true", date=at.isoformat()).json()
        assert set(body) == {"onCallUsers"}
        assert len(body["onCallUsers"]) == len(set(body["onCallUsers"]))
        assert set(body["onCallUsers"]) == engine_account_ids(jsm, s, at), (s.name, at)


def test_nested_on_calls_have_ids_and_types_and_no_opsgenie_fields(jsm: JsmEmulator) -> None:
    delivery = schedule(jsm, "Delivery Support_schedule").id
    body = ops(jsm, f"/schedules/{delivery}/on-calls").json()
    assert body == {"onCallParticipants": [{"id": jsm.account_id("carol@example.com"), "type": "user"}]}
    for stale in ("onCallRecipients", "_parent", "data"):
        assert stale not in body


def test_teams_on_call_nest_their_members_and_flatten_to_them(jsm: JsmEmulator) -> None:
    s = jsm.org.add_schedule("Team duty", "UTC", rotations=[{
        "name": "Team", "type": "weekly", "startDate": "2026-11-02T00:00:00Z",
        "participants": [{"type": "team", "name": "Payments"}]}])
    team = jsm.org.team("Payments")
    assert team is not None
    members = [jsm.account_id(u) for u in team.members]
    assert ops(jsm, f"/schedules/{s.id}/on-calls", flat="true").json() == {"onCallUsers": members}
    (tree,) = ops(jsm, f"/schedules/{s.id}/on-calls").json()["onCallParticipants"]
    assert tree["type"] == "team" and tree["id"] == team.id
    assert [p["id"] for p in tree["onCallParticipants"]] == members


def test_next_on_calls_are_who_each_rotation_puts_on_next(jsm: JsmEmulator) -> None:
    delivery = schedule(jsm, "Delivery Support_schedule").id
    flat = ops(jsm, f"/schedules/{delivery}/next-on-calls", flat="true").json()
    assert flat == {"nextOnCallUsers": [jsm.account_id("alice@example.com")]}  # turn 21, see above
    nested = ops(jsm, f"/schedules/{delivery}/next-on-calls").json()
    assert nested == {"nextOnCallParticipants": [{"id": jsm.account_id("alice@example.com"), "type": "user"}]}
    for stale in ("exactNextOnCallParticipants", "exactNextOnCallRecipients", "nextOnCallRecipients"):
        assert stale not in flat and stale not in nested


def test_dates_accept_z_and_encoded_offsets_and_reject_the_rest(jsm: JsmEmulator) -> None:
    path = f"/schedules/{schedule(jsm, 'Delivery Support_schedule').id}/on-calls"
    z = ops(jsm, path, flat="true", date="2026-11-23T09:30:00Z").json()
    utc = ops(jsm, path, flat="true", date="2026-11-23T09:30:00+00:00").json()  # httpx sends %2B
    shifted = ops(jsm, path, flat="true", date="2026-11-23T10:30:00+01:00").json()
    assert z == utc == shifted == {"onCallUsers": [jsm.account_id("alice@example.com")]}
    raw_plus = httpx.get(ops_url(jsm, path) + "?flat=true&date=2026-11-23T10:30:00+01:00", auth=AUTH, timeout=5)
    assert_errors_shape(raw_plus, 422)  # a raw '+' decodes to a space
    for bad in ("yesterday", "2026-11-23T09:30:00", "2026-13-01T00:00:00Z"):
        assert_errors_shape(ops(jsm, path, date=bad), 422)
    assert_errors_shape(ops(jsm, path, flat="maybe"), 422)


# --- overrides ----------------------------------------------------------------------------------

def test_created_override_is_201_and_changes_who_is_on_call(jsm: JsmEmulator) -> None:
    s = schedule(jsm, "Delivery Support_schedule")
    heidi = jsm.account_id("heidi@example.com")
    request = {"responder": {"type": "user", "id": heidi},
               "startDate": "2026-11-23T08:00:00Z", "endDate": "2026-11-23T10:00:00+00:00"}
    created = httpx.post(ops_url(jsm, f"/schedules/{s.id}/overrides"), json=request, auth=AUTH, timeout=5)
    assert created.status_code == 201
    override = created.json()
    assert override["alias"] and override["responder"] == {"type": "user", "id": heidi}
    assert override["startDate"] == "2026-11-23T08:00:00Z" and override["endDate"] == "2026-11-23T10:00:00Z"
    assert override["rotationIds"] is None  # none given: every rotation
    assert ops(jsm, f"/schedules/{s.id}/on-calls", flat="true").json() == {"onCallUsers": [heidi]}
    assert s.recipients(DEMO_START) == frozenset({"heidi@example.com"})  # the shared engine agrees
    listed = ops(jsm, f"/schedules/{s.id}/overrides").json()
    assert [o["alias"] for o in listed["values"]] == [override["alias"]] and "next" not in listed["links"]

    gone = httpx.delete(ops_url(jsm, f"/schedules/{s.id}/overrides/{override['alias']}"), auth=AUTH, timeout=5)
    assert gone.status_code == 204 and gone.content == b""
    assert ops(jsm, f"/schedules/{s.id}/on-calls", flat="true").json() == {
        "onCallUsers": [jsm.account_id("carol@example.com")]}
    again = httpx.delete(ops_url(jsm, f"/schedules/{s.id}/overrides/{override['alias']}"), auth=AUTH, timeout=5)
    assert_errors_shape(again, 404)


def test_override_for_nobody_and_for_named_rotations(jsm: JsmEmulator) -> None:
    s = schedule(jsm, "Delivery Support_schedule")
    rotation_id = s.rotations[0].id
    nobody = {"responder": {"type": "noone"}, "startDate": "2026-11-23T08:00:00Z",
              "endDate": "2026-11-23T08:59:00Z", "rotationIds": [rotation_id]}
    created = httpx.post(ops_url(jsm, f"/schedules/{s.id}/overrides"), json=nobody, auth=AUTH, timeout=5)
    assert created.status_code == 201
    assert created.json()["responder"] == {"type": "noone"} and created.json()["rotationIds"] == [rotation_id]
    assert ops(jsm, f"/schedules/{s.id}/on-calls", flat="true").json() == {"onCallUsers": []}


def test_invalid_overrides_are_422_and_change_nothing(jsm: JsmEmulator) -> None:
    s = schedule(jsm, "Delivery Support_schedule")
    good = {"responder": {"type": "user", "id": jsm.account_id("heidi@example.com")},
            "startDate": "2026-11-23T08:00:00Z", "endDate": "2026-11-23T10:00:00Z"}
    bad_bodies: list[Any] = [
        {k: v for k, v in good.items() if k != "responder"},
        {k: v for k, v in good.items() if k != "endDate"},
        {**good, "endDate": "2026-11-23T07:00:00Z"},
        {**good, "startDate": "soon"},
        {**good, "responder": {"type": "user", "id": "712020:not-a-user"}},
        {**good, "responder": {"type": "team", "id": "x"}},
        {**good, "responder": {"type": "user", "username": "heidi@example.com"}},  # the Opsgenie shape
        {**good, "rotationIds": ["no-such-rotation"]},
        ["not", "an", "object"],
    ]
    for body in bad_bodies:
        r = httpx.post(ops_url(jsm, f"/schedules/{s.id}/overrides"), json=body, auth=AUTH, timeout=5)
        assert_errors_shape(r, 422)
    assert s.overrides == []
    missing = httpx.post(ops_url(jsm, "/schedules/nope/overrides"), json=good, auth=AUTH, timeout=5)
    assert_errors_shape(missing, 404)


def test_overrides_list_only_ongoing_and_future_ones_and_pages(jsm: JsmEmulator) -> None:
    s = schedule(jsm, "Payments_schedule")  # holds grace-covers-erin, 11-23 09:00-18:00
    jsm.org.add_override(s, "dave@example.com", DEMO_START - timedelta(days=2), DEMO_START - timedelta(days=1),
                         alias="past")
    jsm.org.add_override(s, "erin@example.com", DEMO_START + timedelta(days=2), DEMO_START + timedelta(days=3),
                         alias="future")
    aliases: list[str] = []
    offset, pages = 0, 0
    while pages < 10:
        body = ops(jsm, f"/schedules/{s.id}/overrides", size=1, offset=offset).json()
        aliases += [o["alias"] for o in body["values"]]
        pages += 1
        following = body["links"].get("next")
        if not following:
            break
        assert following.startswith(f"/v1/schedules/{s.id}/overrides?")
        offset = int(parse_qs(urlsplit(following).query)["offset"][0])
    assert aliases == ["grace-covers-erin", "future"] and pages == 2


# --- timeline -----------------------------------------------------------------------------------

def periods_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    (rotation,) = body["finalTimeline"]["rotations"]
    periods: list[dict[str, Any]] = rotation["periods"]
    return periods


def test_timeline_periods_are_contiguous_and_change_where_the_engine_does(jsm: JsmEmulator) -> None:
    s = schedule(jsm, "Delivery Support_schedule")
    body = ops(jsm, f"/schedules/{s.id}/timeline", interval=1, intervalUnit="weeks", date=DEMO_START.isoformat()).json()
    # The week containing Monday 2026-11-23 08:58 UTC starts that Monday at midnight.
    assert body["startDate"] == "2026-11-23T00:00:00Z" and body["endDate"] == "2026-11-30T00:00:00Z"
    periods = periods_of(body)
    assert periods[0]["startDate"] == body["startDate"] and periods[-1]["endDate"] == body["endDate"]
    for before, after in pairwise(periods):
        assert before["endDate"] == after["startDate"]  # contiguous: the rotation never leaves a gap
        assert before["responder"] != after["responder"]  # and merged: one period per responder stint
    for period in periods:
        start = datetime.fromisoformat(period["startDate"])
        end = datetime.fromisoformat(period["endDate"])
        assert period["type"] == "base"
        assert {period["responder"]["id"]} == engine_account_ids(jsm, s, start)
        change = s.next_change(start)
        assert change is not None
        if end < datetime.fromisoformat(body["endDate"]):
            assert change == end
        else:
            assert change >= end  # clipped at the end of the range
    assert [p["startDate"] for p in periods[:3]] == ["2026-11-23T00:00:00Z", "2026-11-23T09:00:00Z",
                                                     "2026-11-24T09:00:00Z"]


def test_timeline_shows_overrides_and_restriction_gaps(jsm: JsmEmulator) -> None:
    payments = schedule(jsm, "Payments_schedule")
    periods = periods_of(ops(jsm, f"/schedules/{payments.id}/timeline", date=DEMO_START.isoformat()).json())
    grace = next(p for p in periods if p["type"] == "override")
    assert (grace["startDate"], grace["endDate"]) == ("2026-11-23T09:00:00Z", "2026-11-23T18:00:00Z")
    assert grace["responder"] == {"type": "user", "id": jsm.account_id("grace@example.com")}

    platform = schedule(jsm, "Platform_schedule")
    body = ops(jsm, f"/schedules/{platform.id}/timeline", date=DEMO_START.isoformat()).json()
    periods = periods_of(body)
    assert len(periods) == 5  # Monday to Friday, 09:00-17:00 London (GMT in November)
    for period in periods:
        start = datetime.fromisoformat(period["startDate"])
        assert (start.hour, datetime.fromisoformat(period["endDate"]).hour) == (9, 17)
        assert engine_account_ids(jsm, platform, start) == {period["responder"]["id"]}
        assert platform.next_change(start) == datetime.fromisoformat(period["endDate"])
        assert engine_account_ids(jsm, platform, start - timedelta(minutes=1)) == set()  # a gap before each


def test_timeline_range_follows_the_unit_in_the_schedules_time_zone(jsm: JsmEmulator) -> None:
    s = jsm.org.add_schedule("New York nights", "America/New_York", rotations=[{
        "name": "Nights", "type": "daily", "startDate": "2026-11-02T23:00:00Z",
        "participants": [{"type": "user", "username": "bob@example.com"},
                         {"type": "user", "username": "dave@example.com"}]}])
    path = f"/schedules/{s.id}/timeline"
    # 2026-11-23 03:00Z is still Sunday 22:00 in New York (EST, UTC-5): that week began Monday 11-16.
    week = ops(jsm, path, date="2026-11-23T03:00:00Z").json()
    assert (week["startDate"], week["endDate"]) == ("2026-11-16T05:00:00Z", "2026-11-23T05:00:00Z")
    days = ops(jsm, path, interval=2, intervalUnit="days", date="2026-11-23T03:00:00Z").json()
    assert (days["startDate"], days["endDate"]) == ("2026-11-22T05:00:00Z", "2026-11-24T05:00:00Z")
    months = ops(jsm, path, interval=2, intervalUnit="months", date="2026-11-23T03:00:00Z").json()
    # 11-01 00:00 is still EDT (UTC-4; the clocks go back at 02:00 that day); 01-01 00:00 is EST.
    assert (months["startDate"], months["endDate"]) == ("2026-11-01T04:00:00Z", "2027-01-01T05:00:00Z")
    periods = periods_of(days)
    assert periods[0]["startDate"] == days["startDate"] and periods[-1]["endDate"] == days["endDate"]
    assert_errors_shape(ops(jsm, path, intervalUnit="fortnights"), 422)
    assert_errors_shape(ops(jsm, path, interval=0), 422)
    assert_errors_shape(ops(jsm, path, date="2020-01-01T00:00:00Z"), 422)  # more than a year back
    assert_errors_shape(ops(jsm, "/schedules/nope/timeline"), 404)


def test_timeline_expansions(jsm: JsmEmulator) -> None:
    payments = schedule(jsm, "Payments_schedule")
    plain = ops(jsm, f"/schedules/{payments.id}/timeline", date=DEMO_START.isoformat()).json()
    assert set(plain) == {"startDate", "endDate", "finalTimeline", "_expands"}
    body = ops(jsm, f"/schedules/{payments.id}/timeline", date=DEMO_START.isoformat(),
               expand="base,override").json()
    assert {"baseTimeline", "overrideTimeline"} <= set(body) and "forwardingTimeline" not in body
    base = body["baseTimeline"]["rotations"][0]["periods"]
    assert all(p["type"] == "base" for p in base)
    assert base[1]["responder"]["id"] == jsm.account_id("erin@example.com")  # what grace covers
    (layer,) = body["overrideTimeline"]["rotations"][0]["periods"]
    assert layer["responder"]["id"] == jsm.account_id("grace@example.com")


# --- paging limits and rate limits --------------------------------------------------------------

def test_size_out_of_range_is_422(jsm: JsmEmulator) -> None:
    for size in ("51", "0", "ten"):
        assert_errors_shape(ops(jsm, "/schedules", size=size), 422)
    assert_errors_shape(ops(jsm, "/schedules", offset="-1"), 422)
    sid = schedule(jsm, "Payments_schedule").id
    assert_errors_shape(ops(jsm, f"/schedules/{sid}/overrides", size="51"), 422)
    assert ops(jsm, "/schedules", size="50").status_code == 200


def test_rate_limit_is_429_with_retry_after(jsm: JsmEmulator) -> None:
    jsm.set_rate_limit(2, 60)
    statuses = [ops(jsm, "/schedules").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    r = ops(jsm, "/schedules")
    assert_errors_shape(r, 429)
    assert r.json()["errors"][0]["title"] == "Too many requests"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert httpx.get(f"{jsm.url}/_edge/tenant_info", timeout=5).status_code == 200  # not an ops path
    assert jira(jsm, "myself").status_code == 200


def test_injected_faults_answer_in_the_apis_shapes(jsm: JsmEmulator) -> None:
    jsm.inject(r"/on-calls$", status=429, retry_after=3, times=1)
    jsm.inject(r"/user/bulk$", status=503, times=1)
    sid = schedule(jsm, "Payments_schedule").id
    throttled = ops(jsm, f"/schedules/{sid}/on-calls")
    assert_errors_shape(throttled, 429)
    assert throttled.headers["Retry-After"] == "3"
    assert ops(jsm, f"/schedules/{sid}/on-calls").status_code == 200  # times=1
    down = jira(jsm, "user/bulk", [("accountId", jsm.account_id("bob@example.com"))])
    assert down.status_code == 503 and down.json()["errorMessages"]


# --- Jira user lookups ------------------------------------------------------------------------

def test_user_bulk_defaults_to_10_results_a_page_and_says_so(jsm: JsmEmulator) -> None:
    jsm.org.add_user("judy@example.com", "Judy Jones")
    jsm.org.add_user("mallory@example.com", "Mallory Moss")
    usernames = sorted(u.username for u in jsm.org.users.values())
    assert len(usernames) == 12
    ids = [jsm.account_id(u) for u in usernames]
    first = jira(jsm, "user/bulk", [("accountId", a) for a in ids])
    assert first.status_code == 200
    page = first.json()
    assert page["maxResults"] == 10 and page["startAt"] == 0 and page["total"] == 12
    assert len(page["values"]) == 10 and page["isLast"] is False
    assert [u["accountId"] for u in page["values"]] == ids[:10]
    second = httpx.get(page["nextPage"], auth=AUTH, timeout=5).json()
    assert second["startAt"] == 10 and second["isLast"] is True and "nextPage" not in second
    assert [u["accountId"] for u in second["values"]] == ids[10:]
    everyone = jira(jsm, "user/bulk", [("maxResults", "50"), *[("accountId", a) for a in ids]]).json()
    assert everyone["isLast"] is True and len(everyone["values"]) == 12
    by_id = {u["accountId"]: u for u in everyone["values"]}
    assert by_id[jsm.account_id("alice@example.com")]["emailAddress"] == "alice@example.com"
    assert by_id[jsm.account_id("alice@example.com")]["displayName"] == "Alice Archer"
    assert jira(jsm, "user/bulk").status_code == 400  # no accountId
    unknown = jira(jsm, "user/bulk", [("accountId", "712020:nobody")]).json()
    assert unknown["values"] == [] and unknown["total"] == 0 and unknown["isLast"] is True


def test_user_bulk_pages_are_capped_below_max_results_and_say_where_the_next_one_is(jsm: JsmEmulator) -> None:
    """A server-side cap of 5: 12 users asked with maxResults 50 come in pages of 5, 5 and 2;
    each page says the maxResults it used, isLast, and (but the last) nextPage."""
    jsm.org.add_user("judy@example.com", "Judy Jones")
    jsm.org.add_user("mallory@example.com", "Mallory Moss")
    ids = [jsm.account_id(u) for u in sorted(u.username for u in jsm.org.users.values())]
    assert len(ids) == 12
    jsm.set_user_page_cap(5)
    page = jira(jsm, "user/bulk", [("maxResults", "50"), *[("accountId", a) for a in ids]]).json()
    got: list[str] = []
    for expected_start, expected_size in ((0, 5), (5, 5), (10, 2)):
        assert page["startAt"] == expected_start and page["maxResults"] == 5 and page["total"] == 12
        assert len(page["values"]) == expected_size
        got += [u["accountId"] for u in page["values"]]
        if expected_start < 10:
            assert page["isLast"] is False
            assert parse_qs(urlsplit(page["nextPage"]).query)["startAt"] == [str(expected_start + 5)]
            page = httpx.get(page["nextPage"], auth=AUTH, timeout=5).json()
    assert page["isLast"] is True and "nextPage" not in page
    assert got == ids
    short = jira(jsm, "user/bulk", [("maxResults", "3"), *[("accountId", a) for a in ids]]).json()
    assert short["maxResults"] == 3 and len(short["values"]) == 3  # below the cap: as asked
    jsm.set_user_page_cap(None)
    assert len(jira(jsm, "user/bulk", [("maxResults", "50"), *[("accountId", a) for a in ids]]).json()["values"]) == 12


def test_account_ids_are_deterministic(jsm: JsmEmulator) -> None:
    with JsmEmulator(OpsgenieState()) as other:  # another server, another (empty) org: the same id
        assert isinstance(other, JsmEmulator)
        assert other.account_id("alice@example.com") == jsm.account_id("alice@example.com")
    assert jsm.account_id("alice@example.com").startswith("712020:")
    assert jsm.account_id("alice@example.com") != jsm.account_id("bob@example.com")


def test_hidden_email_is_null_and_does_not_match_a_search(jsm: JsmEmulator) -> None:
    jsm.hidden_emails.add("erin@example.com")
    erin = jsm.account_id("erin@example.com")
    user = jira(jsm, "user", {"accountId": erin}).json()
    assert user["accountId"] == erin and user["emailAddress"] is None and user["displayName"] == "Erin Evans"
    bulk = jira(jsm, "user/bulk", [("accountId", erin)]).json()
    assert bulk["values"][0]["emailAddress"] is None
    assert jira(jsm, "user/search", {"query": "erin@example.com"}).json() == []
    found = jira(jsm, "user/search", {"query": "erin"}).json()  # by display name still
    assert [u["accountId"] for u in found] == [erin] and found[0]["emailAddress"] is None


def test_user_search_is_a_bare_array_prefix_match(jsm: JsmEmulator) -> None:
    found = jira(jsm, "user/search", {"query": "alice@example.com"}).json()
    assert isinstance(found, list) and [u["emailAddress"] for u in found] == ["alice@example.com"]
    assert [u["displayName"] for u in jira(jsm, "user/search", {"query": "da"}).json()] == ["Dave Diaz", "Dana Lead"]
    assert jira(jsm, "user/search", {"query": "example.com"}).json() == []  # a prefix, not a substring
    assert jira(jsm, "user/search").status_code == 400
    assert jira(jsm, "user", {"accountId": "712020:nobody"}).status_code == 404
    assert jira(jsm, "user").status_code == 400


# --- against the vendor's OpenAPI documents ----------------------------------------------------

needs_specs = pytest.mark.skipif(
    not SPECS.is_dir(), reason=f"{SPECS} not present: the vendor specs live beside the repo in ../shared")


def _spec(name: str) -> dict[str, Any]:
    if not (SPECS / name).is_file():
        pytest.skip(f"{SPECS / name} not present: the vendor specs live beside the repo in ../shared")
    spec: dict[str, Any] = json.loads((SPECS / name).read_text())
    return spec


def _tighten(node: Any) -> Any:
    """The OpenAPI 3.0 schemas made checkable by JSON Schema, as their prose means them:

    * a property that is ``nullable``, or whose description documents null ("may be returned as
      null", "Null if ..."), also accepts null (OpenAPI 3.0 needs ``nullable: true`` for that, and
      the documents forget it);
    * an object schema that lists its properties accepts no others, so an invented field (an
      Opsgenie ``data`` envelope, ``_parent``, ``onCallRecipients``) fails. This also makes the
      on-call ``oneOf``s decidable: without it every object matches both branches.
    """
    if isinstance(node, list):
        return [_tighten(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _tighten(value) for key, value in node.items()}
    if isinstance(out.get("properties"), dict):
        out.setdefault("additionalProperties", False)
        for name, prop in list(out["properties"].items()):
            text = str(prop.get("description", "")) if isinstance(prop, dict) else ""
            if isinstance(prop, dict) and (prop.get("nullable") or re.search(r"\bnull\b", text, re.IGNORECASE)):
                out["properties"][name] = {"anyOf": [prop, {"type": "null"}]}
    return out


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    from jsonschema import (
        Draft4Validator,  # OpenAPI 3.0 schema objects are a draft-4/5 dialect
    )

    return Draft4Validator({**schema, "components": _tighten(copy.deepcopy(spec["components"]))})


def _response_schema(spec: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    operation = spec["paths"][path][method]
    schema: dict[str, Any] = operation["responses"][status]["content"]["application/json"]["schema"]
    return schema


OPS_CASES = [  # (spec path, method, status, request path (schedule by name, filled in), params)
    ("/api/{cloudId}/v1/schedules", "get", "200", "/schedules", {}),
    ("/api/{cloudId}/v1/schedules", "get", "200", "/schedules", {"expand": "rotation", "size": "2"}),
    ("/api/{cloudId}/v1/schedules", "get", "401", "/schedules", {"_auth": "wrong"}),
    ("/api/{cloudId}/v1/schedules", "get", "422", "/schedules", {"size": "51"}),
    ("/api/{cloudId}/v1/schedules/{id}", "get", "200", "/schedules/{Payments_schedule}", {}),
    ("/api/{cloudId}/v1/schedules/{id}", "get", "404", "/schedules/Payments_schedule", {}),
    ("/api/{cloudId}/v1/schedules/{scheduleId}/on-calls", "get", "200",
     "/schedules/{Delivery Support_schedule}/on-calls", {"flat": "true"}),
    ("/api/{cloudId}/v1/schedules/{scheduleId}/on-calls", "get", "200",
     "/schedules/{Delivery Support_schedule}/on-calls", {}),
    ("/api/{cloudId}/v1/schedules/{scheduleId}/on-calls", "get", "200",
     "/schedules/{Platform_schedule}/on-calls", {"flat": "true"}),
    ("/api/{cloudId}/v1/schedules/{scheduleId}/on-calls", "get", "422",
     "/schedules/{Platform_schedule}/on-calls", {"date": "tomorrow"}),
    ("/api/{cloudId}/v1/schedules/{scheduleId}/next-on-calls", "get", "200",
     "/schedules/{Payments_schedule}/next-on-calls", {"flat": "true"}),
    ("/api/{cloudId}/v1/schedules/{scheduleId}/next-on-calls", "get", "200",
     "/schedules/{Payments_schedule}/next-on-calls", {}),
    ("/api/{cloudId}/v1/schedules/{scheduleId}/overrides", "get", "200",
     "/schedules/{Payments_schedule}/overrides", {}),
    ("/api/{cloudId}/v1/schedules/{scheduleId}/overrides", "get", "404", "/schedules/nope/overrides", {}),
    ("/api/{cloudId}/v1/schedules/{scheduleId}/timeline", "get", "200",
     "/schedules/{Payments_schedule}/timeline", {"expand": "base,forwarding,override"}),
    ("/api/{cloudId}/v1/schedules/{scheduleId}/timeline", "get", "200",
     "/schedules/{Platform_schedule}/timeline", {"interval": "1", "intervalUnit": "months"}),
    ("/api/{cloudId}/v1/schedules/{scheduleId}/timeline", "get", "422",
     "/schedules/{Platform_schedule}/timeline", {"intervalUnit": "years"}),
]


def _fill(jsm: JsmEmulator, path: str) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: schedule(jsm, m.group(1)).id, path)


@needs_specs
@pytest.mark.parametrize("spec_path, method, status, path, params", OPS_CASES)
def test_ops_responses_match_the_openapi_document(jsm: JsmEmulator, spec_path: str, method: str, status: str,
                                                  path: str, params: dict[str, str]) -> None:
    spec = _spec("openapi-oncall-subset.json")
    schema = _response_schema(spec, spec_path, method, status)
    query = {k: v for k, v in params.items() if k != "_auth"}
    auth = (JSM_EMAIL, "wrong") if params.get("_auth") == "wrong" else AUTH
    r = ops(jsm, _fill(jsm, path), auth=auth, **query)
    assert str(r.status_code) == status, r.text
    _validator(spec, schema).validate(r.json())


@needs_specs
def test_created_override_and_its_request_match_the_openapi_document(jsm: JsmEmulator) -> None:
    spec = _spec("openapi-oncall-subset.json")
    operation = spec["paths"]["/api/{cloudId}/v1/schedules/{scheduleId}/overrides"]["post"]
    request_schema = operation["requestBody"]["content"]["application/json"]["schema"]
    s = schedule(jsm, "Delivery Support_schedule")
    for body in ({"responder": {"type": "user", "id": jsm.account_id("heidi@example.com")},
                  "startDate": "2026-11-24T05:00:00Z", "endDate": "2026-11-24T10:00:00Z",
                  "rotationIds": [s.rotations[0].id]},
                 {"responder": {"type": "noone"}, "startDate": "2026-11-25T05:00:00Z",
                  "endDate": "2026-11-25T10:00:00Z"}):
        _validator(spec, request_schema).validate(body)  # what we send is a CreateOverrideRequest
        r = httpx.post(ops_url(jsm, f"/schedules/{s.id}/overrides"), json=body, auth=AUTH, timeout=5)
        assert r.status_code == 201
        _validator(spec, _response_schema(spec, "/api/{cloudId}/v1/schedules/{scheduleId}/overrides",
                                          "post", "201")).validate(r.json())
    listed = ops(jsm, f"/schedules/{s.id}/overrides")
    _validator(spec, _response_schema(spec, "/api/{cloudId}/v1/schedules/{scheduleId}/overrides",
                                      "get", "200")).validate(listed.json())
    assert len(listed.json()["values"]) == 2


@needs_specs
def test_every_served_ops_path_is_in_the_document(jsm: JsmEmulator) -> None:
    spec = _spec("openapi-oncall-subset.json")
    served = {spec_path for spec_path, *_ in OPS_CASES} | {"/api/{cloudId}/v1/schedules/{scheduleId}/overrides"}
    assert served == set(spec["paths"])  # every documented operation is exercised above
    assert spec["servers"][0]["url"].rstrip("/").endswith("/jsm/ops")  # /jsm/ops + /api/{cloudId}/v1/...


@needs_specs
def test_jira_user_responses_match_the_openapi_document(jsm: JsmEmulator) -> None:
    spec = _spec("jira-platform-users-subset.json")
    jsm.hidden_emails.add("erin@example.com")  # a private profile: emailAddress null, as documented
    ids = [jsm.account_id(u.username) for u in jsm.org.users.values()]
    cases: list[tuple[str, Any]] = [
        ("/rest/api/3/myself", None),
        ("/rest/api/3/user", {"accountId": jsm.account_id("erin@example.com")}),
        ("/rest/api/3/user", {"accountId": jsm.account_id("alice@example.com")}),
        ("/rest/api/3/user/bulk", [("accountId", a) for a in ids]),
        ("/rest/api/3/user/bulk", [("maxResults", "3"), ("startAt", "9"), *[("accountId", a) for a in ids]]),
        ("/rest/api/3/user/search", {"query": "e"}),
        ("/rest/api/3/user/search", {"query": "d"}),
    ]
    assert {path for path, _ in cases} == set(spec["paths"])
    for path, params in cases:
        r = jira(jsm, path.removeprefix("/rest/api/3/"), params)
        assert r.status_code == 200, (path, r.text)
        _validator(spec, _response_schema(spec, path, "get", "200")).validate(r.json())


@needs_specs
def test_a_capped_user_bulk_page_matches_the_openapi_document(jsm: JsmEmulator) -> None:
    spec = _spec("jira-platform-users-subset.json")
    ids = [jsm.account_id(u.username) for u in jsm.org.users.values()]
    jsm.set_user_page_cap(4)
    page = jira(jsm, "user/bulk", [("maxResults", "50"), *[("accountId", a) for a in ids]]).json()
    assert page["isLast"] is False and page["maxResults"] == 4 and len(page["values"]) == 4
    _validator(spec, _response_schema(spec, "/rest/api/3/user/bulk", "get", "200")).validate(page)
