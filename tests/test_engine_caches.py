"""The time-limited caches on an injected timer (cachetools): the shift book `/oncall me` reads
from, and Slack's directory of people (its entries also expire after a restart, by when each was
learnt). Stand-in source and client, no server."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from slack_sdk import WebClient

from slackgenie.core.shifts import Stretch
from slackgenie.engine.people import KEEP, ShiftBook
from slackgenie.settings import Config
from slackgenie.slack.directory import Directory
from slackgenie.sources.base import Forecasting

NOW = datetime(2030, 3, 4, 9, tzinfo=timezone.utc)


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


class Shifts:
    def __init__(self) -> None:
        self.reads: list[tuple[list[str], datetime, datetime]] = []

    def stretches(self, keys: list[str], start: datetime, end: datetime) -> dict[str, list[Stretch]]:
        self.reads.append((list(keys), start, end))
        return {k: [Stretch(start, start + timedelta(hours=8), frozenset({"ann"}))] for k in keys}


def test_the_shift_book_is_read_once_per_keep_and_afresh_after_forget() -> None:
    config = cast(Config, SimpleNamespace(syncs=[SimpleNamespace(usergroup="ops", keys=("opsgenie:Ops",))]))
    source, timer = Shifts(), Clock()
    book = ShiftBook(config, cast(Forecasting, source), lambda: NOW.replace(microsecond=5), timer)
    start, reads = book.read()
    assert start == NOW and list(reads) == ["opsgenie:Ops"]
    assert source.reads == [(["opsgenie:Ops"], NOW, NOW + timedelta(days=14))]
    timer.t += KEEP - 1
    book.read()
    assert len(source.reads) == 1
    timer.t += 1  # KEEP seconds after the read
    book.read()
    assert len(source.reads) == 2
    book.forget()
    book.read()
    assert len(source.reads) == 3


class People:
    """users.info answering one person, counted."""

    def __init__(self) -> None:
        self.asked = 0

    def users_info(self, user: str) -> dict[str, Any]:
        self.asked += 1
        return {"user": {"id": user, "name": "ann", "profile": {"email": "ann@example.com"}}}


def test_a_person_is_kept_a_day_from_when_learnt_also_across_a_restart(tmp_path: Path) -> None:
    client, timer, cache = People(), Clock(1_000_000.0), tmp_path / "cache.json"
    directory = Directory(cast(WebClient, client), cache, ttl=3600, timer=timer)
    assert directory.resolve("U0ANN").user is not None and client.asked == 1
    timer.t += 3599
    assert directory.resolve("U0ANN").user is not None and client.asked == 1  # kept
    directory.save()
    saved = json.loads(cache.read_text())
    assert saved["users"]["U0ANN"]["at"] == 1_000_000.0  # when it was learnt, not when saved

    again = Directory(cast(WebClient, client), cache, ttl=3600, timer=timer)  # a restart, 3599 s on
    assert again.peek("U0ANN") is not None
    timer.t += 1  # an hour after it was learnt: gone, asked again
    assert again.peek("U0ANN") is None
    assert again.resolve("U0ANN").user is not None and client.asked == 2


def test_forget_drops_a_person_at_once() -> None:
    client, timer = People(), Clock()
    directory = Directory(cast(WebClient, client), None, timer=timer)
    directory.resolve("U0ANN")
    directory.forget(["U0ANN"])
    assert directory.peek("U0ANN") is None
    directory.resolve("U0ANN")
    assert client.asked == 2
