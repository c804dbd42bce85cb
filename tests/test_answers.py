"""The `/oncall` answers as pure functions of (query, snapshot, now): no server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from slackgenie.app.answers import Message, NeedsLookup, Query, answer, find, find_in_sentence, home_blocks, parse
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
    assert isinstance(suggestions, list) and "@delivery-support" in suggestions


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
