"""The app's pure pieces, one at a time: reading `/oncall`'s words, finding the name meant, and
Block Kit's limits. No server; every expected value is worked out by hand in the comments."""

from __future__ import annotations

import pytest

from slackgenie.app.names import (MENTION_WORDS, Match, Unknown, find, find_in_sentence, mention_words, names_in,
                                  normalised)
from slackgenie.app.query import Query, parse
from slackgenie.app.render import Room, clip, context, fit, message, one_line, sections
from slackgenie.app.snapshot import GroupState, ScheduleState, Snapshot, remembered
from slackgenie.slack.errors import token_refused

# --- reading `/oncall …` --------------------------------------------------------------------


@pytest.mark.parametrize("text, query", [
    ("", Query("all")),
    ("   ", Query("all")),
    ("public", Query("all", public=True)),
    ("PUBLIC next Payments", Query("next", "Payments", True)),
    ("--help", Query("help")),
    ("?", Query("help")),
    ("public help me", Query("help", public=True)),  # help wins whatever follows
    ("me", Query("me")),
    ("Myself", Query("me")),
    ("me and payments", Query("one", "me and payments")),  # "me" only alone
    ("take 2h delivery", Query("take", "2h delivery")),
    ("take", Query("take")),
    ("give-back", Query("give-back")),
    ("giveback payments", Query("give-back", "payments")),
    ("give back payments", Query("give-back", "payments")),
    ("Give Back", Query("give-back")),
    ("give", Query("one", "give")),  # "give" alone is a name
    ("give up", Query("one", "give up")),
    ("  delivery   support ", Query("one", "delivery support")),
    ("next", Query("next")),
])
def test_parse(text: str, query: Query) -> None:
    assert parse(text) == query


# --- finding the name meant -----------------------------------------------------------------

SNAP = Snapshot(
    groups=(GroupState("payments-oncall", ("Payments_schedule",)), GroupState("delivery", ("Delivery_schedule",))),
    schedules={"Payments_schedule": ScheduleState("Payments_schedule", "Payments_schedule", "Payments"),
               "Payroll_schedule": ScheduleState("Payroll_schedule", "Payroll_schedule"),
               "Delivery_schedule": ScheduleState("Delivery_schedule", "Delivery_schedule")},
    teams={"Payments": ("Payments_schedule",)},
)
PAYMENTS_GROUP = Match("group", "payments-oncall", ("Payments_schedule",))
PAYMENTS_TEAM = Match("team", "Payments", ("Payments_schedule",))
PAYROLL = Match("schedule", "Payroll_schedule", ("Payroll_schedule",))
DELIVERY_GROUP = Match("group", "delivery", ("Delivery_schedule",))


def test_normalised() -> None:
    assert normalised("@Delivery-Support") == "deliverysupport"
    assert normalised("Payments_schedule") == "paymentsschedule"
    assert normalised("@@x") == "x"  # only the leading '@'s are dropped, then what is not a letter or digit
    assert normalised("Zürich 24/7") == "zrich247"


def test_the_name_table() -> None:
    # Teams first, then schedules (with and without "_schedule", never over a team's name), then
    # groups over anything: "delivery" is the group, "payments" the team.
    assert names_in(SNAP) == {
        "payments": PAYMENTS_TEAM,
        "paymentsschedule": Match("schedule", "Payments_schedule", ("Payments_schedule",)),
        "payrollschedule": PAYROLL,
        "payroll": PAYROLL,
        "deliveryschedule": Match("schedule", "Delivery_schedule", ("Delivery_schedule",)),
        "delivery": DELIVERY_GROUP,
        "paymentsoncall": PAYMENTS_GROUP,
    }


@pytest.mark.parametrize("name, found", [
    ("@Payments-Oncall", PAYMENTS_GROUP),
    ("payments", PAYMENTS_TEAM),
    ("Delivery", DELIVERY_GROUP),
    ("payroll_schedule", PAYROLL),
    # "payrol" against "payroll": 2 * 6 / (6 + 7) = 0.92; against "payments" only "pay" matches
    # (2 * 3 / 14 = 0.43): one close name.
    ("payrol", PAYROLL),
    # "pay" is close to nothing (against "payroll": 2 * 3 / 10 = 0.6), but begins four names:
    # each is offered, groups with their '@', sorted ('@' before capitals).
    ("pay", Unknown(["@payments-oncall", "Payments", "Payments_schedule", "Payroll_schedule"], True)),
    # Nothing close, nothing it begins: every name there is, not ambiguous.
    ("zzz", Unknown(["@delivery", "@payments-oncall", "Delivery_schedule", "Payments", "Payments_schedule",
                     "Payroll_schedule"])),
])
def test_find(name: str, found: Match | Unknown) -> None:
    assert find(name, SNAP) == found


RIVALS = Snapshot(groups=(GroupState("team-alpha", ("A",)), GroupState("team-alpho", ("B",))))


def test_two_names_equally_close_are_offered_not_guessed() -> None:
    # "teamalph" against either: 2 * 8 / (8 + 9) = 0.94, a tie.
    assert find("team-alph", RIVALS) == Unknown(["@team-alpha", "@team-alpho"], True)
    assert find_in_sentence("who is on call for team alph?", RIVALS) is None


