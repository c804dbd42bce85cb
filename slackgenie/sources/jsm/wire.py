"""The JSM Ops and Jira JSON this provider reads, as pydantic models: what an answer must hold to
be believed. Private to this package (the leading underscore): no module outside ``jsm/`` reads
a vendor's JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

Text = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=512, pattern=r"^[^\x00-\x1f\x7f]+$")]


class _Schedule(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Text
    name: Text
    enabled: StrictBool = True
    teamId: Text | None = None


class _Links(BaseModel):
    model_config = ConfigDict(extra="ignore")
    next: str | None = None


class _SchedulePage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    values: list[Any]  # each schedule is read on its own: one odd entry costs only itself
    links: _Links = Field(default_factory=_Links)


class _FlatOnCalls(BaseModel):
    """``GET /v1/schedules/{id}/on-calls?flat=true``: account ids. The Opsgenie name
    ``onCallRecipients`` is read only when the documented ``onCallUsers`` is absent."""

    model_config = ConfigDict(extra="ignore")
    onCallUsers: list[Text] | None = None
    onCallRecipients: list[Text] | None = None


class _User(BaseModel):
    model_config = ConfigDict(extra="ignore")
    accountId: Text
    emailAddress: str | None = None  # null where the person's privacy settings hide it
    displayName: str | None = None
    active: StrictBool = True


class _UserPage(BaseModel):
    """``PageBeanUser``: a page may hold fewer than ``maxResults`` asked (the server's own cap),
    with ``isLast: false`` and ``nextPage`` (the URL of the next one)."""

    model_config = ConfigDict(extra="ignore")
    values: list[_User]
    isLast: StrictBool | None = None
    nextPage: str | None = None


class _Responder(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    id: str | None = None
    name: str | None = None


class _Period(BaseModel):
    model_config = ConfigDict(extra="ignore")
    startDate: datetime
    endDate: datetime
    responder: _Responder | None = None


class _TimelineRotation(BaseModel):
    model_config = ConfigDict(extra="ignore")
    periods: list[_Period] = Field(default_factory=list)


class _Final(BaseModel):
    model_config = ConfigDict(extra="ignore")
    rotations: list[_TimelineRotation] = Field(default_factory=list)


class _Timeline(BaseModel):
    model_config = ConfigDict(extra="ignore")
    finalTimeline: _Final


class _Participant(BaseModel):
    """A rotation's participant (``ResponderInfo``): ``id`` is null for ``noone``."""

    model_config = ConfigDict(extra="ignore")
    type: Text
    id: Text | None = None


class _Rotation(BaseModel):
    model_config = ConfigDict(extra="ignore")
    participants: list[_Participant] = Field(default_factory=list)


class _ScheduleRotations(BaseModel):
    """A schedule as the list gives it with ``expand=rotation``."""

    model_config = ConfigDict(extra="ignore")
    id: Text
    rotations: list[_Rotation] | None = None


class _Override(BaseModel):
    """``Override``: the alias is the server's (the create request has none)."""

    model_config = ConfigDict(extra="ignore")
    alias: Text
    responder: _Participant
    startDate: datetime
    endDate: datetime


class _Created(BaseModel):
    model_config = ConfigDict(extra="ignore")
    alias: Text


class _OverridePage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    values: list[_Override]
    links: _Links = Field(default_factory=_Links)

