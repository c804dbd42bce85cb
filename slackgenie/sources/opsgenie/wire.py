"""Opsgenie's JSON read into typed values: the on-call answer, schedules with their rotations,
overrides, and the override API's answers. Nothing else in the product reads Opsgenie's dicts."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, ConfigDict, Field, StrictBool

from slackgenie.core.durations import iso_utc
from slackgenie.core.model import OnCall, ReadFailure, ScheduleInfo
from slackgenie.core.rotation import Override, Rotation, ScheduleModel
from slackgenie.sources.validate import Malformed, Text, Wire, fit, fit_at, fits


def utc_z(at: datetime) -> str:
    """An instant as Opsgenie's override API takes it: ISO-8601 in UTC with ``Z`` (naive: UTC)."""
    return iso_utc(at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc))


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
class _Parent(Wire):
    id: Text
    name: Text
    enabled: StrictBool = True


class _FlatOnCalls(Wire):
    """``GET /v2/schedules/{id}/on-calls?flat=true`` (and each item of the bulk list)."""
    parent: _Parent = Field(alias="_parent")
    recipients: list[Text] = Field(alias="onCallRecipients")


class _Recipient(Wire):
    """A rotation participant or an override's user: ``{type, id?, username?}`` (teams: ``name``)."""
    type: Text
    username: Text | None = None


class _Created(Wire):
    """``POST /v2/schedules/{id}/overrides``: ``{data: {alias}}``."""
    alias: Text


class _ListedOverride(Wire):
    model_config = ConfigDict(populate_by_name=True)
    alias: Text
    user: _Recipient
    start: AwareDatetime = Field(alias="startDate")
    end: AwareDatetime = Field(alias="endDate")


class _OverrideList(Wire):
    """``GET /v2/schedules/{id}/overrides``: ``{data: [{_parent, alias, user, startDate, endDate, rotations}]}``."""
    data: list[_ListedOverride]


def parent_of(entry: object) -> _Parent | None:
    """The schedule an on-call entry belongs to, or None when its ``_parent`` cannot be read."""
    return fits(_Parent, entry.get("_parent")) if isinstance(entry, dict) else None


def on_call_from_api(ref: str, entry: object) -> OnCall | ReadFailure:
    """An answer that does not fit the contract is a failed read of this schedule: never a
    person (``None`` is nobody's username), never "nobody"."""
    try:
        answer = fit(_FlatOnCalls, entry, "Opsgenie's on-call answer is")
    except Malformed as exc:
        return ReadFailure(ref, str(exc))
    return OnCall(schedule=ref, schedule_id=answer.parent.id, schedule_name=answer.parent.name,
                  usernames=frozenset(answer.recipients), enabled=answer.parent.enabled)


def username_of(participant: object) -> str | None:
    """The username of a rotation participant that is a user; None for a team, an escalation,
    nobody, or a participant that does not fit the contract."""
    user = fits(_Recipient, participant)
    return user.username if user is not None and user.type == "user" else None


def created_alias(answer: Any) -> str:
    """The alias in the create-override answer."""
    return fit_at(("data",), _Created, answer, "Opsgenie: the create-override answer is").alias


def listed_overrides(answer: Any) -> list[_ListedOverride]:
    """The overrides in the list-overrides answer."""
    return fit(_OverrideList, answer, "Opsgenie: the list-overrides answer is").data
