"""Enterprise Grid end to end over HTTP (issue 20): an org-level token syncs groups in two workspaces,
each call naming its workspace; a missing or wrong ``workspace:``; a bot token in one workspace as
before. The organisation is ``slack_grid.sample_grid`` (its people and groups are written out in
tests/test_emulator_slack_grid.py's docstring); at DEMO_START, by hand from sample_org's rotations:
Payments' delivery-support should hold carol and dana.lead (it holds bob and dana.lead),
payments-oncall dave (as it does), Platform's platform-oncall ivan (the fallback: nobody on call; it
holds heidi).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import BOT_TOKEN, DEMO_START, Org, sample_org
from slackgenie_emulators.slack_grid import PAYMENTS, PAYMENTS_TOKEN, PLATFORM, GridOrg, grid_org

from conftest import write_config
from providers_fixtures import run_main

# The methods whose references say "required if org token is used" that a pass calls (GRID §2).
NEEDS_TEAM = {"usergroups.list", "usergroups.users.update", "usergroups.create", "usergroups.update",
              "usergroups.enable", "usergroups.disable", "users.list"}


@pytest.fixture
def grid() -> Iterator[Emulators]:
    with Emulators(grid_org(), at=DEMO_START) as emu:
        yield emu


def sync(emu: Emulators, tmp_path: Path, config: str, *args: str, token: str = BOT_TOKEN):  # type: ignore[no-untyped-def]
    write_config(tmp_path, config)
    return run_main(["sync", *args], {**emu.env(), "SLACK_BOT_TOKEN": token})


def ids(emu: Emulators, *emails: str) -> list[str]:
    found = [emu.slack.state.user_by_email(e) for e in emails]
    assert all(found)
    return sorted(u.id for u in found if u is not None)


def slack_methods(emu: Emulators) -> list[str]:
    return sorted(c.method for c in emu.slack.api_calls())


def test_an_org_token_syncs_groups_in_two_workspaces_each_call_naming_its_workspace(grid: Emulators,
                                                                                    tmp_path: Path) -> None:
    first = sync(grid, tmp_path, grid.org.config_yaml)
    assert first.code == 0, first.both
    state = grid.slack.state
    assert sorted(state.members_of("delivery-support", PAYMENTS)) == ids(grid, "carol@example.com",
                                                                         "dana.lead@example.com")
    assert sorted(state.members_of("payments-oncall", PAYMENTS)) == ids(grid, "dave@example.com")
    assert sorted(state.members_of("platform-oncall", PLATFORM)) == ids(grid, "ivan@example.com")
    calls = grid.slack.api_calls()
    assert [c.method for c in calls if not c.ok] == []
    assert calls[0].method == "auth.test"  # the token's kind first, before any other call
    for call in calls:
        if call.method in NEEDS_TEAM:
            assert call.team_id in (PAYMENTS, PLATFORM), call
    assert {(c.params["usergroup"], c.team_id) for c in grid.slack.api_calls("usergroups.users.update")} == {
        (state.group_by_handle("delivery-support", PAYMENTS).id, PAYMENTS),  # type: ignore[union-attr]
        (state.group_by_handle("platform-oncall", PLATFORM).id, PLATFORM)}  # type: ignore[union-attr]
    assert sorted(c.team_id or "" for c in grid.slack.api_calls("usergroups.list")) == [PAYMENTS, PLATFORM]

    grid.reset_logs()
    again = sync(grid, tmp_path, grid.org.config_yaml)
    assert again.code == 0 and "3 in sync" in again.out, again.both
    # A no-change pass: one usergroups.list per workspace in use, and the one on-call read (1 + 2).
    assert slack_methods(grid) == ["usergroups.list", "usergroups.list"]
    assert grid.opsgenie.calls("") == 1


def test_a_sync_without_workspace_under_an_org_token_is_a_config_error_after_auth_test_alone(
        grid: Emulators, tmp_path: Path) -> None:
    config = grid.org.config_yaml.replace(f"    workspace: {PLATFORM}\n", "")
    from slackgenie.settings import ConfigError, load
    from slackgenie.wiring import build

    path = write_config(tmp_path, config)
    with pytest.raises(ConfigError) as raised:
        build(load(str(path), grid.env()))
    assert raised.value.key == "syncs[2].workspace"
    assert "org-level token" in raised.value.problem and "@platform-oncall" in raised.value.problem
    assert "workspace: T" in raised.value.fix and "slackgenie check" in raised.value.fix
    assert slack_methods(grid) == ["auth.test"] and grid.opsgenie.calls("") == 0


def test_a_sync_without_workspace_under_an_org_token_exits_2(grid: Emulators, tmp_path: Path) -> None:
    config = grid.org.config_yaml.replace(f"    workspace: {PLATFORM}\n", "")
    result = sync(grid, tmp_path, config)
    assert result.code == 2 and "syncs[2].workspace" in result.err
    assert slack_methods(grid) == ["auth.test"]


def test_no_workspace_at_all_under_an_org_token_exits_2_naming_the_key_before_any_other_call(
        grid: Emulators, tmp_path: Path) -> None:
    """With no ``workspace:`` anywhere, the token's kind (one ``auth.test``) is enough to know the
    file cannot work: exit 2 naming the first sync's key and the fix, and no other call."""
    config = grid.org.config_yaml.replace(f"    workspace: {PLATFORM}\n", "").replace(
        f"    workspace: {PAYMENTS}\n", "")
    result = sync(grid, tmp_path, config)
    assert result.code == 2, result.both
    assert "syncs[0].workspace" in result.both and "org-level token" in result.both, result.both
    assert "add `workspace: T…`" in result.both
    assert slack_methods(grid) == ["auth.test"] and grid.opsgenie.calls("") == 0