def test_mention_words() -> None:
    assert mention_words("Who is on call for Payments right now?") == ["payments"]
    # "who's" is two words ("who", "s"), both small; "@" and "-" belong to a word.
    assert mention_words("who's next on-call for @delivery-support") == ["@delivery-support"]
    # Only the first MENTION_WORDS words that are not small ones are read.
    essay = " ".join(f"w{i}" for i in range(1000))
    assert mention_words(essay) == [f"w{i}" for i in range(12)]
    assert MENTION_WORDS == 12


@pytest.mark.parametrize("text, found", [
    ("who is on call for payroll?", PAYROLL),
    ("who is on call for payments-oncall", PAYMENTS_GROUP),  # '-' belongs to the word
    # Two words side by side are tried before each alone: "delivery schedule" is the schedule
    # (an exact match, found first), though "delivery" alone is the group.
    ("who is on call for delivery schedule", Match("schedule", "Delivery_schedule", ("Delivery_schedule",))),
    ("who is oncall for payments", PAYMENTS_TEAM),  # "oncall" is a small word, like "who" and "for"
    ("who is on call?", None),  # no name at all
    ("who is on call for accounting?", None),  # nothing close enough
])
def test_find_in_sentence(text: str, found: Match | None) -> None:
    assert find_in_sentence(text, SNAP) == found


def test_remembered_once_per_snapshot_and_key() -> None:
    snapshot = Snapshot()
    made: list[str] = []

    def make(value: str) -> str:
        made.append(value)
        return value

    assert remembered(snapshot, "k", lambda: make("one")) == "one"
    assert remembered(snapshot, "k", lambda: make("two")) == "one"  # kept: not made again
    assert remembered(Snapshot(), "k", lambda: make("three")) == "three"  # a new snapshot starts afresh
    assert made == ["one", "three"]


# --- Block Kit's limits ---------------------------------------------------------------------

def _texts(blocks: list[dict[str, object]]) -> list[object]:
    return [b["text"]["text"] for b in blocks]  # type: ignore[index]


def test_sections_join_lines_up_to_3000_characters() -> None:
    assert _texts(sections("a\nb")) == ["a\nb"]
    a, b = "a" * 2000, "b" * 2000
    assert _texts(sections(f"{a}\n{b}")) == [a, b]  # 2000 + 1 + 2000 > 3000: two sections
    c = "c" * 999
    assert _texts(sections(f"{a}\n{c}")) == [f"{a}\n{c}"]  # 2000 + 1 + 999 = 3000: one


def test_a_line_over_3000_characters_is_cut_and_goes_on_indented() -> None:
    # 3001 characters: 2999 of them and "…" (3000), then "  " and the 2 left.
    assert _texts(sections("x" * 3001)) == ["x" * 2999 + "…", "  xx"]
    # A short line before a long one is a section of its own.
    assert _texts(sections("head\n" + "y" * 3001)) == ["head", "y" * 2999 + "…", "  yy"]


def test_fit_keeps_the_tail_and_says_what_was_left_out() -> None:
    blocks = [context(str(i)) for i in range(60)]
    tail = [context("footer")]
    out = fit(blocks, 50, tail)
    # 49 blocks of room besides the tail: 48 kept, the note, the tail; 60 - 48 = 12 left out.
    assert len(out) == 50
    assert out[:48] == blocks[:48]
    assert out[48] == context("…and 12 more: ask `/oncall <name>` for one group.")
    assert out[49] == context("footer")
    assert fit(blocks[:3], 50, tail) == blocks[:3] + tail  # room enough: as it was


def test_message_text_stays_under_slacks_limit() -> None:
    long = message("title", ["x" * 40000], public=True, footer="as of now")
    assert len(long.text) == 38001 and long.text.endswith("x…")  # 38,000 characters and "…"
    assert long.public
    short = message("title", ["one", "two"], public=False, footer="as of now")
    assert short.text == "title\none\ntwo\nas of now"
    assert _texts(short.blocks[:3]) == ["title", "one", "two"]
    assert short.blocks[3] == context("as of now")
    assert short.as_ack()["response_type"] == "ephemeral"


def test_clip_and_one_line() -> None:
    assert clip("abcdef", 4) == "abc…"
    assert clip("abcd", 4) == "abcd"
    assert one_line("a\nb") == "a b"
    assert one_line("z" * 3001) == "z" * 2999 + "…"


def test_room_packs_lines_as_sections_does() -> None:
    room = Room(sections=1, chars=10_000)
    assert room.take("a" * 2000)  # opens the one section
    assert room.take("b" * 999)  # 2000 + 1 + 999 = 3000: joins it
    assert not room.take("c")  # would open a second section
    tight = Room(sections=5, chars=10)
    assert tight.take("abcdefghi")  # 9 characters and its line end: 10
    assert not tight.take("")  # not even an empty line is left


# --- Slack's codes, read in slack/errors.py for the app -------------------------------------

@pytest.mark.parametrize("code, refused", [
    ("invalid_auth", True), ("not_authed", True), ("account_inactive", True), ("token_revoked", True),
    ("token_expired", True), ("ratelimited", False), ("HTTP 503", False), ("ConnectError", False),
])
def test_token_refused(code: str, refused: bool) -> None:
    assert token_refused(code) is refused
