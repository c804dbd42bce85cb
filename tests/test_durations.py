"""The one duration grammar and formatter (core/durations.py): pure, no server."""

from datetime import datetime, timedelta, timezone

import pytest

from slackgenie.core.durations import format_duration, iso_utc, parse_duration, utc_minute

H, M, D = timedelta(hours=1), timedelta(minutes=1), timedelta(days=1)


@pytest.mark.parametrize("text, expected", [
    ("7d", 7 * D), ("48h", 48 * H), ("30m", 30 * M), ("1h30m", 90 * M), ("1d 12h", 36 * H),
    (" 2h ", 2 * H), ("1h 5m", 65 * M), ("90m", 90 * M), ("0m", timedelta(0)),
])
def test_the_grammar_reads_days_hours_minutes_in_order(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", " ", "h", "1", "1.5h", "30m1h", "1h1h", "-1h", "1 hour", "１h", "12345m", "1s"])
def test_what_is_not_a_duration(text: str) -> None:
    assert parse_duration(text) is None


def test_each_caller_names_its_units_and_range() -> None:
    assert parse_duration("7d", units="hm") is None
    assert parse_duration("1h30m", units="dh") is None
    assert parse_duration("90d", units="dh", most=90 * D) == 90 * D
    assert parse_duration("91d", units="dh", most=90 * D) is None
    assert parse_duration("0m", least=M) is None
    assert parse_duration("1m", least=M) == M


@pytest.mark.parametrize("span, text", [
    (timedelta(0), "0h 00m"), (65 * M, "1h 05m"), (23 * H + 59 * M + timedelta(seconds=59), "23h 59m"),
    (D, "1d 0h"), (2 * D + 3 * H + 59 * M, "2d 3h"), (-5 * M, "0h 00m"),
])
def test_the_formatter(span: timedelta, text: str) -> None:
    assert format_duration(span) == text


def test_instants_in_utc_whatever_zone_they_come_in() -> None:
    at = datetime(2026, 12, 24, 19, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert iso_utc(at) == "2026-12-24T18:00:30Z"
    assert utc_minute(at) == "2026-12-24 18:00 UTC"
