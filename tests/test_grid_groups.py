"""The group's whole life end to end over HTTP (issue 20): created (create: true), its description and
default channels kept, disabled while nobody is on call and enabled again (when_empty: disable); each
write paced with the membership writes; a no-change pass writes nothing. The organisation is
``slack_grid.sample_grid`` with an org-level token; at DEMO_START, by hand: Payments_schedule has
Dave Diaz on call, Platform_schedule nobody."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from slackgenie.core.model import Action
from slackgenie.core.plan import describe
from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import DEMO_START
from slackgenie_emulators.slack_grid import PAYMENTS, PLATFORM, grid_org

from conftest import service_for, write_config
from providers_fixtures import run_main

CHECKOUT = f"""\
workspace: {PAYMENTS}
syncs:
  - usergroup: checkout-oncall
    create: true
    name: Checkout On-call
    description: "On call: {{names}}. Page them for checkout."
    channels: ['#payments']
    schedules: [Payments_schedule]
"""


@pytest.fixture
def grid() -> Iterator[Emulators]:
    with Emulators(grid_org(), at=DEMO_START) as emu:
        yield emu


def sync(emu: Emulators, tmp_path: Path, config: str, *args: str):  # type: ignore[no-untyped-def]
    write_config(tmp_path, config)
    return run_main(["sync", *args], emu.env())


def methods(emu: Emulators) -> list[str]:
    return sorted(c.method for c in emu.slack.api_calls())


def channel_id(emu: Emulators, name: str, team: str) -> str:
    found = emu.slack.state.channel(name, team_id=team)
    assert found is not None
    return found.id


def test_create_describe_and_channels_then_nothing_more(grid: Emulators, tmp_path: Path) -> None:
    plan = sync(grid, tmp_path, CHECKOUT, "--dry-run")
    assert plan.code == 0 and "@checkout-oncall: would create it (create: true), then fill it" in plan.out, plan.both
    assert grid.slack.api_calls("usergroups.create") == []

    first = sync(grid, tmp_path, CHECKOUT)
    assert first.code == 0, first.both
    assert "@checkout-oncall: created" in first.out
    group = grid.slack.state.group_by_handle("checkout-oncall", PAYMENTS)
    assert group is not None
    assert group.name == "Checkout On-call"
    assert group.description == "On call: Dave Diaz. Page them for checkout."
    assert group.channels == [channel_id(grid, "payments", PAYMENTS)]
    assert grid.slack.state.emails_of("checkout-oncall", PAYMENTS) == ["dave@example.com"]
    created = grid.slack.api_calls("usergroups.create")
    assert len(created) == 1 and created[0].team_id == PAYMENTS and created[0].params["handle"] == "checkout-oncall"
    assert all(c.team_id == PAYMENTS for c in grid.slack.api_calls("usergroups.users.update"))
    assert all(c.team_id == PAYMENTS for c in grid.slack.api_calls("conversations.list"))

    grid.reset_logs()
    again = sync(grid, tmp_path, CHECKOUT)
    assert again.code == 0 and "1 in sync" in again.out
    assert methods(grid) == ["usergroups.list"]  # level-triggered: nothing written, the channel's id kept

    # Someone edits the group in Slack: the next pass puts description and channels back, in one update.
    group.description, group.channels = "whatever someone typed a year ago", []
    grid.reset_logs()
    fixed = sync(grid, tmp_path, CHECKOUT)
    assert fixed.code == 0 and "@checkout-oncall: description and default channels set" in fixed.out, fixed.both
    assert methods(grid) == ["usergroups.list", "usergroups.update"]
    assert group.description == "On call: Dave Diaz. Page them for checkout."
    assert group.channels == [channel_id(grid, "payments", PAYMENTS)]


def test_when_empty_disable_disables_then_enables(grid: Emulators, tmp_path: Path) -> None:
    nobody = (f"syncs:\n  - usergroup: payments-oncall\n    workspace: {PAYMENTS}\n"
              "    schedules: [Platform_schedule]\n    when_empty: disable\n")
    plan = sync(grid, tmp_path, nobody, "--dry-run")
    assert "@payments-oncall: would disable it (nobody is on call; when_empty: disable)" in plan.out, plan.both
    first = sync(grid, tmp_path, nobody)
    assert first.code == 0 and "@payments-oncall: disabled" in first.out, first.both
    group = grid.slack.state.group_by_handle("payments-oncall", PAYMENTS)
    assert group is not None and group.date_delete != 0
    disabled = grid.slack.api_calls("usergroups.disable")
    assert len(disabled) == 1 and disabled[0].team_id == PAYMENTS
    assert grid.slack.state.emails_of("payments-oncall", PAYMENTS) == ["dave@example.com"]  # members kept

    grid.reset_logs()
    assert sync(grid, tmp_path, nobody).code == 0
    assert methods(grid) == ["usergroups.list"]  # disabled already: nothing written

    someone = nobody.replace("Platform_schedule", "Payments_schedule")
    grid.reset_logs()
    back = sync(grid, tmp_path, someone)
    assert back.code == 0 and "@payments-oncall: enabled" in back.out, back.both
    assert group.date_delete == 0
    # dave, looked up for the first time, is in the group already: enabling it is the one write
    assert methods(grid) == ["usergroups.enable", "usergroups.list", "users.lookupByEmail"]
    assert grid.slack.api_calls("usergroups.enable")[0].team_id == PAYMENTS


def test_a_group_found_disabled_is_reported_never_silently_enabled(grid: Emulators, tmp_path: Path) -> None:
    group = grid.slack.state.group_by_handle("payments-oncall", PAYMENTS)
    assert group is not None
    group.date_delete = 1700000000
    config = f"syncs:\n  - usergroup: payments-oncall\n    workspace: {PAYMENTS}\n    schedules: [Payments_schedule]\n"
    result = sync(grid, tmp_path, config)
    assert result.code == 1 and "is disabled in Slack: enable it" in result.out, result.both
    assert "'when_empty: disable'" in result.out
    assert group.date_delete == 1700000000 and grid.slack.api_calls("usergroups.enable") == []


@pytest.mark.parametrize(("change", "code", "fix"), [
    ("usergroup: payments", "handle_already_exists", "choose another 'usergroup'"),  # #payments is a channel
    ("name: Payments On-call", "name_already_exists", "give this sync another 'name'"),
])
def test_create_refused_because_another_holds_it(grid: Emulators, tmp_path: Path, change: str, code: str,
                                                 fix: str) -> None:
    key = change.split(":")[0]
    config = CHECKOUT.replace(f"{key}: " + {"usergroup": "checkout-oncall", "name": "Checkout On-call"}[key], change)
    result = sync(grid, tmp_path, config)
    assert result.code == 1 and f"Slack refused the creation: {code}" in result.out and fix in result.out, result.both
    assert grid.slack.api_calls("usergroups.users.update") == []


def test_group_writes_share_the_paced_queue_oldest_first(grid: Emulators, tmp_path: Path) -> None:
    """One write a minute: the creation takes it; filling the group waits for the next slot (queued)."""
    service = service_for(grid, tmp_path, CHECKOUT + "slack_writes_per_minute: 1\n")
    try:
        report = service.reconciler.run_pass()
        (outcome,) = report.outcomes
        assert outcome.queued and outcome.plan.action is Action.UPDATE
        assert len(grid.slack.api_calls("usergroups.create")) == 1
        assert grid.slack.api_calls("usergroups.users.update") == []
    finally:
        service.close()


def test_a_description_on_one_line_within_slacks_limit() -> None:
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
    assert describe("{names} until {until}", ["Alice Archer", "Bob Baker"], monday) == \
        "Alice Archer, Bob Baker until Mon 30 Nov 09:00 UTC"
    assert describe("On call:\n{names}", [], None) == "On call: nobody"
    assert describe("until {until}", ["A"], None) == "until further notice"
    long = describe("{names}", [f"Person number {n}" for n in range(20)], None)
    assert len(long) == 140 and long.endswith("…") and long.startswith("Person number 0, Person number 1")


def test_a_channel_the_workspace_has_not_fails_the_group_every_pass(grid: Emulators, tmp_path: Path) -> None:
    config = (f"syncs:\n  - usergroup: payments-oncall\n    workspace: {PAYMENTS}\n"
              "    schedules: [Payments_schedule]\n    channels: ['#platform']\n")  # #platform is Platform's
    for _ in range(2):
        result = sync(grid, tmp_path, config)
        assert result.code == 1
        assert "'channels': no channel #platform in the group's workspace" in result.out, result.both
    assert grid.slack.api_calls("usergroups.update") == []
    group = grid.slack.state.group_by_handle("payments-oncall", PAYMENTS)
    assert group is not None and group.channels == []


def test_until_is_the_next_handoff(grid: Emulators, tmp_path: Path) -> None:
    """Payments_schedule hands over two minutes after DEMO_START: its weekly rotation (Dave, Erin) turns
    at 09:00 UTC on Monday 23 November, where an override puts Grace on call until 18:00."""
    config = (f"syncs:\n  - usergroup: payments-oncall\n    workspace: {PAYMENTS}\n"
              "    schedules: [Payments_schedule]\n    description: '{names} until {until}'\n")
    assert sync(grid, tmp_path, config).code == 0
    group = grid.slack.state.group_by_handle("payments-oncall", PAYMENTS)
    assert group is not None and group.description == "Dave Diaz until Mon 23 Nov 09:00 UTC"
