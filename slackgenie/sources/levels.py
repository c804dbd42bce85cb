"""Escalation levels as Opsgenie and JSM Ops notify them.

The two share the rule model (../shared/specs/escalations/REFERENCE.md §1.2, §2.2): one recipient
per rule (a user, a schedule or a team), a ``notifyType``, and a delay counted from the start of
the escalation (Opsgenie: ``{timeAmount, timeUnit}``; JSM Ops: integer minutes). The level-th
level is the level-th rule in order of delay (equal delays keep the policy's order). Each provider
parses its own JSON into ``Rule`` (in its ``wire.py``) and says how to read a recipient
(``RecipientReader``); who a rule notifies *now* is decided here, once for both.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from slackgenie.core.model import OnCall, ReadFailure, parse_level
from slackgenie.core.shifts import Stretch, stretches

RecipientKind = Literal["user", "schedule", "team"]
TeamRole = Literal["all", "users", "admins"]


@dataclass(frozen=True)
class Recipient:
    kind: RecipientKind
    id: str | None = None
    name: str | None = None  # a schedule's or team's name, a user's username (JSM Ops: ids only)

    @property
    def label(self) -> str:
        return self.name or self.id or "?"


@dataclass(frozen=True)
class Rule:
    delay: timedelta  # from the start of the escalation
    notify: str  # notifyType: default | next | previous | users | admins | all | random
    recipient: Recipient


@dataclass(frozen=True)
class Policy:
    id: str
    name: str
    rules: tuple[Rule, ...]
    enabled: bool = True  # JSM Ops only; Opsgenie has no such flag


@dataclass(frozen=True)
class People:
    """Who a recipient is now, as ``on_calls`` names people."""

    usernames: frozenset[str]
    needs_mapping: tuple[tuple[str, str], ...] = ()
    enabled: bool = True  # False: the schedule behind it is disabled (the plan warns, as for the schedule)


class RecipientReader(Protocol):
    """How a provider reads one recipient (each answer is trusted whole, or a ReadFailure)."""

    def schedule(self, recipient: Recipient, notify: Literal["default", "next", "previous"],
                 at: datetime | None) -> OnCall | ReadFailure: ...

    def team(self, recipient: Recipient, role: TeamRole) -> People | ReadFailure: ...

    def user(self, recipient: Recipient) -> People | ReadFailure: ...


def rule_at(policy: Policy, level: int) -> Rule | str:
    """The level-th rule (from 1) in order of delay, or why there is none."""
    ordered = sorted(policy.rules, key=lambda r: r.delay)  # sorted() is stable
    if not policy.enabled:
        return f"escalation policy {policy.name!r} is disabled: it notifies nobody"
    if level > len(ordered):
        return (f"escalation policy {policy.name!r} has {len(ordered)} level(s), so no level {level}: "
                "fix 'escalation.level' or the policy")
    return ordered[level - 1]


def not_people(rule: Rule) -> str | None:
    """Why a rule's recipient cannot be read as people now (with the fix), or None when it can."""
    r = rule.recipient
    if r.kind == "team" and rule.notify == "default":
        return (f"team {r.label!r} is notified by its own routing rules (notifyType 'default'), which cannot be read "
                "as people: make this level notify the team's members ('all members', notifyType all) or name its "
                "schedule instead")
    if r.kind == "team" and rule.notify == "random":
        return (f"team {r.label!r} is notified one random member at a time (notifyType 'random'), which no one can "
                "foresee: make this level notify all its members (notifyType all) or name its schedule instead")
    if r.kind == "schedule" and rule.notify not in ("default", "next", "previous"):
        return f"schedule {r.label!r} with notifyType {rule.notify!r} is not something Opsgenie notifies"
    if r.kind == "team" and rule.notify not in ("all", "users", "admins"):
        return f"team {r.label!r} with notifyType {rule.notify!r} is not something Opsgenie notifies"
    return None


def who(rule: Rule, reader: RecipientReader, at: datetime | None) -> People | ReadFailure | str:
    """Who the rule notifies now (``at``: another instant): people, a failed read, or why its
    recipient cannot be read as people (a str, naming the fix)."""
    problem = not_people(rule)
    if problem is not None:
        return problem
    r = rule.recipient
    if r.kind == "user":
        return reader.user(r)
    if r.kind == "team":
        role: TeamRole = "users" if rule.notify == "users" else "admins" if rule.notify == "admins" else "all"
        return reader.team(r, role)
    notify: Literal["default", "next", "previous"] = (
        "next" if rule.notify == "next" else "previous" if rule.notify == "previous" else "default")
    read = reader.schedule(r, notify, at)
    if isinstance(read, ReadFailure):
        return read
    return People(read.usernames, read.needs_mapping, read.enabled)


