"""The Slack emulator models an Enterprise Grid organisation (issue 20), checked over real HTTP with
slack_sdk's WebClient, an independent client of the wire contract.

The sample (``slackgenie_emulators.slack_grid.sample_grid``), written out by hand for the expectations
below: organisation E0ACMEORG1 "Acme Org"; workspaces Payments T0PAYMENTS and Platform T0PLATFORM (the
app added to both), Sandbox T0SANDBOX1 (free plan, app added), Legal T0LEGAL001 (app not added).
Payments' members: alice, bob, carol, dave, erin, grace, dana.lead, olaf (deactivated) and the bot;
Platform's: alice, frank, heidi, ivan (a global id beginning with U), dana.lead, gina (a guest) and the
bot; Sandbox's: erin and the bot; nora is in the organisation and in no workspace. Groups: Payments
holds delivery-support (bob, dana.lead) and payments-oncall (dave); Platform holds platform-oncall
(heidi). Channels: Payments #delivery #payments #oncall, Platform #platform #oncall. ORG_TOKEN is the
org-wide install's token, PAYMENTS_TOKEN a workspace install on Payments.

Every expected error code is written here by hand from the method references and
../shared/specs/slack/ENTERPRISE-GRID.md (GRID); the tests marked ``needs_specs`` also read those files
and are skipped, saying why, where ../shared is absent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from slackgenie_emulators import Emulators
from slackgenie_emulators.base import Clock
from slackgenie_emulators.sample import BOT_TOKEN, DEMO_START, sample_org
from slackgenie_emulators.slack import SlackEmulator
from slackgenie_emulators.slack_grid import (
    ENTERPRISE_ID,
    LEGAL,
    ORG_TOKEN,
    PAYMENTS,
    PAYMENTS_TOKEN,
    PLATFORM,
    SANDBOX,
    GridOrg,
    grid_org,
    sample_grid,
)

SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs"
REF = SPECS / "slack" / "slack-api-ref" / "methods"
OPENAPI = SPECS / "slack" / "web-api" / "slack_web_openapi_v2_without_examples.json"
needs_specs = pytest.mark.skipif(not SPECS.is_dir(), reason=f"vendor specs not present at {SPECS} (a user's clone)")

NOWHERE = "T0NOWHERE1"  # no workspace of the organisation

PAYMENTS_PEOPLE = {"slackgenie", "alice", "bob", "carol", "dave", "erin", "grace", "dana.lead", "olaf"}
PLATFORM_PEOPLE = {"slackgenie", "alice", "frank", "heidi", "ivan", "dana.lead", "gina"}
SANDBOX_PEOPLE = {"slackgenie", "erin"}

# The methods that take team_id "required if org token is used", and Slack's answer without it and
# with a team_id that is no workspace of the organisation (GRID §2, §3; each method's reference).
TEAM_REQUIRED = {
    "usergroups.list": ("missing_argument", "invalid_team"),
    "usergroups.users.list": ("missing_argument", "team_access_not_granted"),
    "usergroups.users.update": ("missing_argument", "team_access_not_granted"),
    "usergroups.create": ("target_team_must_be_specified_in_org_context", "target_team_not_on_org"),
    "usergroups.update": ("missing_argument", "team_access_not_granted"),
    "usergroups.enable": ("missing_argument", "team_access_not_granted"),
    "usergroups.disable": ("target_team_must_be_specified_in_org_context", "target_team_not_on_org"),
    "users.list": ("missing_argument", "team_access_not_granted"),
    "conversations.list": ("missing_argument", "team_access_not_granted"),
}
SCOPES = {  # a bot token's scope per method (REF: scope.bot)
    "usergroups.list": "usergroups:read", "usergroups.users.list": "usergroups:read",
    "usergroups.users.update": "usergroups:write", "usergroups.create": "usergroups:write",
    "usergroups.update": "usergroups:write", "usergroups.enable": "usergroups:write",
    "usergroups.disable": "usergroups:write",
}
GENERIC = {  # CONTRACTS §3.2, and the generic codes GRID §3 names for an organisation
    "not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired", "missing_scope",
    "no_permission", "not_allowed_token_type", "ratelimited", "invalid_arguments", "fatal_error",
    "internal_error", "request_timeout", "service_unavailable",
    "team_access_not_granted", "team_added_to_org", "org_login_required", "enterprise_is_restricted",
}
# What GRID documents beyond the reference files: auth.teams.list's errors (§1.3; no reference file
# here), missing_argument on conversations.list (no reference file here) and on usergroups.users.list
# (§3: "usergroups.*"; its reference lists no code for a missing team_id).
GRID_DOCUMENTED = {"auth.teams.list": {"invalid_cursor", "invalid_limit"}, "conversations.list": {"missing_argument"},
                   "usergroups.users.list": {"missing_argument"}}
UNREFERENCED = {"conversations.info"}  # neither a reference file here nor GRID lists its errors
# Where usergroups.update's reference is silent, the emulator answers what usergroups.create documents
# for the same fault (a sibling's code, said so in the emulator's comments).
FROM_CREATE = {"name_already_exists", "handle_already_exists", "description_too_long", "invalid_channel_provided"}


@dataclass
class Grid:
    org: GridOrg
    slack: SlackEmulator

    def client(self, token: str = ORG_TOKEN, team_id: str | None = None) -> WebClient:
        """slack_sdk's client; ``team_id``: its default parameter, sent on every call (GRID §2)."""
        return WebClient(token=token, base_url=self.slack.api_url, team_id=team_id)

    def call(self, method: str, token: str = ORG_TOKEN, **args: str) -> dict[str, Any]:
        """A raw form POST, for Slack's exact answer."""
        r = httpx.post(self.slack.api_url + method, data=args, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert r.status_code == 200, (r.status_code, r.text)
        body = r.json()
        assert isinstance(body, dict)
        return body

    def error(self, method: str, token: str = ORG_TOKEN, **args: str) -> str:
        body = self.call(method, token, **args)
        assert body["ok"] is False, body
        return str(body["error"])

    def id(self, email: str) -> str:
        return self.org.person(email).id

    def group_id(self, team: str, handle: str) -> str:
        return self.org.group(team, handle).id


@contextmanager
def sample_on_loopback() -> Iterator[Grid]:
    org = sample_grid()
    slack = SlackEmulator(org.state, clock=Clock(frozen_at=DEMO_START))
    slack.start()
    try:
        yield Grid(org, slack)
    finally:
        slack.stop()


@pytest.fixture
def grid() -> Iterator[Grid]:
    with sample_on_loopback() as sample:
        yield sample


def refused(call: Callable[[], Any]) -> str:
    with pytest.raises(SlackApiError) as err:
        call()
    return str(err.value.response["error"])


def ref(method: str) -> dict[str, Any]:
    data = json.loads((REF / f"{method}.json").read_text())
    assert isinstance(data, dict)
    return data


# --- the organisation and its tokens -------------------------------------------------------

def test_an_org_token_says_so_in_auth_test(grid: Grid) -> None:
    body = grid.client().auth_test().data
    assert body == {"ok": True, "url": "https://acme-org.enterprise.slack.com/", "team": "Acme Org",
                    "user": "slackgenie", "team_id": ENTERPRISE_ID, "user_id": grid.org.bot_user_id,
                    "enterprise_id": ENTERPRISE_ID, "is_enterprise_install": True, "bot_id": "B0EMULATE1"}
    assert grid.org.bot_user_id.startswith("W")
    # What team_id holds for an org token is unverified (GRID §1.2): null and a T… are both settable.
    grid.org.enterprise.org_token_team_id = None
    assert grid.client().auth_test()["team_id"] is None
    grid.org.enterprise.org_token_team_id = PAYMENTS
    assert grid.client().auth_test()["team_id"] == PAYMENTS


def test_a_workspace_install_inside_the_org_is_no_enterprise_install(grid: Grid) -> None:
    body = grid.client(PAYMENTS_TOKEN).auth_test().data
    assert body == {"ok": True, "url": "https://payments.slack.com/", "team": "Payments", "user": "slackgenie",
                    "team_id": PAYMENTS, "user_id": grid.org.bot_user_id, "enterprise_id": ENTERPRISE_ID,
                    "is_enterprise_install": False, "bot_id": "B0EMULATE1"}


@needs_specs
def test_auth_test_fields_are_the_references(grid: Grid) -> None:
    fields = set(ref("auth.test")["output"]["properties"]) | {"ok"}
    for token in (ORG_TOKEN, PAYMENTS_TOKEN):
        assert set(grid.call("auth.test", token)) <= fields


def test_auth_teams_list_pages_through_the_workspaces_the_app_was_added_to(grid: Grid) -> None:
    client = grid.client()
    pages, cursor, seen = 0, None, []
    for _ in range(10):  # bounded: three workspaces, one a page
        page = client.auth_teams_list(limit=1, cursor=cursor)
        pages += 1
        seen += [(t["id"], t["name"]) for t in page["teams"]]
        cursor = page["response_metadata"]["next_cursor"]
        if cursor == "":
            break
    assert pages == 3
    assert seen == [(PAYMENTS, "Payments"), (PLATFORM, "Platform"), (SANDBOX, "Sandbox")]  # not Legal
    whole = client.auth_teams_list()  # limit defaults to 100: one page
    assert [t["id"] for t in whole["teams"]] == [PAYMENTS, PLATFORM, SANDBOX]
    assert whole["response_metadata"]["next_cursor"] == "" and "icon" not in whole["teams"][0]
    assert set(client.auth_teams_list(include_icon=True)["teams"][0]["icon"]) >= {"image_34", "image_default"}
    for limit in (0, 1001):
        assert refused(lambda: client.auth_teams_list(limit=limit)) == "invalid_limit"
    assert refused(lambda: client.auth_teams_list(cursor="not a cursor")) == "invalid_cursor"
    grid.org.grant(LEGAL)  # the org admin adds the app to Legal
    assert [t["id"] for t in client.auth_teams_list()["teams"]] == [LEGAL, PAYMENTS, PLATFORM, SANDBOX]
    grid.org.revoke(PLATFORM)
    assert [t["id"] for t in client.auth_teams_list()["teams"]] == [LEGAL, PAYMENTS, SANDBOX]


def test_auth_teams_list_with_a_workspace_token_is_its_own_workspace(grid: Grid) -> None:
    assert [t["id"] for t in grid.client(PAYMENTS_TOKEN).auth_teams_list()["teams"]] == [PAYMENTS]


# --- team_id with an org token ---------------------------------------------------------------

def _args(grid: Grid, method: str) -> dict[str, str]:
    """Valid arguments but team_id for each method (the group: Payments' payments-oncall)."""
    group = grid.group_id(PAYMENTS, "payments-oncall")
    return {"usergroups.users.list": {"usergroup": group},
            "usergroups.users.update": {"usergroup": group, "users": grid.id("alice@example.com")},
            "usergroups.create": {"name": "Brand New", "handle": "brand-new"},
            "usergroups.update": {"usergroup": group, "description": "changed"},
            "usergroups.enable": {"usergroup": group},
            "usergroups.disable": {"usergroup": group}}.get(method, {})


@pytest.mark.parametrize("method", sorted(TEAM_REQUIRED))
def test_an_org_token_must_name_a_granted_workspace(grid: Grid, method: str) -> None:
    missing, unknown = TEAM_REQUIRED[method]
    args = _args(grid, method)
    before = {t: grid.org.groups(t) for t in (PAYMENTS, PLATFORM)}
    descriptions = {g.id: g.description for g in grid.org.state.groups.values()}
    assert grid.error(method, **args) == missing
    assert grid.error(method, **args, team_id="") == missing
    assert grid.error(method, **args, team_id=NOWHERE) == unknown
    assert grid.error(method, **args, team_id=ENTERPRISE_ID) == unknown  # the org is no workspace
    assert grid.error(method, **args, team_id=LEGAL) == "team_access_not_granted"  # app not added there
    assert {t: grid.org.groups(t) for t in (PAYMENTS, PLATFORM)} == before  # nothing was done
    assert {g.id: g.description for g in grid.org.state.groups.values()} == descriptions
    assert all(g.date_delete == 0 for g in grid.org.state.groups.values())
    assert grid.call(method, **args, team_id=PAYMENTS)["ok"] is True


def test_the_sdks_default_team_id_reaches_every_call(grid: Grid) -> None:
    """WebClient(team_id=...) adds it to every call (GRID §2): the same answers as passing it."""
    platform = grid.client(team_id=PLATFORM)
    assert [g["handle"] for g in platform.usergroups_list()["usergroups"]] == ["platform-oncall"]
    assert {u["name"] for u in platform.users_list()["members"]} == PLATFORM_PEOPLE
    assert platform.users_info(user=grid.id("nora@example.com"))["user"]["name"] == "nora"  # takes no team_id
    assert {c.params.get("team_id") for c in grid.slack.api_calls()} == {PLATFORM}


def test_a_workspace_token_ignores_team_id(grid: Grid) -> None:
    """team_id arguments are ignored with a workspace-level token (GRID §1.1)."""
    client = grid.client(PAYMENTS_TOKEN)
    for team in (None, PLATFORM, NOWHERE):  # slack_sdk leaves a None argument out
        groups = client.usergroups_list(include_users=True, team_id=team)["usergroups"]
        assert sorted(g["handle"] for g in groups) == ["delivery-support", "payments-oncall"]
        assert {u["name"] for u in client.users_list(team_id=team)["members"]} == PAYMENTS_PEOPLE
    assert refused(lambda: client.usergroups_users_list(usergroup=grid.group_id(PLATFORM, "platform-oncall"),
                                                        team_id=PLATFORM)) == "no_such_subteam"


# --- workspaces, people and their ids ---------------------------------------------------------

def test_each_workspace_lists_its_own_groups(grid: Grid) -> None:
    client = grid.client()
    payments = client.usergroups_list(team_id=PAYMENTS, include_users=True)["usergroups"]
    assert {g["handle"]: sorted(g["users"]) for g in payments} == {
        "delivery-support": sorted([grid.id("bob@example.com"), grid.id("dana.lead@example.com")]),
        "payments-oncall": [grid.id("dave@example.com")]}
    assert {g["team_id"] for g in payments} == {PAYMENTS}
    platform = client.usergroups_list(team_id=PLATFORM, include_users=True)["usergroups"]
    assert [(g["handle"], g["team_id"], g["users"]) for g in platform] == [
        ("platform-oncall", PLATFORM, [grid.id("heidi@example.com")])]
    # A group of another workspace does not exist in this one (GRID §2).
    heidi_group = grid.group_id(PLATFORM, "platform-oncall")
    assert refused(lambda: client.usergroups_users_list(usergroup=heidi_group, team_id=PAYMENTS)) == "no_such_subteam"
    heidi = grid.id("heidi@example.com")
    assert client.usergroups_users_list(usergroup=heidi_group, team_id=PLATFORM)["users"] == [heidi]


def test_a_person_has_one_id_across_the_workspaces_that_list_them(grid: Grid) -> None:
    client = grid.client()
    members = {t: {u["name"]: u for u in client.users_list(team_id=t)["members"]}
               for t in (PAYMENTS, PLATFORM, SANDBOX)}
    assert set(members[PAYMENTS]) == PAYMENTS_PEOPLE
    assert set(members[PLATFORM]) == PLATFORM_PEOPLE
    assert set(members[SANDBOX]) == SANDBOX_PEOPLE
    assert members[PAYMENTS]["olaf"]["deleted"] is True  # deactivated accounts are listed, deleted: true
    assert members[PLATFORM]["gina"]["is_restricted"] is True
    alice_here, alice_there = members[PAYMENTS]["alice"], members[PLATFORM]["alice"]
    assert alice_here["id"] == alice_there["id"] == grid.id("alice@example.com") and alice_here["id"].startswith("W")
    assert alice_here["enterprise_user"] == {"id": alice_here["id"], "enterprise_id": ENTERPRISE_ID,
                                             "enterprise_name": "Acme Org", "is_admin": False, "is_owner": False,
                                             "teams": [PAYMENTS, PLATFORM]}
    assert members[PLATFORM]["ivan"]["id"].startswith("U")  # a global id may begin with U (GRID §4.1)
    nora = client.users_lookupByEmail(email="nora@example.com")["user"]  # in the org, in no workspace
    assert nora["enterprise_user"]["teams"] == [] and nora["team_id"] == ENTERPRISE_ID
    assert client.users_info(user=members[PLATFORM]["ivan"]["id"])["user"]["enterprise_user"]["teams"] == [PLATFORM]


def test_lookup_by_email_can_refuse_an_org_token(grid: Grid) -> None:
    """Whether an org token may call users.lookupByEmail is unverified (GRID §2): settable."""
    grid.org.enterprise.lookup_by_email_restricted = True
    assert grid.error("users.lookupByEmail", email="alice@example.com") == "enterprise_is_restricted"
    assert grid.call("users.lookupByEmail", PAYMENTS_TOKEN, email="alice@example.com")["ok"] is True
    assert grid.call("users.info", user=grid.id("alice@example.com"))["ok"] is True


# --- membership writes -------------------------------------------------------------------------

def test_a_person_outside_the_groups_workspace_fails_the_whole_write(grid: Grid) -> None:
    client = grid.client()
    payments = grid.group_id(PAYMENTS, "payments-oncall")
    dave, frank = grid.id("dave@example.com"), grid.id("frank@example.com")

    def write(team: str, group: str, *emails: str) -> None:
        client.usergroups_users_update(usergroup=group, users=[grid.id(e) for e in emails], team_id=team)

    # frank is in Platform only: "User(s) are not in the workspace where this usergroup exists".
    assert grid.call("usergroups.users.update", usergroup=payments, users=f"{dave},{frank}", team_id=PAYMENTS) == {
        "ok": False, "error": "failed_for_some_users"}
    assert refused(lambda: write(PAYMENTS, payments, "nora@example.com")) == "failed_for_some_users"
    assert grid.org.groups(PAYMENTS)["payments-oncall"] == [dave]  # left as it was
    for email in ("olaf@example.com", "gina@example.com"):  # deactivated, guest: invalid_users first
        assert refused(lambda: write(PLATFORM, grid.group_id(PLATFORM, "platform-oncall"), email)) == "invalid_users"
    assert refused(lambda: client.usergroups_users_update(usergroup=payments, users=["W99999999"],
                                                          team_id=PAYMENTS)) == "invalid_users"
    # alice and dana.lead are in both workspaces: welcome in either group.
    write(PAYMENTS, payments, "dave@example.com", "alice@example.com")
    write(PLATFORM, grid.group_id(PLATFORM, "platform-oncall"), "alice@example.com", "dana.lead@example.com",
          "ivan@example.com")
    assert grid.org.groups(PAYMENTS)["payments-oncall"] == sorted([dave, grid.id("alice@example.com")])
    assert grid.org.groups(PLATFORM)["platform-oncall"] == sorted(
        grid.id(e) for e in ("alice@example.com", "dana.lead@example.com", "ivan@example.com"))
    # Someone joins Payments: from then on, they may be put in its groups.
    grid.org.join(frank, PAYMENTS)
    write(PAYMENTS, payments, "frank@example.com")
    grid.org.leave(frank, PAYMENTS)
    assert refused(lambda: write(PAYMENTS, payments, "frank@example.com")) == "failed_for_some_users"


def test_a_group_takes_no_more_than_its_cap(grid: Grid) -> None:
    grid.org.group(PAYMENTS, "payments-oncall").max_users = 2
    client = grid.client()
    three = [grid.id(e) for e in ("alice@example.com", "bob@example.com", "carol@example.com")]
    group = grid.group_id(PAYMENTS, "payments-oncall")
    assert refused(lambda: client.usergroups_users_update(usergroup=group, users=three, team_id=PAYMENTS)) == \
        "subteam_max_users_exceeded"
    client.usergroups_users_update(usergroup=group, users=three[:2], team_id=PAYMENTS)  # at the cap is allowed
    assert grid.org.groups(PAYMENTS)["payments-oncall"] == sorted(three[:2])


def test_a_free_plan_workspace_has_no_user_groups(grid: Grid) -> None:
    erin = grid.id("erin@example.com")
    for method, args, code in [
        ("usergroups.list", {}, "plan_upgrade_required"),
        ("usergroups.create", {"name": "Sandbox On-call", "handle": "sandbox-oncall"}, "plan_upgrade_required"),
        ("usergroups.users.update", {"usergroup": "S0SANDBOX1", "users": erin}, "plan_upgrade_required"),
        ("usergroups.users.list", {"usergroup": "S0SANDBOX1"}, "plan_upgrade_required"),
        ("usergroups.enable", {"usergroup": "S0SANDBOX1"}, "plan_upgrade_required"),
        ("usergroups.disable", {"usergroup": "S0SANDBOX1"}, "plan_upgrade_required"),
        ("usergroups.update", {"usergroup": "S0SANDBOX1", "name": "x"}, "paid_teams_only"),  # its reference's code
    ]:
        assert grid.error(method, **args, team_id=SANDBOX) == code, method
    assert grid.org.groups(SANDBOX) == {}
    assert {u["name"] for u in grid.client().users_list(team_id=SANDBOX)["members"]} == SANDBOX_PEOPLE
    assert grid.call("usergroups.list", team_id=PAYMENTS)["ok"] is True  # the others are on a paid plan


def test_a_workspace_that_restricts_group_management_refuses_bot_tokens(grid: Grid) -> None:
    grid.org.workspace(PLATFORM).admins_only_edit_groups = True
    group = grid.group_id(PLATFORM, "platform-oncall")
    heidi = grid.id("heidi@example.com")
    for method, args in [("usergroups.users.update", {"usergroup": group, "users": heidi}),
                         ("usergroups.create", {"name": "New", "handle": "new"}),
                         ("usergroups.update", {"usergroup": group, "description": "x"}),
                         ("usergroups.disable", {"usergroup": group}),
                         ("usergroups.enable", {"usergroup": group})]:
        assert grid.error(method, **args, team_id=PLATFORM) == "permission_denied", method
    assert grid.call("usergroups.list", team_id=PLATFORM)["ok"] is True  # reading is allowed
    payments = grid.group_id(PAYMENTS, "payments-oncall")
    assert grid.call("usergroups.update", usergroup=payments, description="x", team_id=PAYMENTS)["ok"] is True
    admin = grid.org.add_person("admin", "admin@example.com", workspaces=[PLATFORM])
    grid.org.workspace_token("xoxp-platform-admin", PLATFORM, kind="user", user_id=admin.id)
    assert grid.call("usergroups.users.update", "xoxp-platform-admin", usergroup=group, users=heidi)["ok"] is True


def test_a_workspace_moving_into_the_org_is_unavailable(grid: Grid) -> None:
    grid.org.workspace(PAYMENTS).migration_error = "team_added_to_org"
    assert grid.error("usergroups.list", team_id=PAYMENTS) == "team_added_to_org"
    assert grid.error("users.list", PAYMENTS_TOKEN) == "team_added_to_org"
    assert grid.call("usergroups.list", team_id=PLATFORM)["ok"] is True
    grid.org.workspace(PAYMENTS).migration_error = "org_login_required"
    assert grid.error("auth.test", PAYMENTS_TOKEN) == "org_login_required"
    grid.org.workspace(PAYMENTS).migration_error = None
    assert grid.call("usergroups.list", team_id=PAYMENTS)["ok"] is True


# --- a group's whole life: create, update, enable, disable --------------------------------------

def _oncall_channel(grid: Grid, team: str) -> str:
    channel = grid.org.state.channel("oncall", team_id=team)
    assert channel is not None and channel.team_id == team
    return channel.id


def test_create_a_group_in_one_workspace(grid: Grid) -> None:
    client = grid.client()
    oncall = _oncall_channel(grid, PAYMENTS)
    made = client.usergroups_create(name="Billing On-call", handle="billing-oncall", description="Who is on call",
                                    channels=[oncall], team_id=PAYMENTS)["usergroup"]
    assert (made["handle"], made["name"], made["description"], made["team_id"], made["prefs"]["channels"],
            made["date_delete"], made["user_count"]) == (
        "billing-oncall", "Billing On-call", "Who is on call", PAYMENTS, [oncall], 0, 0)
    assert made["id"].startswith("S") and made["created_by"] == grid.org.bot_user_id
    assert sorted(grid.org.groups(PAYMENTS)) == ["billing-oncall", "delivery-support", "payments-oncall"]
    assert "billing-oncall" not in grid.org.groups(PLATFORM)
    listed = client.usergroups_list(team_id=PAYMENTS)["usergroups"]
    assert [g["prefs"]["channels"] for g in listed if g["handle"] == "billing-oncall"] == [[oncall]]
    # Names and handles are unique per workspace ("already in use on this workspace").
    same = client.usergroups_create(name="Billing On-call", handle="billing-oncall", team_id=PLATFORM)["usergroup"]
    assert same["team_id"] == PLATFORM and same["id"] != made["id"]

    def create(**args: Any) -> str:
        return refused(lambda: client.usergroups_create(team_id=PAYMENTS, **args))

    assert create(name="Billing On-call", handle="other-handle") == "name_already_exists"
    assert create(name="Other", handle="billing-oncall") == "handle_already_exists"
    assert create(name="Other", handle="payments") == "handle_already_exists"  # a channel's name
    assert create(name="Other", handle="alice") == "handle_already_exists"  # a user's name
    grid.org.add_group(PAYMENTS, "old-oncall", "Old On-call", disabled=True)
    assert create(name="Other", handle="old-oncall") == "handle_already_exists"  # a disabled group keeps it
    assert create(name="Other", handle="other", channels=["C0NOTHERE1"]) == "invalid_channel_provided"
    assert create(name="Other", handle="other", channels=["#oncall"]) == "invalid_channel_provided"  # ids only
    assert create(name="Other", handle="other", description="x" * 141) == "description_too_long"
    assert "other" not in grid.org.groups(PAYMENTS)
    long = client.usergroups_create(name="Long", handle="long", description="y" * 140, team_id=PAYMENTS)
    assert long["usergroup"]["description"] == "y" * 140
    lines = client.usergroups_create(name="Lines", handle="lines", description="on call:\nalice", team_id=PAYMENTS)
    assert lines["usergroup"]["description"] == "on call:alice"  # Slack strips newlines [field]


def test_update_a_groups_name_handle_description_and_channels(grid: Grid) -> None:
    client = grid.client()
    group = grid.group_id(PAYMENTS, "payments-oncall")
    oncall, payments_channel = _oncall_channel(grid, PAYMENTS), grid.org.state.channel("payments", PAYMENTS)
    assert payments_channel is not None
    grid.slack.clock.advance(60)
    body = client.usergroups_update(usergroup=group, name="Payments Duty", handle="payments-duty",
                                    description="Alice until 09:00", channels=[oncall, payments_channel.id],
                                    team_id=PAYMENTS)["usergroup"]
    assert (body["name"], body["handle"], body["description"], body["prefs"]["channels"]) == (
        "Payments Duty", "payments-duty", "Alice until 09:00", [oncall, payments_channel.id])
    assert body["date_update"] == int(DEMO_START.timestamp()) + 60 and body["updated_by"] == grid.org.bot_user_id
    record = grid.org.group(PAYMENTS, "payments-duty")
    assert record.users == [grid.id("dave@example.com")]  # members untouched
    only_description = client.usergroups_update(usergroup=group, description="Bob", team_id=PAYMENTS)["usergroup"]
    assert (only_description["name"], only_description["prefs"]["channels"]) == (
        "Payments Duty", [oncall, payments_channel.id])
    cleared = client.usergroups_update(usergroup=group, channels="", team_id=PAYMENTS)["usergroup"]
    assert cleared["prefs"]["channels"] == []

    def update(**args: Any) -> str:
        return refused(lambda: client.usergroups_update(usergroup=group, team_id=PAYMENTS, **args))

    assert update(name="Delivery Support") == "name_already_exists"
    assert update(handle="delivery-support") == "handle_already_exists"
    assert update(channels=["C0NOTHERE1"]) == "invalid_channel_provided"
    assert update(description="z" * 141) == "description_too_long"
    grid.org.workspace(PAYMENTS).max_linked_channels = 1
    assert update(channels=[oncall, payments_channel.id]) == "too_many_linked_channels"
    assert grid.org.group(PAYMENTS, "payments-duty").description == "Bob"


def test_disable_and_enable_a_group(grid: Grid) -> None:
    client = grid.client()
    group = grid.group_id(PLATFORM, "platform-oncall")
    grid.slack.clock.advance(30)
    off = client.usergroups_disable(usergroup=group, team_id=PLATFORM)["usergroup"]
    assert off["date_delete"] == int(DEMO_START.timestamp()) + 30 and off["deleted_by"] == grid.org.bot_user_id
    again = client.usergroups_disable(usergroup=group, team_id=PLATFORM)["usergroup"]
    assert again["date_delete"] == off["date_delete"]  # idempotent
    assert client.usergroups_list(team_id=PLATFORM)["usergroups"] == []
    hidden = client.usergroups_list(team_id=PLATFORM, include_disabled=True)["usergroups"]
    assert [(g["handle"], g["date_delete"] != 0) for g in hidden] == [("platform-oncall", True)]
    assert refused(lambda: client.usergroups_users_list(usergroup=group, team_id=PLATFORM)) == "no_such_subteam"
    assert client.usergroups_users_list(usergroup=group, team_id=PLATFORM, include_disabled=True)["users"] == [
        grid.id("heidi@example.com")]
    on = client.usergroups_enable(usergroup=group, team_id=PLATFORM)["usergroup"]
    assert (on["date_delete"], on["deleted_by"]) == (0, None)
    assert [g["handle"] for g in client.usergroups_list(team_id=PLATFORM)["usergroups"]] == ["platform-oncall"]


@pytest.mark.parametrize("method", sorted(SCOPES))
def test_each_group_method_needs_its_scope(grid: Grid, method: str) -> None:
    without = [s for s in grid.org.state.tokens[ORG_TOKEN].scopes if s != SCOPES[method]]
    grid.org.org_token("xoxb-narrow-org", scopes=without)
    body = grid.call(method, "xoxb-narrow-org", **_args(grid, method), team_id=PAYMENTS)
    assert (body["ok"], body["error"], body["needed"]) == (False, "missing_scope", SCOPES[method])


@needs_specs
def test_the_scopes_and_tiers_are_the_references() -> None:
    for method, scope in SCOPES.items():
        assert ref(method)["scope"]["bot"] == [scope], method
        assert ref(method)["rate_limits"] == "t2", method
        assert "team_id" in ref(method)["args"]["properties"], method
    for method in TEAM_REQUIRED:
        if (REF / f"{method}.json").is_file():
            desc = ref(method)["args"]["properties"]["team_id"]["desc"].lower()
            assert "required if" in desc and "org" in desc, (method, desc)


# --- Tier 2, per workspace ---------------------------------------------------------------------

@pytest.mark.parametrize("method", ["usergroups.create", "usergroups.update", "usergroups.enable",
                                    "usergroups.disable", "usergroups.users.update"])
def test_group_writes_are_tier_2_per_workspace(grid: Grid, method: str) -> None:
    """20 a minute (Tier 2, "20+ per minute", CONTRACTS §3.1), each workspace its own (limits apply per
    method, per workspace, per app); beyond it HTTP 429 with Retry-After and nothing done."""
    grid.slack.enable_rate_limits()
    heidi = grid.id("heidi@example.com")
    with httpx.Client(base_url=grid.slack.api_url, headers={"Authorization": f"Bearer {ORG_TOKEN}"}, timeout=5) as http:

        def args(i: int, team: str) -> dict[str, str]:
            if method == "usergroups.create":
                return {"name": f"Group {i}", "handle": f"group-{i}", "team_id": team}
            group = grid.group_id(team, "payments-oncall" if team == PAYMENTS else "platform-oncall")
            extra = {"users": heidi if team == PLATFORM else grid.id("dave@example.com")} \
                if method == "usergroups.users.update" else {"description": f"text {i}"} \
                if method == "usergroups.update" else {}
            return {"usergroup": group, "team_id": team, **extra}

        statuses = [http.post(method, data=args(i, PAYMENTS)).status_code for i in range(20)]
        assert statuses == [200] * 20
        throttled = http.post(method, data=args(20, PAYMENTS))
        assert throttled.status_code == 429 and throttled.json() == {"ok": False, "error": "ratelimited"}
        assert 1 <= int(throttled.headers["Retry-After"]) <= 60
        assert http.post(method, data=args(21, PLATFORM)).json()["ok"] is True  # Platform's own budget
    if method == "usergroups.create":
        assert "group-20" not in grid.org.groups(PAYMENTS) and "group-19" in grid.org.groups(PAYMENTS)


# --- channels in an organisation ------------------------------------------------------------

def test_channels_belong_to_workspaces(grid: Grid) -> None:
    client = grid.client()
    listed = {t: {c["name"]: c["id"] for c in client.conversations_list(team_id=t)["channels"]}
              for t in (PAYMENTS, PLATFORM)}
    assert set(listed[PAYMENTS]) == {"delivery", "payments", "oncall"}
    assert set(listed[PLATFORM]) == {"platform", "oncall"}
    assert listed[PAYMENTS]["oncall"] != listed[PLATFORM]["oncall"]
    # An org token names a channel by id: a name is team_not_found on chat.postMessage (GRID §2).
    assert refused(lambda: client.chat_postMessage(channel="oncall", text="hi")) == "team_not_found"
    assert refused(lambda: client.conversations_setTopic(channel="#oncall", topic="x")) == "channel_not_found"
    posted = client.chat_postMessage(channel=listed[PLATFORM]["oncall"], text="hi")
    assert posted["channel"] == listed[PLATFORM]["oncall"]
    # A workspace token finds a name in its own workspace, and no channel of another one.
    mine = grid.client(PAYMENTS_TOKEN)
    assert mine.chat_postMessage(channel="oncall", text="hello")["channel"] == listed[PAYMENTS]["oncall"]
    assert refused(lambda: mine.conversations_info(channel=listed[PLATFORM]["platform"])) == "channel_not_found"


# --- the call log --------------------------------------------------------------------------

def test_the_call_log_names_method_arguments_and_workspace(grid: Grid) -> None:
    client = grid.client()
    client.usergroups_list(team_id=PAYMENTS, include_users=True)
    client.usergroups_list(team_id=PLATFORM)
    refused(lambda: client.usergroups_list())
    client.users_info(user=grid.id("alice@example.com"))
    grid.client(PAYMENTS_TOKEN).usergroups_list()
    calls = grid.slack.api_calls("usergroups.list")
    assert [(c.team_id, c.workspace, c.token_kind, c.ok, c.error) for c in calls] == [
        (PAYMENTS, PAYMENTS, "org", True, None), (PLATFORM, PLATFORM, "org", True, None),
        (None, None, "org", False, "missing_argument"), (None, PAYMENTS, "bot", True, None)]
    assert calls[0].params == {"team_id": PAYMENTS, "include_users": "1"}
    assert all("token" not in c.params and ORG_TOKEN not in c.params.values() for c in grid.slack.api_calls())
    assert [c.method for c in grid.slack.api_calls(workspace=PAYMENTS)] == ["usergroups.list", "usergroups.list"]
    info = grid.slack.api_calls("users.info")
    assert [(c.workspace, c.params["user"]) for c in info] == [(None, grid.id("alice@example.com"))]
    grid.slack.reset_log()
    assert grid.slack.api_calls() == [] and grid.slack.requests == []


def test_the_apps_payloads_from_a_workspace_of_the_org(grid: Grid) -> None:
    """What Slack sends the org-wide app (GRID §8), read by Bolt's own extraction as an independent
    check: a slash command names its workspace; an event's authorization names none, so Bolt's
    context.team_id is None and the workspace is the envelope's (GRID §8.2)."""
    from slack_bolt.request.internals import extract_enterprise_id, extract_is_enterprise_install, extract_team_id

    alice = grid.id("alice@example.com")
    command = grid.org.slash_command("who", alice, "http://127.0.0.1:1/commands/x", PLATFORM)
    assert (command["team_id"], command["enterprise_id"], command["is_enterprise_install"]) == (
        PLATFORM, ENTERPRISE_ID, "true")
    assert (extract_team_id(command), extract_enterprise_id(command), extract_is_enterprise_install(command)) == (
        PLATFORM, ENTERPRISE_ID, True)
    event = grid.org.event_callback({"type": "app_mention", "user": alice, "text": "who", "channel": "C1",
                                     "ts": "1.000001"}, PAYMENTS)
    assert event["authorizations"] == [{"enterprise_id": ENTERPRISE_ID, "team_id": None,
                                        "user_id": grid.org.bot_user_id, "is_bot": True,
                                        "is_enterprise_install": True}]
    assert (event["team_id"], event["event"]["team"]) == (PAYMENTS, PAYMENTS)
    assert (extract_team_id(event), extract_enterprise_id(event), extract_is_enterprise_install(event)) == (
        None, ENTERPRISE_ID, True)


def test_the_sample_serves_emulators_with_the_org_token() -> None:
    """grid_org() plugs into Emulators: SLACK_BOT_TOKEN is the org token, GRID_CONFIG's groups exist in
    the workspaces it names, and everyone the schedules put on call is a person of the organisation."""
    with Emulators(grid_org(), at=DEMO_START) as emu:
        env = emu.env()
        auth = WebClient(token=env["SLACK_BOT_TOKEN"], base_url=env["SLACK_API_URL"]).auth_test()
        assert auth["is_enterprise_install"] is True and auth["enterprise_id"] == ENTERPRISE_ID
        state = emu.slack.state
        assert {(g.handle, g.team_id) for g in state.groups.values()} == {
            ("delivery-support", PAYMENTS), ("payments-oncall", PAYMENTS), ("platform-oncall", PLATFORM)}
        for handle, team in (("delivery-support", PAYMENTS), ("payments-oncall", PAYMENTS),
                             ("platform-oncall", PLATFORM)):
            assert f"usergroup: {handle}\n    workspace: {team}\n" in emu.org.config_yaml
        for email in ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "dana.lead"):
            assert state.user_by_email(f"{email}@example.com") is not None, email


