"""The same scenarios against every provider: Opsgenie, JSM Ops and PagerDuty, each through its own
emulator and wire contract, serving one organisation (sample.py). What the groups must hold is
worked out by hand from the sample's rotations (see each test), never from the product's code.

At DEMO_START (Mon 2026-11-23 08:58 UTC):
- Delivery: daily turns of alice, bob, carol from 2026-11-02 09:00 UTC; 20 days 23 h 58 min
  later is turn 20, 20 % 3 = 2: carol. At 09:00 turn 21: alice.
- Payments: weekly turns of dave, erin from 2026-11-02 09:00; 08:58 on the 23rd is still week 2
  (2 % 2 = 0): dave. At 09:00 week 3 would be erin, but grace's override holds 09:00-18:00.
- Platform: business hours 09:00-17:00 London (UTC in November): nobody before 09:00; at 09:00
  daily turns of frank.og and heidi from 2026-11-03 09:00: 20 days on, turn 20 % 2 = 0: frank.og,
  who is frank@example.com in Slack (the `users:` map).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.request import BoltRequest

from slackgenie.app.runner import SlackApp
from slackgenie.engine.daemon import Daemon
from slackgenie_emulators import Emulators
from slackgenie_emulators.base import LoggedRequest
from slackgenie_emulators.injector import form_body, signed_headers, slash_command
from slackgenie_emulators.jsm import JSM_TOKEN
from slackgenie_emulators.pagerduty import PAGERDUTY_TOKEN
from slackgenie_emulators.sample import DEMO_AFTER_HANDOFF, MIXED_CONFIG, SAMPLE_CONFIG

from conftest import SECRETS, CliResult, run_cli, write_config, service_for
from providers_fixtures import group_updates, run_main

UTC = timezone.utc
PROVIDERS = ["opsgenie", "jsm", "pagerduty"]
HANDOFF = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ALL_SECRETS = (*SECRETS, JSM_TOKEN, PAGERDUTY_TOKEN)


def config_for(provider: str, text: str = SAMPLE_CONFIG) -> str:
    return f"provider: {provider}\n" + text


def sync(emu: Emulators, tmp_path: Path, provider: str, *args: str, text: str = SAMPLE_CONFIG,
         env: dict[str, str] | None = None) -> CliResult:
    """``slackgenie sync ARGS`` in-process (the real process: see the smoke tests below)."""
    write_config(tmp_path, config_for(provider, text))
    result = run_main(["sync", *args], {**emu.env(), **(env or {})})
    assert not any(s in result.both for s in ALL_SECRETS)
    return result


def writes(emu: Emulators) -> int:
    return emu.slack.calls(r"usergroups\.users\.update$")


def provider_calls(emu: Emulators, provider: str) -> int:
    return len(emu.servers[provider].requests)


def break_payments(emu: Emulators, provider: str) -> None:
    """Make the Payments schedule unreadable, in the way its provider fails."""
    og = emu.opsgenie.state.schedule("Payments_schedule", "name")
    assert og is not None
    if provider == "opsgenie":
        emu.opsgenie.inject(r"^/v2/schedules/on-calls$", status=503)  # the bulk read is down
        emu.opsgenie.inject(r"Payments_schedule/on-calls", status=503)  # and that schedule for good
    elif provider == "jsm":
        emu.jsm.inject(rf"/schedules/{og.id}/on-calls$", status=503)
    else:  # PagerDuty answers every schedule at once: Payments' entries come back malformed
        pd_id = emu.pagerduty.schedule_id("Payments_schedule")

        def corrupt(body: Any) -> Any:
            for entry in body.get("oncalls", []):
                if (entry.get("schedule") or {}).get("id") == pd_id:
                    entry["user"] = None
            return body

        emu.pagerduty.inject(r"^/oncalls$", kind="transform", transform=corrupt)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_sync_sets_groups_to_who_is_on_call(emulators: Emulators, tmp_path: Path, provider: str) -> None:
    result = sync(emulators, tmp_path, provider)
    assert result.code == 0, result.both
    slack = emulators.slack.state
    assert slack.emails_of("delivery-support") == ["carol@example.com", "dana.lead@example.com"]
    assert slack.emails_of("payments-oncall") == ["dave@example.com"]
    assert slack.emails_of("platform-oncall") == ["ivan@example.com"]  # nobody on call: the fallback
    assert writes(emulators) == 2
    assert provider_calls(emulators, provider) >= 1
    assert all(provider_calls(emulators, p) == 0 for p in PROVIDERS if p != provider)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_nobody_on_call_with_keep_leaves_the_group(emulators: Emulators, tmp_path: Path, provider: str) -> None:
    text = "syncs:\n  - usergroup: platform-oncall\n    schedules: [Platform_schedule]\n"
    result = sync(emulators, tmp_path, provider, text=text)
    assert result.code == 0, result.both
    assert emulators.slack.state.emails_of("platform-oncall") == ["heidi@example.com"]
    assert "nobody is on call" in result.out and writes(emulators) == 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_one_schedule_failing_leaves_only_its_group_alone(emulators: Emulators, tmp_path: Path,
                                                          provider: str) -> None:
    break_payments(emulators, provider)
    emulators.clock.set(DEMO_AFTER_HANDOFF)
    result = sync(emulators, tmp_path, provider)
    assert result.code == 1, result.both
    slack = emulators.slack.state
    assert slack.emails_of("payments-oncall") == ["dave@example.com"]  # untouched, not emptied
    assert slack.emails_of("delivery-support") == ["alice@example.com", "dana.lead@example.com"]
    assert slack.emails_of("platform-oncall") == ["frank@example.com"]
    assert "Payments_schedule" in result.out and "FAILED" in result.out


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_unresolvable_person_is_named_and_the_rest_sync(emulators: Emulators, tmp_path: Path,
                                                           provider: str) -> None:
    emulators.slack.state.user_by_email("carol@example.com").deleted = True  # type: ignore[union-attr]
    result = sync(emulators, tmp_path, provider)
    assert result.code == 1
    assert "carol@example.com" in result.out and "deactivated" in result.out
    assert emulators.slack.state.emails_of("delivery-support") == ["dana.lead@example.com"]
    assert emulators.slack.state.emails_of("payments-oncall") == ["dave@example.com"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_dry_run_names_the_change_and_writes_nothing(emulators: Emulators, tmp_path: Path, provider: str) -> None:
    result = sync(emulators, tmp_path, provider, "--dry-run")
    assert result.code == 0, result.both
    assert "would update" in result.out and "+carol@example.com" in result.out
    assert writes(emulators) == 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_at_previews_another_instant(emulators: Emulators, tmp_path: Path, provider: str) -> None:
    # 2026-12-24 18:00 UTC is 52 days 9 h after the rotations' start: Delivery turn 52 (52 % 3 = 1,
    # bob), Payments week 7 (7 % 2 = 1, erin); Platform is past 17:00: nobody, so ivan.
    result = sync(emulators, tmp_path, provider, "--at", "2026-12-24T18:00:00Z")
    assert result.code == 0, result.both
    assert "@delivery-support  in sync (2 members): bob@example.com, dana.lead@example.com" in result.out
    assert "+erin@example.com -dave@example.com" in result.out and "+ivan@example.com" in result.out
    assert writes(emulators) == 0


# What reads each provider's forecast, and how often in the daemon's three passes: once, not per pass.
FORECAST_READS: dict[str, tuple[Callable[[LoggedRequest], bool], int]] = {
    "opsgenie": (lambda r: r.path == "/v2/schedules" and r.params.get("expand") == "rotation", 1),  # all at once
    "jsm": (lambda r: r.path.endswith("/timeline"), 3),  # each schedule's timeline
    "pagerduty": (lambda r: r.path == "/oncalls" and "since" in r.params, 1),  # every schedule's next day at once
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_daemon_wakes_at_the_handoff(emulators: Emulators, tmp_path: Path, provider: str) -> None:
    service = service_for(emulators, tmp_path, config_for(provider).replace("interval: 60", "interval: 300"))
    daemon = Daemon(service.run_pass, 300, next_handoff=service.next_handoff, guard=2.0,
                    clock=service.clock, max_passes=3)
    try:
        daemon.run()
    finally:
        service.close()
    assert [why for _, why in daemon.wakes] == ["start", "handoff", "interval"]
    assert daemon.wakes[1][0] == HANDOFF + timedelta(seconds=2)
    after = [(t, who) for t, who in group_updates(emulators, "delivery-support") if t >= HANDOFF]
    assert after and after[0][0] <= HANDOFF + timedelta(seconds=5)
    assert after[0][1] == ["alice@example.com", "dana.lead@example.com"]
    assert group_updates(emulators, "payments-oncall")[-1][1] == ["grace@example.com"]  # the override
    is_forecast, reads = FORECAST_READS[provider]
    assert sum(1 for r in emulators.servers[provider].requests if is_forecast(r)) == reads


SIGNING = "provider-test-signing-secret-0001"


def ask(emu: Emulators, app: SlackApp, text: str) -> str:
    body = form_body(slash_command(text, "U00000002", emu.slack.response_url("t")))
    headers: dict[str, str | Sequence[str]] = {**signed_headers(SIGNING, body, "application/x-www-form-urlencoded")}
    response = app.bolt.dispatch(BoltRequest(body=body, headers=headers))
    return str(json.loads(response.body)["text"])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_oncall_answers_now_and_next(emulators: Emulators, tmp_path: Path, provider: str) -> None:
    service = service_for(emulators, tmp_path, config_for(provider), {"SLACK_SIGNING_SECRET": SIGNING})
    try:
        app = SlackApp(service)
        app.refresh(service.run_pass())
        uid = {u.email: u.id for u in emulators.slack.state.users.values()}
        now = ask(emulators, app, "delivery-support")
        assert f"<@{uid['carol@example.com']}>" in now and f"<@{uid['dana.lead@example.com']}>" in now
        nxt = ask(emulators, app, "next payments-oncall")
        assert f"<@{uid['grace@example.com']}>" in nxt  # the override that starts at 09:00
        assert f"<!date^{int(HANDOFF.timestamp())}^" in nxt
        assert "Payments_schedule" in ask(emulators, app, "payments")  # by schedule name
    finally:
        service.close()


MIXED = MIXED_CONFIG  # Delivery from Opsgenie, Payments from PagerDuty, Platform from JSM Ops


def test_a_mixed_config_reads_each_group_from_its_provider(emulators: Emulators, tmp_path: Path) -> None:
    emulators.clock.set(DEMO_AFTER_HANDOFF)
    write_config(tmp_path, MIXED)
    result = run_cli(["sync"], emulators.env(), tmp_path)  # a process of its own: the sync command's smoke test
    assert result.code == 0, result.both
    slack = emulators.slack.state
    assert slack.emails_of("delivery-support") == ["alice@example.com", "dana.lead@example.com"]
    assert slack.emails_of("payments-oncall") == ["grace@example.com"]
    assert slack.emails_of("platform-oncall") == ["frank@example.com"]
    assert emulators.opsgenie.calls(r"/on-calls") == 1 and emulators.pagerduty.calls(r"^/oncalls$") == 1
    platform = emulators.opsgenie.state.schedule("Platform_schedule", "name")
    assert platform is not None and emulators.jsm.calls(rf"/schedules/{platform.id}/on-calls$") == 1
    assert emulators.jsm.calls(r"/schedules/[^/]+/on-calls$") == 1  # only the schedule a sync needs


def test_the_same_name_in_two_providers_is_two_schedules(emulators: Emulators, tmp_path: Path) -> None:
    """Mid-migration: a shadow group on JSM Ops beside the Opsgenie one, both named alike. A JSM
    outage must fail only the JSM group."""
    emulators.slack.state.add_group("delivery-jsm", "Delivery (JSM trial)")
    emulators.jsm.inject(r"/on-calls$", status=503)
    text = ("syncs:\n  - usergroup: delivery-support\n    schedules: [Delivery Support_schedule]\n"
            "  - usergroup: delivery-jsm\n    provider: jsm\n    schedules: [Delivery Support_schedule]\n")
    write_config(tmp_path, text)
    result = run_main(["sync"], emulators.env())
    assert result.code == 1
    assert emulators.slack.state.emails_of("delivery-support") == ["carol@example.com"]
    assert "JSM Ops schedule 'Delivery Support_schedule' could not be read" in result.out
    assert "Opsgenie schedule" not in result.out


# --- JSM Ops specifics ---------------------------------------------------------------------------

def test_jsm_hidden_emails_ask_for_a_mapping_and_the_mapping_works(emulators: Emulators, tmp_path: Path) -> None:
    emulators.jsm.hidden_emails.add("carol@example.com")
    account = emulators.jsm.account_id("carol@example.com")
    result = sync(emulators, tmp_path, "jsm")
    assert result.code == 1
    assert account in result.out and "profile privacy" in result.out and "users:" in result.out
    # never taken for "nobody", never dropped silently: dana stays, the group is not emptied
    assert "dana.lead@example.com" in emulators.slack.state.emails_of("delivery-support")

    mapped = SAMPLE_CONFIG + f'  "{account}": carol@example.com\n'
    result = sync(emulators, tmp_path, "jsm", text=mapped)
    assert result.code == 0, result.both
    assert emulators.slack.state.emails_of("delivery-support") == ["carol@example.com", "dana.lead@example.com"]


def test_jsm_user_lookup_failure_leaves_groups_alone(emulators: Emulators, tmp_path: Path) -> None:
    emulators.jsm.inject(r"/rest/api/3/user/bulk", status=503)
    result = sync(emulators, tmp_path, "jsm")
    assert result.code == 1
    assert writes(emulators) == 1  # platform's fallback only: nobody on call there, no lookup needed
    assert emulators.slack.state.emails_of("delivery-support") == ["bob@example.com", "dana.lead@example.com"]
    assert "could not look up who the on-call accounts are" in result.out


def test_jsm_steady_state_rereads_only_after_recheck_or_a_handoff(emulators: Emulators, tmp_path: Path) -> None:
    service = service_for(emulators, tmp_path, config_for("jsm") + "jsm: {recheck: 600}\n")
    on_calls = r"/v1/schedules/[^/]+/on-calls$"
    try:
        assert service.run_pass().ok
        assert emulators.jsm.calls(on_calls) == 3
        assert service.next_handoff(emulators.clock.now()) == HANDOFF  # from the timelines
        timelines = emulators.jsm.calls(r"/timeline$")
        assert timelines == 3
        emulators.clock.advance(60)  # 08:59: nothing foreseen since, within recheck
        assert service.run_pass().ok
        assert emulators.jsm.calls(on_calls) == 3  # no schedule read again
        emulators.clock.set(HANDOFF + timedelta(seconds=2))
        report = service.run_pass()
        assert report.ok and emulators.jsm.calls(on_calls) == 6  # past a handoff: all read again
        assert emulators.slack.state.emails_of("payments-oncall") == ["grace@example.com"]
    finally:
        service.close()


def test_jsm_schedule_list_pages_and_names_resolve(emulators: Emulators, tmp_path: Path) -> None:
    og = emulators.opsgenie.state
    for i in range(60):  # more than one page of 50
        og.add_schedule(f"Filler {i:02d}", "UTC")
    result = sync(emulators, tmp_path, "jsm")
    assert result.code == 0, result.both
    lists = [r for r in emulators.jsm.requests if r.path.endswith("/v1/schedules")]
    assert len(lists) == 2 and all(r.params.get("size") == "50" for r in lists)
    assert emulators.jsm.calls(r"/_edge/tenant_info") == 1


# --- PagerDuty specifics --------------------------------------------------------------------------

def test_pagerduty_reads_every_schedule_in_one_call_and_confirms_empty_ones(emulators: Emulators,
                                                                           tmp_path: Path) -> None:
    emulators.clock.set(DEMO_AFTER_HANDOFF)
    emulators.pagerduty.detached.add("Delivery Support_schedule")  # in no escalation policy
    result = sync(emulators, tmp_path, "pagerduty")
    assert result.code == 0, result.both
    assert emulators.slack.state.emails_of("delivery-support") == ["alice@example.com", "dana.lead@example.com"]
    assert emulators.pagerduty.calls(r"^/oncalls$") == 1
    delivery = emulators.pagerduty.schedule_id("Delivery Support_schedule")
    assert emulators.pagerduty.calls(r"/schedules/[^/]+/users$") == 1
    assert emulators.pagerduty.calls(rf"/schedules/{delivery}/users$") == 1


def test_pagerduty_oncalls_sends_the_documented_parameters(emulators: Emulators, tmp_path: Path) -> None:
    assert sync(emulators, tmp_path, "pagerduty").code == 0
    call = next(r for r in emulators.pagerduty.requests if r.path == "/oncalls")
    assert call.params.get("include[]") == "users"
    assert call.params.get("limit") == "100"


# --- credentials: only for the providers in use, checked before any call ----------------------------

@pytest.mark.parametrize("provider,variable", [("opsgenie", "OPSGENIE_API_KEY"), ("jsm", "JSM_API_TOKEN"),
                                               ("jsm", "JSM_SITE_URL"), ("jsm", "JSM_EMAIL"),
                                               ("pagerduty", "PAGERDUTY_API_TOKEN")])
def test_missing_credentials_of_a_provider_in_use_exit_2(emulators: Emulators, tmp_path: Path, provider: str,
                                                        variable: str) -> None:
    result = sync(emulators, tmp_path, provider, env={variable: ""})
    assert result.code == 2, result.both
    assert variable in result.err and "fix:" in result.err
    assert sum(len(s.requests) for s in emulators.servers.values()) == 0


def test_a_provider_no_sync_uses_needs_no_credentials(emulators: Emulators, tmp_path: Path) -> None:
    blank = {v: "" for v in ("OPSGENIE_API_KEY", "JSM_API_TOKEN", "JSM_SITE_URL", "JSM_EMAIL")}
    result = sync(emulators, tmp_path, "pagerduty", env=blank)
    assert result.code == 0, result.both


def test_a_wrong_pagerduty_token_is_a_failed_read_naming_the_variable(emulators: Emulators, tmp_path: Path) -> None:
    result = sync(emulators, tmp_path, "pagerduty", env={"PAGERDUTY_API_TOKEN": "u+wrongtoken-00000"})
    assert result.code == 1
    assert "PAGERDUTY_API_TOKEN" in result.out and "401" in result.out
    assert writes(emulators) == 0  # nothing was read, so nothing is written


# --- check: each provider in use, and the way to JSM Ops ----------------------------------------

def check(emu: Emulators, tmp_path: Path, text: str, env: dict[str, str] | None = None,
          process: bool = False) -> CliResult:
    """``slackgenie check`` in-process, or as a process of its own."""
    write_config(tmp_path, text)
    env = {**emu.env(), **(env or {})}
    result = run_cli(["check"], env, tmp_path) if process else run_main(["check"], env)
    assert not any(s in result.both for s in ALL_SECRETS)
    return result


def test_check_covers_each_provider_in_use(emulators: Emulators, tmp_path: Path) -> None:
    # a process of its own: the check command's smoke test
    result = check(emulators, tmp_path, MIXED.replace("[Platform_schedule]", "[Platfrom_schedule]"), process=True)
    assert result.code == 1
    out = result.out
    assert "\u2713 Opsgenie credentials valid" in out and "\u2713 PagerDuty credentials valid" in out
    assert "\u2713 JSM Ops credentials valid" in out
    assert "\u2713 PagerDuty schedule 'Payments_schedule' exists (id " in out
    assert "\u2717 JSM Ops schedule 'Platfrom_schedule' not found (did you mean 'Platform_schedule'?)" in out
    assert emulators.slack.calls(r"usergroups\.users\.update") == 0


def test_check_names_the_provider_whose_credentials_fail(emulators: Emulators, tmp_path: Path) -> None:
    result = check(emulators, tmp_path, config_for("jsm"), {"JSM_API_TOKEN": "ATATT-wrong-token-0000"})
    assert result.code == 1
    assert "\u2717 JSM Ops credentials rejected" in result.out and "JSM_EMAIL and JSM_API_TOKEN" in result.out
    assert "ATATT-wrong-token-0000" not in result.both


def test_check_lists_jsm_twins_of_opsgenie_schedules(emulators: Emulators, tmp_path: Path) -> None:
    """A team still on Opsgenie, with JSM Ops credentials set: which schedules already have a twin."""
    og = emulators.opsgenie.state
    payments, delivery = og.schedule("Payments_schedule", "name"), og.schedule("Delivery Support_schedule", "name")
    assert payments is not None and delivery is not None

    def not_yet_in_jsm(body: Any) -> Any:  # Payments has not been migrated
        body["values"] = [s for s in body["values"] if s["name"] != "Payments_schedule"]
        return body

    emulators.jsm.inject(r"/v1/schedules$", kind="transform", transform=not_yet_in_jsm)
    text = SAMPLE_CONFIG.replace("[Delivery Support_schedule]", f"['{delivery.id}']")  # by id: matched by name
    result = check(emulators, tmp_path, text)
    out = result.out
    assert (f"\u2022 migration: @delivery-support: Opsgenie schedule '{delivery.id}' (Delivery Support_schedule) "
            f"has a JSM Ops twin (id {delivery.id}): add `provider: jsm` to this sync to switch") in out
    assert ("\u2022 migration: @payments-oncall: Opsgenie schedule 'Payments_schedule' has no JSM Ops schedule "
            "of that name yet") in out
    assert result.code == 0, out  # information, not a failure

    without = check(emulators, tmp_path, text, {"JSM_SITE_URL": ""})
    assert "migration" not in without.out


# --- answers that cannot be trusted change nothing (regressions from an adversarial review) ----------

def test_jsm_user_lookup_failure_leaves_groups_alone_whatever_the_order(emulators: Emulators, tmp_path: Path) -> None:
    emulators.opsgenie.state.add_schedule("A-Empty_schedule", "UTC")  # read first, with nobody on call
    emulators.slack.state.add_group("a-empty", "A empty", [emulators.slack.state.user_by_email("ivan@example.com").id])  # type: ignore[union-attr]
    emulators.jsm.inject(r"/rest/api/3/user/bulk", status=503)
    text = ("syncs:\n  - usergroup: a-empty\n    schedules: [A-Empty_schedule]\n"
            "  - usergroup: delivery-support\n    schedules: [Delivery Support_schedule]\n"
            "    users: [dana.lead@example.com]\n")
    result = sync(emulators, tmp_path, "jsm", text=text)
    assert result.code == 1
    assert emulators.slack.state.emails_of("delivery-support") == ["bob@example.com", "dana.lead@example.com"]
    assert writes(emulators) == 0


def test_jsm_an_account_user_bulk_leaves_out_is_not_dropped_nor_remembered(emulators: Emulators, tmp_path: Path) -> None:
    carol = emulators.jsm.account_id("carol@example.com")

    def drop_carol(body: Any) -> Any:
        body["values"] = [u for u in body["values"] if u["accountId"] != carol]
        return body

    emulators.jsm.inject(r"/rest/api/3/user/bulk", kind="transform", transform=drop_carol, times=1)
    service = service_for(emulators, tmp_path, config_for("jsm") + "jsm: {recheck: 0}\n")
    try:
        first = service.run_pass()
        assert not first.ok and "did not return account" in str(first.outcomes[0].plan.errors)
        assert emulators.slack.state.emails_of("delivery-support") == ["bob@example.com", "dana.lead@example.com"]
        second = service.run_pass()  # Jira answers in full again: carol is asked for again, and synced
        assert second.outcomes[0].applied
        assert emulators.slack.state.emails_of("delivery-support") == ["carol@example.com", "dana.lead@example.com"]
    finally:
        service.close()


@pytest.mark.parametrize("bend", ["no email", "slack id", "no schedule"])
def test_pagerduty_entries_that_do_not_fit_fail_the_read(emulators: Emulators, tmp_path: Path, bend: str) -> None:
    def transform(body: Any) -> Any:
        for entry in body.get("oncalls", []):
            if entry["user"].get("email") == "carol@example.com":
                if bend == "no email":
                    entry["user"].pop("email")
                elif bend == "slack id":
                    entry["user"]["email"] = "U00000008"  # someone's Slack id, not an e-mail
                else:
                    entry.pop("schedule")
        return body

    emulators.pagerduty.inject(r"^/oncalls$", kind="transform", transform=transform)
    result = sync(emulators, tmp_path, "pagerduty")
    assert result.code == 1
    assert emulators.slack.state.emails_of("delivery-support") == ["bob@example.com", "dana.lead@example.com"]
    assert "grace@example.com" not in emulators.slack.state.emails_of("delivery-support")


def test_an_absurd_answer_fails_only_its_providers_groups(emulators: Emulators, tmp_path: Path) -> None:
    emulators.clock.set(DEMO_AFTER_HANDOFF)
    emulators.pagerduty.inject(r"^/oncalls$", status=200, body="[" * 100_000)  # nested beyond any parser
    write_config(tmp_path, MIXED)
    result = run_cli(["sync"], emulators.env(), tmp_path)  # a process: what it prints, whatever the parser does
    assert result.code == 1 and "Traceback" not in result.both
    slack = emulators.slack.state
    assert slack.emails_of("payments-oncall") == ["dave@example.com"]  # PagerDuty's: left alone
    assert slack.emails_of("delivery-support") == ["alice@example.com", "dana.lead@example.com"]  # Opsgenie's
    assert slack.emails_of("platform-oncall") == ["frank@example.com"]  # JSM's


def test_secrets_echoed_in_encoded_forms_are_not_shown(emulators: Emulators, tmp_path: Path) -> None:
    from urllib.parse import quote

    from slackgenie.sources.jsm import JsmSecrets
    from pydantic import SecretStr

    basic = JsmSecrets("https://x.atlassian.net", "slackgenie-bot@example.com", SecretStr(JSM_TOKEN), "https://a").basic()
    echo = (f'{{"message": "bad {quote(PAGERDUTY_TOKEN, safe="")} / Basic%20{quote(basic, safe="")} / '
            f'{basic.rstrip("=")}"}}')
    emulators.jsm.inject(r"/on-calls$", status=400, body=echo)
    emulators.pagerduty.inject(r"^/oncalls$", status=400, body=echo.replace("message", "error"))
    write_config(tmp_path, MIXED)
    result = run_cli(["sync"], emulators.env(), tmp_path)  # a process: everything it prints, libraries' logs too
    assert result.code == 1
    for leaked in (quote(PAGERDUTY_TOKEN, safe=""), quote(basic, safe=""), basic.rstrip("="), JSM_TOKEN):
        assert leaked not in result.both


@pytest.mark.parametrize("variable,value", [("JSM_SITE_URL", "https://acme.atlassian.net/jira/your-work"),
                                            ("JSM_CLOUD_ID", "------------------------------------"),
                                            ("JSM_EMAIL", "bot:x@example.com")])
def test_jsm_settings_that_cannot_work_exit_2(emulators: Emulators, tmp_path: Path, variable: str, value: str) -> None:
    result = sync(emulators, tmp_path, "jsm", env={variable: value})
    assert result.code == 2 and variable in result.err
    assert sum(len(s.requests) for s in emulators.servers.values()) == 0


def test_an_unknown_provider_is_a_config_error_naming_the_choices(emulators: Emulators, tmp_path: Path) -> None:
    text = SAMPLE_CONFIG.replace("  - usergroup: payments-oncall\n", "  - usergroup: payments-oncall\n    provider: pagerdty\n")
    write_config(tmp_path, text)
    result = run_main(["sync"], emulators.env())
    assert result.code == 2
    assert "syncs[1].provider" in result.err and "'pagerdty' is not a provider" in result.err
    assert "opsgenie, jsm, pagerduty" in result.err
    assert sum(len(s.requests) for s in emulators.servers.values()) == 0


# --- coverage gaps: when nobody will be on call, before it happens ---------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_check_lists_coverage_gaps(emulators: Emulators, tmp_path: Path, provider: str) -> None:
    """Platform is covered 09:00-17:00 London (UTC in November) on weekdays only: from Mon 08:58
    over 3 days, hand-worked, the holes are 08:58-09:00, then 17:00-09:00 on Mon, Tue and Wed
    nights (the last cut at Thu 08:58). Delivery (daily turns) and Payments (weekly turns, and
    grace's override inside a turn) have someone at every moment."""
    write_config(tmp_path, config_for(provider))
    result = run_main(["check", "--gaps", "3d"], emulators.env())
    assert result.code == 0, result.both
    title = {"opsgenie": "Opsgenie", "jsm": "JSM Ops", "pagerduty": "PagerDuty"}[provider]
    out = result.out
    assert f"\u2713 {title} schedule 'Delivery Support_schedule': someone is on call throughout the next 3 days" in out
    assert f"\u2713 {title} schedule 'Payments_schedule': someone is on call throughout the next 3 days" in out
    # The first hole runs from "now" (the process's clock starts at 08:58:00 and runs on, so it
    # is a minute or two long) to the 09:00 handoff.
    line = next(l for l in out.splitlines() if "'Platform_schedule': nobody on call" in l)
    assert line.startswith(f"\u2022 {title} schedule 'Platform_schedule': nobody on call "
                           "Mon 2026-11-23 08:58 UTC to Mon 2026-11-23 09:00 UTC (0h 0")
    assert ("; Mon 2026-11-23 17:00 UTC to Tue 2026-11-24 09:00 UTC (16h 00m); "
            "Tue 2026-11-24 17:00 UTC to Wed 2026-11-25 09:00 UTC (16h 00m); "
            "Wed 2026-11-25 17:00 UTC to Thu 2026-11-26 08:5") in line  # the last hole ends 3 days from now
    assert line.count(" to ") == 4


def test_an_override_to_nobody_opens_a_gap_check_shows(emulators: Emulators, tmp_path: Path) -> None:
    og = emulators.opsgenie.state
    delivery = og.schedule("Delivery Support_schedule", "name")
    assert delivery is not None
    og.add_override(delivery, None, datetime(2026, 11, 24, 12, 0, tzinfo=UTC), datetime(2026, 11, 24, 14, 0, tzinfo=UTC))
    write_config(tmp_path, config_for("opsgenie"))
    result = run_main(["check", "--gaps", "2d"], emulators.env())
    assert ("\u2022 Opsgenie schedule 'Delivery Support_schedule': nobody on call "
            "Tue 2026-11-24 12:00 UTC to Tue 2026-11-24 14:00 UTC (2h 00m)") in result.out


def test_coverage_that_cannot_be_read_fails_the_check(emulators: Emulators, tmp_path: Path) -> None:
    emulators.jsm.inject(r"/timeline$", status=503)
    write_config(tmp_path, config_for("jsm"))
    result = run_main(["check", "--gaps", "1d"], emulators.env())
    assert result.code == 1 and "\u2717 coverage of JSM Ops schedule 'Platform_schedule' cannot be read" in result.out
    assert "nobody on call" not in result.out  # an unread timeline is not a gap
