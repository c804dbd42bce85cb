"""Block Kit layout: a message's text and blocks, kept within Slack's limits, with a note of
what was left out. Pure; knows nothing of schedules.

Slack's limits (https://api.slack.com/reference/block-kit): a message holds at most 50 blocks,
a Home tab 100, a section's mrkdwn text at most 3,000 characters; a message's ``text`` is
truncated beyond 40,000 characters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SECTION_LIMIT = 3000  # characters of mrkdwn in one section block
MESSAGE_BLOCKS = 50
HOME_BLOCKS = 100
MESSAGE_TEXT = 38000  # characters of a message's text we send: under the 40,000 Slack keeps

Block = dict[str, Any]


@dataclass
class Message:
    text: str
    blocks: list[Block] = field(default_factory=list)
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


def sections(text: str) -> list[Block]:
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


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def fit(blocks: list[Block], limit: int, tail: list[Block]) -> list[Block]:
    """At most ``limit`` blocks, ``tail`` (the footer) always kept, and a note of what was left out."""
    room = limit - len(tail)
    if len(blocks) > room:
        left = len(blocks) - (room - 1)
        blocks = blocks[:room - 1] + [context(f"…and {left} more: ask `/oncall <name>` for one group.")]
    return blocks + tail


def message(title: str, lines: list[str], public: bool, footer: str | None = None) -> Message:
    """A title, a section (or more) per line, and the footer, within one message's limits."""
    blocks = sections(title)
    for line in lines:
        blocks += sections(line)
    tail = [context(footer)] if footer else []
    text = "\n".join([title, *lines] + ([footer] if footer else []))
    if len(text) > MESSAGE_TEXT:
        text = text[:MESSAGE_TEXT] + "…"
    return Message(text=text, blocks=fit(blocks, MESSAGE_BLOCKS, tail), public=public)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def one_line(text: str) -> str:
    """One line of at most ``SECTION_LIMIT`` characters: a provider's text may hold line ends."""
    return clip(text.replace("\n", " "), SECTION_LIMIT)


class Room:
    """What is left of the section blocks and characters lines may take, packed into sections
    the way ``sections`` packs them (each line at most ``SECTION_LIMIT`` long)."""

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
