"""The JSM Ops and Jira JSON this provider reads, as pydantic models: what an answer must hold to
be believed. Private to this package (the leading underscore): no module outside ``jsm/`` reads
a vendor's JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, StrictBool

from slackgenie.sources.validate import Text, Wire


class _Schedule(Wire):
    id: Text
    name: Text
    enabled: StrictBool = True
    teamId: Text | None = None


class _Links(Wire):
    next: str | None = None


class _SchedulePage(Wire):
    values: list[Any]  # each schedule is read on its own: one odd entry costs only itself
    links: _Links = Field(default_factory=_Links)


class _FlatOnCalls(Wire):
    """``GET /v1/schedules/{id}/on-calls?flat=true``: account ids. The Opsgenie name
    ``onCallRecipients`` is read only when the documented ``onCallUsers`` is absent."""
    onCallUsers: list[Text] | None = None
    onCallRecipients: list[Text] | None = None


class _User(Wire):
    accountId: Text
    emailAddress: str | None = None  # null where the person's privacy settings hide it
    displayName: str | None = None
    active: StrictBool = True


class _UserPage(Wire):
    """``PageBeanUser``: a page may hold fewer than ``maxResults`` asked (the server's own cap),
    with ``isLast: false`` and ``nextPage`` (the URL of the next one)."""
    values: list[_User]
    isLast: StrictBool | None = None
    nextPage: str | None = None


class _Participant(Wire):
    """Who a rotation or a timeline period names (``ResponderInfo``): ``id`` is null for ``noone``;
    a team or an escalation has a ``name``."""
    type: Text
    id: Text | None = None
    name: str | None = None


class _Period(Wire):
    startDate: datetime
    endDate: datetime
    responder: _Participant | None = None


class _TimelineRotation(Wire):
    periods: list[_Period] = Field(default_factory=list)


class _Final(Wire):
    rotations: list[_TimelineRotation] = Field(default_factory=list)


class _Timeline(Wire):
    finalTimeline: _Final


class _Rotation(Wire):
    participants: list[_Participant] = Field(default_factory=list)


class _ScheduleRotations(Wire):
    """A schedule as the list gives it with ``expand=rotation``."""
    id: Text
    rotations: list[_Rotation] | None = None


class _Override(Wire):
    """``Override``: the alias is the server's (the create request has none)."""
    alias: Text
    responder: _Participant
    startDate: datetime
    endDate: datetime


class _Created(Wire):
    alias: Text


class _OverridePage(Wire):
    values: list[_Override]
    links: _Links = Field(default_factory=_Links)

