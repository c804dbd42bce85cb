"""Resident memory of the daemon after an hour-equivalent of passes over a large sample.

Starts `slackgenie run` (a real subprocess) against the emulators with `interval: 1` and moves
the emulators' clock 60 s per real second, so N passes stand for N minutes of a daemon at the
default 60 s interval, handoffs included. Prints VmRSS (from /proc) at start-up, after the first
pass and at the end, and the pass count. Linux only.

    .venv/bin/python bench/memory.py --groups 200 --passes 60
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import scaled_org


def rss_mib(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) / 1024  # type: ignore[union-attr]


def passes(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith("slackgenie_passes_total{"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--passes", type=int, default=60, help="passes to run (60 = one hour at interval 60 s)")
    parser.add_argument("--with-app", action="store_true", help="also run the Slack app (HTTP mode)")
    args = parser.parse_args()
    org = scaled_org(args.groups)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Emulators(org) as emu, tempfile.TemporaryDirectory() as tmp:
        emu.clock.set(datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc), frozen=False)
        (Path(tmp) / "slackgenie.yaml").write_text(org.config_yaml.replace("interval: 60", "interval: 1"))
        env = {**os.environ, **emu.env(), "LOG_LEVEL": "warning", "LOG_FORMAT": "json"}
        if args.with_app:
            env["SLACK_SIGNING_SECRET"] = "bench-signing-secret-0123456789"
        proc = subprocess.Popen([sys.executable, "-m", "slackgenie", "run", "--bind", "127.0.0.1",
                                 "--metrics-port", str(port)], cwd=tmp, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if passes(port) >= 1:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            after_first = rss_mib(proc.pid)
            deadline = time.monotonic() + args.passes * 3 + 30
            done = passes(port)
            while done < args.passes and time.monotonic() < deadline:
                emu.clock.advance(60)
                time.sleep(1.0)
                done = passes(port)
            end = rss_mib(proc.pid)
            calls = len(emu.opsgenie.requests) + len(emu.slack.requests)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
    app = " with the Slack app" if args.with_app else ""
    print(f"daemon{app} over {args.groups} groups: {int(done)} passes (= {int(done)} min at interval 60 s)")
    print(f"  VmRSS after first pass: {after_first:.1f} MiB")
    print(f"  VmRSS after {int(done)} passes: {end:.1f} MiB  (growth {end - after_first:+.1f} MiB)")
    print(f"  API calls in all: {calls}  ({calls / max(done, 1):.1f} per pass)")


if __name__ == "__main__":
    main()
