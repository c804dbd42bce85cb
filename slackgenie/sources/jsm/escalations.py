"""Escalation levels in JSM Ops: the policies found and read, and the level's recipient read as JSM
Ops notifies it (``sources/levels.py`` decides which rule and what it means).

Finding a policy. JSM Ops lists escalations only per team (``GET /v1/teams/{teamId}/escalations``,
paged; ``GET …/escalations/{id}``): there is no account-wide list and no look-up by name
(../shared/specs/escalations/REFERENCE.md §2.1). A policy is looked for among the escalations of
the teams that own the schedules the credentials can see (the schedule list's ``teamId``, as the
same section suggests), matched by id, else by a unique name. Where each policy lives (team, id) is
kept; the policy itself is read again on every pass that reads who is on call (one ``GET`` per
policy, or one list per team where a pass needs several of its policies), so an edit shows at the
next pass. A policy no longer where it was (404, renamed) is looked for again.

The recipients (ids only, §2.2): a schedule (``default``: who is on call, read with the pass's
other schedules; ``next``: ``next-on-calls``; ``previous``: the schedule's final timeline run
back); a user (an Atlassian account id): the person, as the source names people; a team: never
people (see ``team_problem``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from slackgenie.core.model import OnCall, ReadFailure
from slackgenie.sources.base import LevelRecipient, LevelView
from slackgenie.sources.http import SourceError, SourceNotFound
from slackgenie.sources.jsm.client import JsmClient
from slackgenie.sources.jsm.wire import _Schedule, policies_from_api, policy_from_api
from slackgenie.sources.levels import (Level, People, Policy, PolicyBook, Recipient, Rule, TeamRole, level_on_call,
                                       not_people, who)
from slackgenie.sources.workers import Workers

NO_POLICY = ("no such escalation policy in JSM Ops among the escalations of the teams that own the schedules "
             "these credentials can see (check 'escalation.policy': its name or id; JSM Ops lists escalations per "
             "team only)")
Notify = Literal["default", "next", "previous"]


def team_problem(team: str, notify: str, schedules: Sequence[str]) -> str:
    """Why a team recipient cannot be read as people in JSM Ops, naming the team (by its id, and
    the schedules it owns: JSM Ops names teams by id only) and the fix. ``default`` (the team's own
    routing rules) and ``random`` cannot be foreseen as people with any provider; ``all``,
    ``users`` and ``admins`` would be its members, which JSM Ops does not give these credentials.

    The evidence (2026-12):
    - The JSM Ops API has no team or team-membership operation in the spec the source is built on
      (../shared/specs/jsm-ops/SOURCE.md §1, "Left out": "Teams, alerts and everything else"); its
      recipients are ids only (../shared/specs/escalations/REFERENCE.md §2.2), and §4.1 of the same
      note marks JSM's team membership as "Atlassian's team APIs **[unverified endpoint]**".
      CONTRACTS.md §2.3 lists schedules, on-calls, overrides and Jira's user API: no teams.
    - The schedules' on-call answers name people only where a rotation names a team
      (REFERENCE.md §3.3), which says nothing of a team named directly by an escalation rule.
    - Atlassian's Teams REST API (developer.atlassian.com/platform/teams, "Teams Members Public
      API": ``POST /gateway/api/public/teams/v1/org/{orgId}/teams/{teamId}/members``, account ids
      only, no roles) takes Basic e-mail:API token, but addresses teams by the *organisation* id,
      which JSM_SITE_URL, JSM_CLOUD_ID and the Ops API do not give (no REST endpoint gives it), is
      not in ../shared/specs, and its team ids are not shown to be JSM Ops' ``teamId``.
    So the group fails, naming the team and the fix, rather than guess its members. (The fix never
    suggests another notifyType of the team: none of them is people here.)"""
    where = (f" (the team of schedule{'s' if len(schedules) > 1 else ''} "
             + ", ".join(repr(s) for s in schedules[:3]) + ")") if schedules else ""
    fix = (f"make this level notify the team's schedule ({schedules[0]!r}) instead"
           if schedules else "make this level notify a schedule of the team instead")
    if notify == "default":
        why = "is notified by its own routing rules (notifyType 'default'), which cannot be read as people"
    elif notify == "random":
        why = "is notified one random member at a time (notifyType 'random'), which no one can foresee"
    else:
        why = (f"(notifyType {notify!r}) cannot be read as people: JSM Ops gives these credentials no API that "
               "lists a team's members")
    return f"team {team}{where} {why}: {fix}, or list the people under the sync's `users:`"


@dataclass(frozen=True)
class Readers:
    """What the source reads for a level (each answer whole, or a ReadFailure): who accounts are;
    a schedule's next and previous on-call."""

    people: Callable[[str, Sequence[str]], People | ReadFailure]  # (ref, account ids) -> identities
    next: Callable[[str, datetime | None], OnCall | ReadFailure]
    previous: Callable[[str, datetime | None], OnCall | ReadFailure]


