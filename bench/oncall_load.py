"""`/oncall` under load: acknowledgement times at 50 concurrent requests with a slow provider.

Starts `slackgenie run` (a real subprocess, waitress serving /slack/events) against the
emulators with every Opsgenie answer delayed 2 s, sends signed `/oncall` requests from 50
concurrent clients and prints counts, percentiles and the share over Slack's 3 s. Then the
seconds from start to /readyz at 1,000 groups. Wall-clock figures on a shared 2-core machine:
an order of magnitude, not a contract.

    .venv/bin/python bench/oncall_load.py --requests 1000
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from slackgenie_emulators import Emulators
from slackgenie_emulators.injector import form_body, signed_headers, slash_command
from slackgenie_emulators.sample import DEMO_START, Org, sample_org, scaled_org

SECRET = "bench-signing-secret-0123456789"
SNAPSHOT_TEXTS = ["", "delivery-support", "next payments", "@Platform-Oncall", "next delivery suport", "help",
                  "nosuch", "public payments-oncall"]
EXTRA = [f"Extra {i}_schedule" for i in range(8)]  # schedules no group uses: a live lookup each


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(emu: Emulators, tmp: str, config: str) -> tuple[subprocess.Popen[bytes], int, float]:
    port = free_port()
    Path(tmp, "slackgenie.yaml").write_text(config)
    began = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "slackgenie", "run", "--bind", "127.0.0.1", "--port", str(port)],
                            cwd=tmp, env={**os.environ, **emu.env(), "LOG_LEVEL": "warning",
                                          "SLACK_SIGNING_SECRET": SECRET},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc, port, time.monotonic() - began
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("the app never became ready")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def load(emu: Emulators, port: int, texts: list[str], requests: int, clients: int = 50) -> list[float]:
    url = f"http://127.0.0.1:{port}/slack/events"
    http = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=clients))

    def one(i: int) -> float:
        body = form_body(slash_command(texts[i % len(texts)], "U00000002", emu.slack.response_url(f"r{i}")))
        headers = signed_headers(SECRET, body, "application/x-www-form-urlencoded")
        began = time.perf_counter()
        r = http.post(url, content=body, headers=headers)
        elapsed = (time.perf_counter() - began) * 1000
        assert r.status_code == 200, r.text
        return elapsed

    with ThreadPoolExecutor(max_workers=clients) as pool:
        ms = list(pool.map(one, range(requests)))
    http.close()
    return ms


def show(label: str, ms: list[float]) -> None:
    over = sum(1 for m in ms if m > 3000)
    print(f"{label:44} n={len(ms):5d}  p50 {percentile(ms, 0.5):7.1f} ms  p99 {percentile(ms, 0.99):7.1f} ms  "
          f"max {max(ms):7.1f} ms  over 3 s: {over} ({100 * over / len(ms):.1f}%)")


def with_extras(org: Org) -> Org:
    for name in EXTRA:
        org.opsgenie.add_schedule(name, "UTC", rotations=[{
            "name": "Daily", "type": "daily", "startDate": "2026-11-02T09:00:00Z",
            "participants": [{"type": "user", "username": "heidi@example.com"}]}])
    return org


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=1000)
    args = parser.parse_args()
    print("50 concurrent clients; every Opsgenie answer delayed 2 s")

    org = with_extras(sample_org())
    with Emulators(org, at=DEMO_START) as emu, tempfile.TemporaryDirectory() as tmp:
        emu.opsgenie.inject(r".", kind="latency", delay=2.0)
        proc, port, _ = start(emu, tmp, org.config_yaml)
        try:
            show("one request at a time (the ack floor)", load(emu, port, SNAPSHOT_TEXTS, 200, clients=1))
            show("sample organisation, snapshot answers", load(emu, port, SNAPSHOT_TEXTS, args.requests))
            mixed = SNAPSHOT_TEXTS[:7] + ["extra"]  # 1 in 8 names a schedule no group uses
            texts = [t if t != "extra" else EXTRA[(i // 8) % len(EXTRA)] for i, t in enumerate(mixed * 8)]
            emu.slack.state.responses.clear()
            show("sample organisation, 1 in 8 live lookups", load(emu, port, texts, args.requests))
            time.sleep(6)  # the lookups' own answers (2 s each) arrive through response_url
            answered = sum(1 for k in emu.slack.state.responses if int(k[1:]) % 8 == 7)
            print(f"{'':44} live lookups asked: {args.requests // 8}; answered through response_url: {answered}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    org = scaled_org(args.groups)
    with Emulators(org, at=DEMO_START) as emu, tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "slackgenie.yaml").write_text(org.config_yaml + "slack_writes_per_minute: 1000\n")
        subprocess.run([sys.executable, "-m", "slackgenie", "sync"], cwd=tmp, env={**os.environ, **emu.env()},
                       capture_output=True, check=True)  # the groups are right: the bench measures the app
        emu.opsgenie.inject(r".", kind="latency", delay=2.0)
        proc, port, ready = start(emu, tmp, org.config_yaml)
        try:
            print(f"{args.groups} groups: /readyz after {ready:.1f} s (process start included)")
            texts = ["", "team-123-oncall", "next team-042-oncall", "tema-007-oncal", "nosuchteam", "help"]
            show(f"{args.groups} groups, snapshot answers", load(emu, port, texts, args.requests))
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
