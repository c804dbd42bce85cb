"""Shared fixtures: the emulators on loopback, and a way to run the real CLI against them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typing import TYPE_CHECKING

from slackgenie.core.clock import SteppedClock
from slackgenie.settings import load
from slackgenie.wiring import Service, build
from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import BOT_TOKEN, DEMO_START, OPSGENIE_KEY, SAMPLE_CONFIG, sample_org

if TYPE_CHECKING:
    from slackgenie.app.runner import SlackApp

FAKETIME_SHIM = Path(__file__).parent / "faketime"


def pytest_configure(config: pytest.Config) -> None:
    """Started under libfaketime with the monotonic clock faked (`faketime -f +45d pytest`), the
    suite's own timed waits would sleep for the whole fake offset (see tests/faketime/): start it
    again with the monotonic clock real and the shim loaded, as `make test` does."""
    if (os.environ.get("FAKETIME") and os.environ.get("FAKETIME_DONT_FAKE_MONOTONIC") != "1"
            and not os.environ.get("PYTEST_XDIST_WORKER")):
        capture = config.pluginmanager.getplugin("capturemanager")
        if capture is not None:
            capture.stop_global_capturing()  # give the new process the real stdout and stderr
        os.environ["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(FAKETIME_SHIM), os.environ.get("PYTHONPATH")]))
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


SECRETS = (BOT_TOKEN, OPSGENIE_KEY)
FAST_RETRY = "retry: {attempts: 4, budget: 6, backoff: 0.05, max_backoff: 0.5, timeout: 3}\n"


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err


# What each subprocess of the running test printed: shown beside any failure of that test, so
# that an assertion about a subprocess always comes with its stdout and stderr.
_OUTPUTS: list[tuple[str, str | Path]] = []


def record_output(label: str, text: str | Path) -> None:
    """Show ``text`` (or the file's contents at the time of the failure) if the test fails."""
    _OUTPUTS.append((label, text))


def spawn(args: list[str], env: dict[str, str], cwd: Path, label: str) -> subprocess.Popen[str]:
    """Start a long-running subprocess whose stdout and stderr go to files (read them with
    ``output``); they are shown beside any failure of the test."""
    out, err = cwd / f"{label}.stdout", cwd / f"{label}.stderr"
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen(args, cwd=cwd, env=clean_env(env), stdout=o, stderr=e, text=True)
    record_output(f"{label} stdout", out)
    record_output(f"{label} stderr", err)
    return proc


def output(cwd: Path, label: str) -> tuple[str, str]:
    return (cwd / f"{label}.stdout").read_text(), (cwd / f"{label}.stderr").read_text()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        if report.failed:
            for label, text in _OUTPUTS:
                if isinstance(text, Path):
                    text = text.read_text(errors="replace") if text.exists() else "(no file)"
                report.sections.append((f"subprocess {label}", text[-8000:] or "(nothing)"))
        _OUTPUTS.clear()


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """State and cache files land in the working directory: keep them out of the repository."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def emulators() -> Iterator[Emulators]:
    with Emulators(sample_org(), at=DEMO_START) as emu:
        yield emu


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK", "OPSGENIE", "SLACKGENIE", "LOG_"))}
    env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"  # see the Makefile: only libfaketime reads it
    if env.get("FAKETIME"):
        env["PYTHONPATH"] = str(FAKETIME_SHIM)
    env.update(extra or {})
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> CliResult:
    proc = subprocess.run([sys.executable, "-m", "slackgenie", *args], cwd=cwd, env=clean_env(env),
                          capture_output=True, text=True, timeout=timeout)
    label = "slackgenie " + " ".join(args)
    record_output(f"{label}: exit {proc.returncode}, stdout", proc.stdout)
    record_output(f"{label}: stderr", proc.stderr)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def service_for(emu: Emulators, tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Service:
    """The service a process would build from ``text``, in-process, on the emulators' clock."""
    path = write_config(tmp_path, text)
    return build(load(str(path), {**emu.env(), **(env or {})}), clock=SteppedClock(emu.clock))


def write_config(tmp_path: Path, text: str, fast_retry: bool = True) -> Path:
    path = tmp_path / "slackgenie.yaml"
    path.write_text(text + (FAST_RETRY if fast_retry else ""))
    return path


@pytest.fixture
def opsgenie_app(emulators: Emulators, tmp_path: Path) -> Iterator[tuple[Service, "SlackApp"]]:
    """The sample on Opsgenie, in-process, with the Slack app on and refreshed by a first pass."""
    from slackgenie.app.runner import SlackApp
    from test_people import SIGNING

    service = service_for(emulators, tmp_path, "provider: opsgenie\n" + SAMPLE_CONFIG, {"SLACK_SIGNING_SECRET": SIGNING})
    try:
        app = SlackApp(service)
        app.refresh(service.run_pass())
        yield service, app
    finally:
        service.close()


@pytest.fixture
def sync_cli(emulators: Emulators, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run `slackgenie ARGS` against the emulators with the sample config (or another)."""

    def run(*args: str, config: str | None = None, env: dict[str, str] | None = None) -> CliResult:
        write_config(tmp_path, config if config is not None else emulators.org.config_yaml)
        return run_cli(list(args), {**emulators.env(), **(env or {})}, tmp_path)

    return run
