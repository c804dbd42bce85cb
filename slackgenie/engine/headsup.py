"""Heads-up DMs: each person gets a direct message the configured time (``heads_up: 1h``) before
each of their shifts starts, naming the group, the schedule, the times and whom they take over from.

- Exactly once per shift: the attempt is claimed in the state file before sending (one process
  wins the claim; a claim that cannot be saved sends nothing and fails the pass); a send whose
  answer was lost is looked for in the DM by the next pass and sent again only if it is not
  there (``slack/delivery.py``).
- Off the pass's critical path: the foreseen shifts are read on their own thread beside the
  pass, and the sends stop at the pass deadline (those left are due still: the next pass).
- Which are due is pure (``core/headsups.py``); the DMs themselves are ``slack/dm.py``'s.
- The shifts come from each provider's forecast (``stretches``), kept ``REFRESH`` seconds; a
  heads-up is sent only after a fresh read of its schedule still shows the shift (an override
  made since moves or cancels it).
- Not in ``--dry-run``, nor for ``--at`` (the service does not call it then).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timedelta, timezone

import structlog

from slackgenie.core.headsups import FORGET_AFTER, Due, Reads, due, is_open, is_stale, leads, next_moment
from slackgenie.core.model import ReadFailure, describe_key
from slackgenie.core.facts import FactStore
from slackgenie.settings import Config
from slackgenie.slack.delivery import GIVE_UP_LOOKING, CannotLook, mark
from slackgenie.slack.dm import DirectMessages, NotSent, Unconfirmed
from slackgenie.sources.base import Forecasting

log = structlog.get_logger("slackgenie.engine.headsup")

REFRESH = 300.0  # seconds the foreseen shifts are reused from one pass to the next
AHEAD = timedelta(days=1)  # the forecast looks this far past the longest lead (for the daemon's wake-ups)
SHIFT_VIEW = timedelta(days=8)  # how far the confirming read looks, to tell when the shift ends

Kept = tuple[float, datetime, Reads]  # (when read, monotonic; the window's start; the shifts)


class HeadsUps:
    def __init__(self, config: Config, source: Forecasting, dms: DirectMessages, state: FactStore,
                 monotonic: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.config, self.source, self.dms, self.state = config, source, dms, state
        self._now = now  # when a DM is sent: the time its look, after a lost answer, is centred on
        self.wanted = leads(config.syncs)
        self._monotonic = monotonic
        # Not a TTL cache: the shifts kept are still used, past REFRESH, while a newer read goes on.
        self._kept: Kept | None = None
        self._reading: Future[Kept] | None = None
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="headsup-forecast")
        self._confirmer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="headsup-confirm")
        self._lock = threading.Lock()
        self._until = float("inf")  # the running pass's deadline (monotonic)
        self.sent = 0
        self.failed = 0

    @property
    def longest(self) -> timedelta:
        return max((lead for lead, _ in self.wanted.values()), default=timedelta(0))

    def prefetch(self, now: datetime) -> None:
        """Start reading the foreseen shifts when the kept ones are older than ``REFRESH`` (on
        their own thread, beside the pass's reads: never on its critical path)."""
        if not self.wanted:
            return
        with self._lock:
            fresh = self._kept is not None and self._monotonic() - self._kept[0] < REFRESH
            if fresh or self._reading is not None:
                return
            self._reading = self._reader.submit(self._read_forecast, now)

    def _read_forecast(self, now: datetime) -> Kept:
        start = now.replace(microsecond=0)
        end = start + self.longest + AHEAD
        reads = self.source.stretches(sorted(self.wanted), start, end)
        for key, got in reads.items():
            if isinstance(got, ReadFailure):
                log.warning("headsup.forecast_failed", schedule=key, error=got.error,
                            effect="no heads-ups for it until it can be read")
        return self._monotonic(), start, reads

    def _forecast(self, now: datetime, until: float) -> tuple[datetime, Reads] | None:
        """The foreseen shifts: those kept while a newer read goes on beside the passes (each
        heads-up is confirmed by a fresh read before it is sent); with none kept yet, a read
        under way is waited for until ``until`` (monotonic). None: none yet."""
        self.prefetch(now)
        with self._lock:
            reading = self._reading
            if reading is not None and self._kept is not None and not reading.done():
                reading = None  # use the kept ones this pass
        if reading is not None:
            self._collect(reading, until)
        with self._lock:
            return (self._kept[1], self._kept[2]) if self._kept is not None else None

    def _collect(self, reading: Future[Kept], until: float) -> None:
        try:
            kept = reading.result(timeout=max(0.0, until - time.monotonic()))
        except FutureTimeout:
            log.warning("headsup.forecast_slow", effect="this pass uses the shifts read before, if any")
        except Exception as exc:
            log.warning("headsup.forecast_failed", error=f"{type(exc).__name__}: {exc}")
            with self._lock:
                self._reading = None
        else:
            with self._lock:
                self._kept, self._reading = kept, None

    def next_at(self, after: datetime) -> datetime | None:
        """When the next heads-up falls due, from the kept forecast (for the daemon's wake-up)."""
        if not self.wanted:
            return None
        with self._lock:
            kept = self._kept
        return next_moment(kept[2], self.wanted, kept[1], after) if kept is not None else None

    def run(self, now: datetime, until: float) -> list[str]:
        """Send the heads-ups that are due (call within the pass lock), by ``until`` (monotonic:
        the pass deadline; those left are due still and wait for the next pass); what was done,
        for the report. ``StateNotSaved``: a heads-up could not be recorded, and was not sent."""
        if not self.wanted:
            return []
        self._until = until
        self.state.drop(lambda key: is_stale(key, now))  # the state file stays small
        forecast = self._forecast(now, until)
        if forecast is None:
            return ["heads-ups wait for the shifts to be read (the pass deadline came first)"]
        start, reads = forecast
        pending = [d for d in due(reads, self.wanted, start, now) if is_open(self.state.get(d.key))]
        if not pending:
            return []
        # Confirm with a fresh read of just those schedules: an override made since the forecast
        # may have moved the shift or given it to someone else.
        end = now + self.longest + SHIFT_VIEW
        reading = self._confirmer.submit(self.source.stretches, sorted({d.shift.schedule for d in pending}), start, end)
        try:  # within the pass deadline: a read that outlasts it is left to finish on its own
            fresh = reading.result(timeout=max(0.0, until - time.monotonic()))
        except FutureTimeout:
            return [f"{len(pending)} heads-up(s) wait for the next pass (their schedules were read too slowly)"]
        return [n for n in self._send_all(pending, fresh, due(fresh, self.wanted, start, now, end), now, until) if n]

    def _send_all(self, pending: list[Due], fresh: Reads, confirmed: list[Due], now: datetime,
                  until: float) -> list[str]:
        by_key = {d.key: d for d in confirmed}
        notes = []
        for i, d in enumerate(pending):
            if time.monotonic() >= until:
                notes.append(f"{len(pending) - i} heads-up(s) wait for the next pass (the pass deadline came first)")
                break
            if d.key not in by_key:
                got = fresh.get(d.shift.schedule)
                if isinstance(got, ReadFailure):
                    notes.append(f"heads-up for {d.shift.person} not sent: {describe_key(d.shift.schedule)} could "
                                 f"not be read again ({got.error}); trying again next pass")
                continue  # no longer their shift: nothing to say
            notes.append(self._send(by_key[d.key], now))  # as read now: its end, whom it follows
        return notes

    def _send(self, d: Due, now: datetime) -> str:
        person = d.shift.person
        keep = d.shift.start + FORGET_AFTER
        found = self.dms.find(person)
        if found.user is None:
            if not found.transient:
                self.state.put(d.key, f"not sent: {found.problem}", keep)
            self.failed += 1
            log.warning("headsup.no_slack_user", person=person, problem=found.problem)
            return f"heads-up for {person} not sent: {found.problem}"
        earlier = self.state.get(d.key)
        attempted = self._now().timestamp()
        # Recorded before sending (StateNotSaved: not sent at all); one process only.
        if earlier is None and not self.state.claim(d.key, f"sending|{attempted:.3f}", keep):
            return ""  # another process took it
        try:
            channel = self.dms.open(found.user.id)
        except NotSent as exc:  # opening the DM is repeatable: surely nothing was sent
            return self._not_sent(d, exc, keep, f"sending|{attempted:.3f}" if earlier is None else None)
        if earlier is not None:  # an earlier attempt's answer was lost: look before sending again
            settled = self._settle(d, earlier, channel, keep)
            if settled is not None:
                return settled
            self.state.put(d.key, f"sending|{attempted:.3f}", keep)
        if time.monotonic() >= self._until:
            return f"heads-up for {person} waits for the next pass (the pass deadline came first)"
        return self._deliver(d, channel, f"{attempted:.3f}", keep, now)

    def _deliver(self, d: Due, channel: str, attempted: str, keep: datetime, now: datetime) -> str:
        person = d.shift.person
        try:
            self.dms.send(channel, self.dms.heads_up_text(d.shift, d.groups, now), mark(d.key, attempted))
        except Unconfirmed as exc:
            self.failed += 1
            log.warning("headsup.uncertain", person=person, error=exc.code, retry="looked for next pass")
            return (f"heads-up for {person} not confirmed ({exc.code}): the next pass looks for it in "
                    "the DM and sends it only if it is not there")
        except NotSent as exc:
            return self._not_sent(d, exc, keep, f"sending|{attempted}")
        self.state.put(d.key, "sent", keep)
        self.sent += 1
        log.info("headsup.sent", person=person, groups=list(d.groups), schedule=d.shift.schedule,
                 shift_start=d.shift.start.isoformat())
        return f"heads-up sent to {person} for {', '.join('@' + g for g in d.groups)} from {d.shift.start.isoformat()}"

    def _settle(self, d: Due, earlier: str, channel: str, keep: datetime) -> str | None:
        """An earlier attempt without a known outcome: a note when it was sent (or cannot be
        told: then it is not sent again, at most once); None: send it now."""
        _, _, at = earlier.partition("|")
        try:
            attempted = float(at)
        except ValueError:
            why = "no record of when it was attempted"
        else:
            try:
                if not self.dms.was_sent(channel, mark(d.key, at), attempted):
                    return None
                self.state.put(d.key, "sent", keep)
                return f"heads-up for {d.shift.person} was sent by an earlier attempt (found in the DM)"
            except CannotLook as exc:
                if not exc.lasting and self._now().timestamp() - attempted < GIVE_UP_LOOKING:
                    return (f"heads-up for {d.shift.person} not confirmed yet (the DM could not be read: "
                            f"{exc.reason}); looked for again next pass")
                why = exc.reason + (f"; {exc.fix}" if exc.fix else "")
        self.state.put(d.key, "sent?", keep)
        log.warning("headsup.uncertain", person=d.shift.person, error=why, retry="not repeated")
        return f"heads-up for {d.shift.person} may have been sent by an earlier attempt; not sent again ({why})"

    def _not_sent(self, d: Due, exc: NotSent, keep: datetime, mine: str | None) -> str:
        """Surely not sent: recorded as final where retrying cannot help, else left for the next
        pass (``mine``: the record this attempt wrote, cleared only if no other process wrote
        over it since)."""
        self.failed += 1
        if exc.final:
            self.state.put(d.key, f"not sent: {exc.code}", keep)
        elif mine is not None:
            self.state.change_if({d.key: mine}, {d.key: None})  # tried again by the next pass
        log.warning("headsup.failed", person=d.shift.person, error=exc.code, shift_start=d.shift.start.isoformat())
        return f"heads-up for {d.shift.person} not sent: {exc.why}"

    def close(self) -> None:
        self._reader.shutdown(wait=False, cancel_futures=True)
        self._confirmer.shutdown(wait=False, cancel_futures=True)
