"""`slackgenie status`: every group, its members now, whether it is in sync, who is next and when."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from slackgenie.core.clock import Clock
from slackgenie.settings import Config
from slackgenie.core.model import Action, OnCall, ReadFailure
from slackgenie.core.plan import desired_for
from slackgenie.core.durations import format_duration, utc_minute
from slackgenie.wiring import build


def _when(t: datetime | None, now: datetime) -> str:
    if t is None:
        return "none foreseen"
    return f"{utc_minute(t)} (in {format_duration(t - now)})"


def run_status(config: Config, clock: Clock | None = None) -> int:
    service = build(config, clock=clock)
    try:
        report = service.run_pass(dry_run=True)
        now = service.clock.now()
        nexts = {s.usergroup: service.source.next_handoff(s.keys, now) for s in config.syncs}
        future: dict[datetime, dict[str, OnCall | ReadFailure]] = {}
        with ThreadPoolExecutor(max_workers=config.file.concurrency) as pool:
            for t in sorted({t for t in nexts.values() if t is not None}):
                refs = [k for s in config.syncs if nexts[s.usergroup] == t for k in s.keys]
                future[t] = service.source.on_calls(refs, t)
            members = {i for o in report.outcomes for i in o.plan.current}
            labels = dict(zip(sorted(members), pool.map(service.directory.label, sorted(members))))
    finally:
        service.close()

    rows = [("GROUP", "IN SYNC", "MEMBERS NOW", "NEXT HANDOFF", "NEXT ON CALL")]
    ok = True
    for sync, outcome in zip(config.syncs, report.outcomes):
        plan = outcome.plan
        if plan.action is Action.FAILED:
            state, ok = "FAILED: " + (plan.errors[0] if plan.errors else "?"), False
        elif plan.action is Action.UPDATE:
            state, ok = f"no (+{len(plan.add)} -{len(plan.remove)})", False
        else:
            state = "yes" if plan.action is Action.IN_SYNC else "yes (nobody on call: kept)"
            if not plan.ok:
                state, ok = state + f", but {plan.errors[0]}", False
        now_members = ", ".join(sorted(labels.get(i, i) for i in plan.current)) or "(empty)"
        handoff = nexts[sync.usergroup]
        upcoming = "-"
        if handoff is not None:
            desired = desired_for(sync, future[handoff], config.file.users)
            upcoming = ("(cannot read: " + desired.errors[0] + ")" if desired.errors
                        else ", ".join(sorted(desired.identities)) or "(nobody)")
        rows.append((f"@{sync.usergroup}", state, now_members, _when(handoff, now), upcoming))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4])
    return 0 if ok else 1
