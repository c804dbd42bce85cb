"""The keys this round adds, in-process: `escalation:` per sync (issue 22) and `leader_election:`
(issue 23). Each bad value names the file, the key and the fix (exit 2 before any API call); the
keys a good one gives the stages are written out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from slackgenie.core.model import describe_key, parse_level
from slackgenie.settings import ConfigError, load

ENV = {"SLACK_BOT_TOKEN": "xoxb-1111-2222-settingstesttoken", "OPSGENIE_API_KEY": "0b7c1a2e-0000-4c1e-9d6f-settingskey01",
       "PAGERDUTY_API_TOKEN": "u+pagerdutysettingstoken0"}
LEVEL = "syncs:\n  - usergroup: a\n    escalation: {policy: Payments Escalation, level: 2}\n"


def _load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "slackgenie.yaml"
    path.write_text(text, encoding="utf-8")
    return load(str(path), ENV)


@pytest.mark.parametrize("text, key, fix", [
    ("syncs:\n  - usergroup: a\n    escalation: {policy: P, level: 0}\n", "syncs[0].escalation.level", "raise the value"),
    ("syncs:\n  - usergroup: a\n    escalation: {policy: P, level: two}\n", "syncs[0].escalation.level", "whole number"),
    ("syncs:\n  - usergroup: a\n    escalation: {policy: P, level: true}\n", "syncs[0].escalation.level", "whole number"),
    ("syncs:\n  - usergroup: a\n    escalation: {level: 1}\n", "syncs[0].escalation.policy", "add this key"),
    ("syncs:\n  - usergroup: a\n    escalation: {policy: '  ', level: 1}\n", "syncs[0].escalation.policy", "README"),
    ("syncs:\n  - usergroup: a\n    escalation: {policy: P, level: 1, notify: all}\n", "syncs[0].escalation.notify",
     "remove this key"),
    ("syncs:\n  - usergroup: a\n    escalation: Payments\n", "syncs[0].escalation", "README"),
    ("provider: ical\nical: {feeds: {f: {url: 'http://127.0.0.1:9/x.ics'}}}\n" + LEVEL, "syncs[0].escalation",
     "name the feed under 'schedules'"),
    ("leader_election: {lease: Not_A_Name}\n" + LEVEL, "leader_election.lease", "README"),
    ("leader_election: {duration: 2}\n" + LEVEL, "leader_election.duration", "raise the value"),
    ("leader_election: {namespace: a.b}\n" + LEVEL, "leader_election.namespace", "README"),
    ("leader_election: {lease: x, ttl: 5}\n" + LEVEL, "leader_election.ttl", "remove this key"),
])
def test_a_bad_new_key_names_file_key_and_fix(tmp_path: Path, text: str, key: str, fix: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    said = str(caught.value)
    assert said.startswith(str(tmp_path)) and key in said and fix in said, said


def test_a_level_is_read_under_a_key_of_its_own_beside_the_schedules(tmp_path: Path) -> None:
    config = _load(tmp_path, "provider: pagerduty\nsyncs:\n  - usergroup: a\n    schedules: [Primary]\n"
                             "    escalation: {policy: ' Payments Escalation ', level: 2}\n")
    sync = config.syncs[0]
    assert sync.keys == ("pagerduty:Primary", "pagerduty:escalation:2:Payments Escalation")
    assert config.file.providers == {"pagerduty"} and set(config.secrets.providers) == {"pagerduty"}
    assert describe_key(sync.keys[1]) == "PagerDuty escalation policy 'Payments Escalation', level 2"
    assert parse_level("escalation:2:Payments Escalation") == ("Payments Escalation", 2)
    assert parse_level("escalation:x:P") is None and parse_level("Payments_schedule") is None


def test_a_level_alone_is_enough_for_a_sync(tmp_path: Path) -> None:
    assert _load(tmp_path, LEVEL).syncs[0].keys == ("opsgenie:escalation:2:Payments Escalation",)
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "syncs:\n  - usergroup: a\n    when_empty: keep\n")
    assert "give at least one schedule, an escalation level or static users" in str(caught.value)


def test_leader_election_is_off_by_default_and_its_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    assert _load(tmp_path, LEVEL).file.leader_election is None
    on = _load(tmp_path, "leader_election: {}\n" + LEVEL).file.leader_election
    assert on is not None and (on.lease, on.namespace, on.duration, on.state) == ("slackgenie", None, 15, None)
