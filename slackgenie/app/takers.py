"""Who may take a shift where: the schedules a take or a give-back names, the asker in each
(their id in its provider), and whom a take would replace. Reads the providers; changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from slackgenie.app.names import Match, find
from slackgenie.app.snapshot import Snapshot
from slackgenie.core.model import ReadFailure, describe_key
from slackgenie.engine.people import identities
from slackgenie.settings import Config, GroupSync
from slackgenie.slack.directory import Directory
from slackgenie.slack.text import escape, mention
from slackgenie.sources.routed import RoutedSource


@dataclass(frozen=True)
class Target:
    key: str  # the schedule
    groups: tuple[str, ...]  # the groups it feeds
    user_id: str  # the asker in the provider

    @property
    def group_list(self) -> str:
        return ", ".join(f"@{g}" for g in self.groups)


class Takers:
    def __init__(self, config: Config, source: RoutedSource, directory: Directory):
        self.config, self.source, self.directory = config, source, directory

    def who(self, user: str) -> frozenset[str]:
        """The Slack user's identities in the providers (e-mail, ``users:`` map)."""
        return identities(self.directory.user_by_id(user), self.config.file.users)

    def targets(self, user: str, name: str, snapshot: Snapshot, only: str | None = None) -> list[Target] | str:
        """The schedules named (or ``only`` one) the asker may take shifts in; or why none (a sentence)."""
        keys = [only] if only is not None else self._keys_for(name, snapshot)
        if isinstance(keys, str):
            return keys
        who = self.who(user)
        out: list[Target] = []
        problems: list[str] = []
        for key in keys:
            found = self._target(key, who)
            if isinstance(found, Target):
                out.append(found)
            elif found is not None:
                problems.append(found)
        if out:
            return out
        if problems:
            return "I cannot let you take it: " + "; ".join(problems) + "."
        return ("You are not in the rotations of " + (f"*{escape(name)}*" if name else "any schedule Slackgenie syncs")
                + ", so you may not take its shifts. Ask the schedule's owner to add you.")

    def _keys_for(self, name: str, snapshot: Snapshot) -> list[str] | str:
        if not name:
            return sorted({k for s in self.config.syncs for k in s.keys})
        found = find(name, snapshot)
        if not isinstance(found, Match):
            return f"I don't know *{escape(name)}*: name a group, e.g. `/oncall take 2h delivery-support`."
        return list(found.schedules)

    def _target(self, key: str, who: frozenset[str]) -> Target | str | None:
        """The asker in one schedule; why they may not take its shifts (a clause); or None: no
        group syncs it (never changed from Slack), or the asker is not in its rotations."""
        syncs = [s for s in self.config.syncs if key in s.keys]
        if not syncs:
            return None
        modes = {s.take or "rotation" for s in syncs}
        if "off" in modes:  # a schedule shared with a group that forbids it: the take would change that group too
            return f"taking shifts is turned off for {', '.join('@' + s.usergroup for s in syncs)}"
        cannot = self.source.cannot_take(key)  # a provider that can only be read
        if cannot is not None:
            return cannot
        members = self.source.members(key)
        if isinstance(members, ReadFailure):
            return f"{describe_key(key)} could not be read ({members.error})"
        mine = min((members[i] for i in who if i in members), default=None)
        if mine is None and "anyone" in modes:
            mine = self.source.outsider_id(key, who)  # a provider that can name people outside the rotations
        return Target(key, _handles(syncs), mine) if mine is not None else None

    def instead(self, key: str, start: datetime, end: datetime, who: frozenset[str]) -> str:
        """Whom the asker replaces from ``start`` to ``end``, as mentions; an unread answer is said so."""
        read = self.source.stretches([key], start, end).get(key)
        if not isinstance(read, list):
            return "whoever is on call then (who that is could not be read)"
        replaced = sorted({p for s in read for p in s.people} - who)
        return ", ".join(self._mention(p) for p in replaced) or "nobody (no one is on call then)"

    def _mention(self, identity: str) -> str:
        return mention(self.directory, identity, self.config.file.users)


def _handles(syncs: list[GroupSync]) -> tuple[str, ...]:
    return tuple(s.usergroup for s in syncs)
