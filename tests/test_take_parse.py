"""`/oncall take` times, read in the asker's time zone (pure; hand-worked expectations)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from slackgenie.app.take_request import TakeRequest, parse_take

UTC = timezone.utc
NOW = datetime(2026, 7, 1, 13, 20, 30, tzinfo=UTC)  # 14:20:30 in London (summer time)
LONDON = ZoneInfo("Europe/London")


def utc(h: int, m: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 7, day, h, m, tzinfo=UTC)


@pytest.mark.parametrize("text, start, end, name", [
    ("2h", NOW.replace(microsecond=0), utc(15, 20), ""),
    ("1h30m payments", NOW.replace(microsecond=0), utc(14, 50), "payments"),
    ("45m", NOW.replace(microsecond=0), utc(14, 5), ""),
    ("until 18:00 @delivery-support", NOW.replace(microsecond=0), utc(17), "@delivery-support"),  # 18:00 BST
    ("until 09:00", NOW.replace(microsecond=0), utc(8, day=2), ""),  # passed today: tomorrow's
    ("tomorrow 09:00-17:00 platform", utc(8, day=2), utc(16, day=2), "platform"),
    ("22:00-06:00", utc(21), utc(5, day=2), ""),  # overnight
    ("today 12:00-16:00", NOW.replace(microsecond=0), utc(15), ""),  # began already: from now
])
def test_take_times(text: str, start: datetime, end: datetime, name: str) -> None:
    assert parse_take(text, NOW, LONDON) == TakeRequest(start, end, name)


@pytest.mark.parametrize("text, says", [
    ("", "Say how long"),
    ("payments", "Say how long"),
    ("200h", "at most 7 days"),
    ("today 08:00-09:00", "already passed"),
    ("2m", "at least 5 minutes"),
    ("until 25:00", "Say how long"),
])
def test_take_refusals(text: str, says: str) -> None:
    answer = parse_take(text, NOW, LONDON)
    assert isinstance(answer, str) and says in answer


# Clock changes in London, 2026: forward at 01:00 GMT on Sun 29 March (01:00-01:59 never happen),
# back at 02:00 BST on Sun 25 October (01:00-01:59 happen twice: first BST = 00:xx UTC, then GMT = 01:xx UTC).
@pytest.mark.parametrize("text, now, start, end", [
    # 01:15 of the second occurrence (GMT, 01:15 UTC): until 01:30 is 15 minutes away, not "passed".
    ("until 01:30", datetime(2026, 10, 25, 1, 15, tzinfo=UTC), datetime(2026, 10, 25, 1, 15, tzinfo=UTC),
     datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
    # 00:50 BST (23:50 UTC the day before): until 01:30 is the first 01:30, 00:30 UTC.
    ("until 01:30", datetime(2026, 10, 24, 23, 50, tzinfo=UTC), datetime(2026, 10, 24, 23, 50, tzinfo=UTC),
     datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
    # 00:00-03:00 across the fall-back night lasts four hours: 23:00 UTC to 03:00 UTC.
    ("tomorrow 00:00-03:00", datetime(2026, 10, 24, 12, 0, tzinfo=UTC), datetime(2026, 10, 24, 23, 0, tzinfo=UTC),
     datetime(2026, 10, 25, 3, 0, tzinfo=UTC)),
    # 00:00-03:00 across the spring-forward night lasts two hours: 00:00 UTC to 02:00 UTC.
    ("tomorrow 00:00-03:00", datetime(2026, 3, 28, 12, 0, tzinfo=UTC), datetime(2026, 3, 29, 0, 0, tzinfo=UTC),
     datetime(2026, 3, 29, 2, 0, tzinfo=UTC)),
])
def test_take_times_across_clock_changes(text: str, now: datetime, start: datetime, end: datetime) -> None:
    assert parse_take(text, now, LONDON) == TakeRequest(start, end, "")


@pytest.mark.parametrize("text", ["tomorrow 01:30-03:00", "tomorrow 00:00-01:15"])
def test_a_time_the_clocks_skip_is_named(text: str) -> None:
    answer = parse_take(text, datetime(2026, 3, 28, 12, 0, tzinfo=UTC), LONDON)
    assert isinstance(answer, str) and "does not happen on Sunday 29 March" in answer, answer


@pytest.mark.parametrize("text", ["\u0662h", "\uff12h", "until \u0661\u0668:00", "\u0660\u0669:00-17:00"])
def test_only_ascii_digits_are_read(text: str) -> None:
    answer = parse_take(text, NOW, LONDON)
    assert isinstance(answer, str) and answer.startswith("Say how long"), answer


@pytest.mark.parametrize("text, says", [
    ("1000h", "Say how long"),  # an hour count has at most three digits: no duration, the usage
    ("0005h", "Say how long"),
    ("999h", "at most 7 days"),  # a duration, but too long
    ("1d", "Say how long"),  # days are not taken: a week at most
])
def test_take_duration_grammar(text: str, says: str) -> None:
    answer = parse_take(text, NOW, LONDON)
    if says == "Say how long":
        assert isinstance(answer, str) and answer.startswith(says), answer
    else:
        assert isinstance(answer, str) and says in answer, answer


def test_units_in_capitals_and_minutes_past_an_hour() -> None:
    assert parse_take("2H", NOW, LONDON) == TakeRequest(NOW.replace(microsecond=0), utc(15, 20), "")
    assert parse_take("90m", NOW, LONDON) == TakeRequest(NOW.replace(microsecond=0), utc(14, 50), "")
    # A duration is one word: in "2h 30m" the second is the name that follows.
    assert parse_take("2h 30m", NOW, LONDON) == TakeRequest(NOW.replace(microsecond=0), utc(15, 20), "30m")
