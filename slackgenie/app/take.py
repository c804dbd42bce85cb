"""Taking a shift from Slack: `/oncall take 2h [group]`, a confirmation button, an override in the
schedule's provider, the group synced at once; `/oncall give-back [group]` ends it early.

``take_request.parse_take`` reads what is asked (pure); ``take_records`` keeps each take once
across processes; ``Taking`` does the I/O. Every answer names the group, the schedule, the times
(Slack date tokens) and whom the asker replaces. A provider's refusal is said as a sentence,
never as a stack of JSON.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import structlog

from slackgenie.app.render import Message
from slackgenie.app.snapshot import Snapshot
from slackgenie.app.take_records import KEEP_RECORDS, UNDER_WAY, TakeRecords, same_span, taking_key
from slackgenie.app.take_request import LONGEST, parse_take, zone_named
from slackgenie.app.takers import Target, Takers
from slackgenie.core.facts import Facts, StateNotSaved
from slackgenie.core.model import PROVIDER_TITLES, describe_key, split_key
from slackgenie.engine.people import identities
from slackgenie.settings import Config
from slackgenie.slack.directory import Directory
from slackgenie.slack.text import date_token, escape
from slackgenie.sources.base import Override
from slackgenie.sources.http import SourceAuthError, SourceError
from slackgenie.sources.routed import RoutedSource

log = structlog.get_logger("slackgenie.app")

CONFIRM = "take_confirm"
CANCEL = "take_cancel"

NOT_MINE = "That button's request is not one I made; ask again with `/oncall take`."
USED = "This button was used already; `/oncall me` shows your shifts."
NOT_RECORDED = (":warning: Slackgenie could not record this take (its state file cannot be saved), so nothing was "
                "changed. Tell whoever runs Slackgenie.")
DONE = ("You are on call in {groups} ({schedule}) from {start} until {end}, instead of {instead}. The group is "
        "being updated now; `/oncall give-back` ends it early.")


@dataclass(frozen=True)
class _Asked:
    """What a confirmation button carries (made by ``Taking.offer``)."""

    key: str
    user: str  # who asked, in Slack
    start: datetime
    end: datetime
    once: str  # the button's record: it works once

    @classmethod
    def read(cls, value: str) -> _Asked | None:
        try:
            asked = json.loads(value)
            return cls(str(asked["k"]), str(asked["u"]), datetime.fromtimestamp(int(asked["s"]), timezone.utc),
                       datetime.fromtimestamp(int(asked["e"]), timezone.utc), f"take:{asked['n']}")
        except (ValueError, KeyError, TypeError, OverflowError, OSError):
            return None


@dataclass(frozen=True)
class _Take:
    """One take on its way, once its button was pressed and the asker checked again."""

    user: str
    target: Target
    start: datetime
    end: datetime
    once: str
    instead: str  # whom the asker replaces, as mentions

    @property
    def key(self) -> str:
        return self.target.key

    @property
    def keep(self) -> datetime:
        return self.end + KEEP_RECORDS

    @property
    def taking(self) -> str:
        return taking_key(self.target.key, self.target.user_id)

    @property
    def title(self) -> str:
        return PROVIDER_TITLES[split_key(self.target.key)[0]]


class Taking:
    def __init__(self, config: Config, source: RoutedSource, directory: Directory, now: Callable[[], datetime],
                 synced: Callable[[], None], state: Facts):
        self.config, self.source, self.directory, self._now = config, source, directory, now
        self.takers = Takers(config, source, directory)
        self.records = TakeRecords(state, now)  # the overrides made from Slack: give-back ends only those
        self.synced = synced  # sync the groups at once (after an override is made or ended)

    # --- take -------------------------------------------------------------------------------
    def offer(self, user: str, text: str, snapshot: Snapshot) -> Message:
        """The confirmation: what would be taken, from whom, with the buttons."""
        asker = self.directory.user_by_id(user)
        request = parse_take(text, self._now(), zone_named(asker.tz))
        if isinstance(request, str):
            return Message(text=request)
        targets = self.takers.targets(user, request.name, snapshot)
        if isinstance(targets, str):
            return Message(text=targets)
        if len(targets) > 1:
            names = ", ".join(f"`{g}`" for t in targets for g in t.groups)
            return Message(text=f"You are in more than one of these: name one of {names}, e.g. "
                                f"`/oncall take {text.split()[0]} {targets[0].groups[0]}`.")
        target = targets[0]
        instead = self.takers.instead(target.key, request.start, request.end, identities(asker, self.config.file.users))
        text_out = (f"Take the on-call shift in {target.group_list} ({escape(describe_key(target.key))}) from "
                    f"{date_token(request.start)} to {date_token(request.end)}, instead of {instead}?")
        value = json.dumps({"k": target.key, "s": int(request.start.timestamp()), "e": int(request.end.timestamp()),
                            "u": user, "n": uuid.uuid4().hex})  # n: the button works once
        return Message(text=text_out, blocks=_confirmation(text_out, value))

    def confirm(self, clicker: str, value: str, snapshot: Snapshot) -> Message:
        """The button was pressed: check again, make the override, sync, and say what happened."""
        asked = _Asked.read(value)
        if asked is None:
            return Message(text=NOT_MINE)
        refused = self._refused(clicker, asked)
        if refused is not None:
            return Message(text=refused)
        now = self._now()
        if asked.end <= now:
            return Message(text="That shift is over already; nothing was changed.")
        start = max(asked.start, now.replace(microsecond=0))
        targets = self.takers.targets(asked.user, "", snapshot, only=asked.key)  # checked again, for this schedule alone
        target = next((t for t in targets if t.key == asked.key), None) if isinstance(targets, list) else None
        if target is None:
            return Message(text=targets if isinstance(targets, str) else
                           "You may no longer take shifts in that schedule; nothing was changed.")
        instead = self.takers.instead(asked.key, start, asked.end, self.takers.who(asked.user))
        return self._create(_Take(asked.user, target, start, asked.end, asked.once, instead))

    def _refused(self, clicker: str, asked: _Asked) -> str | None:
        """Why this press makes no take (None: it may, once checked again)."""
        if clicker != asked.user:
            return "Only the person who asked can confirm taking this shift."
        if asked.end - asked.start > LONGEST:
            return NOT_MINE
        if self.records.used(asked.once):
            return USED
        if not any(asked.key in s.keys for s in self.config.syncs):
            return "That schedule is not one Slackgenie syncs; nothing was changed."
        return None

    def _create(self, take: _Take) -> Message:
        """One process, one press: recorded before the write, or no write at all. One take per
        person and schedule at a time, across processes: a create still on its way (its answer
        late or lost) is never joined by a second one."""
        try:
            if not self.records.use(take.once, take.user, take.keep):
                return Message(text=USED)
        except StateNotSaved as exc:
            return self._not_recorded(take, exc)
        try:
            earlier = self.records.claim_taking(take.taking, take.start, take.end, take.keep)
        except StateNotSaved as exc:
            self.records.release(take.once)
            return self._not_recorded(take, exc)
        if earlier == UNDER_WAY:
            self.records.release(take.once)
            return Message(text=":hourglass: Another take of yours in this schedule is under way: `/oncall me` shows "
                                "your shifts in a moment. Nothing more was changed.")
        # Look before creating: the shift asked for again after an answer that came too late or
        # was lost is the override already made, never a second one.
        made = self._made(take.key, take.target.user_id, take.start, take.end)
        if isinstance(made, str):
            self.records.settled(take.taking)
            self.records.release(take.once)  # nothing was done: the button works again
            return Message(text=f":warning: {describe_key(take.key)} could not be read ({made}); nothing was changed. "
                                "Try the button again in a minute.")
        if made is not None:
            return self._found(take, made, earlier)
        try:
            override = self.source.create_override(take.key, take.target.user_id, take.start, take.end)
        except SourceError as exc:
            return self._not_created(exc, take)
        return self._taken(take, override)

    def _not_recorded(self, take: _Take, exc: StateNotSaved) -> Message:
        log.error("app.take_not_recorded", user=take.user, schedule=take.key, error=str(exc))
        return Message(text=NOT_RECORDED)

    def _found(self, take: _Take, made: Override, earlier: str | None) -> Message:
        """An override already covers the shift: this take's own (made here, or by the earlier
        attempt whose answer was lost), or somebody's that is not Slackgenie's to give back."""
        if not (self.records.made_here(take.key, made.id, take.user) or same_span(earlier, take.start, take.end)):
            self.records.settled(take.taking)
            return Message(text=f"You are already on call in {describe_key(take.key)} then (an override in the "
                                "schedule covers it); nothing was changed.")
        log.info("app.take_found", user=take.user, schedule=take.key, override=made.id)
        return self._taken(take, made.id)

    def _not_created(self, exc: SourceError, take: _Take) -> Message:
        """A create that failed: refused (nothing was made: the button works again), or without
        an answer (it may have been made: the schedule is read to find out, never written again)."""
        log.warning("app.take_failed", user=take.user, schedule=take.key, error=str(exc))
        if isinstance(exc, SourceAuthError) or (exc.status is not None and 400 <= exc.status < 500):
            self.records.settled(take.taking)
            self.records.release(take.once)
            if isinstance(exc, SourceAuthError):
                return Message(text=f":no_entry: {take.title} refused to create the override: the API key Slackgenie "
                                    f"uses may not change schedules ({_short(exc)}). Ask whoever runs Slackgenie for a "
                                    "key with write access to schedules (overrides); nothing was changed.")
            return Message(text=f":warning: {take.title} did not create the override ({_short(exc)}); nothing was "
                                "changed. Try the button again in a minute.")
        made = self._made(take.key, take.target.user_id, take.start, take.end)
        if isinstance(made, Override):
            log.info("app.take_found", user=take.user, schedule=take.key, override=made.id, after=str(exc))
            return self._taken(take, made.id)
        self.synced()  # the attempt stays on record: the next take looks for its override first
        return Message(text=f":warning: {take.title} did not confirm the override ({_short(exc)}), and it is not in "
                            "the schedule now: it may still be made. `/oncall me` shows your shifts; taking the same "
                            "shift again makes no second override.")

    def _taken(self, take: _Take, override: str) -> Message:
        groups = take.target.group_list
        try:  # give-back ends only those made here; the next take of this schedule may go
            self.records.made(take.key, override, take.user, take.taking, take.keep)
        except StateNotSaved as exc:
            log.error("app.take_not_recorded", user=take.user, schedule=take.key, override=override, error=str(exc))
            self.synced()
            return Message(text=f":warning: You are on call in {groups} from {date_token(take.start)} until "
                                f"{date_token(take.end)}, but Slackgenie could not record it (its state file cannot "
                                "be saved), so `/oncall give-back` cannot end it: ask the schedule's owner. Tell "
                                "whoever runs Slackgenie.")
        log.info("app.take", user=take.user, schedule=take.key, start=take.start.isoformat(),
                 end=take.end.isoformat(), override=override)
        self.synced()
        return Message(text=":white_check_mark: " + DONE.format(
            groups=groups, schedule=escape(describe_key(take.key)), start=date_token(take.start),
            end=date_token(take.end), instead=take.instead))

    def _made(self, key: str, user_id: str, start: datetime, end: datetime) -> Override | None | str:
        """The asker's override that already covers ``start``..``end`` (a minute's slack either
        side), None for none, or why the schedule's overrides could not be read."""
        try:
            found = self.source.overrides_of(key, user_id, self._now())
        except SourceError as exc:
            return _short(exc)
        slack = timedelta(minutes=1)
        return next((o for o in found if o.user_id == user_id and o.start <= start + slack and o.end >= end - slack),
                    None)

    # --- give back --------------------------------------------------------------------------
    def give_back(self, user: str, name: str, snapshot: Snapshot) -> Message:
        targets = self.takers.targets(user, name, snapshot)
        if isinstance(targets, str):
            return Message(text=targets)
        now = self._now()
        found = self._taken_here(user, targets, now)
        if isinstance(found, str):
            return Message(text=found)
        if not found:
            return Message(text="You have no shift taken with `/oncall take` to give back"
                                + (f" in *{escape(name)}*." if name else "."))
        if not name and len({t.groups for t, _ in found}) > 1:  # README: it asks which
            names = ", ".join(f"`{g}`" for g in sorted({g for t, _ in found for g in t.groups}))
            return Message(text=f"You have shifts taken in more than one group: name one of {names}, e.g. "
                                f"`/oncall give-back {found[0][0].groups[0]}`.")
        current = [f for f in found if f[1].start <= now] or found
        target, override = current[0]
        return self._delete(user, target, override, now)

    def _taken_here(self, user: str, targets: list[Target], now: datetime) -> list[tuple[Target, Override]] | str:
        """The asker's overrides still to come that were taken here (or by an attempt whose answer
        was lost); or why a schedule's could not be read (a sentence)."""
        found: list[tuple[Target, Override]] = []
        for t in targets:
            try:
                attempt = self.records.attempt(t.key, t.user_id)  # a create whose answer was lost
                found += [(t, o) for o in self.source.overrides_of(t.key, t.user_id, now)
                          if self.records.made_here(t.key, o.id, user) or same_span(attempt, o.start, o.end)]
            except SourceError as exc:
                return f":warning: {describe_key(t.key)} could not be read ({_short(exc)}); nothing was changed."
        return found

    def _delete(self, user: str, target: Target, override: Override, now: datetime) -> Message:
        try:
            self.source.delete_override(target.key, override.id)
        except SourceAuthError as exc:
            # The provider's own words name the fix (for JSM Ops: the token's delete scope).
            return Message(text=f":no_entry: {PROVIDER_TITLES[split_key(target.key)[0]]} refused to delete the "
                                f"override ({_short(exc)}); your shift is still in the schedule.")
        except SourceError as exc:
            return Message(text=f":warning: the override could not be deleted ({_short(exc)}); try again in a minute.")
        log.info("app.give_back", user=user, schedule=target.key, override=override.id)
        self.records.given_back(target.key, override.id, target.user_id)
        self.synced()
        what = "ended" if override.start <= now else "cancelled"
        return Message(text=f":leftwards_arrow_with_hook: Given back: your shift in {target.group_list} "
                            f"({escape(describe_key(target.key))}) from {date_token(override.start)} to "
                            f"{date_token(override.end)} is {what}; the schedule's own rotation applies again.")


def _confirmation(text: str, value: str) -> list[dict[str, Any]]:
    """The offer's blocks: what would be taken, and its two buttons."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "actions", "elements": [
                {"type": "button", "action_id": CONFIRM, "style": "primary", "value": value,
                 "text": {"type": "plain_text", "text": "Take the shift"}},
                {"type": "button", "action_id": CANCEL, "value": "{}",
                 "text": {"type": "plain_text", "text": "Cancel"}}]}]


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:199] + "\u2026"
