"""`/oncall` answers as pure functions of (query, snapshot, now) -> message. No I/O here.

Times are written as Slack date tokens (``<!date^…>``), which Slack renders in each reader's
own time zone: "in the asking user's time zone" without a lookup on the request path.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from collections.abc import Callable
from typing import Any

from slackgenie.app.snapshot import ScheduleState, Snapshot, age_text
from slackgenie.slack.text import date_token, escape
from slackgenie.core.model import PROVIDER_TITLES, describe_key, split_key
from slackgenie.engine.people import GroupShift
from slackgenie.core.shifts import Shift

STALE_AFTER = timedelta(minutes=10)

HELP = (
    "*Who is on call?*\n"
    "`/oncall` every group, who is on call now in each schedule, and until when\n"
    "`/oncall <name>` one group (`delivery-support` or `@delivery-support`), schedule or team\n"
    "`/oncall next <name>` who is next, and when the handoff is\n"
    "`/oncall me` when you are next on call, where, and who hands over to you\n"
    "`/oncall take 2h [group]` take the shift for 2 hours (also `until 18:00`, `tomorrow 09:00-17:00`)\n"
    "`/oncall give-back [group]` end the shift you took\n"
    "`/oncall public …` post the answer in the channel instead of only to you\n"
    "`/oncall help` this text"
)


@dataclass(frozen=True)
class Query:
    kind: str  # all | one | next | help | me | take | give-back
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

    _scrubbed: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    def as_ack(self) -> dict[str, Any]:
        return {"response_type": "in_channel" if self.public else "ephemeral", "text": self.text,
                "blocks": self.blocks}

    def scrubbed_ack(self, scrub: Callable[[Any], Any]) -> dict[str, Any]:
        """``as_ack`` passed through ``scrub`` (the redaction), once per message: an answer
        reused from the snapshot's memo is not scrubbed again for every request."""
        if self._scrubbed is None:
            self._scrubbed = scrub(self.as_ack())
        return self._scrubbed


@dataclass(frozen=True)
class Unknown:
    """No single name matched: ``names`` are the close ones (``ambiguous``) or all there are."""

    names: list[str]
    ambiguous: bool = False


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
    if head in ("me", "mine", "my", "myself") and len(words) == 1:
        return Query("me", public=public)
    if head == "take":
        return Query("take", " ".join(words[1:]), public)
    if head in ("give-back", "giveback", "give") and (head != "give" or (len(words) > 1 and words[1].lower() == "back")):
        return Query("give-back", " ".join(words[2 if head == "give" else 1:]), public)
    return Query("one", " ".join(words), public)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", name.lower().lstrip("@"))


MEMO_ENTRIES = 2048  # answers and matches kept per snapshot (a new snapshot starts afresh)


def _memo(snapshot: Snapshot, key: Any, make: Any) -> Any:
    """``make()`` once per snapshot and key. Threads may race to make it: the results agree."""
    memo = snapshot.memo
    try:
        return memo[key]
    except KeyError:
        pass
    value = make()
    if len(memo) < MEMO_ENTRIES:
        memo[key] = value
    return value


def names_in(snapshot: Snapshot) -> dict[str, Match]:
    """Every name a person may ask for, normalised, with what it stands for (made once per snapshot)."""
    table: dict[str, Match] = _memo(snapshot, "names", lambda: _names(snapshot))
    return table


def _names(snapshot: Snapshot) -> dict[str, Match]:
    out: dict[str, Match] = {}
    for team, schedules in snapshot.teams.items():
        out[_norm(team)] = Match("team", team, schedules)
    for ref, s in snapshot.schedules.items():
        out.setdefault(_norm(s.name), Match("schedule", s.name, (ref,)))
        out.setdefault(_norm(s.name.removesuffix("_schedule")), Match("schedule", s.name, (ref,)))
    for g in snapshot.groups:
        out[_norm(g.handle)] = Match("group", g.handle, g.schedules)
    return out


