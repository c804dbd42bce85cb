"""API calls per pass over a large sample: full pass, no-change pass, and a pass after handoffs.

Prints counts and ratios, not timings (wall-clock figures are noisy on shared machines; the
one elapsed figure printed is for orientation only). Run: `make bench` or
`.venv/bin/python bench/api_calls.py --groups 200`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from slackgenie.settings import load
from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import scaled_org
from slackgenie.telemetry.logging import configure_logging
from slackgenie.wiring import build

START = datetime(2026, 11, 23, 12, 30, tzinfo=timezone.utc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--hours", type=float, default=6.0, help="clock jump before the handoff pass")
    args = parser.parse_args()
    configure_logging(level="error", fmt="json")
    org = scaled_org(args.groups)
    with Emulators(org, at=START) as emu, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "slackgenie.yaml"
        path.write_text(org.config_yaml + "slack_writes_per_minute: 1000\n")  # calls, not pacing, measured here
        service = build(load(str(path), emu.env()))
        rows = []

        def measure(label: str) -> None:
            emu.reset_logs()
            began = time.perf_counter()
            report = service.reconciler.run_pass()
            elapsed = time.perf_counter() - began
            calls = emu.calls()
            total = sum(calls.values())
            changed = sum(1 for o in report.outcomes if o.applied)
            writes = sum(n for k, n in calls.items() if k.endswith("usergroups.users.update"))
            rows.append((label, total, writes, changed, report.ok, elapsed, calls))

        measure("full pass (cold cache, every group differs)")
        measure("no-change pass")
        emu.clock.advance(timedelta(hours=args.hours).total_seconds())
        measure(f"pass after {args.hours:g} h of handoffs")
        service.close()

    print(f"\nAPI calls per pass over {args.groups} groups / {args.groups} schedules")
    print(f"{'pass':46} {'calls':>6} {'writes':>7} {'changed':>8} {'calls/change':>13} {'ok':>4}")
    for label, total, writes, changed, ok, elapsed, calls in rows:
        ratio = f"{total / changed:.2f}" if changed else "-"
        print(f"{label:46} {total:6d} {writes:7d} {changed:8d} {ratio:>13} {str(ok):>4}")
    for label, total, writes, changed, ok, elapsed, calls in rows:
        print(f"\n{label} ({elapsed:.2f} s wall, for orientation only):")
        for key, n in sorted(calls.items()):
            print(f"  {n:5d}  {key}")


if __name__ == "__main__":
    main()
