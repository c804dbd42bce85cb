"""Handoff-aware sync: wake at each handoff, announce once, keep topics current, preview with --at."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from slackgenie.core.clock import SteppedClock
from slackgenie.settings import load
from slackgenie.engine.daemon import Daemon
from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import DEMO_AFTER_HANDOFF, DEMO_START
from slackgenie.core.wakes import next_wake
from slackgenie.sources.opsgenie import OpsgenieSource
from slackgenie.wiring import Service, build

from conftest import run_cli, write_config
from providers_fixtures import group_updates, run_main, truth

UTC = timezone.utc
HANDOFF = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ANNOUNCE = """\
syncs:
  - usergroup: delivery-support
    schedules: [Delivery Support_schedule]
    users: [dana.lead@example.com]
    announce: '#delivery'
    topic: '#delivery'
state_file: state.json
"""


def test_next_wake_rules() -> None:
    last = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert next_wake(last, 60, None, 2) == (last + timedelta(seconds=60), "interval")
    assert next_wake(last, 60, last + timedelta(seconds=30), 2) == (last + timedelta(seconds=32), "handoff")
    assert next_wake(last, 60, last + timedelta(seconds=59), 2)[1] == "interval"  # the tick comes first anyway
    assert next_wake(last, 300, last + timedelta(hours=2), 2)[1] == "interval"


def service_at(emu: Emulators, tmp_path: Path, text: str, **overrides: object) -> Service:
    extra = "".join(f"{k}: {v}\n" for k, v in overrides.items())
    path = write_config(tmp_path, text + extra)
    return build(load(str(path), emu.env()), clock=SteppedClock(emu.clock))


def user_id(emu: Emulators, email: str) -> str:
    user = emu.slack.state.user_by_email(email)
    assert user is not None
    return user.id


def test_plain_polling_would_be_late(emulators: Emulators, tmp_path: Path) -> None:
    service = service_at(emulators, tmp_path, emulators.org.config_yaml.replace("interval: 60", "interval: 300"))
    daemon = Daemon(service.run_pass, 300, next_handoff=None, clock=service.clock, max_passes=2)
    try:
        daemon.run()
    finally:
        service.close()
    after = [t for t, _ in group_updates(emulators, "delivery-support") if t >= HANDOFF]
    assert after == [DEMO_START + timedelta(seconds=300)]  # three minutes late


def test_announcement_and_topic_exactly_once_per_change_across_restart(emulators: Emulators, tmp_path: Path) -> None:
    slack = emulators.slack.state
    channel = slack.channel("delivery")
    assert channel is not None
    channel.topic = "Deploys on Tuesdays | on call: @nobody | runbook: go/oncall"

    def messages() -> list[str]:
        return [m["text"] for m in slack.messages if m["channel"] == channel.id]

    service = service_at(emulators, tmp_path, ANNOUNCE)
    try:
        dry = service.run_pass(dry_run=True)
        assert dry.outcomes[0].plan.add and messages() == [] and emulators.slack.calls("conversations") == 0
        first = service.run_pass()
        assert first.outcomes[0].applied
        assert len(messages()) == 1
        carol, bob = (user_id(emulators, e) for e in ("carol@example.com", "bob@example.com"))
        assert f"On call: <@{carol}>" in messages()[0] and f"Off call: <@{bob}>" in messages()[0]
        assert "Next handoff: <!date^" in messages()[0] and "2026-11-23 09:00 UTC" in messages()[0]
        assert channel.topic == "Deploys on Tuesdays | on call: @carol, @dana.lead | runbook: go/oncall"
        emulators.reset_logs()
        assert service.run_pass().ok  # no change: no message, no topic call
        assert len(messages()) == 1 and emulators.slack.calls("conversations|chat") == 0
        emulators.clock.set(DEMO_AFTER_HANDOFF)
        service.run_pass()
        assert len(messages()) == 2 and "@alice" in channel.topic
    finally:
        service.close()

    # Someone puts Carol back by hand; the daemon restarts and puts Alice back: the group is
    # written again, but that membership was announced already, so nothing is posted twice.
    delivery = slack.group_by_handle("delivery-support")
    assert delivery is not None
    delivery.users = [user_id(emulators, "carol@example.com")]
    emulators.reset_logs()
    restarted = service_at(emulators, tmp_path, ANNOUNCE)
    try:
        report = restarted.run_pass()
        assert report.outcomes[0].applied
        assert len(messages()) == 2
        assert emulators.slack.calls(r"conversations\.setTopic") == 0
    finally:
        restarted.close()


def test_at_previews_what_the_rotation_says(emulators: Emulators, tmp_path: Path) -> None:
    write_config(tmp_path, emulators.org.config_yaml)
    at = datetime(2026, 12, 24, 18, 0, tzinfo=UTC)
    result = run_main(["sync", "--at", "2026-12-24T18:00:00Z"], emulators.env())
    assert result.code == 0, result.both
    assert "dry run" in result.out and "2026-12-24T18:00:00+00:00" in result.out
    expected = {s: sorted(p["username"] for _, p, _ in truth(emulators, s).on_call(at))
                for s in ("Delivery Support_schedule", "Payments_schedule")}
    assert expected["Delivery Support_schedule"] and expected["Payments_schedule"]
    slack = emulators.slack.state
    for handle, schedule in (("delivery-support", "Delivery Support_schedule"), ("payments-oncall", "Payments_schedule")):
        current = set(slack.emails_of(handle))
        for person in expected[schedule]:
            assert person in current or f"+{person}" in result.out
    assert emulators.slack.calls(r"usergroups\.users\.update") == 0
    assert all(r.params.get("date", "").startswith("2026-12-24T18:00:00") for r in emulators.opsgenie.requests
               if "on-calls" in r.path)
    # Worked out by hand: Delivery turns daily from Mon Nov 2 09:00 through alice, bob, carol; on
    # Thu Dec 24 18:00 that is turn 52 (52 % 3 = 1): bob, who is already in the group with dana,
    # so the preview must still say who. Payments turns weekly from the same Monday: week 7
    # (7 % 2 = 1): erin. Platform's window is 09:00-17:00: nobody, so the fallback, ivan.
    lines = {line.split()[0]: line for line in result.out.splitlines() if line.strip().startswith("@")}
    assert "in sync" in lines["@delivery-support"] and "bob@example.com" in lines["@delivery-support"]
    assert "dana.lead@example.com" in lines["@delivery-support"]
    assert "+erin@example.com" in lines["@payments-oncall"] and "-dave@example.com" in lines["@payments-oncall"]
    assert "ivan@example.com" in lines["@platform-oncall"]


def test_status_table(emulators: Emulators, tmp_path: Path) -> None:
    emulators.clock.set(datetime.now(UTC), frozen=False)  # the CLI forecasts from the real clock
    write_config(tmp_path, emulators.org.config_yaml)
    assert run_main(["sync"], emulators.env()).code == 0
    writes = emulators.slack.calls(r"usergroups\.users\.update")
    result = run_cli(["status"], emulators.env(), tmp_path)  # a process of its own: the status command's smoke test
    assert result.code == 0, result.both
    lines = result.out.splitlines()
    assert lines[0].split()[:3] == ["GROUP", "IN", "SYNC"]
    row = next(l for l in lines if l.startswith("@delivery-support"))
    assert " yes " in row and "dana.lead@example.com" in row and " UTC (in " in row
    payments = emulators.slack.state.group_by_handle("payments-oncall")
    assert payments is not None
    payments.users = []
    stale = run_main(["status"], emulators.env())
    assert stale.code == 1 and "no (+1 -0)" in stale.out
    assert emulators.slack.calls(r"usergroups\.users\.update") == writes  # status itself never writes


def test_a_notification_failure_does_not_lose_the_pass(emulators: Emulators, tmp_path: Path) -> None:
    emulators.slack.inject(r"conversations\.info", kind="drop")
    service = service_at(emulators, tmp_path, ANNOUNCE)
    try:
        report = service.run_pass()
    finally:
        service.close()
    assert report.outcomes[0].applied  # the group was written and the report survives
    assert any("topic of #delivery failed" in n and "tried again next pass" in n for n in report.notes)
    assert len([m for m in emulators.slack.state.messages if "is now" in m["text"]]) == 1


def test_topic_segment_is_replaced_in_place_and_names_shortened() -> None:
    from slackgenie.slack.notify import topic_with

    assert topic_with("Deploys Tue | on call: @old | docs: go/x", ["a", "b"]) == "Deploys Tue | on call: @a, @b | docs: go/x"
    assert topic_with("On call: @old | docs", ["a"]) == "on call: @a | docs"  # case-insensitive, one segment
    assert topic_with("If nobody is on call: page #ops", ["a"]) == "If nobody is on call: page #ops | on call: @a"
    assert topic_with("", ["a"]) == "on call: @a"
    runbook = " | Runbook: https://wiki.example.com/payments/runbook"
    long_topic = topic_with("x" * 150 + " | on call: @old" + runbook, [f"person{i:02d}" for i in range(20)])
    assert len(long_topic) <= 250 and long_topic.endswith(runbook) and "+" in long_topic


def test_a_failed_forecast_is_retried_soon() -> None:
    from slackgenie.sources.opsgenie.forecast import Forecast

    now = [datetime(2026, 11, 23, 6, 0, tzinfo=UTC)]
    calls = []

    def fetch() -> list[Any]:
        calls.append(now[0])
        if len(calls) == 1:
            raise RuntimeError("Opsgenie down")
        return []

    forecast = Forecast(fetch, lambda: now[0])
    forecast.next_handoff(["x"])
    now[0] += timedelta(minutes=1)
    forecast.next_handoff(["x"])
    assert len(calls) == 1  # not hammered
    now[0] += timedelta(minutes=2)
    forecast.next_handoff(["x"])
    assert len(calls) == 2  # but not given up on for hours either


def test_an_override_seen_in_a_pass_is_read_once_and_joins_the_forecast(emulators: Emulators, tmp_path: Path) -> None:
    emulators.clock.set(DEMO_AFTER_HANDOFF)  # Grace's override (09:00-18:00) is on
    service = service_at(emulators, tmp_path, emulators.org.config_yaml)
    try:
        opsgenie = service.source.sources["opsgenie"]
        assert isinstance(opsgenie, OpsgenieSource)
        service.next_handoff(service.clock.now())  # the daemon asks this after every pass
        assert opsgenie.forecast.next_handoff(["Payments_schedule"]) == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
        service.run_pass()  # Opsgenie says Grace, the rotations say Erin: read that schedule's overrides
        assert opsgenie.forecast.override_fetches == 1
        assert emulators.opsgenie.calls(r"/overrides$") == 1
        assert opsgenie.forecast.next_handoff(["Payments_schedule"]) == datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
        service.run_pass()  # now they agree: nothing more to read
        assert emulators.opsgenie.calls(r"/overrides$") == 1
    finally:
        service.close()
