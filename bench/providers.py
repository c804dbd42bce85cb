"""Provider calls per pass and per hour, for each provider, over a large sample.

For each provider: a first pass (cold: names, people, everything read), a no-change pass, and
one simulated hour of the daemon at `interval: 60` (the clock stepped, a pass and a forecast
per minute, the scaled sample's handoffs falling due as they come), counting the requests each
emulator served. Counts only; no timings. Run: `.venv/bin/python bench/providers.py --groups 200`.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from slackgenie.core.clock import SteppedClock
from slackgenie.settings import load
from slackgenie.telemetry.logging import configure_logging
from slackgenie.wiring import build
from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import scaled_org

START = datetime(2026, 11, 23, 12, 30, tzinfo=timezone.utc)
PROVIDERS = ("opsgenie", "jsm", "pagerduty")


def kind(path: str) -> str:
    """A request's endpoint with ids taken out."""
    for marker in ("/on-calls", "/timeline", "/users", "/overrides"):
        if path.endswith(marker):
            return "schedules/{id}" + marker
    if "/jsm/ops/api/" in path:
        return path.split("/v1", 1)[1]
    return path


def run(provider: str, groups: int, minutes: int, recheck: int) -> dict[str, object]:
    org = scaled_org(groups)
    with Emulators(org, at=START) as emu, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "slackgenie.yaml"
        path.write_text(f"provider: {provider}\njsm: {{recheck: {recheck}}}\nstate_file: {tmp}/state.json\n"
                        + org.config_yaml)
        service = build(load(str(path), emu.env()), clock=SteppedClock(emu.clock))
        server = emu.servers[provider]
        try:
            server.reset_log()
            assert service.run_pass().ok
            service.next_handoff(service.clock.now())
            first = len(server.requests)
            server.reset_log()
            report = service.run_pass()
            no_change = len(server.requests)
            changed_in_second = sum(1 for o in report.outcomes if o.applied)
            server.reset_log()
            passes = failed = 0
            for _ in range(minutes):
                service.next_handoff(service.clock.now())
                emu.clock.advance(60)
                report = service.run_pass()
                passes += 1
                failed += 0 if report.ok else 1
            hour = len(server.requests)
            by_kind = Counter(kind(r.path) for r in server.requests)
        finally:
            service.close()
    return {"first": first, "no_change": no_change, "changed_in_second": changed_in_second,
            "hour": hour, "passes": passes, "failed": failed, "by_kind": by_kind}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--recheck", type=int, default=300, help="jsm.recheck")
    args = parser.parse_args()
    configure_logging(level="error", fmt="json")
    results = {p: run(p, args.groups, args.minutes, args.recheck) for p in PROVIDERS}
    print(f"\nProvider requests, {args.groups} groups / {args.groups} schedules (one each), interval 60 s, "
          f"jsm.recheck {args.recheck} s")
    print(f"{'provider':10} {'first pass':>10} {'no-change pass':>15} {f'{args.minutes} min of passes':>18} "
          f"{'per pass':>9} {'failed passes':>14}")
    for p, r in results.items():
        per_pass = int(r["hour"]) / max(int(r["passes"]), 1)  # type: ignore[call-overload]
        print(f"{p:10} {r['first']:>10} {r['no_change']:>15} {r['hour']:>18} {per_pass:>9.1f} {r['failed']:>14}")
    for p, r in results.items():
        print(f"\n{p}: requests during the {args.minutes} simulated minutes, by endpoint")
        for endpoint, n in sorted(r["by_kind"].items()):  # type: ignore[attr-defined]
            print(f"  {n:6d}  {endpoint}")


if __name__ == "__main__":
    main()
