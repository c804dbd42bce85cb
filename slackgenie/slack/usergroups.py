"""Slack user groups: read every group in one call, write one group's members in one call, and
the group itself (create, update, enable, disable) in one call each."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from slackgenie.core.model import ActualGroup, GroupEdit


SlackId = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Z0-9]{2,40}$")]


class _Prefs(BaseModel):
    model_config = ConfigDict(extra="ignore")
    channels: list[str] = []


class _Group(BaseModel):
    """One item of ``usergroups.list`` with ``include_users=true``: ``users`` is always there."""

    model_config = ConfigDict(extra="ignore")
    id: SlackId
    handle: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=255)]
    users: list[SlackId]
    date_delete: int = 0
    name: str = ""
    description: str | None = ""
    prefs: _Prefs = _Prefs()


class _GroupList(BaseModel):
    model_config = ConfigDict(extra="ignore")
    usergroups: list[dict[str, Any]]


def list_groups(client: WebClient, team: str | None = None) -> dict[str, ActualGroup]:
    """Every user group of a workspace (``team``; None: the token's own), with members, keyed by
    handle: one ``usergroups.list`` call.

    A group whose entry does not fit is returned with a ``problem`` (its members unknown), so
    the pass leaves it alone instead of reading it as empty."""
    response = client.usergroups_list(include_users=True, include_disabled=True, include_count=False, team_id=team)
    try:
        items = _GroupList.model_validate(response.data).usergroups
    except ValidationError:
        raise SlackApiError("usergroups.list answered without a usergroups list", response) from None
    groups: dict[str, ActualGroup] = {}
    for raw in items:
        try:
            group = _Group.model_validate(raw)
        except ValidationError as exc:
            handle, gid = raw.get("handle"), raw.get("id")
            if isinstance(handle, str) and handle:
                where = ".".join(str(p) for p in exc.errors()[0]["loc"])
                groups[handle] = ActualGroup(id=gid if isinstance(gid, str) else "", handle=handle,
                                             members=frozenset(),
                                             problem=f"Slack's usergroups.list entry is malformed at {where}")
            continue
        if group.handle in groups:  # two groups answer to one handle: which to write is a guess
            groups[group.handle] = ActualGroup(id="", handle=group.handle, members=frozenset(),
                                               problem="Slack's usergroups.list holds this handle twice")
            continue
        groups[group.handle] = ActualGroup(id=group.id, handle=group.handle, members=frozenset(group.users),
                                           disabled=bool(group.date_delete), name=group.name,
                                           description=group.description or "",
                                           channels=frozenset(group.prefs.channels))
    return groups


def set_members(client: WebClient, group_id: str, members: Iterable[str], team: str | None = None) -> None:
    """Replace a group's members: one ``usergroups.users.update``. Never called with an empty list."""
    users = sorted(members)
    if not users:
        raise ValueError("refusing to send Slack an empty member list")
    client.usergroups_users_update(usergroup=group_id, users=users, team_id=team)


def edit_group(client: WebClient, group_id: str | None, handle: str, edit: GroupEdit, team: str | None = None) -> str:
    """One write to the group itself (``usergroups.create`` / ``update`` / ``enable`` / ``disable``);
    the group's id (a created group's new one)."""
    if edit.kind == "create":
        answer = client.usergroups_create(name=edit.name or handle, handle=handle, description=edit.description,
                                          channels=None if edit.channels is None else ",".join(edit.channels),
                                          team_id=team)
        created = (answer.get("usergroup") or {}).get("id")
        if not isinstance(created, str) or not created:
            raise SlackApiError("usergroups.create answered without the group's id", answer)
        return created
    assert group_id is not None
    if edit.kind == "update":
        client.usergroups_update(usergroup=group_id, description=edit.description,
                                 channels=None if edit.channels is None else ",".join(edit.channels), team_id=team)
    elif edit.kind == "enable":
        client.usergroups_enable(usergroup=group_id, team_id=team)
    else:
        client.usergroups_disable(usergroup=group_id, team_id=team)
    return group_id
