"""Handoff-to-group latency and API calls per hour, handoff-aware vs plain polling, over a simulated day.

Runs the real daemon loop and reconciler in-process against the emulators over HTTP, on a
simulated clock that jumps from one wake-up to the next (discrete-event simulation), so a day
takes seconds. A pass is taken to happen at its wake-up instant: latencies here are scheduling
latencies (guard delay + waiting for the next pass), without the pass's own duration, which is
printed separately from `bench/api_calls.py`.

    .venv/bin/python bench/handoffs.py --groups 200
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from slackgenie.core.clock import SteppedClock
from slackgenie.settings import load
from slackgenie.engine.daemon import Daemon
from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import scaled_org
from slackgenie.telemetry.logging import configure_logging
from slackgenie.wiring import build

START = datetime(2026, 11, 23, 0, 0, 0, tzinfo=timezone.utc)  # on the handoff grid: phases are offsets from it
DAY = timedelta(days=1)


def simulate(groups: int, interval: int, handoffs: bool, phase: float = 0.0) -> dict:
    org = scaled_org(groups)
    with Emulators(org, at=START + timedelta(seconds=phase)) as emu, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "slackgenie.yaml"
        path.write_text(org.config_yaml.replace("interval: 60", f"interval: {interval}")
                        + f"state_file: {tmp}/state.json\n")
        clock = SteppedClock(emu.clock)
        service = build(load(str(path), emu.env()), clock=clock)
        service.run_pass()  # settle the groups first: the day measures steady state
        emu.reset_logs()
        emu.slack.state.group_updates.clear()
        began = clock.now()
        end = began + DAY
        daemon = Daemon(service.run_pass, interval, clock=clock, guard=2.0,
                        next_handoff=service.next_handoff if handoffs else None)

        def stop_at_end() -> None:
            if clock.now() >= end:
                daemon.stop_event.set()

        daemon.heartbeat = stop_at_end
        daemon.run()
        service.close()

        # Every handoff in the day, from the emulator's own rotation model, and when Slack showed it.
        gid = {g.handle: g.id for g in emu.slack.state.groups.values()}
        updates: dict[str, list[float]] = {}
        for t, g, _ in emu.slack.state.group_updates:
            updates.setdefault(g, []).append(t)
        latencies = []
        missed = 0
        for sync in service.config.syncs:
            schedule = emu.opsgenie.state.schedule(sync.schedules[0], "name")
            t = schedule.next_change(began)
            while t is not None and t < end - timedelta(seconds=interval + 5):
                seen = [u for u in updates.get(gid[sync.usergroup], []) if u >= t.timestamp()]
                if seen:
                    latencies.append(seen[0] - t.timestamp())
                else:
                    missed += 1
                t = schedule.next_change(t)
        calls = len(emu.opsgenie.requests) + len(emu.slack.requests)
        writes = emu.slack.calls(r"usergroups\.users\.update$")
    return {"latencies": latencies, "missed": missed, "calls": calls, "writes": writes,
            "passes": daemon.passes, "forecasts": service.source.sources["opsgenie"].forecast.fetches}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, default=200)
    args = parser.parse_args()
    configure_logging(level="error", fmt="json")
    # A daemon's latency depends on where its ticks fall against the handoffs (a daemon started
    # exactly on the handoff grid would see every handoff at once), so every mode runs at three
    # phases (a tenth, a half and nine tenths of the interval after the grid) and the figures
    # pool them; per-day counts are averaged over the phases.
    phases = [0.1, 0.5, 0.9]
    runs = [("handoff-aware, interval 60 s", 60, True, phases), ("handoff-aware, interval 300 s", 300, True, phases),
            ("plain polling, 60 s", 60, False, phases), ("plain polling, 300 s", 300, False, phases)]
    print(f"Simulated day, {args.groups} groups, {args.groups} schedules (daily rotations, handoffs at :00 and :30)")
    print(f"{'mode':32} {'handoffs':>8} {'median s':>9} {'max s':>7} {'calls/h':>8} {'reads/h':>8} {'passes':>7}")
    for label, interval, aware, phases in runs:
        results = [simulate(args.groups, interval, aware, p * interval) for p in phases]
        lat = [x for r in results for x in r["latencies"]]
        calls = statistics.mean(r["calls"] for r in results)
        writes = statistics.mean(r["writes"] for r in results)
        passes = statistics.mean(r["passes"] for r in results)
        missed = sum(r["missed"] for r in results)
        print(f"{label:32} {len(lat) // len(phases):8d} {statistics.median(lat):9.1f} {max(lat):7.1f} "
              f"{calls / 24:8.1f} {(calls - writes) / 24:8.1f} {passes:7.0f}" + (f"  (missed {missed})" if missed else ""))


if __name__ == "__main__":
    main()
