"""`slackgenie check` with an org-level token (issue 20), over HTTP against the Grid emulator: the
token's kind, the workspaces the app is deployed to, each configured workspace among them, the
groups of each workspace, and what usergroups:write is needed for. Expected lines by hand from
``slack_grid.sample_grid`` (the app added to Payments, Platform and Sandbox, not to Legal)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import DEMO_START
from slackgenie_emulators.slack_grid import LEGAL, PAYMENTS, PLATFORM, grid_org

from conftest import write_config
from providers_fixtures import run_main


@pytest.fixture
def grid() -> Iterator[Emulators]:
    with Emulators(grid_org(), at=DEMO_START) as emu:
        yield emu


def check(emu: Emulators, tmp_path: Path, config: str):  # type: ignore[no-untyped-def]
    write_config(tmp_path, config)
    return run_main(["check"], emu.env())


def test_check_says_the_token_kind_the_workspaces_and_each_group(grid: Emulators, tmp_path: Path) -> None:
    config = grid.org.config_yaml.replace("    schedules: [Payments_schedule]\n",
                                          "    schedules: [Payments_schedule]\n    when_empty: disable\n"
                                          "    description: 'On call: {names}'\n")
    result = check(grid, tmp_path, config)
    out = result.out
    assert result.code == 0, result.both
    assert "\u2713 Slack token valid (org token: the app is installed on the Enterprise Grid organisation Acme Org, " \
           "as slackgenie)" in out
    assert "\u2022 the app is deployed to 3 workspace(s) of the organisation: Payments (T0PAYMENTS), " \
           "Platform (T0PLATFORM), Sandbox (T0SANDBOX1)" in out
    assert f"\u2713 workspace Payments ({PAYMENTS}) holds @delivery-support, @payments-oncall: the app is deployed " \
           "to it" in out
    assert f"\u2713 workspace Platform ({PLATFORM}) holds @platform-oncall: the app is deployed to it" in out
    assert "\u2713 Slack scope usergroups:write (also for description, when_empty: disable)" in out
    assert f"\u2713 user group @payments-oncall exists in workspace {PAYMENTS} (1 members)" in out
    assert f"\u2713 user group @platform-oncall exists in workspace {PLATFORM} (1 members)" in out
    assert grid.slack.api_calls("usergroups.users.update") == []


def test_check_names_a_workspace_the_app_is_not_deployed_to(grid: Emulators, tmp_path: Path) -> None:
    result = check(grid, tmp_path, grid.org.config_yaml.replace(f"workspace: {PLATFORM}", f"workspace: {LEGAL}"))
    assert result.code == 1
    assert f"\u2717 workspace {LEGAL} holds @platform-oncall, but the app is not deployed to it" in result.out
    assert "ask an org admin to add the app to that workspace" in result.out


def test_check_names_a_sync_without_workspace_under_an_org_token(grid: Emulators, tmp_path: Path) -> None:
    result = check(grid, tmp_path, grid.org.config_yaml.replace(f"    workspace: {PLATFORM}\n", ""))
    assert result.code == 1
    assert "\u2717 syncs[2].workspace: is missing: the Slack token is an org-level token" in result.out
    assert "fix: add `workspace: T…`" in result.out


def test_check_says_a_group_to_create(grid: Emulators, tmp_path: Path) -> None:
    config = f"workspace: {PAYMENTS}\nsyncs:\n  - usergroup: checkout-oncall\n    create: true\n" \
             "    channels: ['#payments']\n    schedules: [Payments_schedule]\n"
    result = check(grid, tmp_path, config)
    assert result.code == 0, result.both
    assert f"\u2713 user group @checkout-oncall does not exist yet in workspace {PAYMENTS}: the first sync " \
           "creates it (create: true)" in result.out
    assert "Slack scope channels:read" in result.out
    assert "\u2713 Slack scope usergroups:write (also for create: true, channels)" in result.out
