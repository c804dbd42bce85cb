"""Heads-up DMs: each person gets a direct message the configured time (``heads_up: 1h``) before
each of their shifts starts, naming the group, the schedule, the times and whom they take over from.

- Exactly once per shift: the attempt is claimed in the state file before sending (one process
  wins the claim; a claim that cannot be saved sends nothing and fails the pass); a send whose
  answer was lost is looked for in the DM by the next pass and sent again only if it is not
  there (``slack/delivery.py``).
- Off the pass's critical path: the foreseen shifts are read on their own thread beside the
  pass, and the sends stop at the pass deadline (those left are due still: the next pass).
- Never for a shift already under way when Slackgenie learns of it, and never after it started.
- The shifts come from each provider's forecast (``stretches``), kept ``REFRESH`` seconds; a
  heads-up is sent only after a fresh read of its schedule still shows the shift (an override
  made since moves or cancels it).
- Not in ``--dry-run``, nor for ``--at`` (the service does not call it then).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import structlog
from slack_sdk import WebClient

from slackgenie.settings import Config
from slackgenie.core.durations import iso_utc
from slackgenie.core.model import ReadFailure, describe_key
from slackgenie.core.plan import map_identity
from slackgenie.core.shifts import Shift, Stretch, starting
from slackgenie.slack.client import error_code
from slackgenie.slack.delivery import GIVE_UP_LOOKING, CannotLook, mark, maybe_done, post, was_posted
from slackgenie.slack.directory import Directory
from slackgenie.slack.text import date_token as _when
from slackgenie.slack.text import mention
from slackgenie.sources.base import Forecasting
from slackgenie.engine.state import StateStore

log = structlog.get_logger("slackgenie.engine.headsup")

REFRESH = 300.0  # seconds the foreseen shifts are reused from one pass to the next
AHEAD = timedelta(days=1)  # the forecast looks this far past the longest lead (for the daemon's wake-ups)
SHIFT_VIEW = timedelta(days=8)  # how far the confirming read looks, to tell when the shift ends
FORGET_AFTER = timedelta(days=2)  # records of heads-ups for shifts this old are dropped
# Slack's answers that no retry will change: recorded, so the next passes do not try again.
FINAL = {"user_not_found", "user_disabled", "cannot_dm_bot", "account_inactive", "user_not_visible"}

Reads = Mapping[str, list[Stretch] | ReadFailure]


@dataclass(frozen=True)
class Due:
    shift: Shift
    groups: tuple[str, ...]
    lead: timedelta

    @property
    def key(self) -> str:
        """The shift's record in the state file."""
        start = iso_utc(self.shift.start)
        return f"headsup:{start}:{self.shift.schedule}:{self.shift.person}"


def _open(record: str | None) -> bool:
    """Whether a heads-up still needs something done: never tried, or tried without an answer."""
    return record is None or record.startswith("sending|")


def leads(config: Config) -> dict[str, tuple[timedelta, tuple[str, ...]]]:
    """For each schedule some sync wants heads-ups for: the longest lead, and those groups."""
    out: dict[str, tuple[timedelta, tuple[str, ...]]] = {}
    for sync in config.syncs:
        lead = sync.heads_up or timedelta(0)
        if lead <= timedelta(0):
            continue
        for key in sync.keys:
            before, groups = out.get(key, (timedelta(0), ()))
            out[key] = (max(before, lead), (*groups, sync.usergroup))
    return out


def due(reads: Reads, wanted: Mapping[str, tuple[timedelta, tuple[str, ...]]], window_start: datetime,
        now: datetime, window_end: datetime | None = None) -> list[Due]:
    """The heads-ups whose moment has come: shifts that start after the window opened (not
    those already under way then) and after ``now``, within their lead."""
    out = []
    for key, found in reads.items():
        if isinstance(found, ReadFailure) or key not in wanted:
            continue
        lead, groups = wanted[key]
        out += [Due(sh, groups, lead) for sh in starting(key, found, window_start, window_end)
                if sh.start - lead <= now < sh.start]
    return out


def next_moment(reads: Reads, wanted: Mapping[str, tuple[timedelta, tuple[str, ...]]], window_start: datetime,
                after: datetime) -> datetime | None:
    """When the next heads-up falls due after ``after`` (None: none foreseen in the window)."""
    moments = [sh.start - wanted[key][0] for key, found in reads.items()
               if not isinstance(found, ReadFailure) and key in wanted
               for sh in starting(key, found, window_start) if sh.start - wanted[key][0] > after]
    return min(moments, default=None)


def _lead_text(lead: timedelta) -> str:
    minutes = max(1, round(lead.total_seconds() / 60))
    hours, minutes = divmod(minutes, 60)
    return " ".join(p for p in (f"{hours} h" if hours else "", f"{minutes} min" if minutes else "") if p)


