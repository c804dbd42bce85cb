"""`/oncall` answers as pure functions of (query, snapshot, now) -> message. No I/O here.

Times are written as Slack date tokens (``<!date^…>``), which Slack renders in each reader's
own time zone: "in the asking user's time zone" without a lookup on the request path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from slackgenie.app.names import Match, Unknown, find
from slackgenie.app.query import HELP, Query
from slackgenie.app.render import Message, message
from slackgenie.app.snapshot import GroupState, ScheduleState, Snapshot, age_text, remembered
from slackgenie.core.model import PROVIDER_TITLES, split_key
from slackgenie.slack.text import date_token, escape

STALE_AFTER = timedelta(minutes=10)
SUGGESTED = 40  # names offered when the one asked for is unknown


@dataclass(frozen=True)
class NeedsLookup:
    """The snapshot knows the name but not who is on call there: look it up live, off the ack path."""

    query: Query
    match: Match


def answer(query: Query, snapshot: Snapshot, now: datetime) -> Message | NeedsLookup:
    """The answer to a query from a snapshot; the same query in the same second is answered
    once per snapshot (answers name ages in seconds)."""
    result: Message | NeedsLookup = remembered(snapshot, ("answer", query, int(now.timestamp())),
                                               lambda: _answer(query, snapshot, now))
    return result


def _answer(query: Query, snapshot: Snapshot, now: datetime) -> Message | NeedsLookup:
    if query.kind == "help":
        return Message(text=HELP, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": HELP}}],
                       public=query.public)
    if query.kind == "all":
        lines = [_group_now(g, snapshot, now) for g in snapshot.groups]
        return message("*Who is on call now*", lines or ["No groups are configured."], query.public,
                       footer(snapshot, now))
    if not query.name:
        return message("Which one? Try `/oncall next delivery-support`.", [], query.public)
    found = find(query.name, snapshot)
    if isinstance(found, Unknown):
        return _unknown(query, found)
    states = [s for ref in found.schedules if (s := snapshot.schedule(ref))]
    if not states or any(not s.configured for s in states):
        # Schedules no group uses are never read by the passes: always a live look-up, so the
        # ack and the look-up's answer agree whatever the snapshot does in between.
        return NeedsLookup(query, found)
    group = next((g for g in snapshot.groups if g.handle == found.key), None) if found.kind == "group" else None
    title = {"group": f"*{group.title if group else '@' + found.key}*", "schedule": f"*{found.key}*",
             "team": f"*{found.key}* (team)"}[found.kind]
    lines = [schedule_line(s, snapshot, now, query.kind == "next") for s in states]
    if found.kind == "group":
        group = next(g for g in snapshot.groups if g.handle == found.key)
        if group.static:
            lines.append(_always(group, snapshot))
    return message(title, lines, query.public, footer(snapshot, now))


def _group_now(g: GroupState, snapshot: Snapshot, now: datetime) -> str:
    """A group in the answer to `/oncall`: each of its schedules now, and who is always in it."""
    parts = [schedule_line(s, snapshot, now, False) for ref in g.schedules if (s := snapshot.schedule(ref))]
    if g.static:
        parts.append(_always(g, snapshot))
    return f"*{g.title}*\n" + "\n".join("  " + p for p in parts or ["(not read yet)"])


def _always(g: GroupState, snapshot: Snapshot) -> str:
    return "always: " + ", ".join(snapshot.mention(u) for u in g.static)


def _unknown(query: Query, found: Unknown) -> Message:
    names = found.names
    known = (", ".join(f"`{n}`" for n in names[:SUGGESTED])
             + (f" and {len(names) - SUGGESTED} more" if len(names) > SUGGESTED else ""))
    if found.ambiguous:
        return message(f"*{escape(query.name)}* could be more than one: did you mean {known}?", [], query.public)
    return message(f"I don't know *{escape(query.name)}*.", [f"I know: {known}", "Try `/oncall help`."],
                   query.public)


def footer(snapshot: Snapshot, now: datetime) -> str:
    return (f"As of {age_text(snapshot.taken_at, now)}." if snapshot.taken_at
            else "Slackgenie has not finished its first sync yet.")


def _people(usernames: tuple[str, ...] | None, snapshot: Snapshot) -> str:
    if usernames is None:
        return "unknown (no answer yet)"
    return ", ".join(snapshot.mention(u) for u in usernames) or "nobody"


def schedule_line(s: ScheduleState, snapshot: Snapshot, now: datetime, next_too: bool) -> str:
    """One schedule: who is on call until when, who is next (``next_too``), and how sure that is."""
    line = f"*{escape(s.name)}*: {_people(s.on_call, snapshot)}"
    title = PROVIDER_TITLES[split_key(s.ref)[0]]
    if s.until:
        line += f" until {date_token(s.until)}"
    if next_too:
        if s.until:
            who = "not known yet" if s.next_on_call is None else _people(s.next_on_call, snapshot)
            line += f"\n      next: {who} from {date_token(s.until)}"
        else:
            line += "\n      next: no handoff foreseen"
    if s.error and s.as_of is None:
        line += f"\n      :warning: {title} could not be read ({escape(s.error)}); there is no earlier answer"
    elif s.error:
        line += (f"\n      :warning: {title} could not be read ({escape(s.error)}); this is the last known answer, "
                 f"from {age_text(s.as_of, now)}")
    elif s.as_of and now - s.as_of > STALE_AFTER:
        line += f"\n      :warning: last confirmed {age_text(s.as_of, now)}"
    return line
