"""Opsgenie's JSON read into typed values: the on-call answer, schedules with their rotations,
overrides, and the override API's answers. Nothing else in the product reads Opsgenie's dicts."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StringConstraints, ValidationError

from slackgenie.core.model import OnCall, ReadFailure, ScheduleInfo
from slackgenie.core.rotation import Override, Rotation, ScheduleModel
from slackgenie.sources.http import SourceError, first_error


def utc_z(at: datetime) -> str:
    """An instant as Opsgenie's override API takes it: ISO-8601 in UTC with ``Z`` (naive: UTC)."""
    at = at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


# --- schedules and overrides, for the rotation maths ----------------------------------------------
def overrides_from_api(items: list[dict[str, Any]]) -> list[Override]:
    """``Override``s from Opsgenie's ``GET /v2/schedules/{id}/overrides`` answer."""
    out = []
    for o in items:
        user = o.get("user") or {}
        participant = ({"type": "none"} if user.get("type") == "none" else
                       {"type": "user", "id": user.get("id", ""), "username": user.get("username") or user.get("name", "")})
        out.append(Override(alias=o.get("alias", ""), user=participant, start=_parse(o["startDate"]),
                            end=_parse(o["endDate"]),
                            rotations=[r.get("id") or r.get("name", "") for r in o.get("rotations") or []]))
    return out


def schedule_from_api(data: dict[str, Any]) -> ScheduleModel:
    """A ``ScheduleModel`` from Opsgenie's schedule JSON (``GET /v2/schedules?expand=rotation``)."""
    rotations = []
    for r in data.get("rotations") or []:
        rotations.append(Rotation(
            id=r.get("id", ""), name=r.get("name", ""), start=_parse(r["startDate"]),
            end=_parse(r["endDate"]) if r.get("endDate") else None, type=r.get("type", "weekly"),
            participants=list(r.get("participants") or []), length=int(r.get("length") or 1),
            time_restriction=r.get("timeRestriction"),
        ))
    zone = data.get("timezone") or "UTC"
    try:
        ZoneInfo(zone)
    except (ValueError, ZoneInfoNotFoundError):
        raise ValueError(f"unknown time zone {zone!r}") from None
    return ScheduleModel(id=data.get("id", ""), name=data.get("name", ""), timezone=zone,
                         enabled=bool(data.get("enabled", True)), rotations=rotations,
                         owner_team=data.get("ownerTeam"))


def schedule_info(data: dict[str, Any]) -> ScheduleInfo:
    """A catalog entry from one item of ``GET /v2/schedules`` (without rotations)."""
    return ScheduleInfo(data["id"], data["name"], ((data.get("ownerTeam") or {}).get("name")),
                        bool(data.get("enabled", True)))


# --- the typed boundary: Opsgenie's flat on-call answer, as the contract documents it ---------
# A name or username: no control characters (a NUL or a line break is nobody's username, and
# would forge lines in the printed plan).
Name = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=512, pattern=r"^[^\x00-\x1f\x7f]+$")]


class _Parent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Name
    name: Name
    enabled: StrictBool = True


class _FlatOnCalls(BaseModel):
    """``GET /v2/schedules/{id}/on-calls?flat=true`` (and each item of the bulk list)."""

    model_config = ConfigDict(extra="ignore")
    parent: _Parent = Field(alias="_parent")
    recipients: list[Name] = Field(alias="onCallRecipients")


class _Recipient(BaseModel):
    """A rotation participant or an override's user: ``{type, id?, username?}`` (teams: ``name``)."""

    model_config = ConfigDict(extra="ignore")
    type: Name
    username: Name | None = None


class _AliasOnly(BaseModel):
    model_config = ConfigDict(extra="ignore")
    alias: Name


class _Created(BaseModel):
    """``POST /v2/schedules/{id}/overrides``: ``{data: {alias}}``."""

    model_config = ConfigDict(extra="ignore")
    data: _AliasOnly


class _ListedOverride(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    alias: Name
    user: _Recipient
    start: AwareDatetime = Field(alias="startDate")
    end: AwareDatetime = Field(alias="endDate")


class _OverrideList(BaseModel):
    """``GET /v2/schedules/{id}/overrides``: ``{data: [{_parent, alias, user, startDate, endDate, rotations}]}``."""

    model_config = ConfigDict(extra="ignore")
    data: list[_ListedOverride]


def parent_of(entry: object) -> _Parent | None:
    """The schedule an on-call entry belongs to, or None when its ``_parent`` cannot be read."""
    try:
        return _Parent.model_validate(entry.get("_parent")) if isinstance(entry, dict) else None
    except ValidationError:
        return None


def on_call_from_api(ref: str, entry: object) -> OnCall | ReadFailure:
    """An answer that does not fit the contract is a failed read of this schedule: never a
    person (``None`` is nobody's username), never "nobody"."""
    try:
        answer = _FlatOnCalls.model_validate(entry)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(answer)"
        return ReadFailure(ref, f"Opsgenie's on-call answer is malformed at {where}: {first['msg']}")
    return OnCall(schedule=ref, schedule_id=answer.parent.id, schedule_name=answer.parent.name,
                  usernames=frozenset(answer.recipients), enabled=answer.parent.enabled)


def username_of(participant: object) -> str | None:
    """The username of a rotation participant that is a user; None for a team, an escalation,
    nobody, or a participant that does not fit the contract."""
    try:
        user = _Recipient.model_validate(participant)
    except ValidationError:
        return None
    return user.username if user.type == "user" else None


def created_alias(answer: Any) -> str:
    """The alias in the create-override answer."""
    try:
        return _Created.model_validate(answer).data.alias
    except ValidationError as exc:
        raise SourceError(f"Opsgenie: the create-override answer is malformed at {first_error(exc)}") from None


def listed_overrides(answer: Any) -> list[_ListedOverride]:
    """The overrides in the list-overrides answer."""
    try:
        return _OverrideList.model_validate(answer).data
    except ValidationError as exc:
        raise SourceError(f"Opsgenie: the list-overrides answer is malformed at {first_error(exc)}") from None
