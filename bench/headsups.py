"""Pass time with heads-ups on, at scale, behind a slow Opsgenie (issue 18, item 11).

N Opsgenie schedules and groups (the scaled sample), ``heads_up: 1h`` on every group, each
Opsgenie request answered after ``--latency`` seconds, ``pass_deadline: 10``. Prints, for a
first pass (the heads-up forecast read beside it), five passes after it, and a pass with many
heads-ups due at once: the wall time, whether it was ok, the Opsgenie requests it made and the
heads-ups sent (the calls include any forecast refresh running beside the pass).
Timings are noisy (2 cores); the counts are not.
Run: `.venv/bin/python bench/headsups.py --schedules 400 --latency 0.15`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from slackgenie.core.clock import SteppedClock
from slackgenie.settings import load
from slackgenie.telemetry.logging import configure_logging
from slackgenie.wiring import build
from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import scaled_org

START = datetime(2026, 11, 23, 12, 30, tzinfo=timezone.utc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.15)
    args = parser.parse_args()
    configure_logging("error")
    org = scaled_org(args.schedules)
    with Emulators(org, at=START) as emu, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "slackgenie.yaml"
        path.write_text(f"provider: opsgenie\nheads_up: 1h\npass_deadline: 10\nslack_writes_per_minute: 1000\nstate_file: {tmp}/state.json\n"
                        + org.config_yaml)
        service = build(load(str(path), emu.env()), clock=SteppedClock(emu.clock))
        emu.opsgenie.inject(r".", kind="latency", delay=args.latency)
        print(f"{args.schedules} Opsgenie schedules, heads_up: 1h, {args.latency * 1000:.0f} ms a request, "
              "pass_deadline 10 s")
        print(f"{'pass':<28} {'seconds':>8} {'ok':>4} {'opsgenie calls':>15} {'heads-ups sent':>15}")
        try:
            def one(label: str) -> None:
                emu.opsgenie.reset_log()
                sent = service.headsups.sent
                began = time.monotonic()
                report = service.run_pass()
                took = time.monotonic() - began
                print(f"{label:<28} {took:>8.2f} {str(report.ok):>4} {len(emu.opsgenie.requests):>15} "
                      f"{service.headsups.sent - sent:>15}")
                problems = sorted({e for o in report.outcomes for e in (*o.plan.errors, o.apply_error or "") if e}
                                  | set(report.faults))
                for problem in problems[:3]:
                    print(f"    ! {problem[:150]}")
                for note in [n for n in report.notes if "sent to" not in n][:4]:
                    print(f"    * {note[:150]}")

            one("first (forecast beside it)")
            for i in range(5):
                emu.clock.advance(60)
                one(f"next +{i + 1} min")
            # The scaled sample's handoffs fall on the hour and half hour: a pass a minute on to
            # 13:00, when every shift starting at 14:00 falls due a heads-up at once (the
            # forecast is read again beside the passes every 5 minutes).
            quiet = []
            while emu.clock.now() < datetime(2026, 11, 23, 12, 59, tzinfo=timezone.utc):
                emu.clock.advance(60)
                began = time.monotonic()
                quiet.append((service.run_pass().ok, time.monotonic() - began))
            print(f"{'a pass a minute to 12:59':<28} {max(t for _, t in quiet):>8.2f} "
                  f"{str(all(ok for ok, _ in quiet)):>4}   (the slowest of them)")
            emu.clock.set(datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc))
            one("13:00 (a wave due)")
            one("13:00 again")
        finally:
            service.close()


if __name__ == "__main__":
    main()
