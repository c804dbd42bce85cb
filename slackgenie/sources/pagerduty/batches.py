"""Reading ``/oncalls`` a hundred schedules a request, and narrowing a failed batch down to the
schedules at fault (PagerDuty answers one status for a whole request)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from slackgenie.sources.http import SourceError
from slackgenie.sources.pagerduty.client import BATCH, PagerDutyClient
from slackgenie.sources.workers import Workers

log = structlog.get_logger("slackgenie.pagerduty")

# Calls a failed batch may take to be narrowed down to the schedules at fault: each such
# schedule costs at most two calls per halving, so this finds two among a hundred (2 * 2 * 7).
NARROWING_CALLS = 28

Level = list[tuple[list[str], int]]  # (schedule ids, which batch they are part of)


@dataclass(frozen=True)
class Filter:
    """What the ids of a read are: the ``/oncalls`` filter they go in, and how messages name one."""

    param: str
    noun: str
    plural: str


SCHEDULES = Filter("schedule_ids[]", "schedule", "schedules")
POLICIES = Filter("escalation_policy_ids[]", "escalation policy", "escalation policies")


def read_in_batches(client: PagerDutyClient, ids: Sequence[str], since: datetime | None, until: datetime | None,
                    workers: Workers, pass_deadline: float,
                    by: Filter = SCHEDULES) -> tuple[list[Any], dict[str, str]]:
    """The on-call entries of these schedules (``by``: or escalation policies, every level of
    each), a hundred a request, and, by id, why each one that could not be read was not.

    A request that fails for something one of its schedules may cause (``_about_one_schedule``)
    is split in halves, each asked again, level by level, until the schedule at fault is alone:
    only it fails. A half is asked once (its batch had the retries, and a schedule at fault
    answers the same every time), and a level's halves at once (``workers``): one schedule
    at fault among a hundred costs at most 2 * ceil(log2(100)) = 14 calls more, two about twice
    that. A failed batch is not narrowed down, and fails as a whole as it did before, when:
    the error is about the request (a refused key, a rate limit, a timeout, an answer that does
    not fit); every part of a level of four or more fails alike (a key without the right
    scope, an outage: not one schedule); stopping; the batch's ``NARROWING_CALLS`` are spent;
    or one more level of calls (``timeout`` each) could not end within half the pass deadline
    from the read's start: the pass's writes need the rest.
    """
    narrowing = _Narrowing(client, since, until, workers, pass_deadline, by)
    # (schedule ids, which batch they are part of): the batches themselves, asked with
    # retries, then the halves of those that failed, each asked once; a level's calls at once
    level: Level = [(list(ids[i:i + BATCH]), i) for i in range(0, len(ids), BATCH)]
    first = True
    while level:  # bounded: two halves of each part that failed the level before, within NARROWING_CALLS
        level, first = narrowing.settle(level, narrowing.ask(level, first), first), False
    if narrowing.spent:
        log.warning("pagerduty.oncalls_narrowed", calls=sum(narrowing.spent.values()), at_fault=narrowing.found,
                    unread=len(narrowing.unread))
    return narrowing.entries, narrowing.unread


class _Narrowing:
    """One read's batches and halves: what they answered, and what each failed batch has spent."""

    def __init__(self, client: PagerDutyClient, since: datetime | None, until: datetime | None, workers: Workers,
                 pass_deadline: float, by: Filter = SCHEDULES):
        self.client, self.since, self.until, self.workers, self.by = client, since, until, workers, by
        self.concurrency = workers.concurrency
        self.deadline = time.monotonic() + pass_deadline / 2
        self.timeout = client.api.policy.timeout
        self.entries: list[Any] = []
        self.unread: dict[str, str] = {}
        self.found: list[str] = []  # schedules narrowed down to, alone
        self.spent: Counter[int] = Counter()  # narrowing calls, by batch

    def _one(self, batch: list[str], retry: bool) -> list[Any] | SourceError:
        try:
            return self.client.on_calls(batch, self.since, self.until, retry=retry, by=self.by.param)
        except SourceError as exc:
            return exc

    def ask(self, level: Level, first: bool) -> list[list[Any] | SourceError]:
        """Each part of the level, at once; with retries on the ``first`` level only."""
        return self.workers.map(lambda batch: self._one(batch, first), [batch for batch, _ in level])

    def settle(self, level: Level, answers: list[list[Any] | SourceError], first: bool) -> Level:
        """Keep the level's answers, and its failures' reasons; the next level: the halves of the
        parts that failed and may be narrowed down further."""
        failed = [(batch, origin, got) for (batch, origin), got in zip(level, answers)
                  if isinstance(got, SourceError)]
        self.entries += [entry for got in answers if not isinstance(got, SourceError) for entry in got]
        asked = Counter(origin for _, origin in level)
        failing = Counter(origin for _, origin, _ in failed)
        split: Level = []
        for batch, origin, error in failed:
            why: str | None = None
            if len(batch) > 1 and _about_one_schedule(error):
                alike = not first and asked[origin] >= 4 and failing[origin] == asked[origin]
                why = self._why_not(origin, alike, len(split))
                if why is None:
                    split += [(batch[:len(batch) // 2], origin), (batch[len(batch) // 2:], origin)]
                    self.spent[origin] += 2
                    continue
            self.unread.update(dict.fromkeys(batch, self._message(batch, error, why, first)))
        return split

    def _why_not(self, origin: int, alike: bool, splitting: int) -> str | None:
        """Why a failed part of batch ``origin`` is not split (None: it is), ``splitting`` parts
        of the next level split already."""
        rounds = -(-(splitting + 2) // self.concurrency)  # of `concurrency` calls at once
        return (f"every part of the batch fails alike: the error is not one {self.by.noun}'s" if alike
                else "stopping" if self.client.api.stop.is_set()
                else "no time left in the pass" if time.monotonic() + rounds * self.timeout > self.deadline
                else f"the {NARROWING_CALLS} calls a batch may take for it are spent"
                if self.spent[origin] + 2 > NARROWING_CALLS
                else None)

    def _message(self, batch: list[str], error: SourceError, why: str | None, first: bool) -> str:
        """Why the schedules of a failed part that is not split further were not read."""
        if why is not None:
            return (f"{error} (asked for with {len(batch) - 1} other {self.by.plural}, one of which may be the "
                    f"one at fault; not narrowed down: {why})")
        if not first and len(batch) == 1 and _about_one_schedule(error):
            self.found.append(batch[0])
            return f"{error} (this {self.by.noun} alone: the others asked for with it were read)"
        return str(error)


def _about_one_schedule(exc: SourceError) -> bool:
    """Whether a failed ``/oncalls`` request may be about one of the schedules it names: a 403 (a
    schedule of a team the key may not see), a 404 (one deleted since it was listed), a 5xx (one
    PagerDuty cannot render). Not a 401 (the key), a 429 (the account's rate limit), nor a failure
    without a status (a timeout, a dropped connection, an answer that does not fit): those are
    about the request, and asking again in pieces would only add to them."""
    return exc.status in (403, 404) or (exc.status is not None and exc.status >= 500)
