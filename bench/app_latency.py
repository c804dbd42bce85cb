"""Time from a Slack request to the app's acknowledgement, over HTTP and over Socket Mode.

Starts `slackgenie run` (a real subprocess, waitress serving /slack/events) against the
emulators, sends signed `/oncall` requests of mixed kinds one after another, and prints the
median and p99 of request-to-ack time. Slack gives an app 3 s. Figures are wall-clock on a
shared machine: read them as an order of magnitude, not a contract.

    .venv/bin/python bench/app_latency.py --requests 300
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from slackgenie_emulators import Emulators
from slackgenie_emulators.injector import form_body, signed_headers, slash_command
from slackgenie_emulators.sample import DEMO_START, sample_org

SECRET = "bench-signing-secret-0123456789"
APP_TOKEN = "xapp-1-A0EMULATE1-2222-benchapptoken"
TEXTS = ["", "delivery-support", "next payments", "@Platform-Oncall", "next delivery suport", "help", "nosuch"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def start(emu: Emulators, tmp: str, env: dict[str, str], command: str = "run") -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    Path(tmp, "slackgenie.yaml").write_text(emu.org.config_yaml)
    proc = subprocess.Popen([sys.executable, "-m", "slackgenie", command, "--bind", "127.0.0.1", "--port", str(port)],
                            cwd=tmp, env={**os.environ, **emu.env(), "LOG_LEVEL": "warning", **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    return proc, port


def report(label: str, ms: list[float]) -> None:
    print(f"{label:28} n={len(ms):4d}  median {statistics.median(ms):6.1f} ms  p99 {percentile(ms, 0.99):6.1f} ms"
          f"  max {max(ms):6.1f} ms  over 3 s: {sum(1 for m in ms if m > 3000)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    with Emulators(sample_org(), at=DEMO_START) as emu, tempfile.TemporaryDirectory() as tmp:
        proc, port = start(emu, tmp, {"SLACK_SIGNING_SECRET": SECRET})
        try:
            url = f"http://127.0.0.1:{port}/slack/events"
            ms = []
            with httpx.Client(timeout=10) as client:
                for i in range(args.requests):
                    body = form_body(slash_command(TEXTS[i % len(TEXTS)], "U00000002", emu.slack.response_url(str(i))))
                    headers = signed_headers(SECRET, body, "application/x-www-form-urlencoded")
                    began = time.perf_counter()
                    r = client.post(url, content=body, headers=headers)
                    ms.append((time.perf_counter() - began) * 1000)
                    assert r.status_code == 200, r.text
            report("HTTP /slack/events", ms)
        finally:
            proc.terminate()
            proc.wait(timeout=15)

        emu.slack.state.add_token(APP_TOKEN, "app")
        proc, port = start(emu, tmp, {"SLACK_APP_TOKEN": APP_TOKEN}, command="serve")
        try:
            emu.slack.socket.wait_connected(15)
            ms = []
            for i in range(args.requests):
                payload = slash_command(TEXTS[i % len(TEXTS)], "U00000002", emu.slack.response_url(f"s{i}"))
                began = time.perf_counter()
                ack = emu.slack.socket.send("slash_commands", payload)
                ms.append((time.perf_counter() - began) * 1000)
                assert ack is not None
            report("Socket Mode envelope ack", ms)
        finally:
            proc.terminate()
            proc.wait(timeout=15)


if __name__ == "__main__":
    main()
