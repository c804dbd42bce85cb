"""Slack user groups: read every group in one call, write one group's members in one call."""

from __future__ import annotations

from collections.abc import Iterable

from slack_sdk import WebClient

from slackgenie.model import ActualGroup


def list_groups(client: WebClient) -> dict[str, ActualGroup]:
    """Every user group, with members, keyed by handle: one ``usergroups.list`` call."""
    response = client.usergroups_list(include_users=True, include_disabled=True, include_count=False)
    groups: dict[str, ActualGroup] = {}
    for raw in response.get("usergroups") or []:
        groups[raw["handle"]] = ActualGroup(
            id=raw["id"], handle=raw["handle"], members=frozenset(raw.get("users") or []),
            disabled=bool(raw.get("date_delete")),
        )
    return groups


def set_members(client: WebClient, group_id: str, members: Iterable[str]) -> None:
    """Replace a group's members: one ``usergroups.users.update``. Never called with an empty list."""
    users = sorted(members)
    if not users:
        raise ValueError("refusing to send Slack an empty member list")
    client.usergroups_users_update(usergroup=group_id, users=users)
