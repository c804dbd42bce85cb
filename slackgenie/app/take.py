"""Taking a shift from Slack: `/oncall take 2h [group]`, a confirmation button, an override in the
schedule's provider, the group synced at once; `/oncall give-back [group]` ends it early.

``parse_take`` is pure (times are read in the asker's Slack time zone); ``Taking`` does the I/O.
Every answer names the group, the schedule, the times (Slack date tokens) and whom the asker
replaces. A provider's refusal is said as a sentence, never as a stack of JSON.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from slackgenie.app.answers import Match, Message, find
from slackgenie.app.snapshot import Snapshot
from slackgenie.settings import Config
from slackgenie.core.model import PROVIDER_TITLES, ReadFailure, describe_key, split_key
from slackgenie.engine.people import identities
from slackgenie.slack.directory import Directory
from slackgenie.slack.text import date_token as _when
from slackgenie.slack.text import escape, mention
from slackgenie.sources.base import Override
from slackgenie.sources.http import SourceAuthError, SourceError
from slackgenie.sources.routed import RoutedSource
from slackgenie.core.facts import Facts, StateNotSaved

log = structlog.get_logger("slackgenie.app")

LONGEST = timedelta(days=7)  # a take is an override, not a new rotation
FURTHEST = timedelta(days=14)  # how far ahead a take may start
KEEP_RECORDS = timedelta(days=2)  # a take's records are kept this long after its shift ends
IN_FLIGHT = timedelta(minutes=2)  # a create without an answer yet holds back another this long
_UNDER_WAY = "\x00under way"  # _claim_taking: another create is on its way
CONFIRM = "take_confirm"
CANCEL = "take_cancel"

USAGE = ("Say how long: `/oncall take 2h [group]`, `/oncall take until 18:00 [group]` or "
         "`/oncall take tomorrow 09:00-17:00 [group]` (times in your Slack time zone).")


@dataclass(frozen=True)
class TakeRequest:
    start: datetime
    end: datetime
    name: str  # the group or schedule named ("" for none)


# ASCII digits only, in durations and clock times alike (``\d`` would take ``٢`` or ``２`` too).
_DURATION = re.compile(r"^(?:(\d{1,3})h)?(?:(\d{1,4})m)?$", re.ASCII)
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$", re.ASCII)
_SPAN = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)-([01]?\d|2[0-3]):([0-5]\d)$", re.ASCII)


class _Skipped(Exception):
    """A local time the clocks skip (spring forward): it never happens that day."""


def _at(day: date, clock: time, zone: ZoneInfo, after: datetime | None = None) -> datetime:
    """``clock`` on ``day`` in ``zone``, as an instant. A repeated time (autumn) is its first
    occurrence, or the second when the first is not after ``after``; a skipped one raises."""
    first = datetime.combine(day, clock, zone)
    second = first.replace(fold=1)
    if first.utcoffset() != second.utcoffset() and first.astimezone(timezone.utc) > second.astimezone(timezone.utc):
        raise _Skipped(f"{clock:%H:%M} does not happen on {day:%A %d %B} in {zone.key} (the clocks go forward)")
    if after is not None and first.astimezone(timezone.utc) <= after < second.astimezone(timezone.utc):
        return second
    return first


def parse_take(text: str, now: datetime, zone: ZoneInfo) -> TakeRequest | str:
    """``2h``, ``1h30m``, ``until 18:00``, ``[today|tomorrow] 09:00-17:00``, then an optional name;
    or why not (a sentence)."""
    words = text.split()
    local = now.astimezone(zone)
    start: datetime | None = None
    end: datetime | None = None
    if words and (m := _DURATION.match(words[0].lower())) and (m.group(1) or m.group(2)):
        start, end = now, now + timedelta(hours=int(m.group(1) or 0), minutes=int(m.group(2) or 0))
        words = words[1:]
    elif len(words) >= 2 and words[0].lower() == "until" and (m := _CLOCK.match(words[1])):
        clock = time(int(m.group(1)), int(m.group(2)))
        try:  # compared as instants: 01:30 after 01:15 of a repeated hour is the second 01:30
            at = _at(local.date(), clock, zone, after=now)
            if at.astimezone(timezone.utc) <= now:
                at = _at(local.date() + timedelta(days=1), clock, zone)
        except _Skipped as exc:
            return f"{exc}. " + USAGE
        start, end = now, at
        words = words[2:]
    else:
        day = local.date()
        if words and words[0].lower() in ("today", "tomorrow"):
            day += timedelta(days=1 if words[0].lower() == "tomorrow" else 0)
            words = words[1:]
        if words and (m := _SPAN.match(words[0])):
            begins, ends = time(int(m.group(1)), int(m.group(2))), time(int(m.group(3)), int(m.group(4)))
            try:
                start = _at(day, begins, zone)
                end = _at(day + timedelta(days=1) if ends <= begins else day, ends, zone)  # 22:00-06:00: overnight
            except _Skipped as exc:
                return f"{exc}. " + USAGE
            words = words[1:]
    if start is None or end is None:
        return USAGE
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    if end <= now:
        return "That time has already passed. " + USAGE
    start = max(start, now)
    if end - start > LONGEST:
        return f"A shift taken from Slack lasts at most {LONGEST.days} days; ask your schedule's owner for longer."
    if start - now > FURTHEST:
        return f"A shift can be taken at most {FURTHEST.days} days ahead."
    if end - start < timedelta(minutes=5):
        return "A shift taken from Slack lasts at least 5 minutes."
    return TakeRequest(start.replace(second=0, microsecond=0) if start > now else now.replace(microsecond=0),
                       end.replace(second=0, microsecond=0), " ".join(words))


@dataclass(frozen=True)
class Target:
    key: str  # the schedule
    groups: tuple[str, ...]  # the groups it feeds
    user_id: str  # the asker in the provider


class Taking:
    def __init__(self, config: Config, source: RoutedSource, directory: Directory, now: Callable[[], datetime],
                 synced: Callable[[], None], state: Facts):
        self.config, self.source, self.directory, self._now = config, source, directory, now
        self.state = state  # the overrides made from Slack: give-back ends only those
        self.synced = synced  # sync the groups at once (after an override is made or ended)

    # --- finding the schedule and the asker in it -------------------------------------------
    def _keys_for(self, name: str, snapshot: Snapshot) -> list[str] | str:
        if not name:
            return sorted({k for s in self.config.syncs for k in s.keys})
        found = find(name, snapshot)
        if not isinstance(found, Match):
            return f"I don't know *{escape(name)}*: name a group, e.g. `/oncall take 2h delivery-support`."
        return list(found.schedules)

    def _targets(self, user: str, name: str, snapshot: Snapshot, only: str | None = None) -> list[Target] | str:
        keys = [only] if only is not None else self._keys_for(name, snapshot)
        if isinstance(keys, str):
            return keys
        who = identities(self.directory.user_by_id(user), self.config.file.users)
        out: list[Target] = []
        problems: list[str] = []
        for key in keys:
            syncs = [s for s in self.config.syncs if key in s.keys]
            if not syncs:
                continue  # a schedule no sync names: never changed from Slack
            modes = {s.take or "rotation" for s in syncs}
            if "off" in modes:  # a schedule shared with a group that forbids it: the take would change that group too
                problems.append(f"taking shifts is turned off for {', '.join('@' + s.usergroup for s in syncs)}")
                continue
            cannot = self.source.cannot_take(key)  # a provider that can only be read
            if cannot is not None:
                problems.append(cannot)
                continue
            members = self.source.members(key)
            if isinstance(members, ReadFailure):
                problems.append(f"{describe_key(key)} could not be read ({members.error})")
                continue
            mine = sorted(members[i] for i in who if i in members)
            provider = split_key(key)[0]
            if not mine and "anyone" in modes and provider == "opsgenie":
                mine = sorted(e for e in who if "@" in e)  # an Opsgenie username is the e-mail
            if mine:
                out.append(Target(key, tuple(s.usergroup for s in syncs), mine[0]))
        if out:
            return out
        if problems:
            return "I cannot let you take it: " + "; ".join(problems) + "."
        return ("You are not in the rotations of " + (f"*{escape(name)}*" if name else "any schedule Slackgenie syncs")
                + ", so you may not take its shifts. Ask the schedule's owner to add you.")

    def _instead(self, key: str, start: datetime, end: datetime, who: frozenset[str]) -> str:
        """Whom the asker replaces from ``start`` to ``end``, as mentions; an unread answer is said so."""
        read = self.source.stretches([key], start, end).get(key)
        if not isinstance(read, list):
            return "whoever is on call then (who that is could not be read)"
        replaced = sorted({p for s in read for p in s.people} - who)
        return ", ".join(self._mention(p) for p in replaced) or "nobody (no one is on call then)"

    def _mention(self, identity: str) -> str:
        return mention(self.directory, identity, self.config.file.users)

    # --- take -------------------------------------------------------------------------------
    def offer(self, user: str, text: str, snapshot: Snapshot) -> Message:
        """The confirmation: what would be taken, from whom, with the buttons."""
        asker = self.directory.user_by_id(user)
        zone = _zone(asker.tz)
        now = self._now()
        request = parse_take(text, now, zone)
        if isinstance(request, str):
            return Message(text=request)
        targets = self._targets(user, request.name, snapshot)
        if isinstance(targets, str):
            return Message(text=targets)
        if len(targets) > 1:
            names = ", ".join(f"`{g}`" for t in targets for g in t.groups)
            return Message(text=f"You are in more than one of these: name one of {names}, e.g. "
                                f"`/oncall take {text.split()[0]} {targets[0].groups[0]}`.")
        target = targets[0]
        who = identities(asker, self.config.file.users)
        instead = self._instead(target.key, request.start, request.end, who)
        groups = ", ".join(f"@{g}" for g in target.groups)
        text_out = (f"Take the on-call shift in {groups} ({escape(describe_key(target.key))}) from "
                    f"{_when(request.start)} to {_when(request.end)}, instead of {instead}?")
        value = json.dumps({"k": target.key, "s": int(request.start.timestamp()), "e": int(request.end.timestamp()),
                            "u": user, "n": uuid.uuid4().hex})  # n: the button works once
        blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text_out}},
                  {"type": "actions", "elements": [
                      {"type": "button", "action_id": CONFIRM, "style": "primary", "value": value,
                       "text": {"type": "plain_text", "text": "Take the shift"}},
                      {"type": "button", "action_id": CANCEL, "value": "{}",
                       "text": {"type": "plain_text", "text": "Cancel"}}]}]
        return Message(text=text_out, blocks=blocks)

    def confirm(self, clicker: str, value: str, snapshot: Snapshot) -> Message:
        """The button was pressed: check again, make the override, sync, and say what happened."""
        try:
            asked = json.loads(value)
            key, user = str(asked["k"]), str(asked["u"])
            start = datetime.fromtimestamp(int(asked["s"]), timezone.utc)
            end = datetime.fromtimestamp(int(asked["e"]), timezone.utc)
            once = f"take:{asked['n']}"
        except (ValueError, KeyError, TypeError, OverflowError, OSError):
            return Message(text="That button's request is not one I made; ask again with `/oncall take`.")
        if clicker != user:
            return Message(text="Only the person who asked can confirm taking this shift.")
        if end - start > LONGEST:
            return Message(text="That button's request is not one I made; ask again with `/oncall take`.")
        if self.state.get(once) is not None:
            return Message(text="This button was used already; `/oncall me` shows your shifts.")
        if not any(key in s.keys for s in self.config.syncs):
            return Message(text="That schedule is not one Slackgenie syncs; nothing was changed.")
        now = self._now()
        if end <= now:
            return Message(text="That shift is over already; nothing was changed.")
        start = max(start, now.replace(microsecond=0))
        targets = self._targets(user, "", snapshot, only=key)  # checked again, for this schedule alone
        target = next((t for t in targets if t.key == key), None) if isinstance(targets, list) else None
        if target is None:
            return Message(text=targets if isinstance(targets, str) else
                           "You may no longer take shifts in that schedule; nothing was changed.")
        who = identities(self.directory.user_by_id(user), self.config.file.users)
        instead = self._instead(key, start, end, who)
        title = PROVIDER_TITLES[split_key(key)[0]]
        keep = end + KEEP_RECORDS
        try:  # one process, one press: recorded before the write, or no write at all
            if not self.state.claim(once, user, keep):
                return Message(text="This button was used already; `/oncall me` shows your shifts.")
        except StateNotSaved as exc:
            log.error("app.take_not_recorded", user=user, schedule=key, error=str(exc))
            return Message(text=":warning: Slackgenie could not record this take (its state file cannot be saved), so "
                                "nothing was changed. Tell whoever runs Slackgenie.")
        done = ("You are on call in {groups} ({schedule}) from {start} until {end}, instead of {instead}. The group is "
                "being updated now; `/oncall give-back` ends it early.")
        # One take per person and schedule at a time, across processes: a create still on its
        # way (its answer late or lost) is never joined by a second one.
        taking = f"taking:{key}:{target.user_id}"
        try:
            earlier = self._claim_taking(taking, start, end, keep)
        except StateNotSaved as exc:
            self._release(once)
            log.error("app.take_not_recorded", user=user, schedule=key, error=str(exc))
            return Message(text=":warning: Slackgenie could not record this take (its state file cannot be saved), so "
                                "nothing was changed. Tell whoever runs Slackgenie.")
        if earlier is _UNDER_WAY:
            self._release(once)
            return Message(text=":hourglass: Another take of yours in this schedule is under way: `/oncall me` shows "
                                "your shifts in a moment. Nothing more was changed.")
        # Look before creating: the shift asked for again after an answer that came too late or
        # was lost is the override already made, never a second one.
        made = self._made(key, target.user_id, start, end)
        if isinstance(made, str):
            self._settled(taking)
            self._release(once)  # nothing was done: the button works again
            return Message(text=f":warning: {describe_key(key)} could not be read ({made}); nothing was changed. "
                                "Try the button again in a minute.")
        if made is not None:
            mine = self.state.get(f"override:{key}:{made.id}") == user or _same_span(earlier, start, end)
            if not mine:  # somebody's override already puts them on call: not Slackgenie's to give back
                self._settled(taking)
                return Message(text=f"You are already on call in {describe_key(key)} then (an override in the "
                                    "schedule covers it); nothing was changed.")
            log.info("app.take_found", user=user, schedule=key, override=made.id)
            return self._taken(key, target, user, made.id, start, end, keep, done, instead, taking)
        try:
            override = self.source.create_override(key, target.user_id, start, end)
        except SourceError as exc:
            return self._not_created(exc, key, target, user, once, start, end, title, done, instead, taking)
        return self._taken(key, target, user, override, start, end, keep, done, instead, taking)

    def _claim_taking(self, taking: str, start: datetime, end: datetime, keep: datetime) -> str | None:
        """Claim the right to create: ``_UNDER_WAY`` when another create of this person's in
        this schedule began under ``IN_FLIGHT`` ago; else the record of an earlier attempt that
        got no answer (or None), replaced by this one's."""
        now = self._now().timestamp()
        ours = json.dumps({"at": now, "s": start.timestamp(), "e": end.timestamp()})

        def decide(old: str | None) -> str:
            return old if old is not None and now - _attempted_at(old) < IN_FLIGHT.total_seconds() else ours

        old = self.state.swap(taking, decide, keep)
        if old is not None and now - _attempted_at(old) < IN_FLIGHT.total_seconds():
            return _UNDER_WAY
        return old

    def _settled(self, taking: str) -> None:
        """The create's outcome is known: the next take of this person in this schedule may go."""
        try:
            self.state.drop(lambda k: k == taking)
        except StateNotSaved as exc:  # it only holds the next take back for IN_FLIGHT
            log.warning("app.take_not_recorded", error=str(exc))

    def _not_created(self, exc: SourceError, key: str, target: Target, user: str, once: str, start: datetime,
                     end: datetime, title: str, done: str, instead: str, taking: str) -> Message:
        """A create that failed: refused (nothing was made: the button works again), or without
        an answer (it may have been made: the schedule is read to find out, never written again)."""
        log.warning("app.take_failed", user=user, schedule=key, error=str(exc))
        if isinstance(exc, SourceAuthError) or (exc.status is not None and 400 <= exc.status < 500):
            self._settled(taking)
            self._release(once)
            if isinstance(exc, SourceAuthError):
                return Message(text=f":no_entry: {title} refused to create the override: the API key Slackgenie uses "
                                    f"may not change schedules ({_short(exc)}). Ask whoever runs Slackgenie for a key "
                                    "with write access to schedules (overrides); nothing was changed.")
            return Message(text=f":warning: {title} did not create the override ({_short(exc)}); nothing was "
                                "changed. Try the button again in a minute.")
        made = self._made(key, target.user_id, start, end)
        if isinstance(made, Override):
            log.info("app.take_found", user=user, schedule=key, override=made.id, after=str(exc))
            return self._taken(key, target, user, made.id, start, end, end + KEEP_RECORDS, done, instead, taking)
        self.synced()  # the attempt stays on record: the next take looks for its override first
        return Message(text=f":warning: {title} did not confirm the override ({_short(exc)}), and it is not in the "
                            "schedule now: it may still be made. `/oncall me` shows your shifts; taking the same "
                            "shift again makes no second override.")

    def _taken(self, key: str, target: Target, user: str, override: str, start: datetime, end: datetime,
               keep: datetime, done: str, instead: str, taking: str) -> Message:
        groups = ", ".join(f"@{g}" for g in target.groups)
        try:  # give-back ends only those made here; the next take of this schedule may go
            self.state.change({f"override:{key}:{override}": user, taking: None}, keep)
        except StateNotSaved as exc:
            log.error("app.take_not_recorded", user=user, schedule=key, override=override, error=str(exc))
            self.synced()
            return Message(text=f":warning: You are on call in {groups} from {_when(start)} until {_when(end)}, but "
                                "Slackgenie could not record it (its state file cannot be saved), so `/oncall "
                                "give-back` cannot end it: ask the schedule's owner. Tell whoever runs Slackgenie.")
        log.info("app.take", user=user, schedule=key, start=start.isoformat(), end=end.isoformat(), override=override)
        self.synced()
        return Message(text=":white_check_mark: " + done.format(groups=groups, schedule=escape(describe_key(key)),
                                                                 start=_when(start), end=_when(end), instead=instead))

    def _release(self, once: str) -> None:
        """Let the button work again (nothing was done). Not saved: it stays used, the safe way."""
        try:
            self.state.drop(lambda k: k == once)
        except StateNotSaved as exc:
            log.warning("app.take_release_not_recorded", error=str(exc))

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
        targets = self._targets(user, name, snapshot)
        if isinstance(targets, str):
            return Message(text=targets)
        now = self._now()
        found: list[tuple[Target, Any]] = []
        for t in targets:
            try:
                attempt = self.state.get(f"taking:{t.key}:{t.user_id}")  # a create whose answer was lost
                found += [(t, o) for o in self.source.overrides_of(t.key, t.user_id, now)  # only those taken here
                          if self.state.get(f"override:{t.key}:{o.id}") == user or _same_span(attempt, o.start, o.end)]
            except SourceError as exc:
                return Message(text=f":warning: {describe_key(t.key)} could not be read ({_short(exc)}); "
                                    "nothing was changed.")
        if not found:
            return Message(text="You have no shift taken with `/oncall take` to give back"
                                + (f" in *{escape(name)}*." if name else "."))
        if not name and len({t.groups for t, _ in found}) > 1:  # README: it asks which
            names = ", ".join(f"`{g}`" for g in sorted({g for t, _ in found for g in t.groups}))
            return Message(text=f"You have shifts taken in more than one group: name one of {names}, e.g. "
                                f"`/oncall give-back {found[0][0].groups[0]}`.")
        current = [f for f in found if f[1].start <= now] or found
        target, override = current[0]
        try:
            self.source.delete_override(target.key, override.id)
        except SourceAuthError as exc:
            # The provider's own words name the fix (for JSM Ops: the token's delete scope).
            return Message(text=f":no_entry: {PROVIDER_TITLES[split_key(target.key)[0]]} refused to delete the "
                                f"override ({_short(exc)}); your shift is still in the schedule.")
        except SourceError as exc:
            return Message(text=f":warning: the override could not be deleted ({_short(exc)}); try again in a minute.")
        log.info("app.give_back", user=user, schedule=target.key, override=override.id)
        try:
            self.state.drop(lambda k: k in (f"override:{target.key}:{override.id}", f"taking:{target.key}:{target.user_id}"))
        except StateNotSaved as exc:  # the override is gone: its stale record only costs a line
            log.warning("app.give_back_not_recorded", error=str(exc))
        self.synced()
        groups = ", ".join(f"@{g}" for g in target.groups)
        what = "ended" if override.start <= now else "cancelled"
        return Message(text=f":leftwards_arrow_with_hook: Given back: your shift in {groups} "
                            f"({escape(describe_key(target.key))}) from {_when(override.start)} to "
                            f"{_when(override.end)} is {what}; the schedule's own rotation applies again.")


def _attempted_at(record: str) -> float:
    try:
        return float(json.loads(record)["at"])
    except (ValueError, KeyError, TypeError):
        return 0.0  # unreadable: taken as long past


def _same_span(record: str | None, start: datetime, end: datetime) -> bool:
    """Whether an earlier attempt's record asked for this span (a minute's slack either side):
    an override found for it may be the one that attempt made."""
    if record is None or record == _UNDER_WAY:
        return False
    try:
        asked = json.loads(record)
        return abs(float(asked["s"]) - start.timestamp()) <= 60 * 5 and abs(float(asked["e"]) - end.timestamp()) <= 60
    except (ValueError, KeyError, TypeError):
        return False


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, KeyError, OSError):
        return ZoneInfo("UTC")


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:199] + "\u2026"
