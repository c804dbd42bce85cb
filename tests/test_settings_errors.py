"""Bad configuration, in-process: each error names the file, the key and the fix (the CLI prints
exactly this text and exits 2 before any API call: tests/test_cli_edges.py has one smoke test
of that, against the emulators). No server is started here."""

from __future__ import annotations

from pathlib import Path

import pytest

from slackgenie.settings import ConfigError, load

ENV = {"SLACK_BOT_TOKEN": "xoxb-1111-2222-settingstesttoken", "OPSGENIE_API_KEY": "0b7c1a2e-0000-4c1e-9d6f-settingskey01"}
ONE = "syncs:\n  - usergroup: a\n    schedules: [X]\n"


@pytest.mark.parametrize("text, key, fix", [
    ("syncs:\n  - usergroup: a\n    schedule: [X]\n", "syncs[0].schedule", "remove this key or correct its spelling"),
    ("syncs:\n  - usergroup: a\n    schedules: [X]\n    when_empty: maybe\n", "syncs[0].when_empty", "use one of"),
    ("syncs:\n  - usergroup: a\n    schedules: [X]\n    when_empty: fallback\n", "syncs[0]", "fallback"),
    ("syncs: []\n", "syncs", "add at least one entry"),
    ("interval: soon\n" + ONE, "interval", "whole number"),
    ("syncs:\n  - usergroup: a\n    schedules: [X\n", "line ", "correct the YAML syntax"),
    ("syncs:\n  - usergroup: '@Bad Handle'\n    schedules: [X]\n", "syncs[0].usergroup", "README"),
    ("syncs:\n  - usergroup: a\n    users: [not-an-email]\n", "syncs[0].users", "README"),
    ("retry: {attempts: 0}\n" + ONE, "retry.attempts", "raise the value"),
    (ONE + "syncs:\n  - usergroup: b\n    schedules: [Y]\n", "line 4", "keep one"),
    ("interval: true\n" + ONE, "interval", "whole number"),
    ("retry: {timeout: yes}\n" + ONE, "retry.timeout", "README"),
    ("handoff_guard: false\n" + ONE, "handoff_guard", "README"),
    ("state_file: same.json\ncache_file: ./same.json\n" + ONE, "(top level)", "README"),
    ("syncs:\n  - usergroup: a\n    schédules: [X]\n", "syncs[0].schédules", "remove this key"),
    ("state_file: ''\n" + ONE, "state_file", "README"),
    ("state_file: .\n" + ONE, "state_file", "name a file"),
    ("interval: " + "9" * 5000 + "\n" + ONE, "(file)", "correct the YAML"),
    ("syncs: " + "[" * 3000 + "]" * 3000 + "\n", "(file)", "correct the YAML"),
    (ONE + "users:\n  a@x.io: b@x.io\n  ' a@x.io': c@x.io\n", "users", "keep one"),
])
def test_bad_config_names_file_key_and_fix(tmp_path: Path, text: str, key: str, fix: str) -> None:
    path = tmp_path / "slackgenie.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(str(path), ENV)
    said = str(caught.value)
    assert said.startswith(str(path)) and key in said and fix in said, said
    assert "Traceback" not in said
