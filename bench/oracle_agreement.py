"""How often the product's rotation maths (slackgenie/core/rotation.py) agrees with the emulator's
independent engine (emulators/slackgenie_emulators/schedules.py), by feature, at random instants.

Both read the same Opsgenie schedule JSON. Instants are drawn uniformly over a year and, half of
them, within three hours of a clock change of the schedule's zone, where misreadings hide.
Prints counts, not timings:

    .venv/bin/python bench/oracle_agreement.py --schedules 400 --instants 200
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from slackgenie_emulators.opsgenie import OpsgenieState
from slackgenie.sources.opsgenie.wire import schedule_from_api

UTC = timezone.utc
ZONES = ["UTC", "America/New_York", "Europe/London", "America/St_Johns", "Australia/Lord_Howe", "Asia/Kolkata"]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
YEAR0 = datetime(2026, 1, 1, tzinfo=UTC)


def transitions(zone: str) -> list[datetime]:
    """The instants in 2026-2027 at which ``zone``'s UTC offset changes (to the minute)."""
    tz, out = ZoneInfo(zone), []
    t = YEAR0
    previous = t.astimezone(tz).utcoffset()
    while t < YEAR0 + timedelta(days=730):
        nxt = t + timedelta(hours=1)
        if nxt.astimezone(tz).utcoffset() != previous:
            lo, hi = t, nxt  # bisect to the minute
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if mid.astimezone(tz).utcoffset() == previous else (lo, mid)
            out.append(hi.replace(second=0, microsecond=0))
            previous = nxt.astimezone(tz).utcoffset()
        t = nxt
    return out


def random_rotation(rng: random.Random, i: int, feature: str) -> dict[str, Any]:
    kind = {"hourly": "hourly", "weekly": "weekly"}.get(feature, rng.choice(["daily", "weekly"]))
    start = YEAR0 + timedelta(days=rng.randrange(0, 60), hours=rng.randrange(24), minutes=rng.choice([0, 15, 30, 45]))
    spec: dict[str, Any] = {"id": f"r{i}", "name": f"R{i}", "type": kind, "length": rng.randint(1, 3),
                            "startDate": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "participants": [{"type": "user", "username": f"p{k}@x.io"}
                                             for k in rng.sample(range(6), rng.randint(1, 4))]}
    if feature == "time-of-day":
        spec["timeRestriction"] = {"type": "time-of-day", "restriction": {
            "startHour": rng.randrange(24), "startMin": rng.choice([0, 30]),
            "endHour": rng.randrange(24), "endMin": rng.choice([0, 30])}}
    if feature == "weekday windows":
        spec["timeRestriction"] = {"type": "weekday-and-time-of-day", "restrictions": [
            {"startDay": rng.choice(DAYS), "startHour": rng.randrange(24), "startMin": rng.choice([0, 30]),
             "endDay": rng.choice(DAYS), "endHour": rng.randrange(24), "endMin": rng.choice([0, 30])}
            for _ in range(rng.randint(1, 3))]}
    return spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schedules", type=int, default=300)
    parser.add_argument("--instants", type=int, default=150)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    features = ["daily/weekly turns", "hourly", "weekly", "time-of-day", "weekday windows"]
    edges = {z: transitions(z) for z in ZONES}
    agree, total, next_agree, next_total = Counter(), Counter(), Counter(), Counter()
    examples: list[str] = []
    for n in range(args.schedules):
        feature = features[n % len(features)]
        zone = ZONES[n // len(features) % len(ZONES)]
        state = OpsgenieState()
        for k in range(6):
            state.add_user(f"p{k}@x.io")
        specs = [random_rotation(rng, i, feature) for i in range(rng.randint(1, 2))]
        emulated = state.add_schedule(f"S{n}", zone, rotations=[dict(s) for s in specs])
        product = schedule_from_api({"id": emulated.id, "name": emulated.name, "timezone": zone,
                                     "rotations": [{**s, "id": r.id} for s, r in zip(specs, emulated.rotations)]})
        for j in range(args.instants):
            if j % 2 and edges[zone]:
                at = rng.choice(edges[zone]) + timedelta(minutes=rng.randint(-180, 180))
            else:
                at = YEAR0 + timedelta(minutes=rng.randrange(365 * 1440))
            key = (feature, "near a clock change" if j % 2 and edges[zone] else "any time")
            want = emulated.recipients(at)
            got = frozenset(p.name or None for _, p, _ in product.on_call(at))
            total[key] += 1
            agree[key] += want == got
            if want != got and len(examples) < 5:
                examples.append(f"{feature}, {zone}, {at:%Y-%m-%d %H:%MZ}: product {sorted(got)}, oracle {sorted(want)}")
            if j % 10 == 0:
                next_total[feature] += 1
                next_agree[feature] += product.next_change(at) == emulated.next_change(at)
    print(f"{'feature':22} {'instants':>20} {'agree':>8} {'of':>8}   next_change agree/of")
    for key in sorted(total):
        nxt = f"{next_agree[key[0]]}/{next_total[key[0]]}" if key[1] == "any time" else ""
        print(f"{key[0]:22} {key[1]:>20} {agree[key]:8d} {total[key]:8d}   {nxt}")
    print(f"{'all':22} {'':>20} {sum(agree.values()):8d} {sum(total.values()):8d}   "
          f"{sum(next_agree.values())}/{sum(next_total.values())}")
    for line in examples:
        print("  disagrees:", line)


if __name__ == "__main__":
    main()
