"""`/oncall` answers as pure functions of (query, snapshot, now) -> message. No I/O here.

Times are written as Slack date tokens (``<!date^…>``), which Slack renders in each reader's
own time zone: "in the asking user's time zone" without a lookup on the request path.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slackgenie.app.snapshot import ScheduleState, Snapshot, age_text

STALE_AFTER = timedelta(minutes=10)

HELP = (
    "*Who is on call?*\n"
    "`/oncall` every group, who is on call now in each schedule, and until when\n"
    "`/oncall <name>` one group (`delivery-support` or `@delivery-support`), schedule or Opsgenie team\n"
    "`/oncall next <name>` who is next, and when the handoff is\n"
    "`/oncall public …` post the answer in the channel instead of only to you\n"
    "`/oncall help` this text"
)


@dataclass(frozen=True)
class Query:
    kind: str  # all | one | next | help
    name: str = ""
    public: bool = False


@dataclass(frozen=True)
class Match:
    kind: str  # group | schedule | team
    key: str
    schedules: tuple[str, ...]  # schedule refs or names in the snapshot


@dataclass
class Message:
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    public: bool = False

    def as_ack(self) -> dict[str, Any]:
        return {"response_type": "in_channel" if self.public else "ephemeral", "text": self.text,
                "blocks": self.blocks}


@dataclass(frozen=True)
class NeedsLookup:
    """The snapshot knows the name but not who is on call there: look it up live, off the ack path."""

    query: Query
    match: Match


def parse(text: str) -> Query:
    words = (text or "").strip().split()
    public = bool(words) and words[0].lower() == "public"
    if public:
        words = words[1:]
    if not words:
        return Query("all", public=public)
    head = words[0].lower()
    if head in ("help", "-h", "--help", "?"):
        return Query("help", public=public)
    if head == "next":
        return Query("next", " ".join(words[1:]), public)
    return Query("one", " ".join(words), public)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", name.lower().lstrip("@"))


def names_in(snapshot: Snapshot) -> dict[str, Match]:
    """Every name a person may ask for, normalised, with what it stands for."""
    out: dict[str, Match] = {}
    for team, schedules in snapshot.teams.items():
        out[_norm(team)] = Match("team", team, schedules)
    for ref, s in snapshot.schedules.items():
        out.setdefault(_norm(s.name), Match("schedule", s.name, (ref,)))
        out.setdefault(_norm(s.name.removesuffix("_schedule")), Match("schedule", s.name, (ref,)))
    for g in snapshot.groups:
        out[_norm(g.handle)] = Match("group", g.handle, g.schedules)
    return out


def find(name: str, snapshot: Snapshot) -> Match | list[str]:
    """The best match for a name (case, '@' and small typos forgiven), or suggestions."""
    table = names_in(snapshot)
    key = _norm(name)
    if key in table:
        return table[key]
    close = difflib.get_close_matches(key, list(table), n=1, cutoff=0.75)
    if close:
        return table[close[0]]
    prefixed = [k for k in table if k.startswith(key) or key.startswith(k)] if len(key) >= 3 else []
    if len(prefixed) == 1:
        return table[prefixed[0]]
    return sorted({m.key if m.kind != "group" else "@" + m.key for m in table.values()})


def find_in_sentence(text: str, snapshot: Snapshot) -> Match | None:
    """For mentions: the name in "who is on call for payments?"."""
    words = re.findall(r"[@\w.-]+", text.lower())
    stop = {"who", "is", "on", "call", "for", "the", "next", "now", "oncall", "on-call", "whos", "s", "right", "in"}
    candidates = [w for w in words if w not in stop]
    spans = [" ".join(candidates[i:i + 2]) for i in range(len(candidates) - 1)] + candidates  # longer first
    table = names_in(snapshot)
    best: tuple[float, Match | None] = (0.0, None)
    for span in spans:
        key = _norm(span)
        if not key:
            continue
        for name, match in table.items():
            score = 1.0 if name == key else difflib.SequenceMatcher(None, key, name).ratio()
            if name.startswith(key) and len(key) >= 4:
                score = max(score, 0.9)
            if score > best[0]:
                best = (score, match)
    return best[1] if best[0] >= 0.75 else None


def _when(t: datetime) -> str:
    return f"<!date^{int(t.timestamp())}^{{date_short_pretty}} {{time}}|{t:%Y-%m-%d %H:%M} UTC>"


def _people(usernames: tuple[str, ...] | None, snapshot: Snapshot) -> str:
    if usernames is None:
        return "unknown"
    return ", ".join(snapshot.mention(u) for u in usernames) or "nobody"


def _schedule_line(s: ScheduleState, snapshot: Snapshot, now: datetime, next_too: bool) -> str:
    line = f"*{s.name}*: {_people(s.on_call, snapshot)}"
    if s.until:
        line += f" until {_when(s.until)}"
    if next_too:
        if s.until:
            line += f"\n      next: {_people(s.next_on_call, snapshot)} from {_when(s.until)}"
        else:
            line += "\n      next: no handoff foreseen"
    if s.error:
        line += (f"\n      :warning: Opsgenie could not be read ({s.error}); this is the last known answer, "
                 f"from {age_text(s.as_of, now)}")
    elif s.as_of and now - s.as_of > STALE_AFTER:
        line += f"\n      :warning: last confirmed {age_text(s.as_of, now)}"
    return line


def _message(title: str, lines: list[str], public: bool, footer: str | None = None) -> Message:
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": title}}]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": line}} for line in lines]
    if footer:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
    text = "\n".join([title, *lines] + ([footer] if footer else []))
    return Message(text=text, blocks=blocks[:50], public=public)


def answer(query: Query, snapshot: Snapshot, now: datetime) -> Message | NeedsLookup:
    if query.kind == "help":
        return Message(text=HELP, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": HELP}}],
                       public=query.public)
    footer = (f"As of {age_text(snapshot.taken_at, now)}." if snapshot.taken_at
              else "Slackgenie has not finished its first sync yet.")
    if query.kind == "all":
        lines = []
        for g in snapshot.groups:
            parts = [_schedule_line(s, snapshot, now, False) for ref in g.schedules if (s := snapshot.schedule(ref))]
            if g.static:
                parts.append("always: " + ", ".join(snapshot.mention(u) for u in g.static))
            lines.append(f"*@{g.handle}*\n" + "\n".join("  " + p for p in parts or ["(not read yet)"]))
        return _message("*Who is on call now*", lines or ["No groups are configured."], query.public, footer)
    if not query.name:
        return _message("Which one? Try `/oncall next delivery-support`.", [], query.public)
    found = find(query.name, snapshot)
    if isinstance(found, list):
        known = ", ".join(f"`{n}`" for n in found[:40])
        return _message(f"I don't know *{query.name}*.", [f"I know: {known}", "Try `/oncall help`."],
                        query.public)
    states = [s for ref in found.schedules if (s := snapshot.schedule(ref))]
    if not states or any(not s.configured and s.as_of is None for s in states):
        return NeedsLookup(query, found)
    title = {"group": f"*@{found.key}*", "schedule": f"*{found.key}*", "team": f"*{found.key}* (team)"}[found.kind]
    lines = [_schedule_line(s, snapshot, now, query.kind == "next") for s in states]
    if found.kind == "group":
        group = next(g for g in snapshot.groups if g.handle == found.key)
        if group.static:
            lines.append("always: " + ", ".join(snapshot.mention(u) for u in group.static))
    return _message(title, lines, query.public, footer)


def home_blocks(snapshot: Snapshot, now: datetime) -> list[dict[str, Any]]:
    """The App Home tab: every group with its current and next on-call people."""
    message = answer(Query("all"), snapshot, now)
    assert isinstance(message, Message)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": "Who is on call"}}]
    for g in snapshot.groups:
        lines = [_schedule_line(s, snapshot, now, True) for ref in g.schedules if (s := snapshot.schedule(ref))]
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": f"*@{g.handle}*\n" + "\n".join(lines or ["(not read yet)"])}})
        blocks.append({"type": "divider"})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": message.blocks[-1]["elements"][0]["text"]
                                                    if message.blocks[-1]["type"] == "context" else " "}]})
    return blocks[:100]