# --- a single workspace is as before ----------------------------------------------------------

def test_a_single_workspace_token_behaves_as_before() -> None:
    """Outside any organisation: no enterprise fields, team_id ignored, U… ids, the same group object."""
    slack = SlackEmulator(sample_org().slack, clock=Clock(frozen_at=DEMO_START))
    slack.start()
    try:
        client = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
        assert client.auth_test().data == {"ok": True, "url": "https://emulated.slack.com/",
                                           "team": "Emulated Workspace", "user": "slackgenie",
                                           "team_id": "T0EMULATE1", "user_id": "U00000001",
                                           "is_enterprise_install": False, "bot_id": "B0EMULATE1"}
        payments = {"id": "S00000013", "team_id": "T0EMULATE1", "is_usergroup": True, "is_subteam": True,
                    "name": "Payments On-call", "description": "", "handle": "payments-oncall",
                    "is_external": False, "date_create": 1700000000, "date_update": 1700000000, "date_delete": 0,
                    "auto_type": None, "auto_provision": False, "enterprise_subteam_id": "",
                    "created_by": "U0000ADMIN", "updated_by": "U0000ADMIN", "deleted_by": None,
                    "prefs": {"channels": [], "groups": []}, "users": ["U00000005"]}
        for team in (None, "T0NOWHERE1"):
            groups = client.usergroups_list(include_users=True, team_id=team)["usergroups"]
            assert [g for g in groups if g["handle"] == "payments-oncall"] == [payments]
            members = client.users_list(team_id=team)["members"]
            assert len(members) == 11 and all(m["id"].startswith("U") and "enterprise_user" not in m for m in members)
        dave = client.users_info(user="U00000005")["user"]
        assert (dave["team_id"], dave["profile"]["team"]) == ("T0EMULATE1", "T0EMULATE1")
        assert [t["id"] for t in client.auth_teams_list()["teams"]] == ["T0EMULATE1"]
        assert {(c.workspace, c.token_kind) for c in slack.api_calls()} == {("T0EMULATE1", "bot")}
        assert client.chat_postMessage(channel="delivery", text="hi")["ok"] is True  # names work as before
    finally:
        slack.stop()


