"""The edges: bad configuration (exit 2, zero API calls), --help everywhere, the daemon and signals.

In-process through ``cli.main`` (``run_main``), but for one smoke test of a configuration error
and the daemon's SIGTERM, which need a process of their own."""

from __future__ import annotations

import io
import json
import signal
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from slackgenie_emulators import Emulators

from conftest import SECRETS, CliResult, output, run_cli, spawn, write_config
from providers_fixtures import run_main


def no_calls(emu: Emulators) -> bool:
    return emu.opsgenie.calls("") == 0 and emu.slack.calls("") == 0


def test_bad_config_exits_2_naming_file_key_and_fix(emulators: Emulators, tmp_path: Path) -> None:
    """The CLI's side of a config error, in a process of its own: the smoke test (every case is in
    test_settings_errors.py, in-process)."""
    text, key, fix = "syncs:\n  - usergroup: a\n    schedule: [X]\n", "syncs[0].schedule", "remove this key"
    write_config(tmp_path, text, fast_retry=False)
    result = run_cli(["sync"], emulators.env(), tmp_path)
    assert result.code == 2, result.both
    assert "slackgenie.yaml" in result.err and key in result.err and fix in result.err
    assert no_calls(emulators)


@pytest.mark.parametrize("missing", ["OPSGENIE_API_KEY", "SLACK_BOT_TOKEN"])
def test_missing_secret_exits_2_before_any_call(emulators: Emulators, tmp_path: Path, missing: str) -> None:
    write_config(tmp_path, emulators.org.config_yaml)
    env = {k: v for k, v in emulators.env().items() if k != missing}
    result = run_main(["sync"], env)
    assert result.code == 2
    assert missing in result.err and ".env" in result.err
    assert no_calls(emulators)
    assert not any(s in result.both for s in SECRETS)


def test_missing_config_file_and_config_flag(emulators: Emulators, tmp_path: Path) -> None:
    result = run_main(["sync"], emulators.env())
    assert result.code == 2 and "slackgenie.yaml" in result.err and "--config" in result.err
    other = tmp_path / "elsewhere.yaml"
    other.write_text(emulators.org.config_yaml)
    assert run_main(["sync", "--dry-run", "--config", str(other)], emulators.env()).code == 0
    assert run_main(["sync", "--dry-run"], {**emulators.env(), "SLACKGENIE_CONFIG": str(other)}).code == 0


def test_dotenv_is_read_and_real_environment_wins(emulators: Emulators, tmp_path: Path) -> None:
    write_config(tmp_path, emulators.org.config_yaml)
    env = emulators.env()
    (tmp_path / ".env").write_text("\n".join(f"{k}={v}" for k, v in env.items()) + "\n")
    assert run_main(["sync", "--dry-run"], {}).code == 0
    result = run_main(["sync", "--dry-run"], {"SLACK_BOT_TOKEN": "xoxb-wrong-token"})
    assert result.code == 1 and "invalid_auth" in result.out


def test_wrong_token_kind_is_a_config_error(emulators: Emulators, tmp_path: Path) -> None:
    write_config(tmp_path, emulators.org.config_yaml)
    result = run_main(["sync"], {**emulators.env(), "SLACK_BOT_TOKEN": "xapp-1-abc"})
    assert result.code == 2 and "SLACK_BOT_TOKEN" in result.err and "xapp" not in result.err
    assert no_calls(emulators)


@pytest.mark.parametrize("args", [[], ["sync"], ["run"], ["serve"], ["status"], ["check"], ["demo"]])
def test_every_command_has_help(args: list[str]) -> None:
    result = _help([*args, "--help"])
    assert result.code == 0 and "usage: slackgenie" in result.out


def _help(args: list[str]) -> CliResult:
    """``main`` in-process where argparse answers and ends the command (SystemExit)."""
    from slackgenie.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as ended:
        main(args)
    return CliResult(int(ended.value.code or 0), out.getvalue(), err.getvalue())


