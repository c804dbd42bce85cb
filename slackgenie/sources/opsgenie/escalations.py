"""Escalation levels in Opsgenie: the policies read (``GET /v2/escalations``: every policy in one
request; one policy: ``GET /v2/escalations/{id or name}``), and the level's recipient read as
Opsgenie notifies it (``sources/levels.py`` decides which rule and what it means):

- a schedule: ``default`` who is on call (read with the schedules of the same pass, in one bulk
  read), ``next`` Opsgenie's exact next on-call (``next-on-calls``), ``previous`` the rotations run
  back (the source's forecast, with the schedule's overrides read afresh);
- a team: its members (``GET /v2/teams/{id}``, kept ``TEAM_AGE``), its admins, or those who are not;
- a user: their username (read only when the policy names them by id alone).

The policies are read again on every pass that reads who is on call, so an edited policy shows
at the next pass; handoffs and stretches use the policies as last read.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Literal

from slackgenie.core.model import OnCall, ReadFailure
from slackgenie.sources.base import LevelRecipient, LevelView
from slackgenie.sources.caches import TimedMap
from slackgenie.sources.http import SourceError
from slackgenie.sources.levels import (Level, People, Policy, PolicyBook, Recipient, Rule, TeamRole, level_on_call,
                                       not_people, who)
from slackgenie.sources.opsgenie.client import OpsgenieClient
from slackgenie.sources.opsgenie.wire import (TeamMembers, next_from_api, policies_from_api, policy_from_api,
                                              team_from_api, username_from_api)
from slackgenie.sources.reads import read

TEAM_AGE = 300.0  # seconds a team's members are kept: membership changes seldom, and a pass may ask often
NO_POLICY = "no such escalation policy in Opsgenie (check 'escalation.policy': its name or id)"
Notify = Literal["default", "next", "previous"]


class Escalations(PolicyBook):
    def __init__(self, client: OpsgenieClient, now: Callable[[], datetime]):
        self.client = client
        super().__init__()
        self._teams: TimedMap[str, TeamMembers] = TimedMap(TEAM_AGE, timer=lambda: now().timestamp())
        self._team_reads: dict[str, threading.Lock] = {}
        self._team_failed: dict[str, tuple[float, SourceError]] = {}  # the last failed read: when it ended, why

    # --- the policies ---------------------------------------------------------------------------
    def _read(self, names: list[str]) -> dict[str, Policy | ReadFailure]:
        """One policy: read by its id or name (none such: the list, where a name that looks like
        an id, or that Opsgenie keeps with spaces at its ends, is found). Several: every policy
        in one request, matched here (by id, else by name; two of one name: no guess)."""
        if not names:
            return {}
        if len(names) == 1:
            name = names[0]
            alone = read(name, lambda: policy_from_api(self.client.escalation(name)), NO_POLICY)
            missing = isinstance(alone, ReadFailure) and alone.error == NO_POLICY
            found: dict[str, Policy | ReadFailure] = self._listed(names) if missing else {name: alone}
        else:
            found = self._listed(names)
        with self._lock:
            self._known.update({n: p for n, p in found.items() if isinstance(p, Policy)})
        return found

    def _listed(self, names: list[str]) -> dict[str, Policy | ReadFailure]:
        try:
            policies, broken, nameless = policies_from_api(self.client.list_escalations())
        except SourceError as exc:
            return {n: ReadFailure(n, str(exc)) for n in names}
        out: dict[str, Policy | ReadFailure] = {}
        for name in names:
            by_id = [p for p in policies if p.id == name]
            # a name as written, else as Opsgenie may keep it (the config trims what it is given)
            by_name = [p for p in policies if p.name == name] or [p for p in policies if p.name.strip() == name]
            if name in broken:
                out[name] = ReadFailure(name, broken[name])
            elif by_id or len(by_name) == 1:
                out[name] = (by_id or by_name)[0]
            elif by_name:
                out[name] = ReadFailure(name, f"Opsgenie has {len(by_name)} escalation policies named {name!r}: name "
                                              "it by id (" + ", ".join(p.id for p in by_name) + ")")
            elif nameless:
                out[name] = ReadFailure(name, f"not found, and Opsgenie's list of escalation policies holds {nameless} "
                                              "that cannot be read (malformed): it may be one of them")
            else:
                out[name] = ReadFailure(name, NO_POLICY)
        return out

    # --- who each level is ------------------------------------------------------------------------
    def on_calls(self, levels: Mapping[str, Level | ReadFailure], schedules: Mapping[str, OnCall | ReadFailure],
                 previous: Callable[[str, datetime | None], OnCall | ReadFailure], at: datetime | None,
                 each: Callable[[Callable[[str], OnCall | ReadFailure], list[str]], list[OnCall | ReadFailure]],
                 ) -> dict[str, OnCall | ReadFailure]:
        """Who each level notifies now (or at ``at``). ``schedules``: the on-call reads of the
        schedules behind the levels (``Level.schedule``), made with the pass's own;
        ``previous``: a schedule's previous on-call; ``each``: how to run the reads (the source's
        workers)."""
        reader = _Reader(self, schedules, previous)

        def one(ref: str) -> OnCall | ReadFailure:
            level = levels[ref]
            if isinstance(level, ReadFailure):
                return level
            people = who(level.rule, reader, at)
            if isinstance(people, str):
                return ReadFailure(ref, people)
            if isinstance(people, ReadFailure):
                return ReadFailure(ref, f"{_label(level.rule)}: {people.error}")
            return level_on_call(ref, level.policy, level.level, people)

        refs = list(levels)
        return dict(zip(refs, each(one, refs)))

    def view(self, level: Level, read: OnCall | ReadFailure) -> LevelView | ReadFailure:
        """The level as `check` shows it, from its read (``on_calls``)."""
        r = level.rule.recipient
        problem = not_people(level.rule)
        if problem is None and isinstance(read, ReadFailure):
            return read
        people = read.usernames if isinstance(read, OnCall) and problem is None else None
        recipient = LevelRecipient(r.kind, r.label, level.notify, people, problem)
        return LevelView(level.policy.name, level.level, (recipient,))

    def team(self, recipient: Recipient) -> TeamMembers:
        """A team's members and admins (kept ``TEAM_AGE``); raises ``SourceError``. One read per
        team however many levels ask at once: those that asked while it was under way share its
        answer, a failure too (a silent team costs one retry budget, not one per level)."""
        ref = recipient.id or recipient.name or ""
        asked = time.monotonic()
        with self._lock:
            alone = self._team_reads.setdefault(ref, threading.Lock())
        with alone:
            kept = self._teams.get(ref)
            if kept is not None:
                return kept
            ended, error = self._team_failed.get(ref, (float("-inf"), None))
            if error is not None and ended >= asked:
                raise copy.copy(error)
            try:
                kept = team_from_api(self.client.team(ref))
            except SourceError as exc:
                self._team_failed[ref] = (time.monotonic(), exc)
                raise
            self._team_failed.pop(ref, None)
            self._teams.put(ref, kept)
            return kept

    def username(self, recipient: Recipient) -> str:
        """A user recipient's username: as the policy gives it, else read by the user's id."""
        return recipient.name or username_from_api(self.client.user(recipient.id or ""))

    def next_on_call(self, ref: str, at: datetime | None) -> OnCall | ReadFailure:
        return read(ref, lambda: next_from_api(ref, self.client.next_on_calls(ref, at)),
                    "no such schedule in Opsgenie (check the policy)")


class _Reader:
    """``levels.RecipientReader`` over one pass's reads: a schedule's next or previous on-call
    read once however many levels ask for it (at once, too)."""

    def __init__(self, escalations: Escalations, schedules: Mapping[str, OnCall | ReadFailure],
                 previous: Callable[[str, datetime | None], OnCall | ReadFailure]):
        self._e, self._schedules, self._previous = escalations, schedules, previous
        self._lock = threading.Lock()
        self._alone: dict[tuple[str, str], threading.Lock] = {}
        self._read: dict[tuple[str, str], OnCall | ReadFailure] = {}

    def schedule(self, recipient: Recipient, notify: Notify, at: datetime | None) -> OnCall | ReadFailure:
        ref = recipient.id or recipient.name or ""
        if notify == "default":
            return self._schedules.get(ref) or ReadFailure(ref, "not read")
        key = (notify, ref)
        with self._lock:
            alone = self._alone.setdefault(key, threading.Lock())
        with alone:
            if key not in self._read:
                self._read[key] = self._e.next_on_call(ref, at) if notify == "next" else self._previous(ref, at)
            return self._read[key]

    def team(self, recipient: Recipient, role: TeamRole) -> People | ReadFailure:
        return read(recipient.label, lambda: self._e.team(recipient).people(role),
                    "no such team in Opsgenie (check the policy)")

    def user(self, recipient: Recipient) -> People | ReadFailure:
        return read(recipient.label, lambda: People(frozenset({self._e.username(recipient)})),
                    "no such user in Opsgenie (check the policy)")


def _label(rule: Rule) -> str:
    r = rule.recipient
    return f"{r.kind} {r.label!r} ({rule.notify})"
