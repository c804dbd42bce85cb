"""After a group changes: one announcement in its channel, and the on-call part of a channel topic.

Level-triggered, like the sync: the state file holds the membership last announced in each
group's channel, and a pass that confirms another membership announces the difference.

Exactly once: the attempt is recorded before the post (if it cannot be, nothing is posted and
the pass fails); one Slack surely did not take (an error it answered, a 503) is tried again by
the next pass; one whose answer was lost (a timeout, a dropped connection, ``internal_error``)
is looked for in the channel by the next pass and posted only if it is not there
(``slack/delivery.py``). The pass lock (``StateStore.exclusive``) keeps two processes from both
posting it. One that can never succeed as configured (the app is not in the channel, a scope is
missing) is reported with its fix and dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import structlog
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from slackgenie.core.ids import SLACK_CHANNEL_ID
from slackgenie.core.model import Action, GroupOutcome, Sync
from slackgenie.slack.client import error_code
from slackgenie.slack.delivery import (GIVE_UP_LOOKING, OPEN, CannotLook, WriteGate, gated, mark, maybe_done, post,
                                       was_posted)
from slackgenie.slack.directory import Directory
from slackgenie.slack.text import date_token
from slackgenie.core.facts import Facts, StateNotSaved

log = structlog.get_logger("slackgenie.notify")

TOPIC_SEGMENT = re.compile(r"(?:^|(?<=\|))\s*on call: [^|]*", re.IGNORECASE)
TOPIC_LIMIT = 250

# Errors that retrying cannot fix, and what a person must do instead.
FIXES = {
    "not_in_channel": "invite the app to {channel} (type /invite @Slackgenie there)",
    "channel_not_found": "check the name; for a private channel invite the app and grant it groups:read, "
                         "or give the channel id (C…)",
    "is_archived": "unarchive {channel}, or point the setting at another channel",
    "missing_scope": "add the scope {needed} to the Slack app and reinstall it",
    "restricted_action": "let apps post in {channel} (workspace or channel settings)",
    "not_allowed_token_type": "use a bot token (xoxb-…) for announcements",
    "too_long": "shorten the channel topic by hand",
}


def topic_with(current: str, names: list[str]) -> str:
    """``current`` with its "on call: …" part (at the start, or right after a "|") set to
    ``names``; the rest of the text left alone. Names are shortened, never the rest."""
    match = TOPIC_SEGMENT.search(current)
    if match:
        lead = " " if match.group(0).startswith(" ") else ""
        trail = " " if match.group(0).endswith(" ") else ""
        before, after = current[:match.start()], current[match.end():]
    else:
        lead, trail = (" ", "") if current.strip() else ("", "")
        before, after = (current.rstrip() + " |") if current.strip() else "", ""
    room = TOPIC_LIMIT - len(before) - len(after) - len(lead) - len(trail) - len("on call: ")
    shown = [f"@{n}" for n in names]
    while shown and len(", ".join(shown)) > room:  # drop names, say how many
        shown = shown[:-1]
        hidden = len(names) - len(shown)
        while shown and len(", ".join(shown)) + len(f" +{hidden}") > room:
            shown = shown[:-1]
            hidden = len(names) - len(shown)
        if shown:
            shown[-1] += f" +{hidden}"
            break
    return f"{before}{lead}on call: {', '.join(shown)}{trail}{after}"[:TOPIC_LIMIT]


def announcement(handle: str, added: list[str], removed: list[str], members: list[str],
                 next_handoff: datetime | None) -> str:
    def mentions(ids: list[str]) -> str:
        return ", ".join(f"<@{i}>" for i in ids) or "nobody"

    lines = [f"*@{handle}* is now {mentions(members)}."]
    if added:
        lines.append(f"On call: {mentions(added)}")
    if removed:
        lines.append(f"Off call: {mentions(removed)}")
    if next_handoff is not None:
        lines.append(f"Next handoff: {date_token(next_handoff)}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Attempt:
    """An attempt to announce whose outcome is not known yet; ``at``: when (epoch seconds), None
    where an older version recorded no time."""
    fingerprint: str
    at: float | None
    raw: str = ""  # as recorded: what a clear must still find


def _attempt(sending: str | None) -> Attempt | None:
    if not sending:
        return None
    fingerprint, _, at = sending.partition("|")
    try:
        return Attempt(fingerprint, float(at), sending)
    except ValueError:
        return Attempt(fingerprint, None, sending)


class Notifier:
    def __init__(self, client: WebClient, directory: Directory, state: Facts,
                 next_handoff: Callable[[Sequence[str]], datetime | None],
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc), gate: WriteGate = OPEN):
        self.now = now  # the clock Slack's message timestamps are read against
        self.gate = gate  # asked right before each post and topic: only the lease holder writes
        self.client = client
        self.directory = directory
        self.state = state
        self.next_handoff = next_handoff
        self._channels: dict[str, str] = {}
        self._private_channels = True  # until Slack says the app lacks groups:read

    def after_pass(self, sync: Sync, outcome: GroupOutcome) -> list[str]:
        """Announce and update the topic for one group; returns what was done or went wrong.

        Raises only ``StateNotSaved`` (nothing was posted that could not be recorded: the pass
        fails, loudly); otherwise never: the group is already written, and a notification problem
        must not cost the pass its report."""
        try:
            return self._after_pass(sync, outcome)
        except StateNotSaved:
            raise
        except Exception as exc:
            log.warning("notify.failed", group=sync.usergroup, error=f"{type(exc).__name__}: {exc}")
            return [f"notification failed: {type(exc).__name__}"]

    def _after_pass(self, sync: Sync, outcome: GroupOutcome) -> list[str]:
        plan = outcome.plan
        if not outcome.ok or not (outcome.applied or plan.action is Action.IN_SYNC):
            return []  # only a membership this pass confirmed is told
        members = plan.desired if outcome.applied else plan.current
        fingerprint = ",".join(sorted(members))
        notes: list[str] = []
        if sync.announce:
            notes.append(self._announce(sync, outcome, members, fingerprint))
        if sync.topic and members:
            key = f"topic:{sync.usergroup}"
            if self.state.get(key) != fingerprint and self.state.get(f"{key}:dropped") != fingerprint:
                notes.append(self._topic(sync, sorted(members), key, fingerprint))
        return [n for n in notes if n]

    def _announce(self, sync: Sync, outcome: GroupOutcome, members: frozenset[str], fingerprint: str) -> str:
        key = f"announced:{sync.usergroup}"
        if self.state.get(f"{key}:dropped") == fingerprint:
            return ""
        if not self.gate.may_write():  # leader_election: the lease holder tells it (and keeps its records)
            return f"announcement in {sync.announce} left to the lease holder (this replica does not hold the lease)"
        told = self.state.get(key)
        pending = _attempt(self.state.get(f"{key}:sending"))
        if told is None and pending is None:
            # First sight of this group: what it held before this pass is what was last told.
            told = ",".join(sorted(outcome.plan.current)) if outcome.applied else fingerprint
            self.state.put(key, told)
        if told == fingerprint and pending is None:
            return ""
        channel = sync.announce or ""
        try:
            channel_id = self._channel(channel, sync.workspace)
        except Exception as exc:
            return self._failed(f"announcement in {channel}", key, fingerprint, channel, exc, sync.usergroup)
        notes = []
        if pending is not None:
            # An earlier attempt got no answer that says what happened: look, never post blind.
            settled = self._settle(key, pending, channel, channel_id, sync.usergroup)
            if settled is None:  # the look failed for a passing reason: nothing more this pass
                return f"announcement in {channel} not confirmed yet (the channel could not be read); looked for again next pass"
            told, note = settled
            notes.append(note)
            if told == fingerprint:
                return "; ".join(n for n in notes if n)
        before = set((told or "").split(",")) - {""}
        text = announcement(sync.usergroup, sorted(members - before), sorted(before - members), sorted(members),
                            self.next_handoff(sync.keys))
        if not self.gate.may_write():  # the lease was lost during the pass: the holder tells it
            notes.append(f"announcement in {channel} left to the lease holder (this replica no longer holds the lease)")
            return "; ".join(n for n in notes if n)
        attempted = self.now().timestamp()
        sending: dict[str, str | None] = {f"{key}:sending": f"{fingerprint}|{attempted:.3f}"}
        # Recorded before the post (StateNotSaved: not posted at all): a lost answer is looked for.
        self.state.change(sending)
        try:
            post(self.client, channel_id, text, mark(key, fingerprint, f"{attempted:.3f}"), self.gate)
        except Exception as exc:
            if maybe_done(exc):
                log.warning("notify.uncertain", group=sync.usergroup, channel=channel, error=error_code(exc),
                            retry="looked for in the channel next pass")
                notes.append(f"announcement in {channel} not confirmed ({error_code(exc)}): the next pass looks for "
                             "it in the channel and posts it only if it is not there")
                return "; ".join(n for n in notes if n)
            self.state.change_if(sending, {f"{key}:sending": None})  # ours only, never another replica's
            notes.append(self._failed(f"announcement in {channel}", key, fingerprint, channel, exc, sync.usergroup))
            return "; ".join(n for n in notes if n)
        if not self.state.change_if(sending, {key: fingerprint, f"{key}:sending": None}):
            self.state.put(key, fingerprint)  # another process's attempt since: its record stays for it to settle
        log.info("group.announced", group=sync.usergroup, channel=channel)
        notes.append(f"announced in {channel}")
        return "; ".join(n for n in notes if n)

    def _settle(self, key: str, pending: Attempt, channel: str, channel_id: str,
                group: str) -> tuple[str | None, str] | None:
        """An earlier attempt's outcome, found by looking in the channel: (what was last told,
        a note). Posted, or not to be told (then taken as posted: at most once): its membership;
        not there: what was told before it. None: the look failed for a passing reason (looked
        for again by the next pass, for up to an hour)."""
        told = self.state.get(key)
        if pending.at is not None:
            try:
                if not was_posted(self.client, channel_id, mark(key, pending.fingerprint, f"{pending.at:.3f}"),
                                  pending.at):
                    log.info("notify.not_posted_before", group=group, channel=channel, retry="posting now")
                    if not self.state.change_if({f"{key}:sending": pending.raw}, {f"{key}:sending": None}):
                        return None  # another process attempted it since: settled by the next pass
                    return told, ""
                if not self.state.change_if({f"{key}:sending": pending.raw},
                                            {key: pending.fingerprint, f"{key}:sending": None}):
                    return None
                return pending.fingerprint, f"announcement in {channel} was posted by an earlier attempt (found in the channel)"
            except CannotLook as exc:
                if not exc.lasting and self.now().timestamp() - pending.at < GIVE_UP_LOOKING:
                    log.warning("notify.look_failed", group=group, channel=channel, error=exc.reason,
                                retry="next pass")
                    return None
                why = exc.reason + (f"; {exc.fix}" if exc.fix else "")
        else:
            why = "no record of when it was attempted"
        if not self.state.change_if({f"{key}:sending": pending.raw}, {key: pending.fingerprint, f"{key}:sending": None}):
            return None
        log.warning("notify.uncertain", group=group, channel=channel, error=why, retry="not repeated")
        return pending.fingerprint, (f"announcement in {channel} may have been posted by an earlier attempt; not "
                                     f"repeated ({why})")

    def _topic(self, sync: Sync, members: list[str], key: str, fingerprint: str) -> str:
        ref = sync.topic or ""
        try:
            channel = self._channel(ref, sync.workspace)
            current = self.client.conversations_info(channel=channel)["channel"]["topic"]["value"]
            names = [self.directory.user_by_id(m).name or m for m in members]
            wanted = topic_with(current, names)
            if wanted != current:
                with gated(self.gate):
                    self.client.conversations_setTopic(channel=channel, topic=wanted)
        except Exception as exc:
            return self._failed(f"topic of {ref}", key, fingerprint, ref, exc, sync.usergroup)
        self.state.put(key, fingerprint)
        if wanted == current:
            return ""
        log.info("group.topic_updated", group=sync.usergroup, channel=ref, topic=wanted)
        return f"topic of {ref} updated"

    def _failed(self, what: str, key: str, fingerprint: str, channel: str, exc: Exception, group: str) -> str:
        """Say what went wrong; drop what retrying cannot fix (with the fix), keep the rest for next pass."""
        response = exc.response if isinstance(exc, SlackApiError) else None
        code = error_code(exc)
        fix = FIXES.get(code)
        if fix is None:
            log.warning("notify.failed", group=group, what=what, error=code, retry="next pass")
            return f"{what} failed ({code}); tried again next pass"
        fix = fix.format(channel=channel, needed=(response.get("needed") if response is not None else None) or "")
        self.state.put(f"{key}:dropped", fingerprint)
        log.warning("notify.dropped", group=group, what=what, error=code, fix=fix)
        return f"{what} dropped ({code}): {fix}"

    def _channel(self, ref: str, team: str | None = None) -> str:
        """A channel's id; a #name is looked for in the group's workspace (``team``: with an
        org-level token, conversations.list must name it, and a post must name the id)."""
        if SLACK_CHANNEL_ID.match(ref):
            return ref
        name = ref.lstrip("#")
        key = f"{team}:{name}" if team else name
        if key not in self._channels:
            cursor = None
            for _ in range(100):  # bounded: 100 pages of 200 channels
                try:
                    page = self.client.conversations_list(
                        types="public_channel,private_channel" if self._private_channels else "public_channel",
                        limit=200, exclude_archived=True, cursor=cursor, team_id=team)
                except SlackApiError as exc:
                    if error_code(exc) == "missing_scope" and self._private_channels:
                        self._private_channels = False  # no groups:read: public channels only
                        cursor = None
                        continue
                    raise
                self._channels.update({(f"{team}:{c['name']}" if team else c["name"]): c["id"] for c in page["channels"]})
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if key in self._channels or not cursor:
                    break
        if key not in self._channels:
            raise SlackApiError(f"channel {ref} not found", SlackResponse(
                client=self.client, http_verb="POST", api_url="conversations.list", req_args={},
                data={"ok": False, "error": "channel_not_found"}, headers={}, status_code=200))
        return self._channels[key]
