"""Escalation levels in PagerDuty (../shared/specs/escalations/REFERENCE.md §3).

A policy is named by id or by name: a name is looked up with ``GET /escalation_policies?query=``
(an id that no name matches: ``GET /escalation_policies/{id}``), and the id it finds kept an hour,
as the schedule list is. The policies are read again on every pass that reads who is on call (an
edited policy shows at the next pass): one alone by id, several with the policy list (one page
for a hundred) unless the list took more pages last time than there are policies to read.

Level N is ``escalation_rules[N - 1]``; its targets are users and schedules (PagerDuty has no team
targets). Who is on call at it: ``GET /oncalls`` with ``escalation_policy_ids[]`` (a hundred
policies a request, every level of each: there is no level filter) and ``include[]=users``,
keeping the entries whose ``escalation_level`` is N: the schedules' shifts, and a user named
directly on the level as a permanent on-call (no schedule, start or end). A person may come
several times (several targets, levels, policies): each is counted once. An answer that leaves
out a user the level names directly is a partial answer, never "not them".

Handoffs are the entries' own starts and ends (a permanent on-call has none); stretches the same
entries over the window (a permanent on-call spans the whole of it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slackgenie.core.model import OnCall, ReadFailure, parse_level
from slackgenie.core.shifts import Stretch, stretches
from slackgenie.sources.base import LevelRecipient, LevelView
from slackgenie.sources.caches import TimedMap
from slackgenie.sources.catalog import CATALOG_AGE
from slackgenie.sources.http import SourceError
from slackgenie.sources.pagerduty.batches import POLICIES, read_in_batches
from slackgenie.sources.pagerduty.client import PAGE, PagerDutyClient
from slackgenie.sources.pagerduty.wire import EscalationPolicy, EscalationRule, LevelEntry
from slackgenie.sources.reads import read
from slackgenie.sources.validate import Malformed, fit
from slackgenie.sources.workers import Workers

NO_POLICY = ("no such escalation policy in PagerDuty (check 'escalation.policy': its name or id; the API key "
             "must be able to see it)")
ONCALL_SPAN = timedelta(days=90)  # /oncalls: "On-call shifts are limited to 90 days" per request

Person = Callable[[str, "str | None"], "str | None"]  # (user id, e-mail) -> identity, None: none usable


@dataclass(frozen=True)
class Level:
    """One level asked for: its policy (as read) and its number (from 1)."""

    ref: str
    policy: EscalationPolicy
    number: int

    @property
    def rule(self) -> EscalationRule:
        return self.policy.escalation_rules[self.number - 1]

    @property
    def id(self) -> str:
        return f"{self.policy.id}#{self.number}"

    @property
    def name(self) -> str:
        return f"{self.policy.label}, level {self.number}"


class Escalations:
    def __init__(self, client: PagerDutyClient, workers: Workers, person: Person, pass_deadline: float):
        self.client, self._workers, self._person, self.pass_deadline = client, workers, person, pass_deadline
        self._lock = threading.Lock()
        self._ids: TimedMap[str, str] = TimedMap(CATALOG_AGE)  # a policy's name or id as written -> its id
        self._known: dict[str, EscalationPolicy] = {}  # each policy as last read, by its id
        self._pages = 0  # pages the policy list took when last read whole (0: not read yet)

    # --- the policies ---------------------------------------------------------------------------
    def levels(self, refs: Sequence[str], fresh: bool = True) -> dict[str, Level | ReadFailure]:
        """The level each reference names, in its policy. ``fresh``: the policies read now (a
        pass); otherwise as last read (those never read are read now)."""
        asked = {ref: level for ref in dict.fromkeys(refs) if (level := parse_level(ref)) is not None}
        policies = self.policies(list(dict.fromkeys(name for name, _ in asked.values())), fresh)
        out: dict[str, Level | ReadFailure] = {}
        for ref, (name, number) in asked.items():
            policy = policies[name]
            if isinstance(policy, ReadFailure):
                out[ref] = ReadFailure(ref, policy.error)
            elif number > len(policy.escalation_rules):
                out[ref] = ReadFailure(ref, f"escalation policy {policy.label!r} has {len(policy.escalation_rules)} "
                                            f"level(s), so no level {number}: fix 'escalation.level' or the policy")
            else:
                out[ref] = Level(ref, policy, number)
        return out

    def policies(self, names: list[str], fresh: bool = True) -> dict[str, EscalationPolicy | ReadFailure]:
        """Each policy (by its name or id as written), or why it cannot be read."""
        out: dict[str, EscalationPolicy | ReadFailure] = {}
        with self._lock:
            ids = {n: i for n in names if (i := self._ids.get(n)) is not None}
            if not fresh:
                out.update({n: self._known[i] for n, i in ids.items() if i in self._known})
        todo = [n for n in names if n not in out]
        unknown = [n for n in todo if n not in ids]
        by_id = self._read_by_id(list(dict.fromkeys(ids[n] for n in todo if n in ids)))
        for name in todo:
            if name in ids:
                got = by_id.get(ids[name])
                if got is None:  # gone since its id was found (deleted, or a name now another's)
                    unknown.append(name)
                else:
                    out[name] = got if isinstance(got, EscalationPolicy) else ReadFailure(name, got.error)
        found = dict(zip(unknown, self._workers.map(self._find, unknown)))
        out.update(found)
        with self._lock:
            for name, policy in found.items():
                if isinstance(policy, EscalationPolicy):
                    self._ids.put(name, policy.id)
            for policy in out.values():
                if isinstance(policy, EscalationPolicy):
                    self._known[policy.id] = policy
        return {n: out[n] for n in names}

    def _read_by_id(self, ids: list[str]) -> dict[str, EscalationPolicy | ReadFailure]:
        """Policies whose ids are known, read now: several with the list (when it took fewer pages
        last time than there are policies), else each by id. A policy gone (404, or not in the
        list) is left out: its name is looked up again."""
        with self._lock:
            listing = len(ids) > 1 and self._pages < len(ids)
        if listing:
            try:
                raw = self.client.escalation_policies()
            except SourceError as exc:
                return {i: ReadFailure(i, str(exc)) for i in ids}
            with self._lock:
                self._pages = max(1, -(-len(raw) // PAGE))
            listed = _policies(raw)
            return {i: listed[i] for i in ids if i in listed}
        got = dict(zip(ids, self._workers.map(
            lambda i: read(i, lambda: self.client.escalation_policy(i), NO_POLICY), ids)))
        return {i: p for i, p in got.items() if not (isinstance(p, ReadFailure) and p.error == NO_POLICY)}

    def _find(self, name: str) -> EscalationPolicy | ReadFailure:
        """The policy a name (or an id) names: an exact id or a unique exact name among those the
        query finds; else the policy of that id; else none."""
        try:
            listed = _policies(self.client.escalation_policies(query=name))
        except SourceError as exc:
            return ReadFailure(name, str(exc))
        if isinstance(listed.get(name), EscalationPolicy):
            return listed[name]
        named = [p for p in listed.values() if isinstance(p, EscalationPolicy) and p.name == name]
        if len(named) > 1:
            return ReadFailure(name, f"PagerDuty has {len(named)} escalation policies named {name!r}: name it by id ("
                                     + ", ".join(p.id for p in named) + ")")
        if named:
            return named[0]
        odd = [p for p in listed.values() if isinstance(p, ReadFailure)]
        if odd:
            return ReadFailure(name, f"not found, and PagerDuty's escalation policies holding {name!r} include "
                                     f"{len(odd)} that cannot be read ({odd[0].error}): it may be one of them")
        return read(name, lambda: self.client.escalation_policy(name), NO_POLICY)

    def policy_id(self, name: str) -> str | None:
        """The id a policy reference was last found under (no call), or None."""
        with self._lock:
            return self._ids.get(name)

    # --- who is on call at each level -----------------------------------------------------------
    def on_calls(self, levels: Mapping[str, Level | ReadFailure],
                 at: datetime | None = None) -> dict[str, OnCall | ReadFailure]:
        """Who each level notifies now (or at ``at``): one ``/oncalls`` read for all their policies."""
        entries = self._entries(levels, at, None)
        out: dict[str, OnCall | ReadFailure] = {}
        for ref, found in entries.items():
            level = levels[ref]
            if isinstance(found, ReadFailure) or isinstance(level, ReadFailure):
                out[ref] = found if isinstance(found, ReadFailure) else ReadFailure(ref, "not read")
                continue
            people = self._people(ref, found)
            out[ref] = people if isinstance(people, ReadFailure) else OnCall(ref, level.id, level.name,
                                                                             frozenset(people.values()))
        return out

    def view(self, level: Level, at: datetime | None = None) -> LevelView | ReadFailure:
        """The level as `check` shows it: each target, and who it is now."""
        found = self._entries({level.ref: level}, at, None)[level.ref]
        if isinstance(found, ReadFailure):
            return found
        people = self._people(level.ref, found)
        if isinstance(people, ReadFailure):
            return people
        recipients = []
        for target in level.rule.targets:
            if target.kind == "user":
                now = {people[target.id]}
            else:
                now = {people[e.user.id] for e in found if e.schedule is not None and e.schedule.id == target.id}
            recipients.append(LevelRecipient(target.kind, target.label, "default", frozenset(now)))
        return LevelView(level.policy.label, level.number, tuple(recipients))

    def boundaries(self, refs: Sequence[str], start: datetime, end: datetime) -> dict[str, list[datetime]]:
        """Each level's handoffs within ``start``..``end``: its schedule entries' starts and ends,
        for the levels whose policy id is known (no call for a policy); a level that cannot be
        read is left out."""
        asked: dict[str, Level | ReadFailure] = {}
        for ref in refs:
            parsed = parse_level(ref)
            policy_id = self.policy_id(parsed[0]) if parsed is not None else None
            if parsed is not None and policy_id is not None:
                known = self._known.get(policy_id)
                if known is not None and parsed[1] <= len(known.escalation_rules):
                    asked[ref] = Level(ref, known, parsed[1])
        out: dict[str, list[datetime]] = {}
        for ref, found in self._entries(asked, start, end).items():
            if not isinstance(found, ReadFailure):
                out[ref] = sorted({t for e in found for t in (e.start, e.end) if t is not None})
        return out

    def stretches(self, levels: Mapping[str, Level | ReadFailure], start: datetime,
                  end: datetime) -> dict[str, list[Stretch] | ReadFailure]:
        """Who each level notifies when within ``start``..``end`` (overrides included: the entries
        are the final schedules'), read in spans of at most 90 days."""
        pieces: dict[str, list[tuple[datetime, datetime, str | None]]] = {ref: [] for ref in levels}
        failed: dict[str, ReadFailure] = {}
        t = start
        for _ in range(64):  # bounded: 64 spans of 90 days are far more than any window asked for
            if t >= end:
                break
            upto = min(end, t + ONCALL_SPAN)
            for ref, found in self._entries({r: v for r, v in levels.items() if r not in failed}, t, upto).items():
                if isinstance(found, ReadFailure):
                    failed[ref] = found
                    continue
                people = self._people(ref, found)
                if isinstance(people, ReadFailure):
                    failed[ref] = people
                    continue
                pieces[ref] += [(e.start or start, e.end or end, people[e.user.id]) for e in found]
            t = upto
        return {ref: failed[ref] if ref in failed else stretches(pieces[ref], start, end) for ref in levels}

    # --- the /oncalls read ----------------------------------------------------------------------
    def _entries(self, levels: Mapping[str, Level | ReadFailure], since: datetime | None,
                 until: datetime | None) -> dict[str, list[LevelEntry] | ReadFailure]:
        """Each level's ``/oncalls`` entries (now, at ``since``, or overlapping ``since``..``until``),
        or why they cannot be trusted whole."""
        ok = {ref: v for ref, v in levels.items() if isinstance(v, Level)}
        out: dict[str, list[LevelEntry] | ReadFailure] = {
            ref: v for ref, v in levels.items() if isinstance(v, ReadFailure)}
        if not ok:
            return out
        raw, unread = read_in_batches(self.client, sorted({v.policy.id for v in ok.values()}), since, until,
                                      self._workers, self.pass_deadline, by=POLICIES)
        entries, odd = _entries(raw)
        for ref, level in ok.items():
            why = unread.get(level.policy.id) or odd.get(level.policy.id) or odd.get(None)
            if why is not None:
                out[ref] = ReadFailure(ref, why)
                continue
            mine = [e for e in entries if e.escalation_policy.id == level.policy.id and e.escalation_level == level.number]
            named = {e.user.id for e in mine}
            left_out = [t for t in level.rule.targets if t.kind == "user" and t.id not in named]
            out[ref] = (ReadFailure(ref, f"PagerDuty's on-call answer leaves out user {left_out[0].label} "
                                         f"({left_out[0].id}), whom level {level.number} of {level.policy.label!r} "
                                         "names directly: a partial answer") if left_out else mine)
        return out

    def _people(self, ref: str, entries: list[LevelEntry]) -> dict[str, str] | ReadFailure:
        """User id -> identity for everyone the entries name, each once."""
        people: dict[str, str] = {}
        for e in entries:  # any of a user's entries may carry their e-mail
            person = None if e.user.id in people else self._person(e.user.id, e.user.email)
            if person is not None:
                people[e.user.id] = person
        # With include[]=users every user carries an e-mail: one without is an answer that does not
        # fit, never a person to leave out (unless `users:` names them by id)
        lacking = [e.user for e in entries if e.user.id not in people]
        if lacking:
            u = lacking[0]
            return ReadFailure(ref, f"PagerDuty's answer gives user {u.id} ({u.name or u.summary or '?'}) "
                                    "no usable e-mail")
        return people


def _policies(raw: list[Any]) -> dict[str, EscalationPolicy | ReadFailure]:
    """The listed policies by id; one that does not fit is a failure under its id (if it has one)."""
    out: dict[str, EscalationPolicy | ReadFailure] = {}
    for i, item in enumerate(raw):
        try:
            policy = fit(EscalationPolicy, item, "PagerDuty's escalation policy list is", at=f"escalation_policies.{i}.")
        except Malformed as exc:
            ident = str(item["id"]) if isinstance(item, dict) and isinstance(item.get("id"), str) else f"#{i}"
            out.setdefault(ident, ReadFailure(ident, str(exc)))
            continue
        out[policy.id] = policy
    return out


def _entries(raw: list[Any]) -> tuple[list[LevelEntry], dict[str | None, str]]:
    """The entries that fit, and, by policy id (None: whose, nobody can tell), why the others do not."""
    good: list[LevelEntry] = []
    odd: dict[str | None, str] = {}
    for item in raw:
        try:
            good.append(fit(LevelEntry, item, "PagerDuty's on-call answer is", at="oncalls[]."))
        except Malformed as exc:
            policy = item.get("escalation_policy") if isinstance(item, dict) else None
            pid = policy.get("id") if isinstance(policy, dict) and isinstance(policy.get("id"), str) else None
            odd.setdefault(pid, str(exc))
    return good, odd
