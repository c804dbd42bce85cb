"""The `/oncall` answers as pure functions of (query, snapshot, now): no server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from slackgenie.app.answers import NeedsLookup, answer
from slackgenie.app.home import home_blocks
from slackgenie.app.names import Unknown, find, find_in_sentence
from slackgenie.app.query import Query, parse
from slackgenie.app.render import Message
from slackgenie.app.snapshot import GroupState, ScheduleState, Snapshot

NOW = datetime(2026, 11, 23, 8, 58, tzinfo=timezone.utc)
UNTIL = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
SNAP = Snapshot(
    taken_at=NOW - timedelta(seconds=20),
    groups=(GroupState("delivery-support", ("Delivery_schedule",), ("lead@x.io",)),
            GroupState("payments-oncall", ("Payments_schedule",))),
    schedules={
        "Delivery_schedule": ScheduleState("Delivery_schedule", "Delivery_schedule", "Delivery", ("carol@x.io",),
                                           NOW, UNTIL, ("alice@x.io",)),
        "Payments_schedule": ScheduleState("Payments_schedule", "Payments_schedule", "Payments", ("dave@x.io",),
                                           NOW - timedelta(minutes=30), None, None, error="HTTP 503"),
        "Security_schedule": ScheduleState("Security_schedule", "Security_schedule", "Platform", configured=False),
    },
    teams={"Payments": ("Payments_schedule",), "Platform": ("Security_schedule",)},
    slack_ids={"carol@x.io": "UCAROL", "lead@x.io": "ULEAD"},
)


def test_parse() -> None:
    assert parse("") == Query("all")
    assert parse("  help ") == Query("help")
    assert parse("next @delivery-support") == Query("next", "@delivery-support")
    assert parse("public payments oncall") == Query("one", "payments oncall", public=True)


def test_find_forgives_case_at_and_typos_and_suggests() -> None:
    assert find("@Delivery-Support", SNAP).key == "delivery-support"  # type: ignore[union-attr]
    assert find("delivery-suport", SNAP).key == "delivery-support"  # type: ignore[union-attr]
    assert find("payments", SNAP).kind == "team"  # type: ignore[union-attr]
    assert find("Payments_schedule", SNAP).kind == "schedule"  # type: ignore[union-attr]
    suggestions = find("zzz", SNAP)
    assert isinstance(suggestions, Unknown) and not suggestions.ambiguous and "@delivery-support" in suggestions.names


def test_now_and_next_with_mentions_where_known() -> None:
    msg = answer(Query("next", "delivery-support"), SNAP, NOW)
    assert isinstance(msg, Message)
    assert "<@UCAROL>" in msg.text and "<@ULEAD>" in msg.text and "alice@x.io" in msg.text
    assert f"<!date^{int(UNTIL.timestamp())}^" in msg.text
    assert not msg.public and msg.as_ack()["response_type"] == "ephemeral"


def test_a_failed_read_is_shown_as_stale_never_as_nobody() -> None:
    msg = answer(Query("one", "payments-oncall"), SNAP, NOW)
    assert isinstance(msg, Message)
    assert "dave@x.io" in msg.text and "could not be read (HTTP 503)" in msg.text and "30 min ago" in msg.text
    assert "nobody" not in msg.text


def test_unknown_name_and_names_needing_a_live_lookup() -> None:
    msg = answer(Query("one", "nosuch"), SNAP, NOW)
    assert isinstance(msg, Message) and "I don't know *nosuch*" in msg.text and "`@payments-oncall`" in msg.text
    need = answer(Query("one", "platform"), SNAP, NOW)
    assert isinstance(need, NeedsLookup) and need.match.schedules == ("Security_schedule",)


def test_all_help_public_and_home() -> None:
    everything = answer(Query("all", public=True), SNAP, NOW)
    assert isinstance(everything, Message) and everything.public
    assert "@delivery-support" in everything.text and "@payments-oncall" in everything.text
    assert "/oncall next" in answer(Query("help"), SNAP, NOW).text  # type: ignore[union-attr]
    blocks = home_blocks(SNAP, NOW)
    assert blocks[0]["type"] == "header" and "next: alice@x.io" in str(blocks)
    first = answer(Query("all"), Snapshot(groups=SNAP.groups), NOW)
    assert "has not finished its first sync" in first.text  # type: ignore[union-attr]


def test_find_in_sentence() -> None:
    assert find_in_sentence("who is on call for payments?", SNAP).key == "Payments"  # type: ignore[union-attr]
    assert find_in_sentence("who's next for delivery support", SNAP).key == "delivery-support"  # type: ignore[union-attr]
    assert find_in_sentence("hello there", SNAP) is None


def test_never_read_schedules_are_unknown_not_nobody() -> None:
    from dataclasses import replace

    fresh = replace(SNAP, schedules={**SNAP.schedules, "Payments_schedule": ScheduleState(
        "Payments_schedule", "Payments_schedule", "Payments", error="HTTP 503")})
    text = answer(Query("one", "payments-oncall"), fresh, NOW).text  # type: ignore[union-attr]
    assert "nobody" not in text and "unknown" in text and "no earlier answer" in text


def test_ambiguous_names_ask_instead_of_guessing() -> None:
    from dataclasses import replace

    two = replace(SNAP, groups=(GroupState("payments-eu", ()), GroupState("payments-us", ())), teams={}, schedules={})
    for name in ("payments", "payments-uk"):
        msg = answer(Query("one", name), two, NOW)
        assert isinstance(msg, Message) and "could be more than one" in msg.text
        assert "@payments-eu" in msg.text and "@payments-us" in msg.text
    assert find_in_sentence("who is on call for payments?", two) is None


def test_large_configurations_stay_within_block_kit_limits() -> None:
    from dataclasses import replace

    many = tuple(GroupState(f"team-{i:02d}", ("Delivery_schedule",) * 8) for i in range(60))
    big = replace(SNAP, groups=many)
    msg = answer(Query("all"), big, NOW)
    assert isinstance(msg, Message) and len(msg.blocks) <= 50
    assert msg.blocks[-1]["type"] == "context" and "As of" in msg.blocks[-1]["elements"][0]["text"]
    assert "more: ask" in str(msg.blocks)
    home = home_blocks(big, NOW)
    assert len(home) <= 100 and "As of" in str(home[-1])
    for block in msg.blocks + home:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000


def test_what_a_person_typed_is_echoed_inert() -> None:
    for typed in ("<!channel>", "<@UCAROL>", "<https://evil.example|click> & more"):
        result = answer(parse(f"public {typed}"), SNAP, NOW)
        assert isinstance(result, Message) and result.public
        assert "<!channel>" not in result.text and "<@UCAROL>" not in result.text and "<https" not in result.text
        assert "&lt;" in result.text
