"""`slackgenie status`: every group, its members now, whether it is in sync, who is next and when."""

from __future__ import annotations

from datetime import datetime

from slackgenie.core.clock import Clock
from slackgenie.core.durations import format_duration, utc_minute
from slackgenie.core.model import Action, GroupOutcome
from slackgenie.core.plan import desired_for
from slackgenie.settings import Config, GroupSync
from slackgenie.wiring import Next, build


def _when(t: datetime | None, now: datetime) -> str:
    if t is None:
        return "none foreseen"
    return f"{utc_minute(t)} (in {format_duration(t - now)})"


def run_status(config: Config, clock: Clock | None = None) -> int:
    service = build(config, clock=clock)
    try:
        report = service.run_pass(dry_run=True)
        now = service.clock.now()
        upcoming = service.upcoming({s.usergroup: s.keys for s in config.syncs}, now)
        labels = service.labels(i for o in report.outcomes for i in o.plan.current)
    finally:
        service.close()
    rows = [("GROUP", "IN SYNC", "MEMBERS NOW", "NEXT HANDOFF", "NEXT ON CALL")]
    ok = True
    for sync, outcome in zip(config.syncs, report.outcomes):
        state, fine = _state(outcome)
        ok &= fine
        now_members = ", ".join(sorted(labels.get(i, i) for i in outcome.plan.current)) or "(empty)"
        then = upcoming[sync.usergroup]
        rows.append((f"@{sync.usergroup}", state, now_members, _when(then.at, now), _next(config, sync, then)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4])
    return 0 if ok else 1


def _state(outcome: GroupOutcome) -> tuple[str, bool]:
    """The IN SYNC column, and whether it is all well."""
    plan = outcome.plan
    if plan.action is Action.FAILED:
        return "FAILED: " + (plan.errors[0] if plan.errors else "?"), False
    if plan.action is Action.UPDATE:
        return f"no (+{len(plan.add)} -{len(plan.remove)})", False
    state = "yes" if plan.action is Action.IN_SYNC else "yes (nobody on call: kept)"
    if not plan.ok:
        return state + f", but {plan.errors[0]}", False
    return state, True


def _next(config: Config, sync: GroupSync, then: Next) -> str:
    """The NEXT ON CALL column: who the group will hold from its next handoff."""
    if then.at is None:
        return "-"
    desired = desired_for(sync, then.on_call, config.file.users)
    if desired.errors:
        return "(cannot read: " + desired.errors[0] + ")"
    return ", ".join(sorted(desired.identities)) or "(nobody)"
