"""After a group changes: one announcement in its channel, and the on-call part of a channel topic.

Both are at-most-once per change: the membership they describe is recorded in the state file
*before* Slack is called, so a restart (or a re-write of the same membership) never repeats them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone

import structlog
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from slackgenie.config import GroupSync
from slackgenie.model import GroupOutcome
from slackgenie.slack.directory import Directory
from slackgenie.state import StateStore

log = structlog.get_logger("slackgenie.notify")

TOPIC_SEGMENT = re.compile(r"(?:^|(?<=\|))\s*on call: [^|]*", re.IGNORECASE)
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
TOPIC_LIMIT = 250


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
        ts = int(next_handoff.timestamp())
        fallback = next_handoff.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        lines.append(f"Next handoff: <!date^{ts}^{{date_short_pretty}} {{time}}|{fallback}>")
    return "\n".join(lines)


class Notifier:
    def __init__(self, client: WebClient, directory: Directory, state: StateStore,
                 next_handoff: Callable[[list[str]], datetime | None]):
        self.client = client
        self.directory = directory
        self.state = state
        self.next_handoff = next_handoff
        self._channels: dict[str, str] = {}

    def after_pass(self, sync: GroupSync, outcome: GroupOutcome) -> list[str]:
        """Announce and update the topic for one group; returns what was done or went wrong.

        Never raises: the group is already written, and a notification problem must not cost
        the pass its report."""
        try:
            return self._after_pass(sync, outcome)
        except Exception as exc:
            log.warning("notify.failed", group=sync.usergroup, error=f"{type(exc).__name__}: {exc}")
            return [f"notification failed: {type(exc).__name__}"]

    def _after_pass(self, sync: GroupSync, outcome: GroupOutcome) -> list[str]:
        notes: list[str] = []
        plan = outcome.plan
        members = plan.desired if outcome.applied else plan.current
        fingerprint = ",".join(sorted(members))
        if sync.announce and outcome.applied:
            key = f"announced:{sync.usergroup}"
            if self.state.get(key) != fingerprint:
                self.state.put(key, fingerprint)
                notes.append(self._announce(sync, outcome))
        if sync.topic and outcome.ok and members and plan.action.value in ("update", "in sync"):
            key = f"topic:{sync.usergroup}"
            if self.state.get(key) != fingerprint:
                notes.append(self._topic(sync, sorted(members), key, fingerprint))
        return [n for n in notes if n]

    def _announce(self, sync: GroupSync, outcome: GroupOutcome) -> str:
        plan = outcome.plan
        text = announcement(sync.usergroup, sorted(plan.add), sorted(plan.remove), sorted(plan.desired),
                            self.next_handoff(sync.schedules))
        try:
            self.client.chat_postMessage(channel=self._channel(sync.announce or ""), text=text)
        except SlackApiError as exc:
            return f"announcement in {sync.announce} failed: {exc.response.get('error')}"
        log.info("group.announced", group=sync.usergroup, channel=sync.announce)
        return f"announced in {sync.announce}"

    def _topic(self, sync: GroupSync, members: list[str], key: str, fingerprint: str) -> str:
        try:
            channel = self._channel(sync.topic or "")
            current = self.client.conversations_info(channel=channel)["channel"]["topic"]["value"]
            names = [self.directory.user_by_id(m).name or m for m in members]
            wanted = topic_with(current, names)
            self.state.put(key, fingerprint)
            if wanted == current:
                return ""
            self.client.conversations_setTopic(channel=channel, topic=wanted)
        except SlackApiError as exc:
            return f"topic of {sync.topic} not updated: {exc.response.get('error')}"
        log.info("group.topic_updated", group=sync.usergroup, channel=sync.topic, topic=wanted)
        return f"topic of {sync.topic} updated"

    def _channel(self, ref: str) -> str:
        if CHANNEL_ID.match(ref):
            return ref
        name = ref.lstrip("#")
        if name not in self._channels:
            cursor = None
            for _ in range(100):  # bounded: 100 pages of 200 channels
                page = self.client.conversations_list(types="public_channel,private_channel", limit=200,
                                                      exclude_archived=True, cursor=cursor)
                self._channels.update({c["name"]: c["id"] for c in page["channels"]})
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if name in self._channels or not cursor:
                    break
        if name not in self._channels:
            raise SlackApiError(f"channel {ref} not found", {"ok": False, "error": "channel_not_found"})
        return self._channels[name]
