"""Slack's refusals in an Enterprise Grid organisation, end to end over HTTP (issue 20): each one
reported with its fix, the group left as it was. The organisation is ``slack_grid.sample_grid``; the
codes and the fixes' words are written here by hand (the method references, GRID §3 and §7)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import BOT_TOKEN, DEMO_START
from slackgenie_emulators.slack_grid import LEGAL, PAYMENTS, SANDBOX, grid_org

from conftest import write_config
from providers_fixtures import run_main

# payments-oncall alone, in Payments (Payments_schedule: dave on call at DEMO_START, as the group holds)
ONE = "syncs:\n  - usergroup: payments-oncall\n    workspace: {team}\n    schedules: [Payments_schedule]\n{extra}"


@pytest.fixture
def grid() -> Iterator[Emulators]:
    with Emulators(grid_org(), at=DEMO_START) as emu:
        yield emu


def sync(emu: Emulators, tmp_path: Path, config: str):  # type: ignore[no-untyped-def]
    write_config(tmp_path, config)
    return run_main(["sync"], {**emu.env(), "SLACK_BOT_TOKEN": BOT_TOKEN})


def members(emu: Emulators, handle: str = "payments-oncall") -> list[str]:
    return sorted(emu.slack.state.emails_of(handle, PAYMENTS))


def test_someone_outside_the_workspace_is_looked_up_again_once_then_named(grid: Emulators, tmp_path: Path) -> None:
    """Nora is in the organisation and in no workspace: Slack refuses her (failed_for_some_users)."""
    result = sync(grid, tmp_path, ONE.format(team=PAYMENTS, extra="    users: [nora@example.com]\n"))
    assert result.code == 1
    assert "failed_for_some_users" in result.out and "nora@example.com" in result.out, result.both
    assert "not a member of this workspace" in result.out
    assert members(grid) == ["dave@example.com"]  # left as it was
    # refused, her id dropped and looked up afresh, and the same write not sent a second time
    assert len(grid.slack.api_calls("usergroups.users.update")) == 1
    assert len(grid.slack.api_calls("users.lookupByEmail")) >= 2


def test_a_person_who_joins_the_workspace_is_written_on_the_next_pass(grid: Emulators, tmp_path: Path) -> None:
    config = ONE.format(team=PAYMENTS, extra="    users: [nora@example.com]\n")
    assert sync(grid, tmp_path, config).code == 1
    nora = grid.slack.state.user_by_email("nora@example.com")
    assert nora is not None
    nora.teams.add(PAYMENTS)
    assert sync(grid, tmp_path, config).code == 0
    assert members(grid) == ["dave@example.com", "nora@example.com"]


def test_more_people_than_the_group_holds(grid: Emulators, tmp_path: Path) -> None:
    group = grid.slack.state.group_by_handle("payments-oncall", PAYMENTS)
    assert group is not None
    group.max_users = 1
    result = sync(grid, tmp_path, ONE.format(team=PAYMENTS, extra="    users: [bob@example.com]\n"))
    assert result.code == 1
    assert "subteam_max_users_exceeded" in result.out and "put fewer people in this group" in result.out
    assert members(grid) == ["dave@example.com"]


def test_a_workspace_that_lets_only_admins_manage_groups(grid: Emulators, tmp_path: Path) -> None:
    grid.slack.state.workspaces[PAYMENTS].admins_only_edit_groups = True
    result = sync(grid, tmp_path, ONE.format(team=PAYMENTS, extra="    users: [bob@example.com]\n"))
    assert result.code == 1
    assert "permission_denied" in result.out and "Permissions > User Groups" in result.out
    assert "user token (xoxp-)" in result.out
    assert members(grid) == ["dave@example.com"]


@pytest.mark.parametrize(("team", "code", "fix"), [
    (SANDBOX, "plan_upgrade_required", "upgrade the workspace (Pro or above)"),
    (LEGAL, "team_access_not_granted", "ask an org admin to add the app to that workspace"),
    ("T0NOWHERE1", "invalid_team", "set 'workspace: T…' for this group"),
])
def test_a_workspace_slack_refuses(grid: Emulators, tmp_path: Path, team: str, code: str, fix: str) -> None:
    result = sync(grid, tmp_path, ONE.format(team=team, extra=""))
    assert result.code == 1
    assert f"could not read Slack user groups: {code}" in result.out and fix in result.out, result.both
    assert grid.slack.api_calls("usergroups.users.update") == []


def test_a_workspace_moving_into_the_organisation(grid: Emulators, tmp_path: Path) -> None:
    grid.slack.state.workspaces[PAYMENTS].migration_error = "team_added_to_org"
    result = sync(grid, tmp_path, ONE.format(team=PAYMENTS, extra=""))
    assert result.code == 1
    assert "team_added_to_org" in result.out and "wait for the move to end" in result.out, result.both