def find(name: str, snapshot: Snapshot) -> Match | Unknown:
    """The best match for a name (case, '@' and small typos forgiven), or suggestions."""
    table = names_in(snapshot)
    key = _norm(name)
    if key in table:
        return table[key]
    found: Match | Unknown = _memo(snapshot, ("find", key), lambda: _closest(key, table))
    return found


def _closest(key: str, table: dict[str, Match]) -> Match | Unknown:
    def label(m: Match) -> str:
        return "@" + m.key if m.kind == "group" else m.key

    # difflib's own quick bounds first (get_close_matches): only the few close names are scored
    # in full, not thousands of them.
    candidates = difflib.get_close_matches(key, table, n=10, cutoff=0.75)
    scored = sorted(((difflib.SequenceMatcher(None, key, k).ratio(), k) for k in candidates), reverse=True)
    close = [(score, k) for score, k in scored if score >= 0.75]
    if close:
        rivals = {table[k].key for score, k in close if close[0][0] - score < 0.05}
        if len(rivals) == 1:
            return table[close[0][1]]
        return Unknown(sorted({label(table[k]) for score, k in close if close[0][0] - score < 0.05}), True)
    prefixed = {table[k].key: table[k] for k in table if len(key) >= 3 and (k.startswith(key) or key.startswith(k))}
    if len(prefixed) == 1:
        return next(iter(prefixed.values()))
    if prefixed:
        return Unknown(sorted(label(m) for m in prefixed.values()), True)
    return Unknown(sorted({label(m) for m in table.values()}))


# A mention is matched on its first MENTION_WORDS words once the small ones ("who", "is", "on"…)
# are dropped: "who is on call for payments?" needs one, a question about two teams a few. A
# pasted essay then costs what a question costs: at most 2 * MENTION_WORDS - 1 spans (a word, or
# two side by side), each scored against each name once.
MENTION_WORDS = 12
_WORD = re.compile(r"[@\w.-]+")
_SMALL_WORDS = frozenset({"who", "is", "on", "call", "for", "the", "next", "now", "oncall", "on-call", "whos", "s",
                          "right", "in"})
# A name scoring below this can neither win (0.75 is needed) nor rival the winner (within 0.05),
# so difflib's full ratio is computed only where its cheap upper bounds reach it.
_RELEVANT = 0.7


def _similarity(key: str, name: str) -> float:
    """difflib's ratio of ``key`` to ``name``, or 0.0 where its upper bounds show it is below
    ``_RELEVANT`` (the length bound costs nothing; ``quick_ratio`` is linear)."""
    if key == name:
        return 1.0
    if 2.0 * min(len(key), len(name)) < _RELEVANT * (len(key) + len(name)):  # real_quick_ratio
        return 0.0
    matcher = difflib.SequenceMatcher(None, key, name)
    return matcher.ratio() if matcher.quick_ratio() >= _RELEVANT else 0.0


def mention_words(text: str) -> list[str]:
    """The words of a mention that are matched against the names: the first ``MENTION_WORDS``
    that are not small words, lower-cased. Reads no further into ``text`` than it needs."""
    out: list[str] = []
    for found in _WORD.finditer(text):
        word = found.group().lower()
        if word not in _SMALL_WORDS:
            out.append(word)
            if len(out) == MENTION_WORDS:
                break
    return out


def find_in_sentence(text: str, snapshot: Snapshot) -> Match | None:
    """For mentions: the name in "who is on call for payments?" (among its first words, see
    ``MENTION_WORDS``)."""
    candidates = mention_words(text)
    spans = [" ".join(candidates[i:i + 2]) for i in range(len(candidates) - 1)] + candidates  # longer first
    table = names_in(snapshot)
    best: tuple[float, Match | None] = (0.0, None)
    runner_up = 0.0
    for span in spans:
        key = _norm(span)
        if not key:
            continue
        for name, match in table.items():
            score = _similarity(key, name)
            if name.startswith(key) and len(key) >= 4 and name != key:
                score = max(score, 0.9)
            if score > best[0]:
                if best[1] is not None and best[1].key != match.key:
                    runner_up = best[0]
                best = (score, match)
            elif best[1] is not None and match.key != best[1].key:
                runner_up = max(runner_up, score)
    if best[0] < 0.75 or (best[0] < 1.0 and best[0] - runner_up < 0.05):
        return None  # nothing, or two names equally likely: better to show everything than guess
    return best[1]


