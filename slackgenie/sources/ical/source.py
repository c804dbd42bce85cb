"""Calendar feeds as an ``OnCallSource`` with ``Forecasting`` (the feed is its own forecast), and
without ``ShiftTaking`` (a feed cannot be written: a shift is taken where the calendar is kept).

Each question first brings the feeds it names up to date (``_current``): those due are fetched
and parsed at once, ``concurrency`` at a time, off the caller's thread; the caller waits for them
at most half the pass deadline, then answers from what is kept (``kept.FeedState``): a read that
takes longer goes on, and its answer serves the next question.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TypeVar

import structlog

from slackgenie.core.model import OnCall, ReadFailure, ScheduleInfo
from slackgenie.core.shifts import Stretch
from slackgenie.sources.base import Look
from slackgenie.sources.http import SourceError
from slackgenie.sources.ical.client import FeedClient, FeedUnavailable, Validators
from slackgenie.sources.ical.feed import Feed, FeedError, PersonFrom, parse_feed
from slackgenie.sources.ical.kept import Copy, FeedState

log = structlog.get_logger("slackgenie.ical")

LOOK_AHEAD = timedelta(days=7)  # what `check` counts in a feed
# Who publishes a feed, from words in its PRODID: where a shift in it is taken.
PUBLISHERS = (("pagerduty", "PagerDuty"), ("opsgenie", "Opsgenie"), ("atlassian", "JSM Ops"),
              ("grafana", "Grafana OnCall"), ("incident", "incident.io"), ("rootly", "Rootly"),
              ("firehydrant", "FireHydrant"), ("datadog", "Datadog On-Call"), ("google", "Google Calendar"),
              ("microsoft", "Outlook"), ("apple", "Apple Calendar"))
T = TypeVar("T")


@dataclass(frozen=True)
class FeedSpec:
    """One configured feed: where it is read from, and how its people are read."""

    url: str  # a secret: used for the request only
    person: PersonFrom = "attendee"
    pattern: re.Pattern[str] | None = None
    refresh: float = 300.0


FeedLook = Look  # what `check` shows of a feed (sources/base.py)


class IcalSource:
    provider = "ical"

    def __init__(self, feeds: Mapping[str, FeedSpec], client: FeedClient, *, users: Mapping[str, str] | None = None,
                 concurrency: int = 8, now: Callable[[], datetime] | None = None,
                 monotonic: Callable[[], float] = time.monotonic, pass_deadline: float = 60.0):
        self.client = client
        self._specs = dict(feeds)
        self._states = {name: FeedState(name, spec.refresh) for name, spec in feeds.items()}
        # A name a SUMMARY gives that `users:` holds (in any case) is that `users:` key: the plan maps
        # it, as it maps every provider's people.
        self._names = {key: key for key in (users or {})}
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._monotonic = monotonic
        self._waits = pass_deadline / 2  # how long a question waits for the reads it started
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="ical")

    # --- OnCallSource ---------------------------------------------------------------------------
    def on_calls(self, refs: Sequence[str], at: datetime | None = None) -> dict[str, OnCall | ReadFailure]:
        when = at or self._now()
        out: dict[str, OnCall | ReadFailure] = {}
        for ref, feed in self._current(refs).items():
            out[ref] = feed if isinstance(feed, ReadFailure) else self._ask(
                ref, lambda f: OnCall(ref, ref, ref, f.on_call(when)), feed)
        return out

    def catalog(self) -> list[ScheduleInfo]:
        """The configured feeds (a feed has no list of schedules to read)."""
        return [ScheduleInfo(name, name) for name in self._specs]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()

    # --- Forecasting --------------------------------------------------------------------------------
    def next_handoff(self, refs: Sequence[str], after: datetime) -> datetime | None:
        """The earliest change of who is on call in these feeds, within the coming 35 days."""
        found = [self._ask(ref, lambda f: f.next_change(after), feed)
                 for ref, feed in self._current(refs).items() if isinstance(feed, Feed)]
        return min((t for t in found if isinstance(t, datetime)), default=None)

    def observe(self, reads: Mapping[str, OnCall | ReadFailure], at: datetime) -> None:
        """Nothing to learn: the forecast is the feed itself, read again every ``refresh``."""

    def stretches(self, refs: Sequence[str], start: datetime,
                  end: datetime) -> dict[str, list[Stretch] | ReadFailure]:
        return {ref: feed if isinstance(feed, ReadFailure) else self._ask(ref, lambda f: f.stretches(start, end), feed)
                for ref, feed in self._current(refs).items()}

    # --- for `check` ------------------------------------------------------------------------------
    def look(self, ref: str, start: datetime, span: timedelta = LOOK_AHEAD) -> Look | ReadFailure:
        """The feed ``ref`` read (or its kept copy, within ``refresh``) and parsed: its title, and how
        many occurrences and which people the coming ``span`` holds."""
        feed = self._current([ref])[ref]
        if isinstance(feed, ReadFailure):
            return feed
        end = start + span
        found = self._ask(ref, lambda f: f.occurrences(start, end), feed)
        if isinstance(found, ReadFailure):
            return found
        return Look(ref, feed.name, start, end, len(found), frozenset(p for e in found for p in e.people))

    def where_to_take(self, ref: str) -> str:
        """Why a shift cannot be taken from Slack in the feed ``ref``, naming where it can be: the
        service that publishes the feed, as its PRODID names it (from the copy kept: no request)."""
        state, copy = self._states.get(ref), None
        if state is not None:
            with state.lock:
                copy = state.copy
        producer = (copy.feed.producer or "").lower() if copy is not None else ""
        found = next((name for word, name in PUBLISHERS if word in producer), None)
        where = f"{found}, which publishes it" if found else "the calendar or on-call service that publishes it"
        return f"the calendar feed {ref!r} cannot be changed from Slack: take the shift in {where}"

    # --- reading --------------------------------------------------------------------------------------
    def _ask(self, ref: str, question: Callable[[Feed], T], feed: Feed) -> T | ReadFailure:
        """A question to a parsed feed: one it cannot answer (too complex a window) fails its read."""
        try:
            return question(feed)
        except (FeedError, ValueError) as exc:
            return ReadFailure(ref, f"calendar feed {ref!r}: {exc}")

    def _current(self, refs: Sequence[str]) -> dict[str, Feed | ReadFailure]:
        """Each feed named, as it stands once the reads due have ended (or the wait has)."""
        wanted = list(dict.fromkeys(refs))
        started = [f for f in (self._start(ref) for ref in wanted if ref in self._states) if f is not None]
        if started:
            wait(started, timeout=self._waits)
        now = self._monotonic()
        out: dict[str, Feed | ReadFailure] = {}
        for ref in wanted:
            state = self._states.get(ref)
            if state is None:
                out[ref] = ReadFailure(ref, f"no feed named {ref!r} under ical.feeds: add it there, or correct "
                                            "the schedule's name")
                continue
            with state.lock:
                out[ref] = state.answer(now)
        return out

    def _start(self, ref: str) -> Future[None] | None:
        """The read of ``ref`` under way, started now if it is due (None: none, the copy is current)."""
        state = self._states[ref]
        with state.lock:
            if state.due(self._monotonic()):
                state.reading = self._pool.submit(self._read, ref)
            return state.reading if state.reading is not None and not state.reading.done() else None

    def _read(self, ref: str) -> None:
        """Fetch the feed (conditionally), parse it if it changed, and keep the outcome."""
        state, spec = self._states[ref], self._specs[ref]
        started = self._monotonic()
        with state.lock:
            copy, bad = state.copy, state.bad
        try:
            fetched = self.client.fetch(ref, spec.url, copy.validators if copy is not None else Validators())
            if fetched.body is None:
                if copy is None:
                    raise SourceError(f"calendar feed {ref!r}: answered 304 Not Modified to a request for the "
                                      "whole feed")
                kept = Copy(copy.feed, fetched.validators, copy.digest, started)
            else:
                kept = self._parsed(ref, spec, fetched.body, fetched.validators, started, copy, bad)
        except (SourceError, FeedError) as exc:
            self._failed(state, ref, str(exc) if isinstance(exc, SourceError) else f"calendar feed {ref!r}: {exc}",
                         started, exc.retry_after if isinstance(exc, FeedUnavailable) else None)
        except Exception as exc:  # never lose the feed's state to a surprise: a failed read of it
            self._failed(state, ref, f"calendar feed {ref!r}: unexpected failure: {type(exc).__name__}", started)
        else:
            with state.lock:
                recovered = state.read_ok(kept, started)
            if recovered:
                log.info("ical.feed_recovered", feed=ref)

    def _parsed(self, ref: str, spec: FeedSpec, body: bytes, validators: Validators, started: float,
                copy: Copy | None, bad: tuple[bytes, str] | None) -> Copy:
        digest = hashlib.sha256(body).digest()
        if copy is not None and digest == copy.digest:  # the same bytes again (no validators): not parsed again
            return Copy(copy.feed, validators, digest, started)
        if bad is not None and bad[0] == digest:
            raise FeedError(bad[1])
        began = time.monotonic()
        try:
            feed = parse_feed(body, person=spec.person, pattern=spec.pattern, users=self._names)
        except FeedError as exc:
            with self._states[ref].lock:
                self._states[ref].bad = (digest, str(exc))
            raise
        log.info("ical.feed_read", feed=ref, bytes=len(body), events=feed.events,
                 took=round(time.monotonic() - began, 3))
        return Copy(feed, validators, digest, started)

    def _failed(self, state: FeedState, ref: str, error: str, started: float, wait_for: float | None = None) -> None:
        with state.lock:
            state.read_failed(error, started, wait_for)
            until = state.usable_until()
        effect = ("its groups are left as they are (never emptied)" if until is None or until < started else
                  f"its last good copy answers for {round(until - started)} s more, then its groups are left as "
                  "they are")
        log.warning("ical.feed_unread", feed=ref, error=error, effect=effect)
