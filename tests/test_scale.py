"""Calls per pass stay flat as groups grow: 2 for a no-change pass, one write per changed group."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from slackgenie.settings import load
from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import DEMO_START, sample_org, scaled_org
from slackgenie.core.model import Action
from slackgenie.wiring import build

from conftest import run_cli, write_config


def test_200_groups_full_then_no_change_pass(tmp_path: Path) -> None:
    org = scaled_org(200)
    with Emulators(org, at=datetime(2026, 11, 23, 12, 30, tzinfo=timezone.utc)) as emu:
        # 200 first writes at once: paced at 20 a minute they would take 10 minutes (test_write_queue)
        write_config(tmp_path, org.config_yaml + "cache_file: cache.json\nslack_writes_per_minute: 1000\n")
        first = run_cli(["sync"], emu.env(), tmp_path)
        assert first.code == 0, first.both[-2000:]
        assert emu.slack.calls(r"usergroups\.users\.update$") == 200
        assert emu.slack.calls(r"usergroups\.list$") == 1 and emu.opsgenie.calls("") == 1
        # a cold start lists the workspace (60 people: one page of 200) instead of 60 lookups
        assert emu.slack.calls(r"users\.list$") == 1 and emu.slack.calls(r"users\.lookupByEmail$") == 0
        emu.reset_logs()
        second = run_cli(["sync"], emu.env(), tmp_path)
        assert second.code == 0
        assert emu.opsgenie.calls("") + emu.slack.calls("") == 2
        assert "200 in sync" in second.out


def test_stale_cached_user_is_looked_up_again_in_the_same_pass_after_invalid_users(tmp_path: Path) -> None:
    with Emulators(sample_org(), at=DEMO_START) as emu:
        path = write_config(tmp_path, emu.org.config_yaml)
        service = build(load(str(path), emu.env()))
        try:
            assert service.reconciler.run_pass().ok
            # Carol's account is replaced: the old id is deactivated, a new one has her e-mail.
            slack = emu.slack.state
            old = slack.user_by_email("carol@example.com")
            old.deleted, old.email = True, "carol.old@example.com"
            new = slack.add_user("carol2", "carol@example.com", "Carol Chen")
            slack.group_by_handle("delivery-support").users = [slack.user_by_email("bob@example.com").id]
            # Slack refuses the stale id (invalid_users): the pass looks carol up again and writes
            # once more, in the same pass.
            healed = service.reconciler.run_pass()
            assert healed.ok and healed.outcomes[0].applied
            assert new.id in slack.group_by_handle("delivery-support").users
            assert emu.slack.calls(r"usergroups\.users\.update") == 4  # 2 first, then the refused one and its retry
        finally:
            service.close()


def test_preview_at_a_given_time_uses_opsgenie_date(tmp_path: Path) -> None:
    with Emulators(sample_org(), at=DEMO_START) as emu:
        path = write_config(tmp_path, emu.org.config_yaml)
        service = build(load(str(path), emu.env()))
        try:
            at = DEMO_START + timedelta(days=1, hours=2)  # Tuesday 10:58
            report = service.reconciler.run_pass(dry_run=True, at=at)
            assert any("date" in r.params for r in emu.opsgenie.requests)
            slack = emu.slack.state
            for outcome in report.outcomes:
                schedule = emu.opsgenie.state.schedule(outcome.plan.handle.split("-")[0].title()
                                                       .replace("Delivery", "Delivery Support") + "_schedule", "name")
                on_call = {p["username"].replace("frank.og", "frank") for _, p, _ in schedule.on_call(at)}
                expected = on_call | ({"dana.lead@example.com"} if outcome.plan.handle == "delivery-support" else set())
                assert {slack.users[i].email for i in outcome.plan.desired} == expected
            assert {o.plan.handle for o in report.outcomes if o.plan.action is Action.UPDATE} == {"payments-oncall"}
            assert emu.slack.calls(r"usergroups\.users\.update$") == 0
        finally:
            service.close()


def test_a_fresh_process_in_an_empty_directory_lists_the_workspace_once(tmp_path: Path) -> None:
    """Cron without a persisted directory: at most 3 (the token's kind, the groups, the on-calls)
    + ceil(workspace people / 200) calls."""
    org = scaled_org(200)
    first_dir, fresh_dir = tmp_path / "a", tmp_path / "b"
    first_dir.mkdir()
    fresh_dir.mkdir()
    with Emulators(org, at=datetime(2026, 11, 23, 12, 30, tzinfo=timezone.utc)) as emu:
        write_config(first_dir, org.config_yaml + "slack_writes_per_minute: 1000\n")
        assert run_cli(["sync"], emu.env(), first_dir).code == 0  # the groups are right from here on
        people = len(emu.slack.state.users)
        write_config(fresh_dir, org.config_yaml)
        emu.reset_logs()
        cold = run_cli(["sync"], emu.env(), fresh_dir)
        assert cold.code == 0, cold.both[-2000:]
        assert emu.opsgenie.calls("") + emu.slack.calls("") == 3 + -(-people // 200)
        assert emu.slack.calls(r"auth\.test$") == 1
        assert emu.slack.calls(r"users\.lookupByEmail$") == 0
        assert (fresh_dir / ".slackgenie-cache.json").is_file()  # kept by default in the working directory
        emu.reset_logs()
        warm = run_cli(["sync"], emu.env(), fresh_dir)
        assert warm.code == 0 and emu.opsgenie.calls("") + emu.slack.calls("") == 2
