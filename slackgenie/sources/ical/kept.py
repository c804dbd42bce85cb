"""What a calendar feed's source keeps of each feed between reads: its last good copy (parsed),
when it may be asked for again, and why its last read failed.

The rules, per feed (times on the source's monotonic clock):

* It is asked for at most once per ``refresh`` seconds after a read that worked (answered 200,
  or 304: the copy is current), and again after ``min(refresh, RETRY_FAILED)`` seconds after
  one that failed (later, where the server asked for a longer wait): a pass in between costs no
  request.
* The last good copy answers for ``STALE_REFRESHES`` × ``refresh`` seconds from when the server
  last sent or confirmed it, whatever happened since (a failed read, a new version that does not
  parse); after that the feed is unreadable, never "nobody".
* A body seen already (the same bytes, a server that sends no validators) is not parsed again;
  nor is one that did not parse (it fails again with the same reason).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import timedelta

from slackgenie.core.durations import format_duration
from slackgenie.core.model import ReadFailure
from slackgenie.sources.ical.client import Validators
from slackgenie.sources.ical.feed import Feed

STALE_REFRESHES = 3  # a last good copy answers for this many refresh periods
RETRY_FAILED = 60.0  # seconds after a failed read before the next (at most refresh)


@dataclass(frozen=True)
class Copy:
    """A feed as last read and parsed."""

    feed: Feed
    validators: Validators
    digest: bytes  # the body's hash: the same bytes again are not parsed again
    confirmed: float  # when the server last sent or confirmed it (monotonic seconds)


@dataclass
class FeedState:
    """One feed's reads. ``lock`` guards every field."""

    name: str
    refresh: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    copy: Copy | None = None
    error: str | None = None  # why the last read failed (None: it worked, or none was made)
    bad: tuple[bytes, str] | None = None  # a body that did not parse (its hash) and why
    next_read: float | None = None  # not asked for again before this (None: never asked)
    reading: Future[None] | None = None  # the read under way

    def due(self, now: float) -> bool:
        """Whether a read should start now (none under way, and its time has come)."""
        busy = self.reading is not None and not self.reading.done()
        return not busy and (self.next_read is None or now >= self.next_read)

    def read_ok(self, copy: Copy, started: float) -> bool:
        """Keep a good read; True if it ends a run of failed ones."""
        recovered = self.error is not None
        self.copy, self.error, self.next_read = copy, None, started + self.refresh
        return recovered

    def read_failed(self, error: str, started: float, wait: float | None = None) -> None:
        self.error = error
        self.next_read = started + max(min(self.refresh, RETRY_FAILED), wait or 0.0)

    def usable_until(self) -> float | None:
        """Until when the last good copy answers (None: there is none)."""
        return None if self.copy is None else self.copy.confirmed + STALE_REFRESHES * self.refresh

    def answer(self, now: float) -> Feed | ReadFailure:
        """The feed to answer from now, or why there is none."""
        until = self.usable_until()
        if self.copy is not None and until is not None and now <= until:
            return self.copy.feed
        what = f"calendar feed {self.name!r}"
        old = "" if self.copy is None else (
            f"; its last good copy is {format_duration(timedelta(seconds=now - self.copy.confirmed))} old, more than "
            f"{STALE_REFRESHES} × refresh ({format_duration(timedelta(seconds=STALE_REFRESHES * self.refresh))}): "
            "not used")
        if self.error is not None:
            return ReadFailure(self.name, self.error + old)
        if self.copy is not None:
            return ReadFailure(self.name, f"{what}: no newer copy could be read in time{old}")
        return ReadFailure(self.name, f"{what}: not read yet (the read goes on: its answer is used from the next "
                                      "pass)")