class HeadsUps:
    def __init__(self, config: Config, source: Forecasting, client: WebClient, directory: Directory,
                 state: StateStore, monotonic: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.config, self.source, self.client, self.directory, self.state = config, source, client, directory, state
        self._now = now  # when a DM is sent: the time its look, after a lost answer, is centred on
        self.wanted = leads(config)
        self._monotonic = monotonic
        self._kept: tuple[float, datetime, Reads] | None = None
        self._reading: Future[tuple[float, datetime, Reads]] | None = None
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

    def _read_forecast(self, now: datetime) -> tuple[float, datetime, Reads]:
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
        with self._lock:
            return (self._kept[1], self._kept[2]) if self._kept is not None else None

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
        self._forget(now)
        forecast = self._forecast(now, until)
        if forecast is None:
            return ["heads-ups wait for the shifts to be read (the pass deadline came first)"]
        start, reads = forecast
        pending = [d for d in due(reads, self.wanted, start, now) if _open(self.state.get(d.key))]
        if not pending:
            return []
        # Confirm with a fresh read of just those schedules: an override made since the forecast
        # may have moved the shift or given it to someone else.
        keys = sorted({d.shift.schedule for d in pending})
        end = now + self.longest + SHIFT_VIEW
        reading = self._confirmer.submit(self.source.stretches, keys, start, end)
        try:  # within the pass deadline: a read that outlasts it is left to finish on its own
            fresh = reading.result(timeout=max(0.0, until - time.monotonic()))
        except FutureTimeout:
            return [f"{len(pending)} heads-up(s) wait for the next pass (their schedules were read too slowly)"]
        confirmed = {d.key: d for d in due(fresh, self.wanted, start, now, end)}
        notes = []
        for i, d in enumerate(pending):
            if time.monotonic() >= until:
                notes.append(f"{len(pending) - i} heads-up(s) wait for the next pass (the pass deadline came first)")
                break
            if d.key not in confirmed:
                got = fresh.get(d.shift.schedule)
                if isinstance(got, ReadFailure):
                    notes.append(f"heads-up for {d.shift.person} not sent: {describe_key(d.shift.schedule)} could "
                                 f"not be read again ({got.error}); trying again next pass")
                continue  # no longer their shift: nothing to say
            notes.append(self._send(confirmed[d.key], now))  # as read now: its end, whom it follows
        return [n for n in notes if n]

    def _send(self, d: Due, now: datetime) -> str:
        person = d.shift.person
        keep = d.shift.start + FORGET_AFTER
        found = self.directory.resolve(map_identity(person, self.config.file.users))
        if found.user is None:
            if not found.transient:
                self.state.put(d.key, f"not sent: {found.problem}", keep)
            self.failed += 1
            log.warning("headsup.no_slack_user", person=person, problem=found.problem)
            return f"heads-up for {person} not sent: {found.problem}"
        earlier = self.state.get(d.key)
        attempted = self._now().timestamp()
        if earlier is None:
            # Recorded before sending (StateNotSaved: not sent at all); one process only.
            if not self.state.claim(d.key, f"sending|{attempted:.3f}", keep):
                return ""  # another process took it
        try:
            channel = self.client.conversations_open(users=found.user.id)["channel"]["id"]
        except Exception as exc:  # opening the DM is repeatable: surely nothing was sent
            return self._not_sent(d, exc, keep, settled=earlier is None)
        if earlier is not None:  # an earlier attempt's answer was lost: look before sending again
            settled = self._settle(d, earlier, channel, keep)
            if settled is not None:
                return settled
            self.state.put(d.key, f"sending|{attempted:.3f}", keep)
        if time.monotonic() >= self._until:
            return f"heads-up for {person} waits for the next pass (the pass deadline came first)"
        try:
            post(self.client, channel, self._text(d, now), mark(d.key, f"{attempted:.3f}"), unfurl_links=False)
        except Exception as exc:
            if maybe_done(exc):
                self.failed += 1
                log.warning("headsup.uncertain", person=person, error=error_code(exc), retry="looked for next pass")
                return (f"heads-up for {person} not confirmed ({error_code(exc)}): the next pass looks for it in "
                        "the DM and sends it only if it is not there")
            return self._not_sent(d, exc, keep, settled=True)
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
                if not was_posted(self.client, channel, mark(d.key, at), attempted):
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

    def _not_sent(self, d: Due, exc: Exception, keep: datetime, settled: bool) -> str:
        """Surely not sent: recorded as final where retrying cannot help, else left for the next pass."""
        code = error_code(exc)
        self.failed += 1
        if code in FINAL:
            self.state.put(d.key, f"not sent: {code}", keep)
        elif settled:
            self.state.drop(lambda key: key == d.key)  # tried again by the next pass
        fix = " (add im:write and chat:write to the app, then reinstall it)" if code == "missing_scope" else ""
        log.warning("headsup.failed", person=d.shift.person, error=code, shift_start=d.shift.start.isoformat())
        return f"heads-up for {d.shift.person} not sent: Slack said {code}{fix}"

    def close(self) -> None:
        self._reader.shutdown(wait=False, cancel_futures=True)
        self._confirmer.shutdown(wait=False, cancel_futures=True)

    def _text(self, d: Due, now: datetime) -> str:
        sh = d.shift
        groups = ", ".join(f"@{g}" for g in d.groups)
        before = [mention(self.directory, p, self.config.file.users) for p in sorted(sh.after)]
        handover = f"You take over from {', '.join(before)}." if before else "Nobody is on call just before you."
        return (f":alarm_clock: Heads-up: your on-call shift in {groups} starts {_when(sh.start)} "
                f"(in about {_lead_text(sh.start - now)}) and runs until {'at least ' if sh.open_end else ''}"
                f"{_when(sh.end)}.\n"
                f"Schedule: {describe_key(sh.schedule)}. {handover}")

    def _forget(self, now: datetime) -> None:
        """Drop records of heads-ups for shifts that started long ago (the state file stays small)."""
        cutoff = iso_utc(now - FORGET_AFTER)
        self.state.drop(lambda key: key.startswith("headsup:") and key[len("headsup:"):][:20] < cutoff)