class Escalations(PolicyBook):
    def __init__(self, client: JsmClient, schedules: Callable[[], list[_Schedule]], workers: Workers):
        self.client = client
        self._schedules = schedules  # the source's kept schedule list (teamId: where to look)
        self._workers = workers
        super().__init__()
        self._where: dict[str, tuple[str, str]] = {}  # policy as written -> (team id, policy id)

    # --- the policies ---------------------------------------------------------------------------
    def _read(self, names: list[str]) -> dict[str, Policy | ReadFailure]:
        """Each policy where it was last found (read again), then those not found there looked for
        in every team's list."""
        if not names:
            return {}
        with self._lock:
            placed = {n: self._where[n] for n in names if n in self._where}
        found = self._reread(placed)
        lost = [n for n in names if n not in found]
        found.update(self._search(lost))
        with self._lock:
            self._known.update({n: p for n, p in found.items() if isinstance(p, Policy)})
        return found

    def _reread(self, placed: Mapping[str, tuple[str, str]]) -> dict[str, Policy | ReadFailure]:
        """The policies whose place is known, read again: one ``GET`` for a team's one policy, its
        list for several. One no longer there (or renamed) is left out: looked for again."""
        by_team: dict[str, list[str]] = {}
        for name, (team, _) in placed.items():
            by_team.setdefault(team, []).append(name)

        def team_read(team: str) -> dict[str, Policy | ReadFailure]:
            names = by_team[team]
            try:
                if len(names) == 1:
                    policies = [policy_from_api(self.client.escalation(team, placed[names[0]][1]))]
                    broken: dict[str, str] = {}
                else:
                    policies, broken, _ = policies_from_api(self.client.team_escalations(team))
            except SourceNotFound:
                return {}
            except SourceError as exc:
                return {n: ReadFailure(n, str(exc)) for n in names}
            out: dict[str, Policy | ReadFailure] = {}
            for name in names:
                policy_id = placed[name][1]
                policy = next((p for p in policies if p.id == policy_id), None)
                if policy_id in broken:
                    out[name] = ReadFailure(name, broken[policy_id])
                elif policy is not None and name in (policy.id, policy.name):
                    out[name] = policy
            return out

        teams = list(by_team)
        found: dict[str, Policy | ReadFailure] = {}
        for got in self._workers.map(team_read, teams):
            found.update(got)
        with self._lock:
            for name in placed:
                if name not in found:
                    self._where.pop(name, None)
        return found

    def _search(self, names: list[str]) -> dict[str, Policy | ReadFailure]:
        """Each policy looked for in the escalation lists of the teams owning the visible
        schedules (one list, paged, per team); where every policy found lives is kept."""
        if not names:
            return {}
        try:
            teams = sorted({s.teamId for s in self._schedules() if s.teamId})
        except SourceError as exc:
            return {n: ReadFailure(n, f"the schedule list (where JSM Ops' teams are found) cannot be read: {exc}")
                    for n in names}
        lists = dict(zip(teams, self._workers.map(self._team_list, teams)))
        failed = {t: got for t, got in lists.items() if isinstance(got, str)}
        listed = [(t, p) for t, got in lists.items() if not isinstance(got, str) for p in got[0]]
        with self._lock:
            for team, policy in listed:
                self._where[policy.id] = (team, policy.id)
            for name in {p.name for _, p in listed}:
                places = [(t, p.id) for t, p in listed if p.name == name]
                if len(places) == 1:
                    self._where[name] = places[0]
        out: dict[str, Policy | ReadFailure] = {}
        for name in names:
            by_id = [p for _, p in listed if p.id == name]
            by_name = [p for _, p in listed if p.name == name]
            broken = [got[1][name] for got in lists.values() if not isinstance(got, str) and name in got[1]]
            nameless = sum(got[2] for got in lists.values() if not isinstance(got, str))
            if by_id or len(by_name) == 1:
                out[name] = (by_id or by_name)[0]
            elif broken:
                out[name] = ReadFailure(name, broken[0])
            elif by_name:
                out[name] = ReadFailure(name, f"JSM Ops has {len(by_name)} escalation policies named {name!r}: name it "
                                              "by id (" + ", ".join(p.id for p in by_name) + ")")
            elif failed:
                team, error = next(iter(failed.items()))
                out[name] = ReadFailure(name, f"not found, and the escalations of {len(failed)} team(s) could not be "
                                              f"read (team {team}: {error}): it may be one of theirs")
            elif nameless:
                out[name] = ReadFailure(name, f"not found, and {nameless} escalation(s) in JSM Ops' lists cannot be "
                                              "read (malformed): it may be one of them")
            else:
                out[name] = ReadFailure(name, NO_POLICY)
        return out

    def _team_list(self, team: str) -> tuple[list[Policy], dict[str, str], int] | str:
        try:
            return policies_from_api(self.client.team_escalations(team))
        except SourceError as exc:
            return str(exc)

    # --- who each level is ------------------------------------------------------------------------
    def on_calls(self, levels: Mapping[str, Level | ReadFailure], schedules: Mapping[str, OnCall | ReadFailure],
                 readers: Readers, at: datetime | None) -> dict[str, OnCall | ReadFailure]:
        """Who each level notifies now (or at ``at``). ``schedules``: the on-call reads of the
        schedules behind the levels (by id), made with the pass's own."""
        reader = _Reader(self, schedules, readers)

        def one(ref: str) -> OnCall | ReadFailure:
            level = levels[ref]
            if isinstance(level, ReadFailure):
                return level
            rule = self.named(level.rule)
            if rule.recipient.kind == "team":
                return ReadFailure(ref, self.problem(rule) or "")
            people = who(rule, reader, at)
            if isinstance(people, str):
                return ReadFailure(ref, people)
            if isinstance(people, ReadFailure):
                return ReadFailure(ref, f"{_label(rule)}: {people.error}" if rule.recipient.kind == "schedule"
                                   else people.error)
            return level_on_call(ref, level.policy, level.level, people)

        refs = list(levels)
        return dict(zip(refs, self._workers.map(one, refs)))

    def named(self, rule: Rule) -> Rule:
        """The rule with its schedule named as the schedule list names it (recipients are ids only)."""
        r = rule.recipient
        if r.kind != "schedule" or r.id is None:
            return rule
        try:
            name = next((s.name for s in self._schedules() if s.id == r.id), None)
        except SourceError:
            name = None
        return replace(rule, recipient=replace(r, name=name)) if name else rule

    def team_schedules(self, team: str) -> list[str]:
        """The names of the schedules a team owns (to name the team, which JSM Ops gives by id only)."""
        try:
            return sorted(s.name for s in self._schedules() if s.teamId == team)
        except SourceError:
            return []

    def problem(self, rule: Rule) -> str | None:
        """Why the rule's recipient cannot be read as people (with the fix), or None."""
        if rule.recipient.kind == "team":
            team = rule.recipient.id or rule.recipient.label
            return team_problem(team, rule.notify, self.team_schedules(team))
        return not_people(rule)

    def view(self, level: Level, read: OnCall | ReadFailure) -> LevelView | ReadFailure:
        """The level as `check` shows it, from its read (``on_calls``)."""
        rule = self.named(level.rule)
        problem = self.problem(rule)
        if problem is None and isinstance(read, ReadFailure):
            return read
        people = read.usernames if isinstance(read, OnCall) and problem is None else None
        r = rule.recipient
        recipient = LevelRecipient(r.kind, r.label, level.notify, people, problem)
        return LevelView(level.policy.name, level.level, (recipient,))


class _Reader:
    """``levels.RecipientReader`` over one pass's reads."""

    def __init__(self, escalations: Escalations, schedules: Mapping[str, OnCall | ReadFailure], readers: Readers):
        self._e, self._schedules, self._readers = escalations, schedules, readers

    def schedule(self, recipient: Recipient, notify: Notify, at: datetime | None) -> OnCall | ReadFailure:
        ref = recipient.id or ""
        if notify == "next":
            return self._readers.next(ref, at)
        if notify == "previous":
            return self._readers.previous(ref, at)
        return self._schedules.get(ref) or ReadFailure(ref, "not read")

    def team(self, recipient: Recipient, role: TeamRole) -> People | ReadFailure:
        team = recipient.id or recipient.label  # not asked: a team fails before (``Escalations.problem``)
        return ReadFailure(team, team_problem(team, role, self._e.team_schedules(team)))

    def user(self, recipient: Recipient) -> People | ReadFailure:
        account = recipient.id or ""
        got = self._readers.people(account, [account])
        if isinstance(got, ReadFailure):
            return ReadFailure(account, f"user {account}: {got.error}")
        return got


def _label(rule: Rule) -> str:
    r = rule.recipient
    return f"{r.kind} {r.label!r} ({rule.notify})"