def test_daemon_syncs_keeps_going_after_a_failed_pass_and_stops_on_sigterm(emulators: Emulators, tmp_path: Path) -> None:
    write_config(tmp_path, emulators.org.config_yaml.replace("interval: 60", "interval: 1"))
    emulators.slack.inject(r"usergroups\.list", status=500, times=4)  # the first pass fails after 4 attempts
    proc = spawn([sys.executable, "-m", "slackgenie", "run", "--port", "0"], emulators.env(), tmp_path, "daemon")
    try:
        deadline = time.monotonic() + 20
        while (emulators.slack.state.emails_of("platform-oncall") != ["ivan@example.com"]
               and time.monotonic() < deadline):
            time.sleep(0.1)
        assert emulators.slack.state.emails_of("platform-oncall") == ["ivan@example.com"]
        assert proc.poll() is None, "the daemon died"
        emulators.slack.inject(r"usergroups\.list", kind="latency", delay=2.0)  # SIGTERM mid-pass
        time.sleep(1.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        stopped_in = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    out, err = output(tmp_path, "daemon")
    assert code == 0, err
    assert stopped_in < 5
    assert "daemon.stopped" in err
    assert "FAILED" in out and "updated" in out
    assert not any(s in out + err for s in SECRETS)


def test_example_config_is_valid() -> None:
    from slackgenie.settings import parse_file

    path = Path(__file__).resolve().parents[1] / "slackgenie.example.yaml"
    config = parse_file(path, path.read_text())
    assert [s.usergroup for s in config.syncs] == ["delivery-support", "payments-oncall", "payments-secondary"]
    assert config.syncs[2].keys == ("opsgenie:escalation:2:Payments Escalation",)


def test_log_settings_from_dotenv_apply(emulators: Emulators, tmp_path: Path) -> None:
    write_config(tmp_path, emulators.org.config_yaml)
    (tmp_path / ".env").write_text("LOG_FORMAT=json\nLOG_LEVEL=warning\n")
    result = run_main(["sync"], emulators.env())
    assert result.code == 0
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert lines and all(json.loads(line)["level"] in ("warning", "error") for line in lines)


def test_a_bad_port_is_a_config_error_before_any_call(emulators: Emulators, tmp_path: Path) -> None:
    write_config(tmp_path, emulators.org.config_yaml)
    result = run_main(["run"], {**emulators.env(), "PORT": "http"})
    assert result.code == 2 and "PORT" in result.err and "Traceback" not in result.err
    assert no_calls(emulators)


def test_a_bad_shifted_clock_and_serve_without_a_way_in_are_config_errors(emulators: Emulators,
                                                                          tmp_path: Path) -> None:
    write_config(tmp_path, emulators.org.config_yaml)
    clock = run_main(["sync"], {**emulators.env(), "SLACKGENIE_NOW": "soon"})
    assert clock.code == 2
    assert clock.err == ("slackgenie: configuration error: environment: SLACKGENIE_NOW: 'soon' is not an ISO-8601 "
                         "time such as 2026-11-23T08:58:00Z\n  fix: unset SLACKGENIE_NOW (it is for tests and demos) "
                         "or give an ISO-8601 time\n")
    serve = run_main(["serve"], emulators.env())
    assert serve.code == 2 and serve.err.endswith(
        "slackgenie: configuration error: environment: SLACK_SIGNING_SECRET / SLACK_APP_TOKEN: neither is set\n"
        "  fix: set SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode, xapp-…)\n")
    port = run_main(["run", "--port", "70000"], emulators.env())
    assert port.code == 2 and port.err.endswith(
        "slackgenie: configuration error: environment: PORT: 70000 is not a port number\n"
        "  fix: set PORT (or --port) to a number from 1 to 65535, or 0 to serve nothing\n")
    assert no_calls(emulators)
