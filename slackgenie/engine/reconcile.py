"""One pass: read both sides concurrently -> plan -> apply -> report.

Level-triggered, like a Kubernetes controller: each pass computes the whole desired state,
reads the whole actual state, and writes only the difference. A pass that finds nothing to
change writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import structlog

from slackgenie.settings import Config, GroupSync
from slackgenie.core.model import (Action, ActualGroup, Desired, GroupEdit, GroupOutcome, GroupPlan, OnCall,
                                   PassReport, ReadFailure)
from slackgenie.core.plan import Look, desired_for, plan_group
from slackgenie.retry import Stop
from slackgenie.slack.directory import Directory
from slackgenie.slack.notify import Notifier
from slackgenie.slack.channels import ChannelIds
from slackgenie.slack.target import GroupsUnreadable, PeopleRefused, Refused, SlackTarget, Throttled
from slackgenie.sources.base import OnCallSource
from slackgenie.core.facts import StateNotSaved

log = structlog.get_logger("slackgenie.engine.reconcile")


@dataclass(frozen=True)
class _Seen:
    """Both sides as one pass read them, and the plan made from them."""

    reads: Mapping[str, OnCall | ReadFailure]
    desired: dict[str, Desired]
    actual: dict[str, ActualGroup]
    plans: list[GroupPlan]


class Reconciler:
    def __init__(self, config: Config, source: OnCallSource, target: SlackTarget, directory: Directory,
                 pool: Executor, notifier: Notifier | None = None, now: Callable[[], datetime] | None = None,
                 stop: Stop | None = None, channels: ChannelIds | None = None,
                 until: Callable[[Sequence[str]], datetime | None] | None = None):
        self.config = config
        self.stop = stop or Stop()  # the service's: once set, nothing more is written or announced
        self.source = source
        self.target = target
        self.directory = directory
        self.pool = pool  # the service's (``concurrency`` threads): Slack's reads and look-ups
        self.notifier = notifier
        self.now = now or (lambda: datetime.now(timezone.utc))
        self._write_until = 0.0  # monotonic; set by each pass from pass_deadline
        # group -> when a pass first found it needing a write: the oldest is written first
        self._pending: dict[str, datetime] = {}
        self._workspace = {s.usergroup: s.workspace for s in config.syncs}  # group -> its workspace (None: the token's)
        self.channels = channels  # a group's default channels, #names -> ids
        self.until = until  # a set of schedules' next handoff, for a description's {until}
        self._notes: list[str] = []  # what this pass did (or would do) to the groups themselves

    def run_pass(self, dry_run: bool = False, at: datetime | None = None, notify: bool = True,
                 until: float | None = None) -> PassReport:
        """``notify``: announce and set topics; ``until``: the pass's deadline (monotonic; by
        default ``pass_deadline`` from now), when it began before this call (a lock's wait)."""
        started = self.now()
        # After the pass deadline, or once a stop is asked, nothing more is written: a pass
        # that overran is abandoned by the daemon, and must not write a stale plan later.
        self._write_until = until if until is not None else time.monotonic() + self.config.file.pass_deadline
        self._notes = []
        seen = self._read_and_plan(at)
        outcomes = ([GroupOutcome(p) for p in seen.plans] if dry_run
                    else self._apply_all(seen.plans, started, lambda plan: self._replan(plan, seen)))
        names = self._names(outcomes, everyone=dry_run)
        if dry_run:
            self._notes = [f"@{o.plan.handle}: {e.says[0]}" for o in outcomes for e in o.plan.edits]
        notes: list[str] = list(self._notes)
        faults: list[str] = []
        if self.notifier is not None and notify and not dry_run and at is None and not self.stop.is_set():
            told, faults = self._notify(self.notifier, outcomes)
            notes += told
        self.directory.save()
        report = PassReport(outcomes=outcomes, dry_run=dry_run, started=started, at=at, names=names,
                            reads=dict(seen.reads), notes=notes, faults=faults)
        for outcome in outcomes:
            _log_outcome(outcome, names, dry_run)
        log.info("pass.done", groups=len(outcomes), ok=report.ok, dry_run=dry_run,
                 changed=sum(1 for o in outcomes if o.applied), queued=sum(1 for o in outcomes if o.queued),
                 failed=sum(1 for o in outcomes if not o.ok))
        return report

    def _read_and_plan(self, at: datetime | None) -> _Seen:
        """Slack's groups (one ``usergroups.list`` per workspace in use) and the providers'
        on-calls, read at once; every group's plan."""
        syncs = self.config.syncs
        refs = sorted({key for s in syncs for key in s.keys})
        group_reads: dict[str | None, Future[dict[str, ActualGroup]]] = {
            team: self.pool.submit(self.target.groups, team) for team in self.config.workspaces}
        reads = self.source.on_calls(refs, at) if refs else {}
        listed: dict[str | None, dict[str, ActualGroup]] = {}
        unreadable: dict[str | None, str] = {}
        for team, future in group_reads.items():
            try:
                listed[team] = future.result()
            except GroupsUnreadable as exc:
                unreadable[team] = str(exc)
        actual = {s.usergroup: group for s in syncs
                  if (group := listed.get(s.workspace, {}).get(s.usergroup)) is not None}
        user_map = self.config.file.users
        desired = {s.usergroup: desired_for(s, reads, user_map) for s in syncs}
        identities = {i for s in syncs if s.workspace not in unreadable
                      for d in [desired[s.usergroup]] if not d.errors for i in d.identities}
        resolutions = self.directory.resolve_many(identities, self.pool) if identities else {}
        plans: list[GroupPlan] = []
        for sync in syncs:
            slack_error = unreadable.get(sync.workspace)
            if slack_error:
                plans.append(GroupPlan(handle=sync.usergroup, action=Action.FAILED,
                                       errors=(f"could not read Slack user groups: {slack_error}",)
                                       + desired[sync.usergroup].errors))
                continue
            look, problem = self._look(sync)
            plan = plan_group(sync, desired[sync.usergroup], resolutions, actual.get(sync.usergroup), look)
            # a channel not found fails the group (its members are written all the same), every pass until fixed
            plans.append(replace(plan, errors=plan.errors + (problem,))
                         if problem and plan.action is not Action.FAILED else plan)
        return _Seen(reads, desired, actual, plans)

    def _look(self, sync: GroupSync) -> tuple[Look, str | None]:
        """What the group should look like beside its members (the next handoff for {until}, its
        default channels' ids), and what could not be found out (the channels are then left alone)."""
        until = None
        if sync.description and "{until}" in sync.description and self.until is not None:
            until = self.until(sync.keys)
        channels: tuple[str, ...] | None = None
        problem = None
        if sync.channels and self.channels is not None:
            found = self.channels.ids(sync.channels, sync.workspace)
            channels, problem = (found, None) if isinstance(found, tuple) else (None, found)
        return Look(until=until, channels=channels), problem

    def _replan(self, plan: GroupPlan, seen: _Seen) -> GroupPlan:
        """The group planned again with its people looked up afresh (their ids are no longer
        cached): after Slack refused some of them."""
        sync = next(s for s in self.config.syncs if s.usergroup == plan.handle)
        fresh = self.directory.resolve_many(seen.desired[plan.handle].identities, self.pool)
        actual = seen.actual.get(plan.handle) or ActualGroup(plan.group_id or "", plan.handle, frozenset())
        return replace(plan_group(sync, seen.desired[plan.handle], fresh, actual), edits=())

    def _notify(self, notifier: Notifier, outcomes: list[GroupOutcome]) -> tuple[list[str], list[str]]:
        """Announcements and topics after the writes: (notes, faults)."""
        notes: list[str] = []
        for sync, outcome in zip(self.config.syncs, outcomes):
            try:
                notes += [f"@{sync.usergroup}: {n}" for n in notifier.after_pass(sync, outcome)]
            except StateNotSaved as exc:  # nothing is posted that could not be recorded
                return notes, [f"{exc}: announcements and topics stop until it can be saved"]
        return notes, []

    def _apply_all(self, plans: list[GroupPlan], started: datetime,
                   replan: Callable[[GroupPlan], GroupPlan]) -> list[GroupOutcome]:
        """The writes, one at a time, the group waiting longest first, each when Slack's rate
        tier allows it. One the tier does not allow before the pass deadline is queued (not
        failed): the next pass, which the daemon brings forward to then, writes it."""
        outcomes = {p.handle: GroupOutcome(p) for p in plans}
        writes = sorted((p for p in plans if p.action is not Action.FAILED and p.writes),
                        key=lambda p: (self._pending.get(p.handle, started), p.handle))
        queued = 0
        # How long the rate limit itself explains a wait: the whole backlog at the tier, and three
        # windows more. A group waiting longer is not queued but failing (Slack refuses writes the
        # pacer allowed: another app or replica shares the limit), and says so, loudly.
        explained = self.target.backlog_explains(len(writes))
        for plan in writes:
            outcome = self._apply(plan, queued, replan)
            queued += outcome.queued  # once one waits for the limit, the younger ones wait behind it
            waited = (started - self._pending.get(plan.handle, started)).total_seconds()
            if outcome.queued and waited > explained:
                outcome = GroupOutcome(plan, apply_error=(
                    f"not written for {waited / 60:.0f} min: Slack keeps refusing writes (HTTP 429) beyond what "
                    "its rate limit explains; another app or replica may share the limit"))
            outcomes[plan.handle] = outcome
        for plan in plans:
            outcome = outcomes[plan.handle]  # its plan is a fresh one where Slack refused some people
            edited = not plan.edits or (outcome.apply_error is None and not outcome.queued)
            if outcome.applied or (outcome.plan.action in (Action.IN_SYNC, Action.KEEP) and edited):
                self._pending.pop(plan.handle, None)
            elif plan.writes and plan.action is not Action.FAILED:
                self._pending.setdefault(plan.handle, started)
        return [outcomes[p.handle] for p in plans]

    def _apply(self, plan: GroupPlan, queued_before: int, replan: Callable[[GroupPlan], GroupPlan]) -> GroupOutcome:
        """A group's writes in order: created or enabled first, its members, then its description
        and channels, or disabled. Each takes a slot of the same paced queue; one that must wait
        queues the group (the next pass, level-triggered, writes what is still missing)."""
        for edit in (e for e in plan.edits if e.kind in ("create", "enable")):
            done = self._edit(plan, edit, queued_before)
            if isinstance(done, GroupOutcome):
                return done
            plan = replace(plan, group_id=done)
        outcome = GroupOutcome(plan)
        if plan.action is Action.UPDATE:
            outcome = self._members(plan, queued_before, replan)
            if not outcome.applied:
                return outcome
            plan = outcome.plan
        for edit in (e for e in plan.edits if e.kind in ("update", "disable")):
            done = self._edit(plan, edit, queued_before)
            if isinstance(done, GroupOutcome):
                return replace(done, applied=outcome.applied)
        return outcome

    def _edit(self, plan: GroupPlan, edit: GroupEdit, queued_before: int) -> str | GroupOutcome:
        """One write to the group itself: its id, or the outcome that stops the group here."""
        blocked = self._blocked(plan, queued_before)
        if blocked is not None:
            return blocked
        done = self.target.edit(plan.group_id, plan.handle, edit, self._workspace[plan.handle])
        if isinstance(done, Throttled):
            return GroupOutcome(plan, queued_in=done.seconds)
        if isinstance(done, Refused):
            return GroupOutcome(plan, apply_error=done.message)
        self._notes.append(f"@{plan.handle}: {edit.says[1]}")
        log.info("group.edited", group=plan.handle, edit=edit.kind, workspace=self._workspace[plan.handle])
        return done

    def _blocked(self, plan: GroupPlan, queued_before: int) -> GroupOutcome | None:
        """Why a write cannot be made now (a stop, the deadline, the rate limit), else None: a slot
        is taken, if the write can still finish before the deadline (one attempt)."""
        if self.stop.is_set() or time.monotonic() > self._write_until:
            why = "stopping" if self.stop.is_set() else "the pass ran past its deadline (pass_deadline)"
            return GroupOutcome(plan, apply_error=f"not written: {why}; the next pass will")
        if queued_before or not self.target.write_slot(self._write_until - self.config.file.retry.timeout):
            return GroupOutcome(plan, queued_in=self.target.queued_eta(queued_before))
        return None

    def _members(self, plan: GroupPlan, queued_before: int, replan: Callable[[GroupPlan], GroupPlan]) -> GroupOutcome:
        outcome = self._write(plan, queued_before)
        if not isinstance(outcome, PeopleRefused):
            return outcome
        # Slack refused some of the people, without saying whom; their cached ids are dropped.
        # Look them up afresh, once, and write once more with what Slack says now: a stale id
        # heals in this pass instead of failing the group every pass until the cache expires.
        log.info("group.people_refused", group=plan.handle, error=outcome.code, then="looking them up afresh")
        fresh = replace(replan(plan), edits=plan.edits)
        if fresh.action is Action.FAILED:  # a look-up failed: not knowing is no answer about anyone
            return GroupOutcome(fresh, apply_error=outcome.message)
        if fresh.action is not Action.UPDATE:  # the group holds them already
            return GroupOutcome(fresh)
        if fresh.desired == plan.desired:  # the same accounts: Slack would refuse the same write again
            return GroupOutcome(fresh, apply_error=outcome.naming(self._suspects(fresh)))
        again = self._write(fresh, 0)
        if isinstance(again, PeopleRefused):
            return GroupOutcome(fresh, apply_error=again.naming(self._suspects(fresh)))
        return again

    def _suspects(self, plan: GroupPlan) -> list[str]:
        """Whom a refusal of some of a write's people is likely about, by name: those the write
        adds (Slack took the others into the group before), or else everyone in it."""
        return [self.directory.label(i) for i in sorted(plan.add or plan.desired)]

    def _write(self, plan: GroupPlan, queued_before: int) -> GroupOutcome | PeopleRefused:
        assert plan.group_id is not None
        blocked = self._blocked(plan, queued_before)
        if blocked is not None:
            return blocked
        problem = self.target.set_members(plan.group_id, plan.desired, self._workspace[plan.handle])
        if isinstance(problem, Throttled):  # Slack's limit, longer than the retries may wait: queued
            return GroupOutcome(plan, queued_in=problem.seconds)
        if isinstance(problem, PeopleRefused):
            return problem
        if problem is not None:
            return GroupOutcome(plan, apply_error=problem)
        return GroupOutcome(plan, applied=True)

    def _names(self, outcomes: list[GroupOutcome], everyone: bool) -> dict[str, str]:
        """Readable names for everyone in a changed group (mostly from the cache); in a plan or
        a preview, for everyone in every group: who is what it is read for."""
        ids = sorted({i for o in outcomes if everyone or o.plan.action is Action.UPDATE
                      for i in (o.plan.current | o.plan.desired)})
        return dict(zip(ids, self.pool.map(self.directory.label, ids)))


def _log_outcome(outcome: GroupOutcome, names: dict[str, str], dry_run: bool) -> None:
    plan = outcome.plan
    fields: dict[str, Any] = dict(group=plan.handle, action=plan.action.value, dry_run=dry_run)
    if plan.action is Action.UPDATE:
        fields.update(add=sorted(names.get(i, i) for i in plan.add),
                      remove=sorted(names.get(i, i) for i in plan.remove),
                      before=sorted(names.get(i, i) for i in plan.current),
                      after=sorted(names.get(i, i) for i in plan.desired),
                      applied=outcome.applied)
    for warning in plan.warnings:
        log.warning("group.warning", group=plan.handle, warning=warning)
    errors = list(plan.errors) + ([outcome.apply_error] if outcome.apply_error else [])
    if errors:
        log.error("group.problem", errors=errors, **fields)
    elif outcome.queued:
        log.info("group.queued", reason="Slack's rate limit", written_in=round(outcome.queued_in or 0), **fields)
    elif plan.action is Action.UPDATE:
        log.info("group.changed" if outcome.applied else "group.would_change", **fields)
    else:  # the steady state: one line per pass (pass.done) at info, not one per group
        log.debug("group.unchanged", **fields)
