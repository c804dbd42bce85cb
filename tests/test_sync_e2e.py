"""End to end: the CLI (`slackgenie sync`, through ``cli.main`` in-process) against both emulators
over HTTP; the secrets test runs the real process (its libraries' logging goes to its stderr)."""

from __future__ import annotations

from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import DEMO_AFTER_HANDOFF

from conftest import SECRETS
from test_operations import sync_main  # noqa: F401 - a fixture


def writes(emu: Emulators) -> int:
    return emu.slack.calls(r"usergroups\.users\.update$")


def test_sync_sets_groups_to_who_is_on_call(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    result = sync_main("sync")
    assert result.code == 0, result.both
    slack = emulators.slack.state
    assert slack.emails_of("delivery-support") == ["carol@example.com", "dana.lead@example.com"]
    assert slack.emails_of("payments-oncall") == ["dave@example.com"]
    assert slack.emails_of("platform-oncall") == ["ivan@example.com"]  # nobody on call -> fallback
    assert "+carol@example.com" in result.out and "-bob@example.com" in result.out
    assert "@payments-oncall" in result.out and "in sync" in result.out
    assert writes(emulators) == 2  # only the two groups that differed


def test_no_change_pass_makes_two_calls_and_no_writes(emulators: Emulators, sync_main, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = emulators.org.config_yaml + "cache_file: users-cache.json\n"
    assert sync_main("sync", config=config).code == 0
    emulators.reset_logs()
    result = sync_main("sync", config=config)
    assert result.code == 0, result.both
    assert writes(emulators) == 0
    calls = [(r.method, r.path) for r in emulators.opsgenie.requests + emulators.slack.requests]
    assert sorted(calls) == [("GET", "/v2/schedules/on-calls"), ("POST", "/api/usergroups.list")]
    assert (tmp_path / "users-cache.json").is_file()


def test_handoff_is_reflected_after_the_clock_moves(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    assert sync_main("sync").code == 0
    emulators.clock.set(DEMO_AFTER_HANDOFF)
    result = sync_main("sync")
    assert result.code == 0, result.both
    slack = emulators.slack.state
    assert slack.emails_of("delivery-support") == ["alice@example.com", "dana.lead@example.com"]
    assert slack.emails_of("payments-oncall") == ["grace@example.com"]  # the override
    assert slack.emails_of("platform-oncall") == ["frank@example.com"]  # mapped from frank.og@
    assert writes(emulators) == 5


def test_dry_run_prints_the_plan_and_writes_nothing(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    before = {h: emulators.slack.state.members_of(h) for h in ("delivery-support", "platform-oncall")}
    result = sync_main("sync", "--dry-run")
    assert result.code == 0, result.both
    assert "would update" in result.out and "+carol@example.com" in result.out
    assert writes(emulators) == 0
    assert {h: emulators.slack.state.members_of(h) for h in before} == before
    write_methods = [r.path for r in emulators.slack.requests if not r.path.endswith(
        ("auth.test", "usergroups.list", "users.list", "users.lookupByEmail", "users.info"))]
    assert write_methods == []


def test_one_schedule_outage_leaves_only_its_group_alone(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    emulators.opsgenie.inject(r"^/v2/schedules/on-calls$", status=503)  # the bulk read is down
    emulators.opsgenie.inject(r"Payments_schedule/on-calls", status=503)  # and one schedule for good
    emulators.clock.set(DEMO_AFTER_HANDOFF)
    result = sync_main("sync")
    assert result.code == 1
    slack = emulators.slack.state
    assert slack.emails_of("payments-oncall") == ["dave@example.com"]  # untouched, not emptied
    assert slack.emails_of("delivery-support") == ["alice@example.com", "dana.lead@example.com"]
    assert slack.emails_of("platform-oncall") == ["frank@example.com"]
    assert "Payments_schedule" in result.out and "503" in result.out
    assert "FAILED" in result.out


def test_429_storms_are_ridden_out(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    emulators.opsgenie.inject(r"/on-calls", status=429, times=3)  # no Retry-After, like Opsgenie
    emulators.slack.inject(r"usergroups\.list", status=429, retry_after=0, times=2)
    emulators.slack.inject(r"users\.list$", status=429, retry_after=0, times=2)  # the cold start's listing
    emulators.slack.inject(r"usergroups\.users\.update", status=429, retry_after=0, times=1)
    result = sync_main("sync")
    assert result.code == 0, result.both
    assert emulators.slack.state.emails_of("delivery-support") == ["carol@example.com", "dana.lead@example.com"]
    assert emulators.opsgenie.calls(r"/on-calls") == 4
    assert sum(1 for r in emulators.slack.requests if r.status == 429) == 5


def test_rate_limit_longer_than_the_budget_fails_fast_without_writes(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    emulators.slack.inject(r"usergroups\.list", status=429, retry_after=120)
    result = sync_main("sync")
    assert result.code == 1
    assert "could not read Slack user groups" in result.out and "ratelimited" in result.out
    assert writes(emulators) == 0
    assert emulators.slack.calls(r"usergroups\.list") == 1  # did not sleep 120 s to try again


def test_dropped_connections_and_server_errors_are_retried(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    emulators.slack.inject(r"usergroups\.list", kind="drop", times=1)
    emulators.slack.inject(r"usergroups\.users\.update", status=503, times=1)
    emulators.opsgenie.inject(r"/on-calls", kind="drop", times=1)
    result = sync_main("sync")
    assert result.code == 0, result.both
    assert emulators.slack.state.emails_of("platform-oncall") == ["ivan@example.com"]


def test_nobody_on_call_with_keep_leaves_the_group_and_warns(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    config = "syncs:\n  - usergroup: platform-oncall\n    schedules: [Platform_schedule]\n"
    result = sync_main("sync", config=config)
    assert result.code == 0, result.both
    assert emulators.slack.state.emails_of("platform-oncall") == ["heidi@example.com"]
    assert "nobody is on call" in result.out and "left as is" in result.out
    assert writes(emulators) == 0


def test_unresolvable_people_are_named_and_the_rest_sync(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    slack = emulators.slack.state
    slack.user_by_email("carol@example.com").deleted = True  # type: ignore[union-attr]
    bot = slack.add_user("deploybot", "deploybot@example.com", is_bot=True)
    config = ("syncs:\n  - usergroup: delivery-support\n    schedules: [Delivery Support_schedule]\n"
              f"    users: [dana.lead@example.com, ghost@example.com, {bot.id}]\n")
    result = sync_main("sync", config=config)
    assert result.code == 1
    assert "carol@example.com" in result.out and "deactivated" in result.out
    assert "ghost@example.com" in result.out
    assert f"{bot.id}" in result.out and "is a bot" in result.out
    assert slack.emails_of("delivery-support") == ["dana.lead@example.com"]  # the rest


def test_unknown_group_fails_by_name_and_others_sync(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    config = emulators.org.config_yaml.replace("usergroup: payments-oncall", "usergroup: paymnts-oncall")
    result = sync_main("sync", config=config)
    assert result.code == 1
    assert "@paymnts-oncall does not exist in Slack" in result.out
    assert emulators.slack.state.emails_of("delivery-support") == ["carol@example.com", "dana.lead@example.com"]


def test_unknown_schedule_fails_its_group(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    config = emulators.org.config_yaml.replace("[Payments_schedule]", "[Paymnts_schedule]")
    result = sync_main("sync", config=config)
    assert result.code == 1
    assert "Paymnts_schedule" in result.out and "no such schedule" in result.out
    assert emulators.opsgenie.calls(r"Paymnts_schedule/on-calls$") == 1  # one fallback read, no retries on 404


def test_schedule_named_by_id_survives_a_rename(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    og = emulators.opsgenie.state
    schedule = og.schedule("Delivery Support_schedule", "name")
    og.rename_schedule(schedule, "Delivery (renamed)")
    config = f"syncs:\n  - usergroup: delivery-support\n    schedules: ['{schedule.id}']\n"
    result = sync_main("sync", config=config)
    assert result.code == 0, result.both
    assert emulators.slack.state.emails_of("delivery-support") == ["carol@example.com"]
    assert emulators.opsgenie.calls("") == 1  # found in the bulk answer by id


def test_workspace_where_only_admins_edit_groups(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    emulators.slack.state.admins_only_edit_groups = True
    result = sync_main("sync")
    assert result.code == 1
    assert "permission_denied" in result.out
    emulators.slack.state.add_token("xoxp-9999-admin-token", "user")
    result = sync_main("sync", env={"SLACK_BOT_TOKEN": "xoxp-9999-admin-token"})
    assert result.code == 0, result.both


def test_reads_run_concurrently_within_the_limit(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    emulators.opsgenie.inject(r"^/v2/schedules/on-calls$", status=404)  # force per-schedule reads
    emulators.opsgenie.inject(r"_schedule/on-calls$", kind="latency", delay=0.3)
    result = sync_main("sync", config=emulators.org.config_yaml + "concurrency: 2\n")
    assert result.code == 0, result.both
    assert emulators.opsgenie.max_in_flight == 2


def test_secrets_never_reach_output(emulators: Emulators, sync_cli) -> None:  # type: ignore[no-untyped-def]
    outputs = [sync_cli("sync").both, sync_cli("sync", "--dry-run").both]
    emulators.opsgenie.api_keys.clear()  # every Opsgenie call now fails with 401
    emulators.slack.inject(r".", status=500)
    outputs.append(sync_cli("sync", env={"LOG_LEVEL": "debug"}).both)
    outputs.append(sync_cli("sync", env={"LOG_LEVEL": "debug", "LOG_FORMAT": "console"}).both)
    assert "401" in outputs[-1]
    for text in outputs:
        for secret in SECRETS:
            assert secret not in text


def test_a_failed_slack_lookup_never_shrinks_a_group(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    assert sync_main("sync").code == 0
    emulators.clock.set(DEMO_AFTER_HANDOFF)  # Alice comes on call; nobody has looked her up yet
    emulators.slack.inject(r"users\.lookupByEmail", status=429, retry_after=120)
    emulators.slack.inject(r"users\.list$", status=429, retry_after=120)
    result = sync_main("sync")
    assert result.code == 1
    slack = emulators.slack.state
    assert slack.emails_of("delivery-support") == ["carol@example.com", "dana.lead@example.com"]  # untouched
    assert "could not look up every member in Slack" in result.out and "ratelimited" in result.out
    assert "has no usable Slack account" not in result.out


def test_a_malformed_opsgenie_answer_is_a_failed_read(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    emulators.opsgenie.inject(r"on-calls", status=200, body="<html>Please log in</html>")  # a proxy's page
    result = sync_main("sync")
    assert result.code == 1 and "Traceback" not in result.err
    assert "without an Opsgenie envelope" in result.out
    assert writes(emulators) == 0


def test_a_throttled_bulk_read_does_not_fan_out(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    emulators.opsgenie.inject(r"on-calls", status=429)
    result = sync_main("sync")
    assert result.code == 1 and "429" in result.out
    assert emulators.opsgenie.calls(r"_schedule/on-calls") == 0  # no per-schedule reads on the same limit
    assert writes(emulators) == 0


def test_a_long_rate_limit_is_not_hammered(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    emulators.slack.inject(r"usergroups\.users\.update", status=429, retry_after=120)
    result = sync_main("sync", "--backlog-wait", "0", config=emulators.org.config_yaml + "concurrency: 1\n")
    assert result.code == 0, result.both  # held back by Slack's limit is queued, not failed
    assert result.out.count("queued (Slack's rate limit: written in ~") == 2  # both groups that needed a write
    assert "2 group(s) still queued" in result.out
    assert writes(emulators) == 1  # the second write waited out the limit locally instead of asking again