# --- against the vendors' documents -----------------------------------------------------------

@needs_specs
def test_every_error_given_is_documented(grid: Grid) -> None:
    """Each error code the emulator gave in a tour of refusals is one the method's reference (or, for a
    method without a reference file here, GRID) documents, or a generic one."""
    given: set[tuple[str, str]] = set()
    for scenario in (test_a_person_outside_the_groups_workspace_fails_the_whole_write,
                     test_a_free_plan_workspace_has_no_user_groups, test_create_a_group_in_one_workspace,
                     test_update_a_groups_name_handle_description_and_channels, test_channels_belong_to_workspaces,
                     test_a_group_takes_no_more_than_its_cap, test_disable_and_enable_a_group):
        with sample_on_loopback() as fresh:  # each on the sample as it is written at the top
            scenario(fresh)
            given |= {(c.method, c.error) for c in fresh.slack.api_calls() if c.error is not None}
    for method in TEAM_REQUIRED:
        args = _args(grid, method)
        for team in (None, NOWHERE, LEGAL):
            grid.call(method, **args, **({} if team is None else {"team_id": team}))
    for args in ({"limit": "0"}, {"cursor": "?"}):
        grid.call("auth.teams.list", **args)
    grid.org.workspace(PLATFORM).admins_only_edit_groups = True
    grid.call("usergroups.disable", usergroup=grid.group_id(PLATFORM, "platform-oncall"), team_id=PLATFORM)
    grid.org.enterprise.lookup_by_email_restricted = True
    grid.call("users.lookupByEmail", email="alice@example.com")
    given |= {(c.method, c.error) for c in grid.slack.api_calls() if c.error is not None}
    assert len({m for m, _ in given}) >= 12
    for method, code in sorted(given):
        if method in UNREFERENCED:
            continue
        path = REF / f"{method}.json"
        documented = set(ref(method).get("errors") or {}) if path.is_file() else set()
        documented |= GRID_DOCUMENTED.get(method, set())
        if method == "usergroups.update" and code in FROM_CREATE:
            assert code in ref("usergroups.create")["errors"] and code not in documented
            continue
        assert code in documented | GENERIC, (method, code)


