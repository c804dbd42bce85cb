"""deploy/prometheus/: the alert rules read only metrics Slackgenie exports, name no scrape job, and
pass `promtool check rules` and their own unit tests (`promtool test rules`), where promtool is
installed (.ci/run installs it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

PROMETHEUS = Path(__file__).resolve().parents[1] / "deploy" / "prometheus"
RULES = PROMETHEUS / "slackgenie-alerts.yaml"
RULE_TESTS = PROMETHEUS / "slackgenie-alerts.test.yaml"

# What a Slackgenie exports for the rules, per process (daemon) or per textfile (cron).
METRICS = {
    "slackgenie_interval_seconds",
    "slackgenie_last_pass_timestamp_seconds",
    "slackgenie_passes_total",
    "slackgenie_group_in_sync",
    "slackgenie_group_last_in_sync_timestamp_seconds",
    "slackgenie_group_queued_until_timestamp_seconds",
    "slackgenie_schedule_next_gap_timestamp_seconds",  # the daemon's, tested in test_people.py
    "slackgenie_state_not_saved_total",  # tested in test_exactly_once.py
}
ALERTS = {"SlackgenieGroupNotInSync", "SlackgeniePassesFailing", "SlackgenieStalled", "SlackgenieMetricsAbsent",
          "SlackgenieCoverageGapSoon", "SlackgenieStateNotSaved"}


def _rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_rules_use_only_exported_metrics() -> None:
    used = {name for rule in _rules() for name in re.findall(r"slackgenie_\w+", rule["expr"])}
    assert used and used <= METRICS, used - METRICS


def test_rules_name_no_scrape_job_and_say_what_to_do() -> None:
    rules = _rules()
    assert {rule["alert"] for rule in rules} == ALERTS
    for rule in rules:
        assert not re.search(r"\bjob\s*=", rule["expr"]), rule["alert"]
        assert rule["labels"]["severity"] in {"page", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    checks = [check for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
              for check in test.get("alert_rule_test", [])]
    for alert in ALERTS:
        mine = [check for check in checks if check["alertname"] == alert]
        assert any(check.get("exp_alerts") for check in mine), f"{alert}: never shown firing"
        assert any(not check.get("exp_alerts") for check in mine), f"{alert}: never shown not firing"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed; .ci/run installs the Debian package prometheus")
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)


def test_promtool_check_rules() -> None:
    result = _promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout, result.stdout


def test_promtool_rule_unit_tests() -> None:
    result = _promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout, result.stdout


def test_what_the_rules_read_is_what_slackgenie_exports() -> None:
    from slackgenie.telemetry.metrics import Metrics

    metrics = Metrics(60)
    metrics.expect_groups(["sre-oncall"])
    metrics.gaps({"opsgenie:SRE": 1795453200.0})  # the gap gauge has a series only while a gap is foreseen
    exported = metrics.exposition().decode()
    missing = [n for n in METRICS if f"\n{n}" not in exported]
    assert not missing, missing
