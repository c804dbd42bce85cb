"""One pattern per kind of identifier, for every stage that must tell them apart."""

from __future__ import annotations

import re

SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,40}$")  # U… in a workspace, W… across an Enterprise Grid organisation
SLACK_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,40}$")  # C… public or private, G… older private channels
SLACK_WORKSPACE_ID = re.compile(r"^T[A-Z0-9]{2,40}$")  # a workspace (team) id
SLACK_HANDLE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")  # a user group's handle, without @
CHANNEL_NAME = re.compile(r"^#[a-z0-9][a-z0-9._-]{0,79}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def is_slack_id(identity: str) -> bool:
    return bool(SLACK_USER_ID.match(identity))