def levels_of(refs: Sequence[str]) -> list[str]:
    """The references among ``refs`` that name escalation levels."""
    return [ref for ref in refs if parse_level(ref) is not None]


def level_on_call(ref: str, policy: Policy, level: int, people: People) -> OnCall:
    """A level's answer as the stages take a schedule's: named ``Policy, level N``, its id
    ``{policy id}#{N}``."""
    return OnCall(schedule=ref, schedule_id=f"{policy.id}#{level}", schedule_name=f"{policy.name}, level {level}",
                  usernames=people.usernames, enabled=people.enabled, needs_mapping=people.needs_mapping)


def around(found: Sequence[Stretch], notify: Literal["next", "previous"], start: datetime, end: datetime,
           read_from: datetime, read_until: datetime) -> list[Stretch]:
    """Who a schedule's ``next`` / ``previous`` notifies within ``start``..``end``, from the
    schedule's stretches read over the wider ``read_from``..``read_until``.

    The schedule's time is cut into spans where the same people (or nobody) are on call. During a
    span, ``next`` is whoever is on call right after it (nobody, if nobody is: Opsgenie's "exact
    next"); ``previous`` is the people of the last stretch before it (a span of nobody skipped:
    they are who was on call last). Where the wider read does not tell (before its first span,
    after its last), nobody is foreseen."""
    spans: list[tuple[datetime, datetime, frozenset[str]]] = []
    t = read_from
    for s in sorted(found, key=lambda s: s.start):
        if s.start > t:
            spans.append((t, s.start, frozenset()))
        spans.append((s.start, s.end, s.people))
        t = max(t, s.end)
    if t < read_until:
        spans.append((t, read_until, frozenset()))
    pieces: list[tuple[datetime, datetime, str | None]] = []
    last: frozenset[str] = frozenset()
    for i, (a, b, people) in enumerate(spans):
        if notify == "next":
            who = spans[i + 1][2] if i + 1 < len(spans) else frozenset()
        else:
            who = last
        pieces += [(a, b, person) for person in who]
        if people:
            last = people
    return stretches(pieces, start, end)


@dataclass(frozen=True)
class Level:
    """One level asked for, with the rule that makes it."""

    ref: str
    policy: Policy
    level: int
    rule: Rule

    @property
    def schedule(self) -> str | None:
        """The schedule behind it (its id, else its name), if its recipient is a schedule."""
        r = self.rule.recipient
        return (r.id or r.name) if r.kind == "schedule" else None

    @property
    def notify(self) -> str:
        return self.rule.notify


class PolicyBook:
    """The policies a provider's levels come from, each as last read (by its name or id as
    written), and the rule behind each level asked; the provider says how to read them
    (``_read``: its own calls, which also keep what they found in ``_known``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[str, Policy] = {}  # each policy as last read, by its name or id as written

    def _read(self, names: list[str]) -> dict[str, Policy | ReadFailure]:
        raise NotImplementedError

    def levels(self, refs: Sequence[str], fresh: bool = True,
               read_missing: bool = True) -> dict[str, Level | ReadFailure]:
        """The rule behind each level reference. ``fresh``: read the policies now (a pass);
        otherwise as last read, reading those never read unless ``read_missing`` is False (handoffs
        and forecast checks, asked per group: they never call the provider for a policy)."""
        asked = {ref: level for ref in dict.fromkeys(refs) if (level := parse_level(ref)) is not None}
        names = list(dict.fromkeys(policy for policy, _ in asked.values()))
        with self._lock:
            known = {} if fresh else {n: self._known[n] for n in names if n in self._known}
        missing = [n for n in names if n not in known]
        policies: dict[str, Policy | ReadFailure] = {**known, **(
            self._read(missing) if read_missing else {n: ReadFailure(n, "not read yet") for n in missing})}
        out: dict[str, Level | ReadFailure] = {}
        for ref, (name, number) in asked.items():
            policy = policies[name]
            if isinstance(policy, ReadFailure):
                out[ref] = ReadFailure(ref, policy.error)
                continue
            rule = rule_at(policy, number)
            out[ref] = ReadFailure(ref, rule) if isinstance(rule, str) else Level(ref, policy, number, rule)
        return out


def split_asked(wanted: Sequence[str], asked: Mapping[str, Level | ReadFailure]) -> tuple[list[str], list[str]]:
    """(the schedules asked for themselves, the schedules behind the levels asked whose recipient
    is who is on call in them now): both read in the provider's one on-call read."""
    plain = [r for r in wanted if r not in asked]
    behind = [v.schedule for v in asked.values()
              if isinstance(v, Level) and v.schedule is not None and v.notify == "default"]
    return plain, behind
