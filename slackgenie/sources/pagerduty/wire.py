"""PagerDuty's JSON, as REST API v2 sends it: the models an answer must fit to be read.

Unknown fields are ignored; a field the code reads is checked. Lists whose items are read one at a
time (``oncalls``, ``schedules``) stay ``Any`` here: one odd item costs only itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, Field, StrictBool

from slackgenie.sources.validate import Text, Wire


class Ref(Wire):
    id: Text
    summary: str | None = None


class User(Wire):
    id: Text
    email: str | None = None
    name: str | None = None
    summary: str | None = None


class Entry(Wire):
    user: User
    schedule: Ref | None = None
    start: datetime | None = None
    end: datetime | None = None


class OnCallPage(Wire):
    oncalls: list[Any]  # each entry is read on its own: one odd entry costs only its schedule
    more: StrictBool = False

    @property
    def listed(self) -> list[Any]:
        return self.oncalls


class Team(Wire):
    summary: str | None = None


class Schedule(Wire):
    id: Text
    name: str | None = None
    summary: str | None = None
    teams: list[Team] = Field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name or self.summary or self.id


class SchedulePage(Wire):
    schedules: list[Any]  # each schedule is read on its own: one odd entry costs only itself
    more: StrictBool = False

    @property
    def listed(self) -> list[Any]:
        return self.schedules


class Rendered(Wire):
    start: datetime
    end: datetime | None = None  # null: does not end
    user: Ref | None = None


class Final(Wire):
    """``GET /schedules/{id}``'s ``schedule.final_schedule``: the layer overrides included."""
    rendered_schedule_entries: list[Rendered]


class Users(Wire):
    users: list[User]


class LayerUser(Wire):
    user: Ref


class Layer(Wire):
    end: AwareDatetime | None = None  # null: the layer does not end
    users: list[LayerUser]


class Layers(Wire):
    """``GET /schedules/{id}``'s ``schedule``: its layers."""
    schedule_layers: list[Layer]


class ListedOverride(Wire):
    id: Text
    start: AwareDatetime
    end: AwareDatetime
    user: Ref


class OverrideList(Wire):
    """``GET /schedules/{id}/overrides``: ``{overrides: [{id, start, end, user}]}``."""
    overrides: list[ListedOverride]


class CreatedOverride(Wire):
    id: Text | None = None  # read-only: present once created


class CreateStatus(Wire):
    """One element of ``POST /schedules/{id}/overrides``'s answer: ``{status, errors?, override}``."""
    status: int | None = None  # the HTTP status of this override's creation: 201 created
    errors: list[str] = Field(default_factory=list)
    override: CreatedOverride
