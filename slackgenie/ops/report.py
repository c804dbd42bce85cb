"""The readable plan a pass prints: per group, who is added and removed, or "in sync"."""

from __future__ import annotations

from slackgenie.core.model import Action, GroupOutcome, PassReport


def render(report: PassReport) -> str:
    lines: list[str] = []
    title = "Plan (dry run: nothing written)" if report.dry_run else "Sync"
    if report.at is not None:
        title += f" as of {report.at.isoformat()}"
    lines.append(title)
    width = max([len(o.plan.handle) for o in report.outcomes] + [8]) + 1
    for outcome in report.outcomes:
        lines.extend(_group_lines(outcome, report, width))
    lines.extend(f"  * {note}" for note in report.notes)
    lines.extend(f"  ! FAILED: {fault}" for fault in report.faults)
    lines.append(summary(report))
    return "\n".join(lines)


def _group_lines(outcome: GroupOutcome, report: PassReport, width: int) -> list[str]:
    plan = outcome.plan
    name = ("@" + plan.handle).ljust(width + 1)
    label = report.names.get
    if plan.action is Action.UPDATE:
        changes = [f"+{label(i, i)}" for i in sorted(plan.add, key=lambda i: label(i, i))]
        changes += [f"-{label(i, i)}" for i in sorted(plan.remove, key=lambda i: label(i, i))]
        if outcome.applied:
            verb = "updated"
        elif outcome.apply_error:
            verb = "NOT updated"
        elif outcome.queued_in is not None:
            verb = f"queued (Slack's rate limit: written in ~{max(1, round(outcome.queued_in))} s)"
        else:
            verb = "would update"
        head = f"  {name} {verb}: {' '.join(changes)}"
    elif plan.action in (Action.IN_SYNC, Action.KEEP):
        state = "in sync" if plan.action is Action.IN_SYNC else "left as is"
        count = f"{len(plan.current)} member{'s' if len(plan.current) != 1 else ''}"
        if report.dry_run:  # a plan or a preview is read for who: name them
            who = ", ".join(sorted(label(i, i) for i in plan.current)) or "nobody"
            head = f"  {name} {state} ({count}): {who}"
        else:
            head = f"  {name} {state} ({count})"
    else:
        head = f"  {name} FAILED, left untouched"
    out = [head]
    out += [f"      ! {e}" for e in plan.errors]
    if outcome.apply_error:
        out.append(f"      ! {outcome.apply_error}")
    out += [f"      ~ {w}" for w in plan.warnings]
    return out


def summary(report: PassReport) -> str:
    counts = {"updated": 0, "queued": 0, "to update": 0, "in sync": 0, "left as is": 0, "failed": 0}
    for o in report.outcomes:
        if not o.ok:
            counts["failed"] += 1
        elif o.queued:
            counts["queued"] += 1
        elif o.plan.action is Action.UPDATE:
            counts["updated" if o.applied else "to update"] += 1
        elif o.plan.action is Action.KEEP:
            counts["left as is"] += 1
        else:
            counts["in sync"] += 1
    parts = [f"{n} {k}" for k, n in counts.items() if n]
    faults = f"; {len(report.faults)} other failure(s), see above" if report.faults else ""
    return f"{len(report.outcomes)} group(s): " + ", ".join(parts or ["nothing to do"]) + faults
