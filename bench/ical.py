"""Calendar feeds: parse time and memory of a big feed, and feed requests per pass and per hour.

Part one reads a flat feed of ``--events`` shifts (PagerDuty's shape: one VEVENT per 8-hour shift,
an ATTENDEE each; 5,000 by default, about 1 MiB and four and a half years of shifts), timing the
parse (the median of three), its peak traced memory (a run of its own: tracing slows it), and the
questions a pass asks of it: who is on call (the first of a day expands it, the rest are kept), the
next handoff (35 days ahead) and 14 days of stretches (`/oncall me`).

Part two syncs one group from ``--feeds`` unchanged feeds (a weekly rota each, ``refresh: 300``)
for ``--minutes`` of the daemon at ``interval: 60`` (the clock stepped), counting the requests
the feed server answered, by status, against reading every feed every pass.

Run: `.venv/bin/python bench/ical.py --events 5000 --feeds 50 --minutes 60`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from slackgenie.core.clock import SteppedClock
from slackgenie.settings import load
from slackgenie.sources.ical.feed import parse_feed
from slackgenie.telemetry.logging import configure_logging
from slackgenie.wiring import build
from slackgenie_emulators import Emulators
from slackgenie_emulators.ical import shifts_feed, weekly_rotation
from slackgenie_emulators.sample import sample_org

UTC = timezone.utc
START = datetime(2026, 11, 23, 12, 30, tzinfo=UTC)
PEOPLE = ("alice@example.com", "bob@example.com", "carol@example.com")


def timed(fn: Callable[[], Any]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def big_feed(events: int) -> bytes:
    first = START - timedelta(days=events // 6)  # now falls in the middle of the shifts
    shifts = [(first + timedelta(hours=8 * i), first + timedelta(hours=8 * (i + 1)), f"person{i % 20:02d}@example.com")
              for i in range(events)]
    return shifts_feed(shifts, style="pagerduty", now=first).encode()


def parsing(events: int) -> None:
    data = big_feed(events)
    took = [timed(lambda: parse_feed(data)) for _ in range(3)]
    tracemalloc.start()
    feed = parse_feed(data)
    _, peak = tracemalloc.get_traced_memory()
    kept, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    first = timed(lambda: feed.on_call(START))
    again = statistics.median(timed(lambda: feed.on_call(START + timedelta(minutes=m))) for m in range(1, 50))
    handoff = timed(lambda: feed.next_change(START))
    handoff_again = timed(lambda: feed.next_change(START + timedelta(hours=1)))
    fortnight = timed(lambda: feed.stretches(START, START + timedelta(days=14)))
    print(f"A feed of {feed.events} events ({len(data) / 2**20:.2f} MiB):")
    print(f"  parse: {statistics.median(took):.2f} s (median of 3: {', '.join(f'{t:.2f}' for t in took)})")
    print(f"  memory: {peak / 2**20:.1f} MiB at the peak of parsing, {kept / 2**20:.1f} MiB kept "
          f"({kept / max(len(data), 1):.0f} bytes per byte of feed)")
    print(f"  who is on call: {first * 1000:.0f} ms the first time in a day, {again * 1e6:.0f} µs after "
          f"(median of 49)")
    print(f"  next handoff (35 days ahead): {handoff * 1000:.0f} ms, {handoff_again * 1000:.1f} ms an hour later")
    print(f"  14 days of stretches (/oncall me): {fortnight * 1000:.1f} ms")


def config(names: list[str], tmp: str) -> str:
    return ("interval: 60\nsyncs:\n  - usergroup: payments-oncall\n    provider: ical\n"
            f"    schedules: [{', '.join(names)}]\nstate_file: {tmp}/state.json\nical:\n  feeds:\n"
            + "".join(f"    {n}:\n      url_env: {n.upper()}_ICS_URL\n      refresh: 300\n" for n in names))


def requests(feeds: int, minutes: int) -> None:
    names = [f"feed{i:03d}" for i in range(feeds)]
    with Emulators(sample_org(), at=START) as emu, tempfile.TemporaryDirectory() as tmp:
        for name in names:
            emu.ical.set_feed(name, weekly_rotation(START, PEOPLE).text)
        path = Path(tmp) / "slackgenie.yaml"
        path.write_text(config(names, tmp))
        env = {**emu.env(), **{f"{n.upper()}_ICS_URL": emu.ical.feed_url(n) for n in names}}
        service = build(load(str(path), env), clock=SteppedClock(emu.clock))
        try:
            assert service.run_pass().ok
            service.next_handoff(service.clock.now())
            first = Counter(r.status for r in emu.ical.reads())
            emu.reset_logs()
            emu.clock.advance(60)
            assert service.run_pass().ok
            service.next_handoff(service.clock.now())
            second = len(emu.ical.reads())
            emu.reset_logs()
            for _ in range(minutes - 1):
                emu.clock.advance(60)
                assert service.run_pass().ok
                service.next_handoff(service.clock.now())
            hour = Counter(r.status for r in emu.ical.reads())
        finally:
            service.close()
    passes = minutes + 1  # the first, then one a minute
    every_pass = feeds * passes
    total = sum(first.values()) + second + sum(hour.values())
    print(f"{feeds} unchanged feeds, refresh 300 s, interval 60 s:")
    print(f"  first pass: {dict(first)} (statuses: requests)")
    print(f"  a pass within refresh: {second} requests")
    print(f"  {minutes} minutes ({passes} passes): {total} requests, {dict(first + hour)}; reading every feed every "
          f"pass would be {every_pass}: {total / every_pass:.2f} of that")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument("--minutes", type=int, default=60)
    args = parser.parse_args()
    configure_logging(level="error")
    parsing(args.events)
    requests(args.feeds, args.minutes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
