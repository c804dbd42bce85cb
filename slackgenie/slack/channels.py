"""A group's default channels as Slack keeps them: ids. A ``#name`` is found once in its workspace
(``conversations.list``, with ``team_id`` for an org-level token) and kept a day beside the user
cache, so a steady state asks nothing."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk import WebClient

from slackgenie.core.ids import SLACK_CHANNEL_ID
from slackgenie.slack.client import error_code
from slackgenie.slack.directory import Directory

MAX_PAGES = 100  # 100 pages of 1,000 channels


class ChannelIds:
    def __init__(self, client: WebClient, directory: Directory):
        self.client = client
        self.directory = directory

    def ids(self, refs: Sequence[str], team: str | None) -> tuple[str, ...] | str:
        """The channels' ids, in order; or why not (a name no channel of the workspace has)."""
        key = f"channels:{team or ''}"
        names = [r.lstrip("#") for r in refs if not SLACK_CHANNEL_ID.match(r)]
        known = dict(self.directory.kept(key) or {})
        if any(n not in known for n in names):
            try:
                known = self._list(team)
            except Exception as exc:
                return f"could not list the workspace's channels for 'channels': {error_code(exc)}"
            self.directory.keep(key, known)
        missing = [n for n in names if n not in known]
        if missing:
            return f"'channels': no channel #{missing[0]} in the group's workspace (public channels, not archived)"
        return tuple(dict.fromkeys(r if SLACK_CHANNEL_ID.match(r) else str(known[r.lstrip("#")]) for r in refs))

    def _list(self, team: str | None) -> dict[str, str]:
        found: dict[str, str] = {}
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = self.client.conversations_list(types="public_channel", exclude_archived=True, limit=1000,
                                                  cursor=cursor, team_id=team)
            for channel in page.get("channels") or []:
                if isinstance(channel, dict) and isinstance(channel.get("name"), str):
                    found[channel["name"]] = str(channel.get("id"))
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        return found
