"""The PagerDuty emulator's escalation policies follow PagerDuty's contract
(../shared/specs/escalations/REFERENCE.md §3, ../shared/specs/pagerduty/REFERENCE.md §2-§3):
``GET /escalation_policies`` (``query``, ``user_ids[]``, ``team_ids[]``, ``include[]``,
``sort_by``, classic ``limit``/``offset``/``more``/``total`` paging) and ``GET
/escalation_policies/{id}``; level i is ``escalation_rules[i - 1]``, a per-level wait, 1 to 10
targets, users and schedules only; ``/oncalls`` by ``escalation_policy_ids[]`` with every level's
entries (no level filter), a user named directly on a level as a permanent on-call (schedule,
start and end null), duplicates across levels and policies, ``schedule_ids[]=null``, ``earliest``.

Plain HTTP against the sample organisation, whose "Payments Escalation" is written by hand in
slackgenie_emulators/sample.py (Payments_schedule at once, team Payments (dave, erin, grace) after
15 minutes, dana.lead after 30). The escalation paths are not in the OpenAPI subset of
../shared/specs/pagerduty (SOURCE.md: nine operations kept), said so by a skip and checked here
by hand against REFERENCE.md §3; the ``/oncalls`` entries and its parameters are checked against
the subset where it is present (skipped saying why where it is not). PagerDuty's official Python
client (``pagerduty``) reads the policies as a second, independent client when it is installed.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from slackgenie_emulators.base import Clock
from slackgenie_emulators.pagerduty import PAGERDUTY_TOKEN, PagerDutyEmulator
from slackgenie_emulators.sample import DEMO_START, sample_org

SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs"
POLICY = "Payments Escalation"
DAVE, ERIN, GRACE, DANA, HEIDI = (f"{n}@example.com" for n in ("dave", "erin", "grace", "dana.lead", "heidi"))
PAYMENTS, DELIVERY = "Payments_schedule", "Delivery Support_schedule"
Params = dict[str, str] | list[tuple[str, str]]


@pytest.fixture
def pd() -> Iterator[PagerDutyEmulator]:
    emulator = PagerDutyEmulator(sample_org().opsgenie, clock=Clock(frozen_at=DEMO_START))
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def get(pd: PagerDutyEmulator, path: str, params: Params | None = None, token: str | None = PAGERDUTY_TOKEN,
        ) -> httpx.Response:
    headers = {"Accept": "application/vnd.pagerduty+json;version=2"}
    if token is not None:
        headers["Authorization"] = f"Token token={token}"
    query: list[tuple[str, str | int | float | bool | None]] = list(
        params.items() if isinstance(params, dict) else params or [])
    return httpx.get(pd.url + path, params=query, headers=headers, timeout=10)


def ok(r: httpx.Response) -> Any:
    assert r.status_code == 200, r.text
    return r.json()


def policy(pd: PagerDutyEmulator, name: str = POLICY) -> dict[str, Any]:
    return dict(ok(get(pd, f"/escalation_policies/{pd.policy_id(name)}"))["escalation_policy"])


def oncalls(pd: PagerDutyEmulator, params: Params) -> list[dict[str, Any]]:
    body = ok(get(pd, "/oncalls", params))
    assert body["more"] is False, "ask for fewer entries than a page in these tests"
    return list(body["oncalls"])


# --- the policies ------------------------------------------------------------------------------

def test_a_policy_as_pagerduty_gives_it(pd: PagerDutyEmulator) -> None:
    p = policy(pd)
    assert (p["id"], p["type"], p["name"], p["summary"]) == (pd.policy_id(POLICY), "escalation_policy", POLICY, POLICY)
    assert re.fullmatch(r"P[0-9A-Z]{6}", p["id"]) and p["self"].endswith(f"/escalation_policies/{p['id']}")
    assert p["num_loops"] == 0 and p["on_call_handoff_notifications"] in ("if_has_services", "always")
    assert [t["summary"] for t in p["teams"]] == ["Payments"]  # at most one team
    rules = p["escalation_rules"]
    # Opsgenie's delays 0/15/30 from the start are PagerDuty's waits per level: 15, 15, then the last's
    assert [r["escalation_delay_in_minutes"] for r in rules][:2] == [15, 15]
    assert all(isinstance(r["escalation_delay_in_minutes"], int) for r in rules)
    assert [[(t["type"], t["summary"]) for t in r["targets"]] for r in rules] == [
        [("schedule_reference", PAYMENTS)],
        [("user_reference", "Dave Diaz"), ("user_reference", "Erin Evans"), ("user_reference", "Grace Green")],
        [("user_reference", "Dana Lead")],
    ]  # the team as its members: PagerDuty has no team targets
    assert rules[1]["targets"][0]["id"] == pd.user_id(DAVE) and rules[0]["targets"][0]["id"] == pd.schedule_id(PAYMENTS)
    assert all(1 <= len(r["targets"]) <= 10 and r["id"] for r in rules)


def test_the_list_filters_sorts_and_pages(pd: PagerDutyEmulator) -> None:
    body = ok(get(pd, "/escalation_policies"))
    assert set(body) >= {"escalation_policies", "limit", "offset", "more", "total"} and body["total"] is None
    names = [p["name"] for p in body["escalation_policies"]]
    # the sample's policy, and a stand-in for each schedule no policy targets
    assert names == [f"{DELIVERY} policy", POLICY, "Platform_schedule policy"]
    assert [p["name"] for p in ok(get(pd, "/escalation_policies", {"query": "payments esc"}))["escalation_policies"]] \
        == [POLICY]
    assert ok(get(pd, "/escalation_policies", {"query": "nothing like it"}))["escalation_policies"] == []
    desc = ok(get(pd, "/escalation_policies", {"sort_by": "name:desc"}))["escalation_policies"]
    assert [p["name"] for p in desc] == list(reversed(names))
    assert get(pd, "/escalation_policies", {"sort_by": "id"}).status_code == 400
    by_user = ok(get(pd, "/escalation_policies", {"user_ids[]": pd.user_id(DANA)}))["escalation_policies"]
    assert [p["name"] for p in by_user] == [POLICY]
    seen: list[str] = []
    offset = 0
    for _ in range(10):  # bounded: three policies
        page = ok(get(pd, "/escalation_policies", {"limit": "1", "offset": str(offset), "total": "true"}))
        assert page["total"] == 3 and len(page["escalation_policies"]) == 1
        seen += [p["name"] for p in page["escalation_policies"]]
        if not page["more"]:
            break
        offset += page["limit"]
    assert seen == names


def test_includes_expand_targets_and_teams(pd: PagerDutyEmulator) -> None:
    body = ok(get(pd, "/escalation_policies", [("query", POLICY), ("include[]", "targets"), ("include[]", "teams"),
                                               ("include[]", "escalation_rule_assignment_strategies")]))
    [p] = body["escalation_policies"]
    first, second = p["escalation_rules"][0], p["escalation_rules"][1]
    assert first["targets"][0]["type"] == "schedule" and first["targets"][0]["name"] == PAYMENTS
    assert [t["email"] for t in second["targets"]] == [DAVE, ERIN, GRACE]
    assert p["teams"][0]["type"] == "team" and p["teams"][0]["name"] == "Payments"
    assert first["escalation_rule_assignment_strategy"] in ("round_robin", "assign_to_everyone")
    assert get(pd, "/escalation_policies", {"include[]": "everything"}).status_code == 400


def test_errors_are_pagerdutys(pd: PagerDutyEmulator) -> None:
    r = get(pd, "/escalation_policies/PNOPE00")
    assert r.status_code == 404 and r.json()["error"]["code"] == 2100
    r = get(pd, "/escalation_policies", token=None)
    assert r.status_code == 401 and r.json()["error"]["code"] == 2006


def test_a_level_of_a_schedule_and_a_user_and_an_edit(pd: PagerDutyEmulator) -> None:
    escalation = pd.org.escalation(POLICY, "name")
    assert escalation is not None
    pd.also_notify(escalation, 1, {"type": "user", "username": HEIDI})
    assert [t["type"] for t in policy(pd)["escalation_rules"][0]["targets"]] == ["schedule_reference", "user_reference"]
    pd.org.set_rules(escalation, [{"delay": 0, "recipient": {"type": "user", "username": DANA}}])
    [only] = policy(pd)["escalation_rules"]
    assert [t["summary"] for t in only["targets"]] == ["Dana Lead", "Heidi Hall"]
    # Payments_schedule is targeted by no policy now: it stands in a policy of its own again
    assert f"{PAYMENTS} policy" in [p["name"] for p in ok(get(pd, "/escalation_policies"))["escalation_policies"]]


# --- /oncalls by policy ------------------------------------------------------------------------

def test_oncalls_of_a_policy_give_every_level_with_permanent_user_targets(pd: PagerDutyEmulator) -> None:
    entries = oncalls(pd, [("escalation_policy_ids[]", pd.policy_id(POLICY)), ("include[]", "users")])
    got = sorted((e["escalation_level"], e["user"]["email"], (e["schedule"] or {}).get("summary"), e["start"], e["end"])
                 for e in entries)
    # by hand: dave's week 2 in Payments (Mon 16th 09:00 to Mon 23rd 09:00) at level 1; the team's
    # three and dana named directly: on call for good, in no schedule; dave twice (levels 1 and 2)
    assert got == [
        (1, DAVE, PAYMENTS, "2026-11-16T09:00:00Z", "2026-11-23T09:00:00Z"),
        (2, DAVE, None, None, None), (2, ERIN, None, None, None), (2, GRACE, None, None, None),
        (3, DANA, None, None, None),
    ]
    assert {e["escalation_policy"]["id"] for e in entries} == {pd.policy_id(POLICY)}
    assert all(e["escalation_policy"]["type"] == "escalation_policy_reference" for e in entries)


def test_schedule_ids_null_and_earliest(pd: PagerDutyEmulator) -> None:
    permanent = oncalls(pd, [("schedule_ids[]", "null")])
    assert sorted((e["escalation_level"], e["user"]["summary"]) for e in permanent) == [
        (2, "Dave Diaz"), (2, "Erin Evans"), (2, "Grace Green"), (3, "Dana Lead")]
    assert all(e["schedule"] is None and e["start"] is None and e["end"] is None for e in permanent)
    # a schedule filter alone leaves the permanent ones out; Payments is in one policy: one entry
    [entry] = oncalls(pd, [("schedule_ids[]", pd.schedule_id(PAYMENTS))])
    assert (entry["escalation_policy"]["summary"], entry["escalation_level"]) == (POLICY, 1)
    week = [("escalation_policy_ids[]", pd.policy_id(POLICY)), ("since", "2026-11-23T08:58:00Z"),
            ("until", "2026-11-30T08:58:00Z"), ("limit", "100")]
    every, first = oncalls(pd, week), oncalls(pd, week + [("earliest", "true")])
    # level 1 over the week: dave to 09:00, grace's override 09:00-18:00, erin from 18:00: three
    assert sorted(e["user"]["summary"] for e in every if e["escalation_level"] == 1) == [
        "Dave Diaz", "Erin Evans", "Grace Green"]
    assert len(first) == len({(e["escalation_level"], e["user"]["id"]) for e in every}) == 7


def test_a_policy_targeting_a_refusing_schedule_fails_as_a_whole(pd: PagerDutyEmulator) -> None:
    pd.refuse(PAYMENTS, 503)
    r = get(pd, "/oncalls", [("escalation_policy_ids[]", pd.policy_id(POLICY))])
    assert r.status_code == 503 and "error" in r.json()
    [stand_in] = ok(get(pd, "/escalation_policies", {"query": f"{DELIVERY} policy"}))["escalation_policies"]
    others = oncalls(pd, [("escalation_policy_ids[]", stand_in["id"])])  # not targeting it: answered
    assert [e["user"]["summary"] for e in others] == ["Carol Chen"]


# --- against the vendor's spec ------------------------------------------------------------------

@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    path = SPECS / "pagerduty" / "openapi-oncall-subset.json"
    if not path.is_file():
        pytest.skip(f"{path} not present: the vendor specs live beside the repo in ../shared")
    return dict(json.loads(path.read_text()))


def test_the_escalation_paths_are_not_in_the_subset(spec: dict[str, Any]) -> None:
    missing = [p for p in ("/escalation_policies", "/escalation_policies/{id}") if p not in spec["paths"]]
    if missing:
        pytest.skip(f"{missing} not in ../shared/specs/pagerduty/openapi-oncall-subset.json (SOURCE.md: nine "
                    "operations kept): checked above by hand against ../shared/specs/escalations/REFERENCE.md §3")


def test_oncalls_parameters_are_the_specs(spec: dict[str, Any]) -> None:
    params = spec["components"]["parameters"]
    names = {params[p["$ref"].split("/")[-1]]["name"] for p in spec["paths"]["/oncalls"]["get"]["parameters"]}
    assert {"escalation_policy_ids[]", "schedule_ids[]", "earliest", "since", "until", "include[]"} <= names
    assert not any("level" in n for n in names)  # no level filter: callers keep the level they want


def _schema(node: Any) -> Any:
    """OpenAPI 3.0 as JSON Schema (draft 4): ``nullable`` becomes a null type; the Oncall's
    ``start``/``end``, whose descriptions say what ``null`` means, may be null."""
    if isinstance(node, list):
        return [_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _schema(v) for k, v in node.items() if k not in ("nullable", "discriminator", "example", "examples")}
    if (node.get("nullable") is True or re.search(r"\bnull\b", str(node.get("description", "")))) \
            and isinstance(node.get("type"), str):
        out["type"] = [node["type"], "null"]
    return out


def test_oncall_entries_fit_the_oncall_schema(pd: PagerDutyEmulator, spec: dict[str, Any]) -> None:
    from jsonschema import Draft4Validator  # type: ignore[import-untyped]

    escalation = pd.org.escalation(POLICY, "name")
    assert escalation is not None
    pd.also_notify(escalation, 1, {"type": "user", "username": HEIDI})
    schema = {**_schema(spec["components"]["schemas"]["Oncall"]), "components": _schema(spec["components"])}
    entries = oncalls(pd, [("escalation_policy_ids[]", pd.policy_id(POLICY))])
    assert len(entries) == 6
    for entry in entries:
        if entry["schedule"] is None:
            # a direct user target: the subset types ``schedule`` as a reference only, while its
            # ``start`` says "If null, the on-call is a permanent user on-call" (REFERENCE.md §3:
            # schedule, start and end null): the null schedule is checked here, the rest below
            assert entry["start"] is None and entry["end"] is None
            entry = {k: v for k, v in entry.items() if k != "schedule"}
        Draft4Validator(copy.deepcopy(schema)).validate(entry)


# --- PagerDuty's own client, as an independent reader -------------------------------------------

def test_pagerdutys_official_client_reads_the_policies(pd: PagerDutyEmulator) -> None:
    pagerduty = pytest.importorskip("pagerduty", reason="PagerDuty's official client (`pagerduty`, a dev "
                                    "dependency) is not installed")
    client = pagerduty.RestApiV2Client(PAGERDUTY_TOKEN)
    # The client accepts only https:// base URLs (its `url` setter); the emulator serves plain HTTP on
    # loopback, so the checked setter is stepped around for this test only.
    client._url = pd.url
    listed = list(client.iter_all("escalation_policies", params={"query": "Escalation"}))
    assert [p["name"] for p in listed] == [POLICY]
    entries = list(client.iter_all("oncalls", params={"escalation_policy_ids[]": [pd.policy_id(POLICY)]}))
    assert sorted(e["escalation_level"] for e in entries) == [1, 2, 2, 2, 3]