def test_a_workspace_token_may_name_its_own_workspace_only(grid: Emulators, tmp_path: Path) -> None:
    own = f"workspace: {PAYMENTS}\nsyncs:\n  - usergroup: payments-oncall\n    schedules: [Payments_schedule]\n"
    assert sync(grid, tmp_path, own, token=PAYMENTS_TOKEN).code == 0
    assert slack_methods(grid)[0] == "auth.test"
    grid.reset_logs()
    assert sync(grid, tmp_path, own, token=PAYMENTS_TOKEN).code == 0
    assert slack_methods(grid) == ["usergroups.list"]  # its kind kept beside the user cache: not asked again

    other = own.replace(f"workspace: {PAYMENTS}", f"workspace: {PLATFORM}")
    (tmp_path / ".slackgenie-cache.json").unlink()
    from slackgenie.settings import ConfigError, load
    from slackgenie.wiring import build

    with pytest.raises(ConfigError) as raised:
        build(load(str(write_config(tmp_path, other)), {**grid.env(), "SLACK_BOT_TOKEN": PAYMENTS_TOKEN}))
    assert raised.value.key == "workspace" and f"{PLATFORM} is not the Slack token's workspace ({PAYMENTS})" \
        in raised.value.problem


def test_a_workspace_that_is_no_team_id_is_a_config_error(grid: Emulators, tmp_path: Path) -> None:
    result = sync(grid, tmp_path, grid.org.config_yaml.replace(f"workspace: {PLATFORM}", "workspace: platform"))
    assert result.code == 2 and "syncs[2].workspace" in result.err and "not a Slack workspace id" in result.err
    assert grid.slack.api_calls() == []


def test_a_bot_token_in_one_workspace_is_unchanged(tmp_path: Path) -> None:
    """No workspace: as before but for one auth.test a day (kept beside the user cache), no team_id;
    a no-change pass costs one Slack call."""
    with Emulators(sample_org(), at=DEMO_START) as emu:
        assert sync(emu, tmp_path, emu.org.config_yaml).code == 0
        assert slack_methods(emu).count("auth.test") == 1 and slack_methods(emu)[0] == "auth.test"
        assert all(c.team_id is None for c in emu.slack.api_calls())
        emu.reset_logs()
        assert sync(emu, tmp_path, emu.org.config_yaml).code == 0
        assert slack_methods(emu) == ["usergroups.list"] and emu.opsgenie.calls("") == 1