_when = date_token


def _people(usernames: tuple[str, ...] | None, snapshot: Snapshot) -> str:
    if usernames is None:
        return "unknown (no answer yet)"
    return ", ".join(snapshot.mention(u) for u in usernames) or "nobody"


def _schedule_line(s: ScheduleState, snapshot: Snapshot, now: datetime, next_too: bool) -> str:
    line = f"*{escape(s.name)}*: {_people(s.on_call, snapshot)}"
    title = PROVIDER_TITLES[split_key(s.ref)[0]]
    if s.until:
        line += f" until {_when(s.until)}"
    if next_too:
        if s.until:
            who = "not known yet" if s.next_on_call is None else _people(s.next_on_call, snapshot)
            line += f"\n      next: {who} from {_when(s.until)}"
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


# Slack's Block Kit limits (https://api.slack.com/reference/block-kit): a message holds at most 50
# blocks, a Home tab 100, a section's mrkdwn text at most 3,000 characters; a message's ``text``
# is truncated beyond 40,000 characters.
SECTION_LIMIT = 3000  # characters of mrkdwn in one section block
MESSAGE_BLOCKS = 50
HOME_BLOCKS = 100
MESSAGE_TEXT = 38000  # characters of a message's text we send: under the 40,000 Slack keeps


def _sections(text: str) -> list[dict[str, Any]]:
    """One or more section blocks, split at line ends to stay under Slack's size limit."""
    chunks, current = [], ""
    for line in text.split("\n"):
        if len(line) > SECTION_LIMIT and current:
            chunks.append(current)
            current = ""
        while len(line) > SECTION_LIMIT:
            chunks.append(line[:SECTION_LIMIT - 1] + "…")
            line = "  " + line[SECTION_LIMIT - 1:]
        if current and len(current) + 1 + len(line) > SECTION_LIMIT:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": c}} for c in chunks]


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _fit(blocks: list[dict[str, Any]], limit: int, tail: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most ``limit`` blocks, ``tail`` (the footer) always kept, and a note of what was left out."""
    room = limit - len(tail)
    if len(blocks) > room:
        left = len(blocks) - (room - 1)
        blocks = blocks[:room - 1] + [_context(f"…and {left} more: ask `/oncall <name>` for one group.")]
    return blocks + tail


def _message(title: str, lines: list[str], public: bool, footer: str | None = None) -> Message:
    blocks = _sections(title)
    for line in lines:
        blocks += _sections(line)
    tail = [_context(footer)] if footer else []
    text = "\n".join([title, *lines] + ([footer] if footer else []))
    if len(text) > MESSAGE_TEXT:
        text = text[:MESSAGE_TEXT] + "…"
    return Message(text=text, blocks=_fit(blocks, MESSAGE_BLOCKS, tail), public=public)


def answer(query: Query, snapshot: Snapshot, now: datetime) -> Message | NeedsLookup:
    """The answer to a query from a snapshot; the same query in the same second is answered
    once per snapshot (answers name ages in seconds)."""
    result: Message | NeedsLookup = _memo(snapshot, ("answer", query, int(now.timestamp())),
                                          lambda: _answer(query, snapshot, now))
    return result


def _answer(query: Query, snapshot: Snapshot, now: datetime) -> Message | NeedsLookup:
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
    if isinstance(found, Unknown):
        names = found.names
        known = ", ".join(f"`{n}`" for n in names[:40]) + (f" and {len(names) - 40} more" if len(names) > 40 else "")
        if found.ambiguous:
            return _message(f"*{escape(query.name)}* could be more than one: did you mean {known}?", [],
                            query.public)
        return _message(f"I don't know *{escape(query.name)}*.", [f"I know: {known}", "Try `/oncall help`."],
                        query.public)
    states = [s for ref in found.schedules if (s := snapshot.schedule(ref))]
    if not states or any(not s.configured for s in states):
        # Schedules no group uses are never read by the passes: always a live look-up, so the
        # ack and the lazy listener agree whatever the snapshot does in between.
        return NeedsLookup(query, found)
    title = {"group": f"*@{found.key}*", "schedule": f"*{found.key}*", "team": f"*{found.key}* (team)"}[found.kind]
    lines = [_schedule_line(s, snapshot, now, query.kind == "next") for s in states]
    if found.kind == "group":
        group = next(g for g in snapshot.groups if g.handle == found.key)
        if group.static:
            lines.append("always: " + ", ".join(snapshot.mention(u) for u in group.static))
    return _message(title, lines, query.public, footer)


def home_blocks(snapshot: Snapshot, now: datetime, personal: MyShifts | None = None) -> list[dict[str, Any]]:
    """The App Home tab: the viewer's own shifts (``personal``, as many as ``HOME_SHIFT_CHARS``
    allow, the schedules that could not be read first), then every group with its current and
    next on-call people."""
    blocks: list[dict[str, Any]] = []
    if personal is not None:
        title = "*Your shifts*"
        room = _Room(HOME_SHIFT_SECTIONS, HOME_SHIFT_CHARS)
        room.take(title)
        lines, note = _fit_mine(personal, room, ": `/oncall me` lists more of them.")
        blocks += _sections("\n".join([title, *lines]))
        if note:
            blocks.append(_context(note))
        blocks.append({"type": "divider"})
    for g in snapshot.groups:
        lines = [_schedule_line(s, snapshot, now, True) for ref in g.schedules if (s := snapshot.schedule(ref))]
        blocks += _sections(f"*@{g.handle}*\n" + "\n".join(lines or ["(not read yet)"]))
    footer = (f"As of {age_text(snapshot.taken_at, now)}." if snapshot.taken_at
              else "Slackgenie has not finished its first sync yet.")
    header = [{"type": "header", "text": {"type": "plain_text", "text": "Who is on call"}}]
    return header + _fit(blocks, HOME_BLOCKS - 1, [_context(footer)])


# --- for the person asking: `/oncall me` and the App Home's "your shifts" -------------------------

def _groups(handles: tuple[str, ...]) -> str:
    return ", ".join(f"@{h}" for h in handles) or "no group"


def _from(after: frozenset[str], snapshot: Snapshot) -> str:
    return ", ".join(snapshot.mention(u) for u in sorted(after)) if after else "nobody (a gap before it)"


def _until(sh: Shift) -> str:
    return f"{_when(sh.end)} or later" if sh.open_end else _when(sh.end)


@dataclass(frozen=True)
class MyShifts:
    """A person's shifts, as lines: ``notes`` come first (each schedule that could not be read,
    or why there is nothing to show), then one line per shift, in order, with the shift."""

    notes: tuple[str, ...] = ()
    shifts: tuple[tuple[str, Shift], ...] = ()


ERROR_CHARS = 300  # of a provider's error, quoted where a schedule could not be read
NOTE_CHARS = 600  # the most the closing note (what was left out) takes
# The Home's "your shifts": at most this much, so that the groups below it stay in view. Less
# than a `/oncall me` answer holds, so "`/oncall me` lists more of them" is true.
HOME_SHIFT_SECTIONS = 6
HOME_SHIFT_CHARS = 12000


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _line(text: str) -> str:
    """One line of at most ``SECTION_LIMIT`` characters: a provider's text may hold line ends."""
    return _clip(text.replace("\n", " "), SECTION_LIMIT)


