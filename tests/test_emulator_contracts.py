"""The emulators follow the vendors' wire contracts.

Part one checks behaviour the contract reference names (envelopes, error codes, 429s, paging,
identifier types, encodings) with plain HTTP. Part two validates responses against the vendors'
own OpenAPI documents and method references, read from ../shared/specs/ — skipped, saying why,
where that folder is absent (a user's clone).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import BOT_TOKEN, OPSGENIE_KEY

SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs"
GENERIC_SLACK_ERRORS = {
    "not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired", "missing_scope",
    "no_permission", "not_allowed_token_type", "ratelimited", "invalid_arguments", "fatal_error",
    "internal_error", "request_timeout", "service_unavailable", "unknown_method",
}


def og(emu: Emulators, path: str, key: str | None = OPSGENIE_KEY, **params: str) -> httpx.Response:
    headers = {"Authorization": f"GenieKey {key}"} if key else {}
    return httpx.get(emu.opsgenie.url + path, params=params, headers=headers, timeout=5)


def slack_call(emu: Emulators, method: str, how: str = "form", token: str | None = BOT_TOKEN, **args: str) -> httpx.Response:
    url = emu.slack.api_url + method
    headers = {"Authorization": f"Bearer {token}"} if token and how != "token-field" else {}
    if how == "token-field":
        args = {**args, "token": token or ""}
        how = "form"
    if how == "query":
        return httpx.get(url, params=args, headers=headers, timeout=5)
    if how == "json":
        return httpx.post(url, json=args, headers=headers, timeout=5)
    return httpx.post(url, data=args, headers=headers, timeout=5)


# --- Opsgenie: behaviour ---------------------------------------------------------------------

def test_opsgenie_requires_geniekey_and_answers_with_error_envelope(emulators: Emulators) -> None:
    for key in (None, "wrong"):
        r = og(emulators, "/v2/schedules", key=key)
        assert r.status_code == 401
        assert set(r.json()) >= {"message", "took", "requestId"}
        assert r.headers["X-Request-ID"]


def test_opsgenie_on_calls_flat_and_nested_shapes(emulators: Emulators) -> None:
    flat = og(emulators, "/v2/schedules/on-calls", flat="true").json()
    assert set(flat) >= {"data", "took", "requestId"}
    by_name = {e["_parent"]["name"]: e for e in flat["data"]}
    assert by_name["Delivery Support_schedule"]["onCallRecipients"] == ["carol@example.com"]
    assert by_name["Platform_schedule"]["onCallRecipients"] == []  # nobody: an empty list, not an error
    assert "onCallParticipants" not in by_name["Payments_schedule"]
    nested = og(emulators, "/v2/schedules/Payments_schedule/on-calls", scheduleIdentifierType="name").json()["data"]
    assert nested["onCallParticipants"] == [
        {"id": emulators.opsgenie.state.user("dave@example.com").id, "name": "dave@example.com", "type": "user"}]
    assert "onCallRecipients" not in nested


def test_opsgenie_identifier_types_and_not_found(emulators: Emulators) -> None:
    sid = emulators.opsgenie.state.schedule("Payments_schedule", "name").id
    assert og(emulators, f"/v2/schedules/{sid}/on-calls", flat="true").status_code == 200  # default: id
    r = og(emulators, "/v2/schedules/Payments_schedule/on-calls")  # a name without the type is not an id
    assert r.status_code == 404 and set(r.json()) >= {"message", "took", "requestId"}
    # identifierType is for schedules; scheduleIdentifierType for who-is-on-call
    assert og(emulators, "/v2/schedules/Payments_schedule", identifierType="name").status_code == 200
    assert og(emulators, "/v2/schedules/Payments_schedule/on-calls", identifierType="name").status_code == 404
    assert og(emulators, "/v2/schedules/Delivery%20Support_schedule/on-calls",
              scheduleIdentifierType="name").status_code == 200


def test_opsgenie_date_parameter_encodings(emulators: Emulators) -> None:
    path = "/v2/schedules/Delivery Support_schedule/on-calls"
    base = dict(scheduleIdentifierType="name", flat="true")
    utc = og(emulators, path, date="2026-11-23T09:30:00.000Z", **base).json()["data"]
    offset = og(emulators, path, date="2026-11-23T10:30:00+01:00", **base).json()["data"]  # httpx sends %2B
    assert utc["onCallRecipients"] == offset["onCallRecipients"] == ["alice@example.com"]
    raw_plus = httpx.get(f"{emulators.opsgenie.url}/v2/schedules/Delivery%20Support_schedule/on-calls"
                         "?scheduleIdentifierType=name&date=2026-11-23T10:30:00+01:00",
                         headers={"Authorization": f"GenieKey {OPSGENIE_KEY}"})
    assert raw_plus.status_code == 422  # a raw '+' decodes to a space


def test_opsgenie_next_on_calls_inverted_names(emulators: Emulators) -> None:
    path = "/v2/schedules/Delivery Support_schedule/next-on-calls"
    flat = og(emulators, path, scheduleIdentifierType="name", flat="true").json()["data"]
    assert flat["exactNextOnCallParticipants"] == ["alice@example.com"]
    assert "nextOnCallParticipants" in flat
    nested = og(emulators, path, scheduleIdentifierType="name").json()["data"]
    assert nested["exactNextOnCallRecipients"][0]["name"] == "alice@example.com"


def test_opsgenie_teams_honour_identifier_type(emulators: Emulators) -> None:
    team = emulators.opsgenie.state.team("Payments")
    assert og(emulators, "/v2/teams/Payments").status_code == 404  # the default type is id
    assert og(emulators, "/v2/teams/Payments", identifierType="name").status_code == 200
    assert og(emulators, f"/v2/teams/{team.id}").json()["data"]["name"] == "Payments"


def test_opsgenie_rate_limit_is_429_throttled_without_retry_after(emulators: Emulators) -> None:
    emulators.opsgenie.set_rate_limit("Schedule-oncalls", 2, period=60)
    statuses = [og(emulators, "/v2/schedules/on-calls").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    r = og(emulators, "/v2/schedules/on-calls")
    assert r.headers["X-RateLimit-State"] == "THROTTLED" and "Retry-After" not in r.headers
    assert "too many requests" in r.json()["message"]
    assert og(emulators, "/v2/schedules").status_code == 200  # another domain, another bucket


def test_opsgenie_users_paging(emulators: Emulators) -> None:
    seen, url, pages = [], f"{emulators.opsgenie.url}/v2/users?limit=4&offset=0", 0
    while url and pages < 10:
        body = httpx.get(url, headers={"Authorization": f"GenieKey {OPSGENIE_KEY}"}).json()
        seen += [u["username"] for u in body["data"]]
        url = body["paging"].get("next")
        pages += 1
    assert pages == 3 and len(seen) == len(set(seen)) == body["totalCount"] == 10


def test_opsgenie_overrides_roundtrip_changes_who_is_on_call(emulators: Emulators) -> None:
    path = "/v2/schedules/Delivery Support_schedule"
    headers = {"Authorization": f"GenieKey {OPSGENIE_KEY}"}
    body = {"alias": "cover", "user": {"type": "user", "username": "heidi@example.com"},
            "startDate": "2026-11-23T08:00:00Z", "endDate": "2026-11-23T10:00:00Z"}
    created = httpx.post(f"{emulators.opsgenie.url}{path}/overrides", params={"scheduleIdentifierType": "name"},
                         json=body, headers=headers)
    assert created.status_code == 201 and created.json()["data"] == {"alias": "cover"}
    now = og(emulators, path + "/on-calls", scheduleIdentifierType="name", flat="true").json()["data"]
    assert now["onCallRecipients"] == ["heidi@example.com"]
    gone = httpx.delete(f"{emulators.opsgenie.url}{path}/overrides/cover",
                        params={"scheduleIdentifierType": "name"}, headers=headers)
    assert gone.status_code == 200


# --- Slack: behaviour ------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["form", "json", "query", "token-field"])
def test_slack_accepts_every_encoding_and_token_placement(emulators: Emulators, how: str) -> None:
    body = slack_call(emulators, "users.lookupByEmail", how=how, email="alice@example.com").json()
    assert body["ok"] is True and body["user"]["profile"]["email"] == "alice@example.com"


def test_slack_auth_errors_and_scopes_header(emulators: Emulators) -> None:
    assert slack_call(emulators, "auth.test", token=None).json() == {"ok": False, "error": "not_authed"}
    assert slack_call(emulators, "auth.test", token="xoxb-nope").json()["error"] == "invalid_auth"
    r = slack_call(emulators, "auth.test")
    assert r.json()["ok"] and "usergroups:write" in r.headers["x-oauth-scopes"].split(",")
    emulators.slack.state.add_token("xoxb-narrow", "bot", scopes=["users:read"])
    body = slack_call(emulators, "usergroups.list", token="xoxb-narrow").json()
    assert body["error"] == "missing_scope" and body["needed"] == "usergroups:read"


def test_slack_usergroup_update_contract(emulators: Emulators) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=emulators.slack.api_url)
    gid = emulators.slack.state.group_by_handle("payments-oncall").id
    for users, code in (([], "no_users_provided"), (["U99999999"], "invalid_users")):
        with pytest.raises(SlackApiError) as err:
            client.usergroups_users_update(usergroup=gid, users=users)
        assert err.value.response["error"] == code
    erin = emulators.slack.state.user_by_email("erin@example.com")
    erin.deleted = True
    with pytest.raises(SlackApiError) as err:
        client.usergroups_users_update(usergroup=gid, users=[erin.id])
    assert err.value.response["error"] == "invalid_users"
    with pytest.raises(SlackApiError) as err:
        client.users_lookupByEmail(email="erin@example.com")  # deactivated: not found by e-mail
    assert err.value.response["error"] == "users_not_found"
    alice = emulators.slack.state.user_by_email("alice@example.com").id
    body = client.usergroups_users_update(usergroup=gid, users=[alice]).data
    assert body["usergroup"]["users"] == [alice]


def test_slack_rate_limit_is_http_429_with_retry_after(emulators: Emulators) -> None:
    emulators.slack.set_rate_limit("usergroups.list", 2, window=60)
    statuses = [slack_call(emulators, "usergroups.list").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    r = slack_call(emulators, "usergroups.list")
    assert r.json() == {"ok": False, "error": "ratelimited"} and int(r.headers["Retry-After"]) >= 1


def test_slack_cursor_pagination_ends_with_empty_cursor(emulators: Emulators) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=emulators.slack.api_url)
    ids, pages = [], 0
    for page in client.users_list(limit=3):
        ids += [m["id"] for m in page["members"]]
        pages += 1
        assert pages < 10
    assert page["response_metadata"]["next_cursor"] == ""
    assert pages == 4 and len(ids) == len(set(ids)) == len(emulators.slack.state.users)


def test_slack_topic_and_messages(emulators: Emulators) -> None:
    assert slack_call(emulators, "conversations.setTopic", channel="delivery", topic="x" * 251).json()["error"] == "too_long"
    assert slack_call(emulators, "conversations.setTopic", channel="C404").json()["error"] == "channel_not_found"
    ok = slack_call(emulators, "conversations.setTopic", channel="delivery", topic="on call: @alice").json()
    assert ok["channel"]["topic"]["value"] == "on call: @alice"
    posted = slack_call(emulators, "chat.postMessage", how="json", channel="delivery", text="hi").json()
    assert posted["ok"] and emulators.slack.state.messages[-1]["text"] == "hi"


# --- against the vendors' specs --------------------------------------------------------------

needs_specs = pytest.mark.skipif(not SPECS.is_dir(), reason=f"vendor specs not present at {SPECS} (a user's clone)")


def _opsgenie_spec() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    import yaml

    definitions: dict[str, Any] = {}
    for f in (SPECS / "opsgenie" / "definitions").glob("*.yaml"):
        definitions.update(yaml.safe_load(f.read_text()) or {})
    paths: dict[str, Any] = {}
    for f in (SPECS / "opsgenie" / "paths").glob("*.yaml"):
        paths.update(yaml.safe_load(f.read_text()) or {})
    responses = yaml.safe_load((SPECS / "opsgenie" / "responses" / "common.yaml").read_text())
    return definitions, paths, responses


def _validate(schema: dict[str, Any], definitions: dict[str, Any], instance: Any) -> None:
    from jsonschema import Draft4Validator

    Draft4Validator({**schema, "definitions": definitions}).validate(instance)


OPSGENIE_CASES = [  # (spec path, request path, params, method, status)
    ("/v2/schedules", "/v2/schedules", {"expand": "rotation"}, "get", "200"),
    ("/v2/schedules/{identifier}", "/v2/schedules/Payments_schedule", {"identifierType": "name"}, "get", "200"),
    ("/v2/schedules/on-calls", "/v2/schedules/on-calls", {"flat": "true"}, "get", "200"),
    ("/v2/schedules/on-calls", "/v2/schedules/on-calls", {}, "get", "200"),
    ("/v2/schedules/{identifier}/on-calls", "/v2/schedules/Payments_schedule/on-calls",
     {"scheduleIdentifierType": "name"}, "get", "200"),
    ("/v2/schedules/{identifier}/next-on-calls", "/v2/schedules/Payments_schedule/next-on-calls",
     {"scheduleIdentifierType": "name", "flat": "true"}, "get", "200"),
    ("/v2/schedules/{identifier}/next-on-calls", "/v2/schedules/Payments_schedule/next-on-calls",
     {"scheduleIdentifierType": "name"}, "get", "200"),
    ("/v2/schedules/{identifier}/overrides", "/v2/schedules/Payments_schedule/overrides",
     {"scheduleIdentifierType": "name"}, "get", "200"),
    ("/v2/users", "/v2/users", {"limit": "3"}, "get", "200"),
    ("/v2/users/{identifier}", "/v2/users/alice@example.com", {}, "get", "200"),
    ("/v2/teams", "/v2/teams", {}, "get", "200"),
    ("/v2/teams/{identifier}", "/v2/teams/Payments", {"identifierType": "name"}, "get", "200"),
    ("/v2/schedules/{identifier}/on-calls", "/v2/schedules/nope/on-calls", {}, "get", "404"),
]


@needs_specs
@pytest.mark.parametrize("spec_path, path, params, method, status", OPSGENIE_CASES)
def test_opsgenie_responses_match_the_openapi_document(emulators: Emulators, spec_path: str, path: str,
                                                       params: dict[str, str], method: str, status: str) -> None:
    definitions, paths, responses = _opsgenie_spec()
    response_spec = paths[spec_path][method]["responses"][status]
    if "$ref" in response_spec:
        response_spec = responses[response_spec["$ref"].split("/")[-1]]
    r = og(emulators, path, **params)
    assert str(r.status_code) == status
    _validate(response_spec["schema"], definitions, r.json())
    for header in ("X-Request-ID", "X-Response-Time"):
        assert header in r.headers


def _slack_spec() -> dict[str, Any]:
    return json.loads((SPECS / "slack" / "web-api" / "slack_web_openapi_v2_without_examples.json").read_text())


SLACK_CASES = [
    ("auth.test", {}),
    ("users.list", {"limit": "4"}),
    ("users.info", {"user": "U00000002"}),
    ("users.lookupByEmail", {"email": "bob@example.com"}),
    ("usergroups.list", {"include_users": "true"}),
    ("usergroups.users.list", {"usergroup": "S00000012"}),
    ("usergroups.users.update", {"usergroup": "S00000012", "users": "U00000002,U00000003"}),
    ("usergroups.create", {"name": "Brand New", "handle": "brand-new"}),
    ("usergroups.disable", {"usergroup": "S00000013"}),
    ("usergroups.enable", {"usergroup": "S00000013"}),
    ("conversations.setTopic", {"channel": "delivery", "topic": "on call: @alice"}),
    ("conversations.info", {"channel": "delivery"}),
    ("chat.postMessage", {"channel": "delivery", "text": "hello"}),
]


@needs_specs
@pytest.mark.parametrize("method, args", SLACK_CASES)
def test_slack_success_responses_match_the_openapi_document(emulators: Emulators, method: str, args: dict[str, str]) -> None:
    spec = _slack_spec()
    op = next(iter(spec["paths"]["/" + method].values()))
    body = slack_call(emulators, method, how="json" if method == "chat.postMessage" else "form", **args).json()
    assert body["ok"] is True, body
    _validate(op["responses"]["200"]["schema"], spec["definitions"], body)


@needs_specs
def test_slack_error_codes_are_documented(emulators: Emulators) -> None:
    """Every error the emulator gives for these calls is one the method reference documents."""
    cases = [
        ("usergroups.users.update", {"usergroup": "S00000012", "users": ""}),
        ("usergroups.users.update", {"usergroup": "S00000012", "users": "U99999999"}),
        ("users.lookupByEmail", {"email": "nobody@example.com"}),
        ("users.info", {"user": "U99999999"}),
        ("usergroups.users.list", {"usergroup": "S99999999"}),
        ("conversations.setTopic", {"channel": "delivery", "topic": "x" * 300}),
        ("conversations.setTopic", {"channel": "C404", "topic": "x"}),
        ("chat.postMessage", {"channel": "delivery"}),
        ("usergroups.create", {"name": "Delivery Support", "handle": "delivery-support"}),
    ]
    for method, args in cases:
        body = slack_call(emulators, method, **args).json()
        ref = json.loads((SPECS / "slack" / "slack-api-ref" / "methods" / f"{method}.json").read_text())
        documented = set(ref.get("errors") or {}) | GENERIC_SLACK_ERRORS
        assert body["ok"] is False and body["error"] in documented, (method, body)
