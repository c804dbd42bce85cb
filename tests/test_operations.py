"""Running it in production: metrics, health, readiness, JSON logs and `check`, end to end (the
daemon in a process of its own; `check` and `sync` through ``cli.main`` in-process)."""

from __future__ import annotations

import json

import socket
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from slackgenie_emulators import Emulators
from slackgenie.core.model import PassReport
from slackgenie.ops.web import Health

from conftest import SECRETS, CliResult, output, spawn, write_config
from providers_fixtures import run_main


@pytest.fixture
def sync_main(emulators: Emulators, tmp_path: Path):  # type: ignore[no-untyped-def]
    """`slackgenie ARGS` against the emulators with the sample config (or another), in-process
    through ``cli.main``: conftest's ``sync_cli`` without a process (which stays for a command
    that ends its process at once, os._exit)."""

    def run(*args: str, config: str | None = None, env: dict[str, str] | None = None) -> CliResult:
        write_config(tmp_path, config if config is not None else emulators.org.config_yaml)
        return run_main(list(args), {**emulators.env(), **(env or {})})

    return run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metric(text: str, name: str, missing: float | None = None, **labels: str) -> float:
    """The value of one sample in a Prometheus exposition; a missing sample fails the test
    unless ``missing`` says what it means (while waiting for it to appear)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    if missing is not None:
        return missing
    raise AssertionError(f"no sample {name}{labels} in the exposition:\n{text}")


def wait_for(predicate, seconds: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_daemon_exposes_metrics_health_and_readiness(emulators: Emulators, tmp_path: Path) -> None:
    port = free_port()
    write_config(tmp_path, emulators.org.config_yaml.replace("interval: 60", "interval: 1"))
    proc = spawn([sys.executable, "-m", "slackgenie", "run", "--bind", "127.0.0.1", "--metrics-port", str(port)],
                 {**emulators.env(), "LOG_FORMAT": "json"}, tmp_path, "daemon")
    base = f"http://127.0.0.1:{port}"

    def get(path: str) -> httpx.Response | None:
        try:
            return httpx.get(base + path, timeout=2)
        except httpx.TransportError:
            return None

    try:
        assert wait_for(lambda: (r := get("/readyz")) is not None and r.status_code == 200)
        assert get("/healthz").status_code == 200  # type: ignore[union-attr]
        text = get("/metrics").text  # type: ignore[union-attr]
        assert metric(text, "slackgenie_passes_total", result="ok") >= 1
        assert metric(text, "slackgenie_api_requests_total", api="slack", method="usergroups.list", status="ok") >= 1
        assert metric(text, "slackgenie_api_requests_total", api="opsgenie", method="listOnCalls", status="200") >= 1
        assert metric(text, "slackgenie_group_membership_changes_total", group="delivery-support", change="added") == 1
        assert metric(text, "slackgenie_group_in_sync", group="payments-oncall") == 1
        # Both timestamps from the daemon's own clock: confirmed by the latest pass.
        last_pass = metric(text, "slackgenie_last_pass_timestamp_seconds")
        assert 0 <= last_pass - metric(text, "slackgenie_group_last_in_sync_timestamp_seconds",
                                       group="payments-oncall") < 5
        assert metric(text, "slackgenie_interval_seconds") == 1
        assert metric(text, "slackgenie_pass_duration_seconds_count") >= 1

        # Opsgenie starts refusing the key: every group fails and failures are counted, but the
        # process stays ready (it answers from its last snapshot) and alive (its loop turns).
        emulators.opsgenie.api_keys.clear()
        assert wait_for(lambda: metric(get("/metrics").text,  # type: ignore[union-attr]
                                       "slackgenie_passes_total", result="failed") >= 1)
        text = get("/metrics").text  # type: ignore[union-attr]
        assert metric(text, "slackgenie_group_in_sync", group="payments-oncall") == 0
        assert metric(text, "slackgenie_api_requests_total", api="opsgenie", method="listOnCalls", status="401") >= 1
        ready = get("/readyz")
        assert ready is not None and ready.status_code == 200 and ready.json()["failed_groups"] == 3
        assert get("/healthz").status_code == 200  # type: ignore[union-attr]

        # Rate limits show up as retries and waiting time.
        emulators.opsgenie.api_keys.add(emulators.env()["OPSGENIE_API_KEY"])
        emulators.slack.inject(r"usergroups\.list", status=429, retry_after=0, times=1)
        assert wait_for(lambda: metric(get("/metrics").text, "slackgenie_api_retries_total",  # type: ignore[union-attr]
                                       missing=0, api="slack", reason="rate_limited") >= 1)
        assert wait_for(lambda: get("/readyz").status_code == 200)  # type: ignore[union-attr]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    out, err = output(tmp_path, "daemon")
    assert proc.returncode == 0
    events = [json.loads(line) for line in err.splitlines() if line.strip()]  # every line is JSON
    changed = [e for e in events if e["event"] == "group.changed" and e["group"] == "delivery-support"]
    assert changed and changed[0]["before"] == ["bob@example.com", "dana.lead@example.com"]
    assert changed[0]["after"] == ["carol@example.com", "dana.lead@example.com"]
    assert all({"level", "timestamp", "event"} <= set(e) for e in events)
    assert not any(s in out + err for s in SECRETS)


def test_check_all_good(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    result = sync_main("check")
    assert result.code == 0, result.both
    assert "\u2717" not in result.out
    assert "\u2713 Slack scope usergroups:write" in result.out
    assert "\u2713 Opsgenie schedule 'Payments_schedule' exists" in result.out
    assert emulators.slack.calls(r"usergroups\.users\.update") == 0  # check never writes


def test_check_names_missing_scope_schedule_group_and_user(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    emulators.slack.state.add_token("xoxb-narrow-scopes", "bot",
                                    scopes=["usergroups:read", "users:read", "users:read.email"])
    config = (emulators.org.config_yaml.replace("[Payments_schedule]", "[Paymnts_schedule]")
              .replace("usergroup: platform-oncall", "usergroup: platfrm-oncall")
              .replace("fallback: [ivan@example.com]", "fallback: [ivan@exmaple.com]"))
    result = sync_main("check", config=config, env={"SLACK_BOT_TOKEN": "xoxb-narrow-scopes"})
    assert result.code == 1
    out = result.out
    assert "\u2717 Slack scope usergroups:write is missing" in out and "reinstall the app" in out
    assert "\u2717 Opsgenie schedule 'Paymnts_schedule' not found (did you mean 'Payments_schedule'?)" in out
    assert "\u2717 user group @platfrm-oncall does not exist in Slack" in out
    assert "\u2717 user ivan@exmaple.com" in out
    assert out.count("fix:") == 4
    assert "\u2713 user group @delivery-support exists" in out


def test_check_bad_credentials_and_bad_config(emulators: Emulators, sync_main, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = sync_main("check", env={"SLACK_BOT_TOKEN": "xoxb-not-valid", "OPSGENIE_API_KEY": "wrong-key-123"})
    assert result.code == 1
    assert "\u2717 Slack token rejected: invalid_auth" in result.out
    assert "\u2717 Opsgenie credentials rejected" in result.out and "OPSGENIE_API_KEY" in result.out
    assert not any(s in result.both for s in ("xoxb-not-valid", "wrong-key-123", *SECRETS))
    write_config(tmp_path, "syncs: nope\n")
    bad = run_main(["check"], emulators.env())
    assert bad.code == 2 and "syncs" in bad.err


def test_health_fails_when_passes_stop_completing() -> None:
    health = Health(interval=0.2, pass_deadline=0.1)  # live while a pass completes every 0.5 s
    assert health.live()[0] and not health.ready()[0]
    health.record(PassReport(started=datetime.now(timezone.utc), dry_run=False, outcomes=[]))
    assert health.live()[0] and health.ready()[0]
    time.sleep(0.6)
    ok, info = health.live()
    assert not ok and "stuck" in info["reason"]
    assert health.ready()[0]  # still able to answer from its snapshot


def test_cron_runs_export_a_textfile_that_carries_over(emulators: Emulators, sync_main, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    prom = tmp_path / "slackgenie.prom"
    assert sync_main("sync", "--metrics-file", str(prom)).code == 0
    first = prom.read_text()
    assert metric(first, "slackgenie_passes_total", result="ok") == 1
    confirmed = metric(first, "slackgenie_group_last_in_sync_timestamp_seconds", group="payments-oncall")
    assert confirmed == metric(first, "slackgenie_last_pass_timestamp_seconds")  # this run confirmed it
    emulators.opsgenie.api_keys.clear()  # the next run cannot read Opsgenie
    result = sync_main("sync", "--metrics-file", str(prom))
    assert result.code == 1, result.both
    second = prom.read_text()
    assert metric(second, "slackgenie_passes_total", result="ok") == 1  # carried over
    assert metric(second, "slackgenie_passes_total", result="failed") == 1
    # Not confirmed this time: the group keeps the time it was last confirmed, so alerts see it age.
    assert metric(second, "slackgenie_group_last_in_sync_timestamp_seconds", group="payments-oncall") == confirmed
    assert metric(second, "slackgenie_group_in_sync", group="payments-oncall") == 0
