"""Scale: a mass handoff against Slack's tier limits, cold starts, and the noise of a steady state.

Counts and ratios, printed; the seconds are real (the writes wait for Slack's real tier, 20 a
minute), so the burst runs take minutes. Run:

    .venv/bin/python bench/scale.py burst --groups 100     # `run` and `sync`, K groups changing at once
    .venv/bin/python bench/scale.py cold --groups 200      # fresh-process no-change sync: calls
    .venv/bin/python bench/scale.py noise --groups 1000    # log and /metrics bytes per no-change pass
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import scaled_org

START = datetime(2026, 11, 23, 12, 30, tzinfo=timezone.utc)
WRITE = "usergroups.users.update"


def env_for(emu: Emulators) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK", "OPSGENIE", "JSM", "PAGERDUTY"))}
    return {**keep, **emu.env(), "LOG_FORMAT": "json"}


def cli(args: list[str], emu: Emulators, cwd: Path, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "slackgenie", *args], cwd=cwd, env=env_for(emu),
                          capture_output=True, text=True, timeout=timeout)


def throttled(emu: Emulators) -> int:
    return sum(1 for r in emu.slack.requests if r.status == 429)


def all_right(emu: Emulators, groups: int) -> bool:
    return all(emu.slack.state.members_of(f"team-{g:03d}-oncall") for g in range(groups))


def burst(groups: int, commands: tuple[str, ...] = ("sync", "run")) -> None:
    """Every group needs a write at once (a first sync, a Monday 09:00 handoff)."""
    limit_minutes = math.ceil(groups / 20)
    print(f"\n{groups} groups changing at one instant, Slack's tiers on (usergroups.users.update: 20/min); "
          f"the limit allows them all in {limit_minutes} min")
    print(f"{'command':8} {'seconds until all right':>24} {'429s provoked':>14} {'writes':>7} {'exit':>5}")
    for command in commands:
        org = scaled_org(groups)
        with Emulators(org, at=START) as emu, tempfile.TemporaryDirectory() as tmp:
            emu.slack.enable_rate_limits()
            Path(tmp, "slackgenie.yaml").write_text(org.config_yaml.replace("interval: 60", "interval: 600"))
            began = time.monotonic()
            if command == "sync":
                proc = cli(["sync"], emu, Path(tmp))
                done, code = time.monotonic() - began, proc.returncode
            else:
                port = "0"
                daemon = subprocess.Popen([sys.executable, "-m", "slackgenie", "run", "--bind", "127.0.0.1",
                                           "--port", port], cwd=tmp, env=env_for(emu),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    deadline = time.monotonic() + limit_minutes * 60 * 3 + 120
                    while not all_right(emu, groups) and time.monotonic() < deadline:
                        time.sleep(0.5)
                    done = time.monotonic() - began
                finally:
                    daemon.terminate()
                    code = daemon.wait(timeout=30)
            writes = emu.slack.calls(rf"{WRITE}$")
            right = all_right(emu, groups)
            print(f"{command:8} {done if right else float('nan'):>24.1f} {throttled(emu):>14} {writes:>7} {code:>5}")


def cold(groups: int) -> None:
    org = scaled_org(groups)
    with Emulators(org, at=START) as emu, tempfile.TemporaryDirectory() as tmp:
        first, fresh = Path(tmp, "first"), Path(tmp, "fresh")
        first.mkdir()
        fresh.mkdir()
        for d in (first, fresh):
            Path(d, "slackgenie.yaml").write_text(org.config_yaml + "slack_writes_per_minute: 1000\n")
        assert cli(["sync"], emu, first).returncode == 0
        people = len(emu.slack.state.users)
        rows = []
        for label in ("empty directory", "persisted directory"):
            emu.reset_logs()
            assert cli(["sync"], emu, fresh).returncode == 0
            rows.append((label, sum(emu.calls().values()), dict(emu.calls())))
    print(f"\nFresh-process no-change sync over {groups} groups ({people} workspace people; "
          f"bound 2 + ceil({people}/200) = {2 + math.ceil(people / 200)})")
    for label, total, calls in rows:
        print(f"  {label:20} {total:4d} calls: " + ", ".join(f"{k} x{n}" for k, n in sorted(calls.items())))


def noise(groups: int) -> None:
    org = scaled_org(groups)
    with Emulators(org, at=START) as emu, tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        Path(d, "slackgenie.yaml").write_text(org.config_yaml + "slack_writes_per_minute: 1000\n")
        assert cli(["sync"], emu, d).returncode == 0
        proc = cli(["sync", "--metrics-file", str(d / "m.prom")], emu, d)
        assert proc.returncode == 0, proc.stderr[-2000:]
        log_bytes = len(proc.stderr.encode())
        metrics = (d / "m.prom").read_bytes()
        series = sum(1 for line in metrics.decode().splitlines() if line and not line.startswith("#"))
    print(f"\nNo-change pass over {groups} groups: {log_bytes:,} bytes of log lines "
          f"({proc.stderr.count(chr(10))} lines); /metrics {len(metrics):,} bytes, {series:,} series "
          f"({series / groups:.1f} per group)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["burst", "cold", "noise"])
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--only", choices=["sync", "run"], help="burst: only this command")
    args = parser.parse_args()
    if args.what == "burst":
        burst(args.groups, (args.only,) if args.only else ("sync", "run"))
    else:
        {"cold": cold, "noise": noise}[args.what](args.groups)


if __name__ == "__main__":
    main()
