"""What a person asked `/oncall` for: the words after the command, read into a ``Query``. Pure."""

from __future__ import annotations

from dataclasses import dataclass

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

_HELP_WORDS = frozenset({"help", "-h", "--help", "?"})
_ME_WORDS = frozenset({"me", "mine", "my", "myself"})


@dataclass(frozen=True)
class Query:
    kind: str  # all | one | next | help | me | take | give-back
    name: str = ""
    public: bool = False


def parse(text: str) -> Query:
    """``[public] [help | next <name> | me | take <what> | give-back [name] | <name>]``; nothing: all."""
    words = (text or "").strip().split()
    public = bool(words) and words[0].lower() == "public"
    if public:
        words = words[1:]
    if not words:
        return Query("all", public=public)
    head = words[0].lower()
    rest = " ".join(words[1:])
    if head in _HELP_WORDS:
        return Query("help", public=public)
    if head == "next":
        return Query("next", rest, public)
    if head in _ME_WORDS and len(words) == 1:
        return Query("me", public=public)
    if head == "take":
        return Query("take", rest, public)
    if head in ("give-back", "giveback"):
        return Query("give-back", rest, public)
    if head == "give" and len(words) > 1 and words[1].lower() == "back":
        return Query("give-back", " ".join(words[2:]), public)
    return Query("one", " ".join(words), public)