@needs_specs
def test_grid_users_and_groups_match_the_openapi_document(grid: Grid) -> None:
    from jsonschema import Draft4Validator  # type: ignore[import-untyped]

    spec = json.loads(OPENAPI.read_text())
    definitions = spec["definitions"]
    # The "enterprise user" variant; its profile is the single-workspace emulator's, unchanged and
    # short of some required display fields (avatar_hash, title, ...): checked here for its team only.
    enterprise_user = {**definitions["objs_user"]["items"][1]}
    enterprise_user["properties"] = {**enterprise_user["properties"], "profile": {
        "type": "object", "properties": {"team": {"$ref": "#/definitions/defs_workspace_id"}}, "required": ["team"]}}
    subteam = definitions["objs_subteam"]
    client = grid.client()
    users = [u for t in (PAYMENTS, PLATFORM) for u in client.users_list(team_id=t)["members"]]
    users.append(client.users_lookupByEmail(email="nora@example.com")["user"])
    for user in users:
        Draft4Validator({**enterprise_user, "definitions": definitions}).validate(user)
    made = client.usergroups_create(name="New", handle="new", channels=[_oncall_channel(grid, PAYMENTS)],
                                    team_id=PAYMENTS)["usergroup"]
    for group in [made, *client.usergroups_list(team_id=PLATFORM, include_users=True)["usergroups"]]:
        Draft4Validator({**subteam, "definitions": definitions}).validate(group)