class _Room:
    """What is left of the section blocks and characters lines may take, packed into sections
    the way ``_sections`` packs them (each line at most ``SECTION_LIMIT`` long)."""

    def __init__(self, sections: int, chars: int):
        self.sections, self.chars = sections, chars
        self._open = 0  # the length of the section being filled; 0: none

    def take(self, line: str) -> bool:
        """Whether ``line`` fits; if it does, its room is taken."""
        joins = bool(self._open) and self._open + 1 + len(line) <= SECTION_LIMIT
        sections = self.sections - (0 if joins else 1)
        chars = self.chars - len(line) - 1
        if sections < 0 or chars < 0:
            return False
        self.sections, self.chars = sections, chars
        self._open = self._open + 1 + len(line) if joins else len(line)
        return True


def _fit_mine(my: MyShifts, room: _Room, hint: str) -> tuple[list[str], str | None]:
    """The lines that fit in ``room``, and a note of what did not (None: everything fits). The
    notes come first, so a schedule that could not be read is never left out for shifts; then
    the shifts, in order. ``hint`` ends the note when shifts are left out."""
    notes = [_line(n) for n in my.notes]
    kept = 0
    while kept < len(notes) and room.take(notes[kept]):
        kept += 1
    shown = 0
    if kept == len(notes):
        while shown < len(my.shifts) and room.take(_line(my.shifts[shown][0])):
            shown += 1
    lines = notes[:kept] + [_line(line) for line, _ in my.shifts[:shown]]
    said = []
    if kept < len(notes):
        more = len(notes) - kept
        said.append(f"{more} more schedule{'s' if more != 1 else ''} could not be read (your shifts there are "
                    "not known)")
    left = my.shifts[shown:]
    if left:
        said.append(f"{len(left)} more shift{'s' if len(left) != 1 else ''}, from {_when(left[0][1].start)} "
                    f"to {_until(left[-1][1])}")
    if not said:
        return lines, None
    return lines, _clip("\u2026and " + " and ".join(said) + (hint if left else "."), NOTE_CHARS)


