"""How much a feed's recurrences may cost to expand, estimated before the library is asked:
each RRULE's periods times what one period can make (its BY-parts), against fixed bounds.
A rule or a window beyond them fails with ``FeedTooComplex`` instead of taking the pass's time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from slackgenie.sources.ical.errors import FeedTooComplex, FeedUnreadable
from slackgenie.sources.ical.ics import instant

CHUNK = timedelta(days=35)  # the widest window expanded at once
MAX_SPAN = timedelta(days=400)  # the widest window a question may cover (in chunks)
MAX_OCCURRENCES = 5000  # per chunk, all events together
MAX_STEPS = 200_000  # recurrence steps per chunk, all rules together (about a second of the library's work)
_PERIOD = {"SECONDLY": 1, "MINUTELY": 60, "HOURLY": 3600, "DAILY": 86400, "WEEKLY": 7 * 86400,
           "MONTHLY": 28 * 86400, "YEARLY": 365 * 86400}  # the shortest length of each, to count periods high
_LEVEL = {name: i for i, name in enumerate(_PERIOD)}


@dataclass(frozen=True)
class Rule:
    """One RRULE as its cost is estimated: how many periods it steps through, times what each makes."""

    uid: str
    text: str
    start: datetime
    period: timedelta  # the shortest period of its frequency, times its interval
    factor: int  # occurrences one period can make at most (BY-parts finer than the frequency)
    count: int | None
    until: datetime | None

    @classmethod
    def parse(cls, uid: str, recur: Any, start: datetime, zone: tzinfo) -> Rule:
        def first(key: str) -> Any:
            values = recur.get(key) or [None]
            return values[0] if isinstance(values, list) else values

        def many(key: str) -> int:
            values = recur.get(key) or []
            return len(values) if isinstance(values, list) else 1

        freq = str(first("FREQ") or "").upper()
        if freq not in _PERIOD:
            raise FeedUnreadable(f"event {uid!r}: its RRULE has no valid FREQ")
        level = _LEVEL[freq]
        factor = 1
        for key, below in (("BYSECOND", 0), ("BYMINUTE", 1), ("BYHOUR", 2)):
            if level > below and many(key):
                factor *= many(key)
        if level >= _LEVEL["WEEKLY"] and many("BYDAY"):
            factor *= many("BYDAY") * {4: 1, 5: 5, 6: 53}[level]
        if level >= _LEVEL["MONTHLY"] and many("BYMONTHDAY"):
            factor *= many("BYMONTHDAY") * (12 if freq == "YEARLY" else 1)
        if freq == "YEARLY":
            factor *= max(1, many("BYYEARDAY")) * max(1, 7 * many("BYWEEKNO")) * max(1, many("BYMONTH"))
        interval = max(1, int(first("INTERVAL") or 1))
        count = first("COUNT")
        until = first("UNTIL")
        text = recur.to_ical().decode() if hasattr(recur, "to_ical") else str(recur)
        return cls(uid, text, start, timedelta(seconds=_PERIOD[freq] * interval), factor,
                   int(count) if count is not None else None,
                   instant(until, zone) if isinstance(until, (date, datetime)) else None)

    def _periods(self, start: datetime, end: datetime) -> float:
        if self.until is not None:
            end = min(end, self.until)
        start = max(start, self.start)
        if end < start:
            return 0.0
        return (end - start) / self.period + 1

    def occurrences(self, start: datetime, end: datetime) -> float:
        """At most how many occurrences it makes in ``start``..``end``."""
        made = self._periods(start, end) * self.factor
        return made if self.count is None else min(made, self.count)

    def steps(self, end: datetime) -> float:
        """About how many steps expanding it up to ``end`` takes (the library steps from DTSTART)."""
        return self.occurrences(self.start, end)


def check_rules(rules: Sequence[Rule]) -> None:
    """At parse: a rule that would make more than ``MAX_OCCURRENCES`` in one chunk (``FREQ=SECONDLY``)
    fails the feed."""
    for rule in rules:
        if rule.occurrences(rule.start, rule.start + CHUNK) > MAX_OCCURRENCES:
            raise FeedTooComplex(f"event {rule.uid!r} repeats too often ({rule.text}): more than {MAX_OCCURRENCES} "
                                 f"occurrences in {CHUNK.days} days; an on-call rotation hands over far less often")


def check_window(rules: Sequence[Rule], low: datetime, high: datetime) -> None:
    """Before ``low``..``high`` is expanded: the steps the library would take from each rule's
    DTSTART, and the occurrences the rules would make, within the bounds."""
    steps = sum(rule.steps(high) for rule in rules)
    if steps > MAX_STEPS:
        worst = max(rules, key=lambda r: r.steps(high))
        raise FeedTooComplex(f"expanding the feed up to {high:%Y-%m-%d} would take about {int(steps)} steps "
                             f"(more than {MAX_STEPS}); most of them for event {worst.uid!r} ({worst.text}), "
                             f"from {worst.start:%Y-%m-%d}")
    expected = sum(rule.occurrences(low, high) for rule in rules)
    if expected > MAX_OCCURRENCES:
        raise FeedTooComplex(f"the feed's rules make about {int(expected)} occurrences between {low:%Y-%m-%d} and "
                             f"{high:%Y-%m-%d}: more than {MAX_OCCURRENCES}")
