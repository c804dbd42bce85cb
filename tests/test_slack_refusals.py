"""Slack refusing a membership write (``usergroups.users.update``), end to end: the real CLI
against the emulators over HTTP.

- A refusal about the people in the write (``failed_for_some_users``, ``invalid_users``) may
  come from a cached user id gone stale: the pass drops those ids, looks the people up afresh
  once, and writes once more; the group heals in the same pass. Someone really outside the
  workspace fails the group by name, which is left as it is.
- ``subteam_max_users_exceeded``, ``plan_upgrade_required`` and ``permission_denied`` each name
  their fix.

Every expected value below is written by hand from the sample organisation
(``slackgenie_emulators.sample``): at DEMO_START Carol is on call for Delivery (with Dana, a static
member), Dave for Payments, nobody for Platform (fallback: Ivan); the groups hold Bob and Dana,
Dave, and Heidi.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import BOT_TOKEN

from conftest import SECRETS

SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs"
UPDATE_REF = SPECS / "slack" / "slack-api-ref" / "methods" / "usergroups.users.update.json"

DELIVERY_ONLY = """\
syncs:
  - usergroup: delivery-support
    schedules: [Delivery Support_schedule]
    users: [dana.lead@example.com]
"""


def writes_to(emu: Emulators, handle: str) -> int:
    group = emu.slack.state.group_by_handle(handle)
    assert group is not None
    return sum(1 for r in emu.slack.requests
               if r.path.endswith("/usergroups.users.update") and r.params.get("usergroup") == group.id)


def lines_about(out: str, code: str) -> list[str]:
    return [line for line in out.splitlines() if code in line]


def no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# --- failed_for_some_users / invalid_users: look the people up afresh, once -----------------

def test_failed_for_some_users_from_a_stale_cached_id_heals_in_one_pass(  # type: ignore[no-untyped-def]
        emulators: Emulators, sync_cli, tmp_path: Path) -> None:
    config = emulators.org.config_yaml + "cache_file: cache.json\n"
    assert sync_cli("sync", config=config).code == 0  # caches carol@example.com -> her first account
    slack = emulators.slack.state
    old = slack.user_by_email("carol@example.com")
    assert old is not None and old.id in slack.members_of("delivery-support")
    # Carol's account leaves this workspace (it stays in the organisation, so Slack still finds
    # the id, but not for this workspace's groups) and she comes back with a new account.
    old.in_workspace = False
    old.email = "carol.before@example.com"
    new = slack.add_user("carol2", "carol@example.com", "Carol Chen")
    dana = slack.user_by_email("dana.lead@example.com")
    assert dana is not None
    slack.group_by_handle("delivery-support").users = [dana.id]  # type: ignore[union-attr]  # she left its groups
    emulators.reset_logs()

    result = sync_cli("sync", config=config)  # ONE pass

    assert result.code == 0, result.both
    assert sorted(slack.members_of("delivery-support")) == sorted([new.id, dana.id])
    assert writes_to(emulators, "delivery-support") == 2  # refused with the stale id, then taken
    assert "+carol@example.com" in result.out
    cached = json.loads((tmp_path / "cache.json").read_text())["users"]
    assert cached["carol@example.com"]["user"]["id"] == new.id  # the fresh id replaced the stale one
    no_secrets(result.both)


def test_invalid_users_from_an_old_id_in_the_cache_file_heals_in_one_pass(  # type: ignore[no-untyped-def]
        emulators: Emulators, sync_cli, tmp_path: Path) -> None:
    # A cache file, written by hand, that still holds an id Slack no longer knows for Carol.
    stale = {"id": "U0STALE0001", "name": "carol", "email": "carol@example.com", "real_name": "Carol Chen",
             "deleted": False, "is_bot": False, "tz": None, "guest": False}
    (tmp_path / "cache.json").write_text(json.dumps(
        {"version": 1, "workspace_users": None, "users": {"carol@example.com": {"user": stale, "at": time.time()}}}))
    result = sync_cli("sync", config=emulators.org.config_yaml + "cache_file: cache.json\n")
    assert result.code == 0, result.both
    slack = emulators.slack.state
    assert slack.emails_of("delivery-support") == ["carol@example.com", "dana.lead@example.com"]
    assert "U0STALE0001" not in slack.members_of("delivery-support")
    assert writes_to(emulators, "delivery-support") == 2
    cached = json.loads((tmp_path / "cache.json").read_text())["users"]
    carol = slack.user_by_email("carol@example.com")
    assert carol is not None and cached["carol@example.com"]["user"]["id"] == carol.id


def test_someone_outside_the_workspace_fails_the_group_by_name(emulators: Emulators, sync_cli) -> None:  # type: ignore[no-untyped-def]
    slack = emulators.slack.state
    carol = slack.user_by_email("carol@example.com")
    assert carol is not None
    # An account of the organisation that is not a member of this workspace: users.lookupByEmail
    # finds it (ids are organisation-wide), a write naming it is refused.
    carol.in_workspace = False
    before = slack.members_of("delivery-support")  # Bob and Dana

    result = sync_cli("sync", config=DELIVERY_ONLY)

    assert result.code == 1, result.both
    assert slack.members_of("delivery-support") == before  # left as it is
    refusal = lines_about(result.out, "failed_for_some_users")
    assert len(refusal) == 1, result.out
    assert "carol@example.com" in refusal[0]
    assert "dana.lead@example.com" not in refusal[0]  # already in the group: Slack took her before
    assert "not a member of this workspace" in refusal[0] and "deactivated" in refusal[0]
    # looked up afresh once (2 lookups each pass: Carol and Dana), and no write Slack would refuse again
    assert emulators.slack.calls(r"users\.lookupByEmail$") == 4
    assert writes_to(emulators, "delivery-support") == 1
    no_secrets(result.both)


# --- refusals with a fix to name -------------------------------------------------------

def test_subteam_max_users_exceeded_names_the_fix(emulators: Emulators, sync_cli) -> None:  # type: ignore[no-untyped-def]
    slack = emulators.slack.state
    slack.group_by_handle("delivery-support").max_users = 1  # type: ignore[union-attr]
    before = slack.members_of("delivery-support")

    result = sync_cli("sync")

    assert result.code == 1, result.both
    assert slack.members_of("delivery-support") == before
    assert slack.emails_of("platform-oncall") == ["ivan@example.com"]  # the other groups still sync
    line = lines_about(result.out, "subteam_max_users_exceeded")
    assert len(line) == 1, result.out
    assert "fewer people" in line[0] and "split" in line[0]
    assert writes_to(emulators, "delivery-support") == 1  # not a stale id: no second write


def test_plan_upgrade_required_names_the_fix(emulators: Emulators, sync_cli) -> None:  # type: ignore[no-untyped-def]
    slack = emulators.slack.state
    slack.free_plan = True
    before = {h: slack.members_of(h) for h in ("delivery-support", "payments-oncall", "platform-oncall")}

    result = sync_cli("sync")

    assert result.code == 1, result.both
    assert {h: slack.members_of(h) for h in before} == before
    assert emulators.slack.calls(r"usergroups\.users\.update$") == 0
    lines = lines_about(result.out, "plan_upgrade_required")
    assert len(lines) == 3, result.out  # every group, each with the fix
    assert all("paid Slack plan" in line for line in lines)


def test_permission_denied_names_the_fix(emulators: Emulators, sync_cli) -> None:  # type: ignore[no-untyped-def]
    slack = emulators.slack.state
    slack.admins_only_edit_groups = True
    before = {h: slack.members_of(h) for h in ("delivery-support", "platform-oncall")}

    result = sync_cli("sync")

    assert result.code == 1, result.both
    assert {h: slack.members_of(h) for h in before} == before
    lines = lines_about(result.out, "permission_denied")
    assert len(lines) == 2, result.out  # the two groups that needed a write
    for line in lines:
        assert "Permissions" in line and "User Groups" in line  # the setting to relax
        assert "user token" in line and "admin" in line  # or the token to use instead
    assert emulators.slack.calls(r"usergroups\.users\.update$") == 2  # no retry
    no_secrets(result.both)


# --- the emulator speaks Slack's envelope ------------------------------------------------

def update(emu: Emulators, group_id: str, users: str) -> httpx.Response:
    return httpx.post(emu.slack.api_url + "usergroups.users.update", data={"usergroup": group_id, "users": users},
                      headers={"Authorization": f"Bearer {BOT_TOKEN}"}, timeout=5)


def test_the_emulator_refuses_writes_in_slacks_envelope(emulators: Emulators) -> None:
    slack = emulators.slack.state
    group = slack.group_by_handle("payments-oncall")
    alice, bob = slack.user_by_email("alice@example.com"), slack.user_by_email("bob@example.com")
    assert group is not None and alice is not None and bob is not None
    documented = set(json.loads(UPDATE_REF.read_text())["errors"]) if UPDATE_REF.is_file() else None

    def refused(users: str, code: str) -> None:
        r = update(emulators, group.id, users)
        assert (r.status_code, r.json()) == (200, {"ok": False, "error": code})
        assert slack.members_of("payments-oncall") == [slack.user_by_email("dave@example.com").id]  # type: ignore[union-attr]
        if documented is not None:
            assert code in documented

    bob.in_workspace = False
    refused(f"{alice.id},{bob.id}", "failed_for_some_users")
    bob.in_workspace = True
    group.max_users = 1
    refused(f"{alice.id},{bob.id}", "subteam_max_users_exceeded")
    assert update(emulators, group.id, alice.id).json()["ok"] is True  # at the cap is allowed
    group.users = [slack.user_by_email("dave@example.com").id]  # type: ignore[union-attr]
    slack.free_plan = True
    refused(alice.id, "plan_upgrade_required")
    r = httpx.post(emulators.slack.api_url + "usergroups.list", headers={"Authorization": f"Bearer {BOT_TOKEN}"},
                   timeout=5)
    assert r.json() == {"ok": False, "error": "plan_upgrade_required"}
    slack.free_plan = False
    slack.admins_only_edit_groups = True
    refused(alice.id, "permission_denied")


@pytest.mark.parametrize("lookup", ["users.lookupByEmail", "users.info"])
def test_an_account_outside_the_workspace_is_still_found_but_not_listed(emulators: Emulators, lookup: str) -> None:
    """Ids are organisation-wide: a lookup finds the account; users.list lists this workspace's."""
    slack = emulators.slack.state
    carol = slack.user_by_email("carol@example.com")
    assert carol is not None
    carol.in_workspace = False
    auth = {"Authorization": f"Bearer {BOT_TOKEN}"}
    args = {"email": "carol@example.com"} if lookup == "users.lookupByEmail" else {"user": carol.id}
    found = httpx.post(emulators.slack.api_url + lookup, data=args, headers=auth, timeout=5).json()
    assert found["ok"] is True and found["user"]["id"] == carol.id
    listed = httpx.post(emulators.slack.api_url + "users.list", headers=auth, timeout=5).json()
    assert carol.id not in [u["id"] for u in listed["members"]]
