"""`/oncall take` times, read in the asker's time zone (pure; hand-worked expectations)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from slackgenie.app.take import TakeRequest, parse_take

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
