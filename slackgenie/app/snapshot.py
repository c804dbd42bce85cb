"""What the sync loop knows, kept for the app: who is on call in each schedule, until when, and who is next.

Rebuilt after every pass. A schedule whose latest read failed keeps its last good answer, with
the failure and the answer's age, so the app can be honest instead of saying "nobody".
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from slackgenie.settings import GroupSync
from slackgenie.core.model import OnCall, PassReport, ReadFailure, ScheduleInfo, ref_title, schedule_key, split_key
from slackgenie.core.plan import map_identity
from slackgenie.slack.text import escape


@dataclass(frozen=True)
class ScheduleState:
    ref: str  # the schedule's key: provider and reference (jsm:Payments)
    name: str
    team: str | None = None
    on_call: tuple[str, ...] | None = None  # the provider's people; None: no answer from it yet
    as_of: datetime | None = None  # when the provider last answered for it
    until: datetime | None = None  # the next handoff, if one is foreseen
    next_on_call: tuple[str, ...] | None = None
    error: str | None = None  # why the latest read failed; on_call is then the last known answer
    configured: bool = True


@dataclass(frozen=True)
class GroupState:
    handle: str
    schedules: tuple[str, ...]
    static: tuple[str, ...] = ()
    workspace: str | None = None  # its workspace's name, where the groups span several workspaces

    @property
    def title(self) -> str:
        """How an answer names the group: ``@handle``, with its workspace where there are several."""
        return f"@{self.handle}" + (f" ({self.workspace})" if self.workspace else "")


@dataclass(frozen=True)
class Snapshot:
    taken_at: datetime | None = None
    groups: tuple[GroupState, ...] = ()
    schedules: Mapping[str, ScheduleState] = field(default_factory=dict)  # by ref, and by name for the rest
    teams: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # team name -> schedule names
    slack_ids: Mapping[str, str] = field(default_factory=dict)  # a provider's username or e-mail -> Slack id
    user_map: Mapping[str, str] = field(default_factory=dict)
    # What the app derives from this snapshot (the name index, answers already rendered), made
    # once per snapshot and dropped with it: not part of its value.
    memo: dict[Any, Any] = field(default_factory=dict, init=False, compare=False, repr=False, hash=False)

    def schedule(self, ref: str) -> ScheduleState | None:
        return self.schedules.get(ref)

    def mention(self, username: str) -> str:
        uid = self.slack_ids.get(username) or self.slack_ids.get(map_identity(username, self.user_map))
        return f"<@{uid}>" if uid else escape(username)


class SnapshotKeeper:
    """Holds the latest Snapshot; updated by the loop's thread, read by the app's threads."""

    def __init__(self, syncs: list[GroupSync], user_map: Mapping[str, str],
                 workspace_names: Mapping[str, str] | None = None):
        """``workspace_names``: id -> name of the workspaces the groups are in (an id without a
        name is shown as it is); used only where the groups span several workspaces."""
        self._syncs = syncs
        self._user_map = dict(user_map)
        self._lock = threading.Lock()
        several = len({s.workspace for s in syncs}) > 1
        names = workspace_names or {}
        self._snapshot = Snapshot(groups=tuple(
            GroupState(s.usergroup, s.keys, tuple(s.users),
                       names.get(s.workspace, s.workspace) if several and s.workspace else None)
            for s in syncs), user_map=self._user_map)

    def get(self) -> Snapshot:
        with self._lock:
            return self._snapshot

    def update(self, report: PassReport, catalog: list[ScheduleInfo],
               next_reads: Mapping[str, OnCall | ReadFailure], until: Mapping[str, datetime | None],
               slack_ids: Mapping[str, str]) -> Snapshot:
        """Fold one pass into the snapshot. ``catalog`` holds every schedule the providers show
        (ids as keys); ``next_reads`` the providers' answers at each ``until``."""
        with self._lock:
            old = self._snapshot
        at = report.at or report.started
        if old.taken_at is not None and at < old.taken_at:
            return old  # an older pass's late refresh: what a newer one published stands
        known: dict[str, ScheduleInfo] = {}
        for info in catalog:
            known[info.id] = info
            known.setdefault(schedule_key(split_key(info.id)[0], info.name), info)
        keys = {key for s in self._syncs for key in s.keys}
        schedules = {key: _folded(key, known.get(key), old.schedules.get(key), report, at, next_reads.get(key),
                                  until.get(key)) for key in sorted(keys)}
        teams = _teams_and_unsynced(catalog, schedules, {s.id for k in keys if (s := known.get(k))})
        snapshot = Snapshot(taken_at=at, groups=old.groups, schedules=schedules, teams=teams,
                            slack_ids={**old.slack_ids, **slack_ids}, user_map=self._user_map)
        with self._lock:
            self._snapshot = snapshot
        return snapshot


def _folded(key: str, found: ScheduleInfo | None, previous: ScheduleState | None, report: PassReport, at: datetime,
            nxt: OnCall | ReadFailure | None, until: datetime | None) -> ScheduleState:
    """One configured schedule after a pass: its answer, or the last known one with why it was not read."""
    previous = previous or ScheduleState(key, found.name if found else ref_title(split_key(key)[1]))
    team = found.team if found and found.team else previous.team
    read = report.reads.get(key)
    next_on: tuple[str, ...] | None
    if isinstance(nxt, OnCall):
        next_on = tuple(sorted(nxt.usernames))
    else:  # keep an older answer only if it is about the same handoff
        next_on = previous.next_on_call if previous.until == until else None
    if isinstance(read, OnCall):
        return ScheduleState(key, read.schedule_name, team, tuple(sorted(read.usernames)), at, until, next_on, None)
    error = read.error if isinstance(read, ReadFailure) else "not read"
    return replace(previous, team=team, error=error)


def _teams_and_unsynced(catalog: list[ScheduleInfo], schedules: dict[str, ScheduleState],
                        configured_ids: set[str]) -> dict[str, tuple[str, ...]]:
    """Each team's schedules (by the keys ``schedules`` holds them under); and, added to
    ``schedules``, the schedules no group syncs (known by name, never read by a pass)."""
    teams: dict[str, list[str]] = {}
    for info in catalog:
        name_key = schedule_key(split_key(info.id)[0], info.name)
        configured = name_key in schedules or info.id in schedules or info.id in configured_ids
        key = next((k for k in (info.id, name_key) if k in schedules), name_key)
        if info.team:
            teams.setdefault(info.team, []).append(key)
        if not configured:
            schedules[name_key] = ScheduleState(name_key, info.name, info.team, configured=False)
    return {t: tuple(sorted(n)) for t, n in teams.items()}


def age_text(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "never"
    seconds = max(0, int((now - then) / timedelta(seconds=1)))
    if seconds < 90:
        return f"{seconds} s ago"
    if seconds < 5400:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


MEMO_ENTRIES = 2048  # answers and matches kept per snapshot (a new snapshot starts afresh)
T = TypeVar("T")


def remembered(snapshot: Snapshot, key: Hashable, make: Callable[[], T]) -> T:
    """``make()`` once per snapshot and key. Threads may race to make it: the results agree."""
    memo = snapshot.memo
    try:
        found: T = memo[key]
        return found
    except KeyError:
        pass
    value = make()
    if len(memo) < MEMO_ENTRIES:
        memo[key] = value
    return value
