"""The Opsgenie emulator's escalation policies and teams follow Opsgenie's contract
(../shared/specs/escalations/REFERENCE.md §1; the OpenAPI document's paths/escalation.yaml and
definitions/escalation.yaml): plain HTTP against the sample organisation, whose "Payments
Escalation" is written by hand in slackgenie_emulators/sample.py (the schedule at once, team
Payments after 15 minutes, dana.lead after 30). The answers are also validated against the
vendor's OpenAPI document where ../shared/specs holds it, skipped saying why where it does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import OPSGENIE_KEY

SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs" / "opsgenie"
POLICY = "Payments Escalation"


def og(emu: Emulators, path: str, **params: str) -> httpx.Response:
    return httpx.get(emu.opsgenie.url + path, params=params, headers={"Authorization": f"GenieKey {OPSGENIE_KEY}"},
                     timeout=5)


def test_every_policy_in_one_answer_without_paging(emulators: Emulators) -> None:
    r = og(emulators, "/v2/escalations")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"data", "took", "requestId"}  # no paging, no totalCount, no expandable
    assert [p["name"] for p in body["data"]] == [POLICY]
    assert r.headers["X-Request-ID"] and "X-Response-Time" in r.headers


def test_a_policy_by_id_or_by_name_with_its_rules_as_written(emulators: Emulators) -> None:
    state = emulators.opsgenie.state
    by_name = og(emulators, f"/v2/escalations/{POLICY}", identifierType="name").json()["data"]
    by_id = og(emulators, f"/v2/escalations/{by_name['id']}").json()["data"]  # the default type is id
    assert by_id == by_name
    payments, team = state.schedule("Payments_schedule", "name"), state.team("Payments")
    dana = state.user("dana.lead@example.com")
    assert payments is not None and team is not None and dana is not None
    assert by_name["ownerTeam"] == {"id": team.id, "name": "Payments"}
    assert [(r["notifyType"], r["delay"], r["recipient"], r["condition"]) for r in by_name["rules"]] == [
        ("default", {"timeAmount": 0, "timeUnit": "minutes"}, {"type": "schedule", "id": payments.id,
                                                                "name": "Payments_schedule"}, "if-not-acked"),
        ("all", {"timeAmount": 15, "timeUnit": "minutes"}, {"type": "team", "id": team.id, "name": "Payments"},
         "if-not-acked"),
        ("default", {"timeAmount": 30, "timeUnit": "minutes"}, {"type": "user", "id": dana.id,
                                                                 "username": "dana.lead@example.com"}, "if-not-acked"),
    ]
    assert set(by_name["repeat"]) == {"waitInterval", "count", "resetRecipientStates", "closeAlertAfterAll"}


def test_an_unknown_policy_is_404_in_opsgenies_error_envelope(emulators: Emulators) -> None:
    for path, params in ((f"/v2/escalations/{POLICY}", {}),  # a name read as an id
                         ("/v2/escalations/No Such Policy", {"identifierType": "name"})):
        r = og(emulators, path, **params)
        assert r.status_code == 404
        assert set(r.json()) == {"message", "took", "requestId"} and "does not exist" in r.json()["message"]
        assert r.headers["X-Opsgenie-Errortype"] == "NotFound"
    assert og(emulators, f"/v2/escalations/{POLICY}", identifierType="username").status_code == 422


def test_an_edit_shows_in_the_next_answer(emulators: Emulators) -> None:
    policy = emulators.opsgenie.state.escalation(POLICY, "name")
    assert policy is not None
    emulators.opsgenie.state.set_rules(policy, [
        {"delay": {"timeAmount": 1, "timeUnit": "hours"}, "notifyType": "admins",
         "recipient": {"type": "team", "name": "Payments"}}])
    [rule] = og(emulators, f"/v2/escalations/{policy.id}").json()["data"]["rules"]
    assert (rule["notifyType"], rule["delay"], rule["recipient"]["name"]) == (
        "admins", {"timeAmount": 1, "timeUnit": "hours"}, "Payments")


def test_escalations_count_against_the_configuration_domain(emulators: Emulators) -> None:
    emulators.opsgenie.set_rate_limit("Configuration", 2, period=60)
    assert [og(emulators, "/v2/escalations").status_code for _ in range(2)] == [200, 200]
    r = og(emulators, f"/v2/escalations/{POLICY}", identifierType="name")
    assert r.status_code == 429 and r.headers["X-RateLimit-State"] == "THROTTLED" and "Retry-After" not in r.headers
    assert og(emulators, "/v2/teams/Payments", identifierType="name").status_code == 429  # the same domain
    assert og(emulators, "/v2/schedules/on-calls").status_code == 200  # another one


def test_a_team_lists_its_members_with_their_roles(emulators: Emulators) -> None:
    team = og(emulators, "/v2/teams/Payments", identifierType="name").json()["data"]
    assert sorted((m["user"]["username"], m["role"]) for m in team["members"]) == [
        ("dave@example.com", "user"), ("erin@example.com", "user"), ("grace@example.com", "admin")]


# --- against the vendor's OpenAPI document ----------------------------------------------------------

def _spec(*parts: str) -> dict[str, Any]:
    import yaml

    found: dict[str, Any] = {}
    for part in parts:
        path = SPECS / part
        if not path.is_file():
            pytest.skip(f"{path} is not present (../shared/specs holds only part of Opsgenie's OpenAPI document, "
                        "or none: a user's clone)")
        found.update(yaml.safe_load(path.read_text()) or {})
    return found


def _definitions(own: str) -> dict[str, Any]:
    return _spec("definitions/common.yaml", "definitions/user.yaml", "definitions/team.yaml",
                 "definitions/teamMember.yaml", own)


def _check(emu: Emulators, paths_file: str, definitions_file: str, spec_path: str, path: str,
           params: dict[str, str], status: str) -> None:
    from jsonschema import Draft4Validator  # type: ignore[import-untyped]

    paths = _spec(paths_file)
    definitions = _definitions(definitions_file)
    responses = _spec("responses/common.yaml")
    response = paths[spec_path]["get"]["responses"][status]
    if "$ref" in response:
        response = responses[response["$ref"].split("/")[-1]]
    r = og(emu, path, **params)
    assert str(r.status_code) == status
    Draft4Validator({**response["schema"], "definitions": definitions}).validate(r.json())
    for header in ("X-Request-ID", "X-Response-Time"):
        assert header in r.headers


@pytest.mark.parametrize("spec_path, path, params, status", [
    ("/v2/escalations", "/v2/escalations", {}, "200"),
    ("/v2/escalations/{identifier}", f"/v2/escalations/{POLICY}", {"identifierType": "name"}, "200"),
    ("/v2/escalations/{identifier}", "/v2/escalations/nope", {}, "404"),
])
def test_escalation_answers_match_the_openapi_document(emulators: Emulators, spec_path: str, path: str,
                                                       params: dict[str, str], status: str) -> None:
    _check(emulators, "paths/escalation.yaml", "definitions/escalation.yaml", spec_path, path, params, status)


def test_the_team_answer_matches_the_openapi_document(emulators: Emulators) -> None:
    _check(emulators, "paths/team.yaml", "definitions/team.yaml", "/v2/teams/{identifier}", "/v2/teams/Payments",
           {"identifierType": "name"}, "200")
