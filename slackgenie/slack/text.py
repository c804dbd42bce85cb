"""How Slackgenie writes for Slack: date tokens, inert text, and people as mentions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

from slackgenie.core.plan import map_identity
from slackgenie.slack.directory import Directory


def date_token(t: datetime) -> str:
    """A Slack date token: Slack shows it in each reader's own time zone (UTC as the fallback)."""
    utc = t.astimezone(timezone.utc)
    return f"<!date^{int(utc.timestamp())}^{{date_short_pretty}} {{time}}|{utc:%Y-%m-%d %H:%M} UTC>"


def escape(text: str) -> str:
    """Text a person typed or a provider sent, made inert for Slack: ``<!channel>``, ``<@U…>``
    and links are Slack's control sequences, and ``&``, ``<``, ``>`` are the three it asks apps
    to escape."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(directory: Directory, identity: str, user_map: Mapping[str, str]) -> str:
    """A provider's person as a Slack mention where the directory finds them (it may ask Slack
    once), else by name, made inert."""
    try:
        user = directory.resolve(map_identity(identity, user_map)).user
    except Exception:  # Slack unreachable: named instead, the message is still right
        user = None
    return f"<@{user.id}>" if user is not None else escape(identity)
