"""What a provider is to the rest of Slackgenie: a small interface every provider implements
(``OnCallSource``: who is on call, which schedules there are), and capabilities a provider may
have beside it (``Forecasting``, ``ShiftTaking``). Callers ask for a capability and say plainly
when a provider lacks it (``RoutedSource``).

Paging, concurrency, retries, deadlines and rate limits stay behind each source (on the shared
pieces beside this file: http.py, paging.py, validate.py, catalog.py, caches.py, workers.py); what
comes out is ``OnCall`` (an answer to trust) or ``ReadFailure`` (none), per schedule reference. A provider
forecasts its own handoffs its own way (Opsgenie: rotation maths; JSM Ops: timelines;
PagerDuty: the shifts' own start and end), behind ``next_handoff``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from slackgenie.core.clock import Clock
from pydantic import BaseModel

from slackgenie.core.model import OnCall, ReadFailure, ScheduleInfo
from slackgenie.retry import ApiObserver, RetryPolicy, Stop
from slackgenie.core.shifts import Stretch


class OnCallSource(Protocol):
    """What every provider does: who is on call, and which schedules there are."""

    provider: str  # opsgenie | jsm | pagerduty

    def on_calls(self, refs: Sequence[str], at: datetime | None = None) -> dict[str, OnCall | ReadFailure]:
        """Who is on call in each schedule (by name or id), now or at ``at``; one entry per ref."""

    def catalog(self) -> list[ScheduleInfo]:
        """Every schedule the credentials can see (raises ``SourceError`` when it cannot tell)."""

    def close(self) -> None: ...


@runtime_checkable
class Forecasting(Protocol):
    """A capability: who will be on call when (handoffs, shifts, gaps, heads-ups)."""

    def next_handoff(self, refs: Sequence[str], after: datetime) -> datetime | None:
        """The earliest foreseen handoff among these schedules after ``after``; None when none is
        foreseen (or the forecast is unavailable: the regular interval is the safety net)."""

    def observe(self, reads: Mapping[str, OnCall | ReadFailure], at: datetime) -> None:
        """Check the forecast against a pass's answers (read at ``at``)."""

    def stretches(self, refs: Sequence[str], start: datetime,
                  end: datetime) -> dict[str, list[Stretch] | ReadFailure]:
        """For each schedule, who is on call when within ``start``..``end`` (overrides included),
        as the provider foresees it now: people as in ``on_calls``; nobody's spans left out."""


@runtime_checkable
class ShiftTaking(Protocol):
    """A capability: taking a shift from Slack, as an override in the provider."""

    def members(self, ref: str) -> dict[str, str] | ReadFailure:
        """The people in the schedule's rotations: identity (as in ``on_calls``: a lower-case
        e-mail, or the provider's id where the e-mail is hidden) -> the provider's own user id
        its override API names them by (Opsgenie username, Atlassian account id, PagerDuty user id)."""

    def create_override(self, ref: str, user_id: str, start: datetime, end: datetime) -> str:
        """Put ``user_id`` on call in the schedule from ``start`` to ``end`` (all its rotations /
        layers); the override's id (alias) to delete it by. Raises ``SourceError`` (``SourceAuthError``:
        the key may not write); never retried (a repeated create would make two overrides)."""

    def overrides_of(self, ref: str, user_id: str, now: datetime) -> list[Override]:
        """The person's overrides in the schedule that end after ``now``, in order of start."""

    def delete_override(self, ref: str, override_id: str) -> None:
        """Delete one override (an override under way ends at once). Raises ``SourceError``."""


@runtime_checkable
class NamingAnyone(Protocol):
    """A capability beside ``ShiftTaking``: naming someone outside the schedule's rotations in an
    override (`take: anyone`), where the provider's user ids can be known without the rotations."""

    def outsider_id(self, identities: frozenset[str]) -> str | None:
        """The provider's user id for one of these identities (e-mails or Slack ids), or None."""


@dataclass(frozen=True)
class Look:
    """What `check` shows of a schedule it reads whole (a calendar feed): its title, and the
    shifts and people of a coming window."""

    schedule: str
    title: str | None
    start: datetime
    end: datetime
    events: int  # occurrences covering part of start..end
    people: frozenset[str]  # as ``on_calls`` names them


@runtime_checkable
class Looking(Protocol):
    """A capability: a schedule read whole and described for `check` (a calendar feed)."""

    def look(self, ref: str, start: datetime) -> Look | ReadFailure: ...


@runtime_checkable
class SaysWhereToTake(Protocol):
    """Beside a provider that cannot take shifts: where the shift can be taken instead (a calendar
    feed names the service that publishes it)."""

    def where_to_take(self, ref: str) -> str:
        """Why a shift in ``ref`` cannot be taken from Slack, naming where it can be."""


@dataclass(frozen=True)
class LevelRecipient:
    """One recipient of an escalation level, and who it is now (for `check`)."""

    kind: str  # schedule | user | team
    name: str  # as the provider names it
    notify: str  # how it is notified: Opsgenie's and JSM Ops' notifyType; PagerDuty: default
    people: frozenset[str] | None  # who it is now, as ``on_calls`` names people; None: not people
    problem: str | None = None  # why it cannot be read as people (and the fix)


@dataclass(frozen=True)
class LevelView:
    """An escalation level as `check` shows it: the policy, the level and its recipients."""

    policy: str  # the policy's name
    level: int
    recipients: tuple[LevelRecipient, ...]


@runtime_checkable
class Escalating(Protocol):
    """A capability: escalation levels (references made by ``core.model.level_ref``) are read in
    ``on_calls``, ``next_handoff`` and ``stretches`` like schedules; this describes one for `check`."""

    def level(self, ref: str, at: datetime | None = None) -> LevelView | ReadFailure: ...


@dataclass(frozen=True)
class Override:
    """An override as the providers' override APIs list it."""

    id: str  # Opsgenie and JSM Ops: its alias; PagerDuty: its id
    user_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class SourceOptions:
    """What a provider's source is built from besides its credentials: the file's common settings
    and the provider's own block (``block``: an instance of ``ProviderSpec.block``, or None)."""

    retry: RetryPolicy
    concurrency: int
    pass_deadline: int
    users: Mapping[str, str]  # the file's `users:` map: a provider's name for someone -> Slack e-mail or id
    block: Any = None


@dataclass(frozen=True)
class ProviderSpec:
    """What the rest of Slackgenie knows of a provider: how to read its credentials from the
    environment (exit 2 naming the variable), how to build its source, and what to check
    when it refuses or cannot be reached. Each source module has one; ``providers.py`` lists them."""

    name: str  # as written in `provider:`; its title is model.PROVIDER_TITLES[name]
    # (environment, its block of the file or None) -> its credentials (a ProviderSecrets); a block may
    # name the variables that hold them (a calendar feed's `url_env:`)
    load: Callable[[Mapping[str, str], Any], Any]
    build: Callable[[Any, SourceOptions, Clock, ApiObserver | None, Stop], OnCallSource]
    credentials: str  # the variables to check when the provider refuses them
    urls: str  # the variables to check when it cannot be reached
    block: type[BaseModel] | None = None  # its own block of the file, under its name (`jsm:`), if it has one
    # which schedule names its block allows (a calendar feed's must be one of its feeds): ConfigError if not
    check_schedules: Callable[[Any, Sequence[str]], None] | None = None
