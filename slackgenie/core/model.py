"""Small value types every stage shares. No I/O here."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class SlackUser:
    id: str
    name: str
    email: str | None = None
    real_name: str = ""
    deleted: bool = False
    is_bot: bool = False
    tz: str | None = None
    guest: bool = False  # a multi- or single-channel guest: cannot be in a user group

    @property
    def label(self) -> str:
        """How a person is named in plans and logs: a name people recognise, never a secret."""
        return self.email or self.name or self.id


# The providers' names and titles: the one list in the core (sources/providers.py builds them).
PROVIDER_TITLES = {"opsgenie": "Opsgenie", "jsm": "JSM Ops", "pagerduty": "PagerDuty", "ical": "the calendar"}
PROVIDERS = tuple(PROVIDER_TITLES)


def schedule_key(provider: str, ref: str) -> str:
    """How a stage names one schedule of one provider: ``jsm:Payments``. The same name in two
    providers (a team mid-migration) is two schedules."""
    return f"{provider}:{ref}"


def split_key(key: str) -> tuple[str, str]:
    """``(provider, ref)`` of a schedule key; a bare reference is an Opsgenie one."""
    provider, sep, ref = key.partition(":")
    if sep and provider in PROVIDERS:
        return provider, ref
    return "opsgenie", key


# An escalation level is read like a schedule: the stages hold it under a key of its own
# (``pagerduty:escalation:2:Payments Escalation``), and its provider reads the policy behind it.
LEVEL_PREFIX = "escalation:"


def level_ref(policy: str, level: int) -> str:
    """The reference of one level of an escalation policy (by name or id; levels count from 1)."""
    return f"{LEVEL_PREFIX}{level}:{policy}"


def parse_level(ref: str) -> tuple[str, int] | None:
    """``(policy, level)`` of a level's reference; None for a schedule's."""
    if not ref.startswith(LEVEL_PREFIX):
        return None
    level, sep, policy = ref[len(LEVEL_PREFIX):].partition(":")
    if not sep or not level.isdigit() or not policy or int(level) < 1:
        return None
    return policy, int(level)


def ref_title(ref: str) -> str:
    """A reference as a name, before its provider named it: a schedule's as written, a level's
    ``Payments Escalation, level 2``."""
    level = parse_level(ref)
    return f"{level[0]}, level {level[1]}" if level is not None else ref


def describe_key(key: str) -> str:
    """A schedule key as people read it: ``JSM Ops schedule 'Payments'``, or
    ``PagerDuty escalation policy 'Payments', level 2``."""
    provider, ref = split_key(key)
    level = parse_level(ref)
    if level is not None:
        return f"{PROVIDER_TITLES[provider]} escalation policy {level[0]!r}, level {level[1]}"
    return f"{PROVIDER_TITLES[provider]} schedule {ref!r}"


@dataclass(frozen=True)
class OnCall:
    """Who one schedule says is on call, at one instant.

    ``usernames`` are the provider's people as identities: e-mails where the provider gives
    them (Opsgenie usernames, PagerDuty users' e-mails, visible Atlassian e-mails), otherwise
    the provider's own id. ``needs_mapping`` names those ids with why they are not e-mails, so
    the plan can ask for a ``users:`` mapping instead of guessing.
    """

    schedule: str  # the key of the reference as written in the config (a name or an id)
    schedule_id: str
    schedule_name: str
    usernames: frozenset[str]
    enabled: bool = True
    needs_mapping: tuple[tuple[str, str], ...] = ()  # (provider user id, why it is not an e-mail)


@dataclass(frozen=True)
class ScheduleInfo:
    """A schedule a provider shows: for names in the app, for `check`."""

    id: str
    name: str
    team: str | None = None
    enabled: bool = True


class Sync(Protocol):
    """One group's rule as the stages read it (``settings.GroupSync`` is the one the YAML file gives)."""

    @property
    def usergroup(self) -> str: ...
    @property
    def keys(self) -> tuple[str, ...]:
        """Its schedules as the stages name them (``jsm:Payments``), and its escalation level if it
        names one (``jsm:escalation:2:Payments Escalation``)."""
    @property
    def users(self) -> list[str]: ...
    @property
    def when_empty(self) -> str: ...
    @property
    def fallback(self) -> list[str]: ...
    @property
    def announce(self) -> str | None: ...
    @property
    def topic(self) -> str | None: ...
    @property
    def workspace(self) -> str | None:
        """The Slack workspace (T…) holding the group; None: the token's own."""
    @property
    def create(self) -> bool:
        """Create the group when its handle does not exist."""
    @property
    def name(self) -> str | None: ...
    @property
    def description(self) -> str | None:
        """The group's description to keep ({names}: who is on call, {until}: the next handoff)."""


@dataclass(frozen=True)
class ReadFailure:
    """A read that failed after retries. Never to be mistaken for 'nobody'."""

    subject: str
    error: str


@dataclass(frozen=True)
class Resolution:
    """The Slack user behind one identity (an e-mail or a Slack user id), or why there is none."""

    identity: str
    user: SlackUser | None = None
    problem: str | None = None
    transient: bool = False  # the lookup itself failed (rate limit, outage): not an answer about the person

    @property
    def ok(self) -> bool:
        return self.user is not None


@dataclass(frozen=True)
class ActualGroup:
    """A Slack user group as Slack reports it."""

    id: str
    handle: str
    members: frozenset[str]
    disabled: bool = False
    problem: str | None = None  # Slack's answer for this group did not fit: its members are unknown
    name: str = ""
    description: str = ""
    channels: frozenset[str] = frozenset()  # its default channels (ids)


@dataclass(frozen=True)
class GroupEdit:
    """A write to the group itself, beside its members: ``create`` (with its name, description and
    channels), ``enable``, ``disable``, or ``update`` (its description and/or default channels)."""

    kind: str  # create | enable | disable | update
    name: str | None = None
    description: str | None = None
    channels: tuple[str, ...] | None = None

    @property
    def says(self) -> tuple[str, str]:
        """(what a plan says it would do, what a pass says it did)."""
        if self.kind == "update":
            what = " and ".join(w for w, v in (("description", self.description), ("default channels", self.channels))
                                if v is not None)
            return f"would set its {what}", f"{what} set"
        return {"create": ("would create it (create: true), then fill it", "created"),
                "enable": ("would enable it (someone is on call; when_empty: disable)", "enabled"),
                "disable": ("would disable it (nobody is on call; when_empty: disable)", "disabled")}[self.kind]


class Action(str, enum.Enum):
    IN_SYNC = "in sync"
    UPDATE = "update"
    KEEP = "keep"  # deliberately left alone (nobody on call, when_empty: keep)
    FAILED = "failed"  # left alone because the desired state is not trustworthy


@dataclass(frozen=True)
class Desired:
    """Who should be in a group, before Slack ids are known.

    ``identities`` are e-mails or Slack ids; ``on_call`` the Opsgenie usernames behind them.
    ``errors`` non-empty means the desired state is not trustworthy and the group must not change.
    """

    identities: frozenset[str] = frozenset()
    on_call: frozenset[str] = frozenset()
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    unmappable: tuple[tuple[str, str], ...] = ()  # (identity, problem): on call, but no way to a Slack user
    disable: bool = False  # nobody is on call and the policy is when_empty: disable


@dataclass(frozen=True)
class GroupPlan:
    """What to do to one group, and why. Printable, testable, no network needed."""

    handle: str
    action: Action
    group_id: str | None = None
    current: frozenset[str] = frozenset()
    desired: frozenset[str] = frozenset()
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    on_call: frozenset[str] = frozenset()
    edits: tuple[GroupEdit, ...] = ()  # writes to the group itself, in order (create first)

    @property
    def writes(self) -> bool:
        """Whether the plan writes to Slack at all."""
        return self.action is Action.UPDATE or bool(self.edits)

    @property
    def add(self) -> frozenset[str]:
        return self.desired - self.current if self.action is Action.UPDATE else frozenset()

    @property
    def remove(self) -> frozenset[str]:
        return self.current - self.desired if self.action is Action.UPDATE else frozenset()

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class GroupOutcome:
    """A plan and what became of it when applied."""

    plan: GroupPlan
    applied: bool = False
    apply_error: str | None = None
    queued_in: float | None = None  # not yet written: Slack's rate limit allows it in about this many seconds

    @property
    def queued(self) -> bool:
        return self.queued_in is not None

    @property
    def ok(self) -> bool:
        return self.plan.ok and self.apply_error is None


@dataclass
class PassReport:
    outcomes: list[GroupOutcome]
    dry_run: bool
    started: datetime
    at: datetime | None = None  # the instant previewed, when not "now"
    names: dict[str, str] = field(default_factory=dict)  # Slack id -> label, for printing
    reads: dict[str, OnCall | ReadFailure] = field(default_factory=dict)  # schedule ref -> what Opsgenie said
    notes: list[str] = field(default_factory=list)  # announcements and topic edits made, or why not
    ran: bool = True  # False when the pass could not start (another pass held the lock)
    # What failed beside the groups: a side effect's record that could not be saved (the side
    # effect was not carried out). Any fault fails the pass (exit code, metric), loudly.
    faults: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes) and not self.faults

    @property
    def backlog_in(self) -> float | None:
        """Seconds until the first queued write may be made (None: nothing is queued)."""
        waits = [o.queued_in for o in self.outcomes if o.queued_in is not None]
        return min(waits) if waits else None

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

