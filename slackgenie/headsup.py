"""Heads-up DMs: each person gets a direct message the configured time (``heads_up: 1h``) before
each of their shifts starts, naming the group, the schedule, the times and whom they take over from.

- Exactly once per shift: a sent heads-up is recorded in the state file, within the pass lock
  that every process takes in turn (``StateStore.exclusive``), so two processes never both send.
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
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import structlog
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from slackgenie.config import Config
from slackgenie.model import ReadFailure, describe_key
from slackgenie.plan import map_identity
from slackgenie.shifts import Shift, Stretch, starting
from slackgenie.slack.client import error_code
from slackgenie.slack.directory import Directory
from slackgenie.slack.text import date_token as _when
from slackgenie.slack.text import mention
from slackgenie.sources.base import OnCallSource
from slackgenie.state import StateStore

log = structlog.get_logger("slackgenie.headsup")

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
        start = self.shift.start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"headsup:{start}:{self.shift.schedule}:{self.shift.person}"


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
    def __init__(self, config: Config, source: OnCallSource, client: WebClient, directory: Directory,
                 state: StateStore, monotonic: Callable[[], float] = time.monotonic):
        self.config, self.source, self.client, self.directory, self.state = config, source, client, directory, state
        self.wanted = leads(config)
        self._monotonic = monotonic
        self._kept: tuple[float, datetime, Reads] | None = None
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0

    @property
    def longest(self) -> timedelta:
        return max((lead for lead, _ in self.wanted.values()), default=timedelta(0))

    def _forecast(self, now: datetime) -> tuple[datetime, Reads]:
        with self._lock:
            if self._kept is None or self._monotonic() - self._kept[0] >= REFRESH:
                start = now.replace(microsecond=0)
                end = start + self.longest + AHEAD
                self._kept = (self._monotonic(), start, self.source.stretches(sorted(self.wanted), start, end))
                for key, got in self._kept[2].items():
                    if isinstance(got, ReadFailure):
                        log.warning("headsup.forecast_failed", schedule=key, error=got.error,
                                    effect="no heads-ups for it until it can be read")
            return self._kept[1], self._kept[2]

    def next_at(self, after: datetime) -> datetime | None:
        """When the next heads-up falls due, from the kept forecast (for the daemon's wake-up)."""
        if not self.wanted:
            return None
        with self._lock:
            kept = self._kept
        return next_moment(kept[2], self.wanted, kept[1], after) if kept is not None else None

    def run(self, now: datetime) -> list[str]:
        """Send the heads-ups that are due (call within the pass lock); what was done, for the report."""
        if not self.wanted:
            return []
        self._forget(now)
        start, reads = self._forecast(now)
        pending = [d for d in due(reads, self.wanted, start, now) if self.state.get(d.key) is None]
        if not pending:
            return []
        # Confirm with a fresh read of just those schedules: an override made since the forecast
        # may have moved the shift or given it to someone else.
        keys = sorted({d.shift.schedule for d in pending})
        end = now + self.longest + SHIFT_VIEW
        fresh = self.source.stretches(keys, start, end)
        confirmed = {d.key: d for d in due(fresh, self.wanted, start, now, end)}
        notes = []
        for d in pending:
            if d.key not in confirmed:
                got = fresh.get(d.shift.schedule)
                if isinstance(got, ReadFailure):
                    notes.append(f"heads-up for {d.shift.person} not sent: {describe_key(d.shift.schedule)} could "
                                 f"not be read again ({got.error}); trying again next pass")
                continue  # no longer their shift: nothing to say
            notes.append(self._send(confirmed[d.key], now))  # as read now: its end, whom it follows
        return notes

    def _send(self, d: Due, now: datetime) -> str:
        person = d.shift.person
        found = self.directory.resolve(map_identity(person, self.config.file.users))
        if found.user is None:
            if not found.transient:
                self.state.put(d.key, f"not sent: {found.problem}")
            self.failed += 1
            log.warning("headsup.no_slack_user", person=person, problem=found.problem)
            return f"heads-up for {person} not sent: {found.problem}"
        text = self._text(d, now)
        self.state.put(d.key, "sending")  # at most once: a lost answer must not send it twice
        try:
            channel = self.client.conversations_open(users=found.user.id)["channel"]["id"]
            self.client.chat_postMessage(channel=channel, text=text, unfurl_links=False)
        except SlackApiError as exc:
            code = error_code(exc)
            self.failed += 1
            if code in FINAL:
                self.state.put(d.key, f"not sent: {code}")
            elif code in ("missing_scope", "ratelimited", "not_authed", "invalid_auth"):  # surely not sent
                self.state.drop(lambda key: key == d.key)
            fix = " (add im:write and chat:write to the app, then reinstall it)" if code == "missing_scope" else ""
            log.warning("headsup.failed", person=person, error=code, shift_start=d.shift.start.isoformat())
            return f"heads-up for {person} not sent: Slack said {code}{fix}"
        except Exception as exc:
            self.failed += 1
            log.warning("headsup.failed", person=person, error=type(exc).__name__)
            return f"heads-up for {person} may not have been sent ({type(exc).__name__}); not sent again (at most once)"
        self.state.put(d.key, "sent")
        self.sent += 1
        log.info("headsup.sent", person=person, groups=list(d.groups), schedule=d.shift.schedule,
                 shift_start=d.shift.start.isoformat())
        return f"heads-up sent to {person} for {', '.join('@' + g for g in d.groups)} from {d.shift.start.isoformat()}"

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
        cutoff = (now - FORGET_AFTER).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.state.drop(lambda key: key.startswith("headsup:") and key[len("headsup:"):][:20] < cutoff)