def _spread(workspaces: int) -> Org:
    """An organisation of ``workspaces`` workspaces, one group each, its member a static user."""
    org = GridOrg()
    config = "syncs:\n"
    for n in range(workspaces):
        team = f"T0SPACE{n:03d}"
        org.add_workspace(team, f"Space {n}")
        person = org.add_person(f"p{n}", f"p{n}@example.com", f"Person {n}", workspaces=[team])
        org.add_group(team, f"oncall-{n}", f"On-call {n}", [person.id])
        config += f"  - usergroup: oncall-{n}\n    workspace: {team}\n    users: [p{n}@example.com]\n"
    org.org_token(BOT_TOKEN)
    return Org(sample_org().opsgenie, org.state, config)


@pytest.mark.parametrize("workspaces", [1, 2, 5])
def test_a_no_change_pass_costs_one_group_list_per_workspace(workspaces: int, tmp_path: Path) -> None:
    with Emulators(_spread(workspaces), at=DEMO_START) as emu:
        assert sync(emu, tmp_path, emu.org.config_yaml).code == 0
        emu.reset_logs()
        result = sync(emu, tmp_path, emu.org.config_yaml)
        assert result.code == 0 and f"{workspaces} in sync" in result.out, result.both
        assert slack_methods(emu) == ["usergroups.list"] * workspaces
        assert sorted(c.team_id or "" for c in emu.slack.api_calls()) == [f"T0SPACE{n:03d}"
                                                                          for n in range(workspaces)]


def test_announcements_and_topics_in_a_workspace_of_the_organisation(grid: Emulators, tmp_path: Path) -> None:
    """With an org-level token a #name is found in the group's workspace (conversations.list with its
    team_id) and the post names the channel's id (a name would be team_not_found, GRID §2)."""
    config = grid.org.config_yaml.replace(
        "    users: [dana.lead@example.com]\n",
        "    users: [dana.lead@example.com]\n    announce: '#delivery'\n    topic: '#delivery'\n")
    result = sync(grid, tmp_path, config)
    assert result.code == 0, result.both
    channel = grid.slack.state.channel("delivery", team_id=PAYMENTS)
    assert channel is not None
    posted = [m for m in grid.slack.state.messages if m.get("channel") == channel.id]
    assert len(posted) == 1 and "@delivery-support" in str(posted[0].get("text")), grid.slack.state.messages
    assert "carol" in channel.topic
    listed = grid.slack.api_calls("conversations.list")  # (private channels first: no groups:read, then public)
    assert listed and all(c.team_id == PAYMENTS for c in listed)
    assert [c for c in grid.slack.api_calls() if not c.ok and c.error != "missing_scope"] == []


def test_an_org_token_slack_will_not_let_look_people_up_by_email_lists_them(tmp_path: Path) -> None:
    """users.lookupByEmail may refuse an org-level token (enterprise_is_restricted, GRID §2
    [unverified]): people are then found by listing the workspaces in use (users.list, team_id)."""
    org = grid_org()
    assert org.slack.enterprise is not None
    org.slack.enterprise.lookup_by_email_restricted = True
    config = f"workspace: {PAYMENTS}\nsyncs:\n  - usergroup: payments-oncall\n    schedules: [Payments_schedule]\n" \
             "    users: [bob@example.com]\n"
    with Emulators(org, at=DEMO_START) as emu:
        result = sync(emu, tmp_path, config)
        assert result.code == 0, result.both
        assert sorted(emu.slack.state.members_of("payments-oncall", PAYMENTS)) == ids(emu, "bob@example.com",
                                                                                      "dave@example.com")
        assert [c.team_id for c in emu.slack.api_calls("users.list")] == [PAYMENTS]