def my_shifts(shifts: list[GroupShift], failed: list[tuple[str, str]], snapshot: Snapshot,
              now: datetime, horizon: timedelta) -> MyShifts:
    """A line per schedule that could not be read (first), and one per shift (the one under way first)."""
    notes = [f":warning: {escape(describe_key(key))} could not be read ({escape(_clip(error, ERROR_CHARS))}): "
             "your shifts there are not known" for key, error in failed]
    lines = []
    for g in shifts:
        sh = g.shift
        where = f"{_groups(g.groups)} ({escape(describe_key(sh.schedule))})"
        if sh.start <= now:
            lines.append((f":large_green_circle: *You are on call now* in {where}, until {_until(sh)}", sh))
        else:
            handover = f", taking over from {_from(sh.after, snapshot)}" if sh.from_start else ""
            lines.append((f"\u2022 {_when(sh.start)} to {_until(sh)} in {where}{handover}", sh))
    if not shifts and not failed:
        notes.append(f"You have no on-call shifts in the next {horizon.days} days in the schedules Slackgenie syncs.")
    return MyShifts(tuple(notes), tuple(lines))


def mine(shifts: list[GroupShift], failed: list[tuple[str, str]], snapshot: Snapshot, now: datetime,
         horizon: timedelta, public: bool = False) -> Message:
    """`/oncall me`: within one message's limits (its title, the lines in sections, and a note of
    what was left out), the schedules that could not be read first."""
    title = f"*Your on-call shifts* (the next {horizon.days} days)"
    # Blocks: the title, the sections, the note. Text: the same lines, one a line.
    room = _Room(MESSAGE_BLOCKS - 2, MESSAGE_TEXT - len(title) - 1 - NOTE_CHARS)
    lines, note = _fit_mine(my_shifts(shifts, failed, snapshot, now, horizon), room,
                            ": not shown, as one Slack message holds no more.")
    blocks = _sections(title) + _sections("\n".join(lines)) + ([_context(note)] if note else [])
    return Message(text="\n".join([title, *lines] + ([note] if note else [])), blocks=blocks, public=public)


NOT_FOUND_ME = ("Slack shows no e-mail address for you, and no `users:` entry in Slackgenie's config maps to "
                "you, so I cannot find you in the schedules. Ask whoever runs Slackgenie to map your "
                "username to your Slack id.")
