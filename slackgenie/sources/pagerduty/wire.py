"""PagerDuty's JSON, as REST API v2 sends it: the models an answer must fit to be read.

Unknown fields are ignored; a field the code reads is checked. Lists whose items are read one at a
time (``oncalls``, ``schedules``) stay ``Any`` here: one odd item costs only itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, Field, StrictBool, StrictInt, field_validator

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


# --- escalation policies (../shared/specs/escalations/REFERENCE.md §3) ---------------------------

class Target(Wire):
    """An ``EscalationTargetReference``: a user or a schedule (``user``, ``user_reference``,
    ``schedule``, ``schedule_reference``, ``schedule_v3_reference``: told apart by the start of
    ``type``); PagerDuty has no team targets, so anything else is an answer that does not fit."""
    id: Text
    type: Text
    summary: str | None = None

    @field_validator("type")
    @classmethod
    def _user_or_schedule(cls, value: str) -> str:
        if not value.startswith(("user", "schedule")):
            raise ValueError(f"an escalation target is a user or a schedule, not {value!r}")
        return value

    @property
    def kind(self) -> Literal["user", "schedule"]:
        return "user" if self.type.startswith("user") else "schedule"

    @property
    def label(self) -> str:
        return self.summary or self.id


class EscalationRule(Wire):
    """One level: how long it waits before the next, and whom it notifies (1 to 10 targets)."""
    escalation_delay_in_minutes: StrictInt = Field(ge=0)
    targets: list[Target] = Field(min_length=1)


class EscalationPolicy(Wire):
    """``EscalationPolicy``: ``escalation_rules[i]`` is level i + 1."""
    id: Text
    name: str | None = None
    summary: str | None = None
    escalation_rules: list[EscalationRule]

    @property
    def label(self) -> str:
        return self.name or self.summary or self.id


class PolicyPage(Wire):
    escalation_policies: list[Any]  # each policy is read on its own: one odd policy costs only itself
    more: StrictBool = False

    @property
    def listed(self) -> list[Any]:
        return self.escalation_policies


class LevelEntry(Wire):
    """An ``/oncalls`` entry read for an escalation level: whose policy, which level (from 1), and
    the schedule it comes from (None, with no start or end: a user named directly on the level,
    on call for good)."""
    user: User
    escalation_policy: Ref
    escalation_level: StrictInt = Field(ge=1)
    schedule: Ref | None = None
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
