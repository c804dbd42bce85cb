"""PagerDuty's JSON, as REST API v2 sends it: the models an answer must fit to be read.

Unknown fields are ignored; a field the code reads is checked. Lists whose items are read one at a
time (``oncalls``, ``schedules``) stay ``Any`` here: one odd item costs only itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StringConstraints

Text = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=512, pattern=r"^[^\x00-\x1f\x7f]+$")]


class Ref(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Text
    summary: str | None = None


class User(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Text
    email: str | None = None
    name: str | None = None
    summary: str | None = None


class Entry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    user: User
    schedule: Ref | None = None
    start: datetime | None = None
    end: datetime | None = None


class OnCallPage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    oncalls: list[Any]  # each entry is read on its own: one odd entry costs only its schedule
    more: StrictBool = False

    @property
    def listed(self) -> list[Any]:
        return self.oncalls


class Team(BaseModel):
    model_config = ConfigDict(extra="ignore")
    summary: str | None = None


class Schedule(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Text
    name: str | None = None
    summary: str | None = None
    teams: list[Team] = Field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name or self.summary or self.id


class SchedulePage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    schedules: list[Any]  # each schedule is read on its own: one odd entry costs only itself
    more: StrictBool = False

    @property
    def listed(self) -> list[Any]:
        return self.schedules


class Rendered(BaseModel):
    model_config = ConfigDict(extra="ignore")
    start: datetime
    end: datetime | None = None  # null: does not end
    user: Ref | None = None


class Final(BaseModel):
    model_config = ConfigDict(extra="ignore")
    rendered_schedule_entries: list[Rendered]


class ScheduleDetail(BaseModel):
    model_config = ConfigDict(extra="ignore")
    final_schedule: Final


class ScheduleAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    schedule: ScheduleDetail


class Users(BaseModel):
    model_config = ConfigDict(extra="ignore")
    users: list[User]


class LayerUser(BaseModel):
    model_config = ConfigDict(extra="ignore")
    user: Ref


class Layer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    end: AwareDatetime | None = None  # null: the layer does not end
    users: list[LayerUser]


class LayersDetail(BaseModel):
    model_config = ConfigDict(extra="ignore")
    schedule_layers: list[Layer]


class LayersAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    schedule: LayersDetail


class UserAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    user: User


class ListedOverride(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Text
    start: AwareDatetime
    end: AwareDatetime
    user: Ref


class OverrideList(BaseModel):
    """``GET /schedules/{id}/overrides``: ``{overrides: [{id, start, end, user}]}``."""

    model_config = ConfigDict(extra="ignore")
    overrides: list[ListedOverride]


class CreatedOverride(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Text | None = None  # read-only: present once created


class CreateStatus(BaseModel):
    """One element of ``POST /schedules/{id}/overrides``'s answer: ``{status, errors?, override}``."""

    model_config = ConfigDict(extra="ignore")
    status: int | None = None  # the HTTP status of this override's creation: 201 created
    errors: list[str] = Field(default_factory=list)
    override: CreatedOverride
