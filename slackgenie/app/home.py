"""For the person asking: `/oncall me` and the App Home (their own shifts, then every group).
Pure functions of (shifts, snapshot, now) -> blocks, within Slack's limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from slackgenie.app.answers import footer, schedule_line
from slackgenie.app.render import (HOME_BLOCKS, MESSAGE_BLOCKS, MESSAGE_TEXT, Block, Message, Room, clip, context,
                                   fit, one_line, sections)
from slackgenie.app.snapshot import Snapshot
from slackgenie.core.model import describe_key
from slackgenie.core.shifts import Shift
from slackgenie.engine.people import GroupShift
from slackgenie.slack.text import date_token, escape

ERROR_CHARS = 300  # of a provider's error, quoted where a schedule could not be read
NOTE_CHARS = 600  # the most the closing note (what was left out) takes
# The Home's "your shifts": at most this much, so that the groups below it stay in view. Less
# than a `/oncall me` answer holds, so "`/oncall me` lists more of them" is true.
HOME_SHIFT_SECTIONS = 6
HOME_SHIFT_CHARS = 12000

NOT_FOUND_ME = ("Slack shows no e-mail address for you, and no `users:` entry in Slackgenie's config maps to "
                "you, so I cannot find you in the schedules. Ask whoever runs Slackgenie to map your "
                "username to your Slack id.")


@dataclass(frozen=True)
class MyShifts:
    """A person's shifts, as lines: ``notes`` come first (each schedule that could not be read,
    or why there is nothing to show), then one line per shift, in order, with the shift."""

    notes: tuple[str, ...] = ()
    shifts: tuple[tuple[str, Shift], ...] = ()


def home_blocks(snapshot: Snapshot, now: datetime, personal: MyShifts | None = None) -> list[Block]:
    """The App Home tab: the viewer's own shifts (``personal``, as many as ``HOME_SHIFT_CHARS``
    allow, the schedules that could not be read first), then every group with its current and
    next on-call people."""
    blocks: list[Block] = []
    if personal is not None:
        title = "*Your shifts*"
        room = Room(HOME_SHIFT_SECTIONS, HOME_SHIFT_CHARS)
        room.take(title)
        lines, note = _fit_mine(personal, room, ": `/oncall me` lists more of them.")
        blocks += sections("\n".join([title, *lines]))
        if note:
            blocks.append(context(note))
        blocks.append({"type": "divider"})
    for g in snapshot.groups:
        lines = [schedule_line(s, snapshot, now, True) for ref in g.schedules if (s := snapshot.schedule(ref))]
        blocks += sections(f"*{g.title}*\n" + "\n".join(lines or ["(not read yet)"]))
    header = [{"type": "header", "text": {"type": "plain_text", "text": "Who is on call"}}]
    return header + fit(blocks, HOME_BLOCKS - 1, [context(footer(snapshot, now))])


def mine(shifts: list[GroupShift], failed: list[tuple[str, str]], snapshot: Snapshot, now: datetime,
         horizon: timedelta, public: bool = False) -> Message:
    """`/oncall me`: within one message's limits (its title, the lines in sections, and a note of
    what was left out), the schedules that could not be read first."""
    title = f"*Your on-call shifts* (the next {horizon.days} days)"
    # Blocks: the title, the sections, the note. Text: the same lines, one a line.
    room = Room(MESSAGE_BLOCKS - 2, MESSAGE_TEXT - len(title) - 1 - NOTE_CHARS)
    lines, note = _fit_mine(my_shifts(shifts, failed, snapshot, now, horizon), room,
                            ": not shown, as one Slack message holds no more.")
    blocks = sections(title) + sections("\n".join(lines)) + ([context(note)] if note else [])
    return Message(text="\n".join([title, *lines] + ([note] if note else [])), blocks=blocks, public=public)


def my_shifts(shifts: list[GroupShift], failed: list[tuple[str, str]], snapshot: Snapshot,
              now: datetime, horizon: timedelta) -> MyShifts:
    """A line per schedule that could not be read (first), and one per shift (the one under way first)."""
    notes = [f":warning: {escape(describe_key(key))} could not be read ({escape(clip(error, ERROR_CHARS))}): "
             "your shifts there are not known" for key, error in failed]
    lines = []
    for g in shifts:
        sh = g.shift
        where = f"{_groups(g.groups)} ({escape(describe_key(sh.schedule))})"
        if sh.start <= now:
            lines.append((f":large_green_circle: *You are on call now* in {where}, until {_until(sh)}", sh))
        else:
            handover = f", taking over from {_from(sh.after, snapshot)}" if sh.from_start else ""
            lines.append((f"\u2022 {date_token(sh.start)} to {_until(sh)} in {where}{handover}", sh))
    if not shifts and not failed:
        notes.append(f"You have no on-call shifts in the next {horizon.days} days in the schedules Slackgenie syncs.")
    return MyShifts(tuple(notes), tuple(lines))


def _groups(handles: tuple[str, ...]) -> str:
    return ", ".join(f"@{h}" for h in handles) or "no group"


def _from(after: frozenset[str], snapshot: Snapshot) -> str:
    return ", ".join(snapshot.mention(u) for u in sorted(after)) if after else "nobody (a gap before it)"


def _until(sh: Shift) -> str:
    return f"{date_token(sh.end)} or later" if sh.open_end else date_token(sh.end)


def _fit_mine(my: MyShifts, room: Room, hint: str) -> tuple[list[str], str | None]:
    """The lines that fit in ``room``, and a note of what did not (None: everything fits). The
    notes come first, so a schedule that could not be read is never left out for shifts; then
    the shifts, in order. ``hint`` ends the note when shifts are left out."""
    notes = [one_line(n) for n in my.notes]
    kept = 0
    while kept < len(notes) and room.take(notes[kept]):
        kept += 1
    shown = 0
    if kept == len(notes):
        while shown < len(my.shifts) and room.take(one_line(my.shifts[shown][0])):
            shown += 1
    lines = notes[:kept] + [one_line(line) for line, _ in my.shifts[:shown]]
    said = []
    if kept < len(notes):
        more = len(notes) - kept
        said.append(f"{more} more schedule{'s' if more != 1 else ''} could not be read (your shifts there are "
                    "not known)")
    left = my.shifts[shown:]
    if left:
        said.append(f"{len(left)} more shift{'s' if len(left) != 1 else ''}, from {date_token(left[0][1].start)} "
                    f"to {_until(left[-1][1])}")
    if not said:
        return lines, None
    return lines, clip("\u2026and " + " and ".join(said) + (hint if left else "."), NOTE_CHARS)
