"""The Slack target: who IS in each group, and how to change it. The only place that interprets
Slack's answers to a pass's reads and writes; the reconciler sees values and sentences."""

from __future__ import annotations

from collections.abc import Iterable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from slackgenie.model import ActualGroup
from slackgenie.slack.client import error_code
from slackgenie.slack.directory import Directory
from slackgenie.slack.usergroups import list_groups, set_members


class GroupsUnreadable(Exception):
    """``usergroups.list`` gave no answer to trust; the message says why."""


class SlackTarget:
    def __init__(self, client: WebClient, directory: Directory):
        self.client = client
        self.directory = directory

    def groups(self) -> dict[str, ActualGroup]:
        """Every user group with its members, by handle: one ``usergroups.list``."""
        try:
            return list_groups(self.client)
        except SlackApiError as exc:
            raise GroupsUnreadable(describe(exc)) from None
        except Exception as exc:  # connection failures after retries
            raise GroupsUnreadable(f"{type(exc).__name__}: {exc}") from None

    def set_members(self, group_id: str, members: Iterable[str]) -> str | None:
        """Write one group's members: None when Slack took it, else why not."""
        members = frozenset(members)
        try:
            set_members(self.client, group_id, members)
        except SlackApiError as exc:
            code = describe(exc)
            if "invalid_users" in code:
                # A cached id went stale (account deactivated since): look everyone up afresh next pass.
                self.directory.forget(members)
            return f"Slack refused the update: {code}"
        except Exception as exc:
            return f"update failed: {type(exc).__name__}: {exc}"
        return None


def describe(exc: SlackApiError) -> str:
    response = exc.response
    if response is not None and response.status_code == 429:
        return "ratelimited (HTTP 429) after retries"
    code = error_code(exc)
    if code == "missing_scope" and response is not None:
        return f"missing_scope (needs {response.get('needed')})"
    return code
