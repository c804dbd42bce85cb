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


BOT = "xoxb-1111-2222-settingstesttoken"


@pytest.mark.parametrize("env, said", [
    ({}, "environment: SLACK_BOT_TOKEN: is not set\n  fix: set SLACK_BOT_TOKEN in the environment or in .env (a "
         "Slack bot (xoxb-) or user (xoxp-) token; see .env.example)"),
    ({"SLACK_BOT_TOKEN": "xapp-1-abcdefgh"}, "environment: SLACK_BOT_TOKEN: does not look like a bot or user token\n"
                                             "  fix: use the Bot User OAuth Token (xoxb-…) or a user token (xoxp-…)"),
    ({"SLACK_BOT_TOKEN": BOT + " x"}, "environment: SLACK_BOT_TOKEN: contains a space, line break or control "
                                      "character\n  fix: copy SLACK_BOT_TOKEN again: one line, no quotes or spaces "
                                      "around or inside it"),
    ({"SLACK_BOT_TOKEN": BOT, "SLACK_API_URL": "slack.com/api"},
     "environment: SLACK_API_URL: is not an http(s) URL\n  fix: set SLACK_API_URL to e.g. https://slack.com/api/"),
    ({"SLACK_BOT_TOKEN": BOT, "SLACK_SIGNING_SECRET": "short"},
     "environment: SLACK_SIGNING_SECRET: is too short to be a real credential\n  fix: copy SLACK_SIGNING_SECRET "
     "again, whole"),
    ({"SLACK_BOT_TOKEN": BOT, "SLACK_APP_BOT_TOKEN": "xoxp-3333-4444-user"},
     "environment: SLACK_APP_BOT_TOKEN: is not a bot token\n  fix: use the app's Bot User OAuth Token (xoxb-…)"),
    ({"SLACK_BOT_TOKEN": "xoxp-1111-2222-usertoken", "SLACK_APP_TOKEN": "xapp-1-abcdefgh"},
     "environment: SLACK_BOT_TOKEN: is a user token (xoxp-): it may change user groups, but the Slack app needs a "
     "bot token to answer mentions and publish the App Home\n  fix: also set SLACK_APP_BOT_TOKEN to the app's Bot "
     "User OAuth Token (xoxb-…)"),
    ({"SLACK_BOT_TOKEN": BOT, "SLACK_APP_TOKEN": "xoxb-9999-8888-notapp"},
     "environment: SLACK_APP_TOKEN: is not an app-level token\n  fix: use the app-level token (xapp-…) with "
     "connections:write from Basic Information"),
])
def test_slacks_variables_name_the_variable_and_the_fix(tmp_path: Path, env: dict[str, str], said: str) -> None:
    path = tmp_path / "slackgenie.yaml"
    path.write_text(ONE, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(str(path), {"OPSGENIE_API_KEY": ENV["OPSGENIE_API_KEY"], **env})
    assert str(caught.value) == said


def test_slacks_variables_read_and_tidied(tmp_path: Path) -> None:
    path = tmp_path / "slackgenie.yaml"
    path.write_text(ONE, encoding="utf-8")
    env = {**ENV, "SLACK_BOT_TOKEN": f"  {BOT}\n", "SLACK_API_URL": "http://127.0.0.1:9/api",
           "SLACK_SIGNING_SECRET": "", "SLACK_APP_TOKEN": "xapp-1-abcdefgh"}
    secrets = load(str(path), env).secrets
    assert secrets.slack_bot_token.get_secret_value() == BOT
    assert secrets.slack_api_url == "http://127.0.0.1:9/api/"
    assert secrets.slack_signing_secret is None and secrets.slack_app_bot_token is None
    assert secrets.slack_app_token is not None and secrets.slack_app_token.get_secret_value() == "xapp-1-abcdefgh"
    assert load(str(path), ENV).secrets.slack_api_url == "https://slack.com/api/"


FEED = ("syncs:\n  - usergroup: a\n    provider: ical\n    schedules: [payments]\n"
        "ical:\n  feeds:\n    payments:\n      url: https://calendar.example.com/p.ics\n")


@pytest.mark.parametrize("text, key, allowed", [
    # an unknown key names the keys allowed at that very place, however deep (written out by hand)
    ("retry: {attempt: 2}\n" + ONE, "retry.attempt", "timeout, attempts, budget, backoff, max_backoff"),
    ("syncs:\n  - usergroup: a\n    schedule: [X]\n", "syncs[0].schedule", "usergroup, provider"),
    (FEED + "      urls: x\n", "ical.feeds.payments.urls", "url_env, url, person, pattern, refresh"),
    (FEED + "  feed: {}\n", "ical.feed", "allowed keys here: feeds"),
    ("jsm: {rechek: 5}\n" + ONE, "jsm.rechek", "allowed keys here: recheck"),
])
def test_an_unknown_key_lists_the_keys_allowed_where_it_stands(tmp_path: Path, text: str, key: str,
                                                               allowed: str) -> None:
    path = tmp_path / "slackgenie.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(str(path), ENV)
    assert caught.value.key == key and allowed in caught.value.fix, str(caught.value)


def test_a_calendar_sync_naming_no_configured_feed_names_the_sync(tmp_path: Path) -> None:
    path = tmp_path / "slackgenie.yaml"
    path.write_text(FEED.replace("schedules: [payments]", "schedules: [payments, paymnets]"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(str(path), ENV)
    assert caught.value.key == "syncs[0].schedules" and "'paymnets' is not a feed under ical.feeds" in str(caught.value)
    assert "add 'paymnets' under ical.feeds" in caught.value.fix
