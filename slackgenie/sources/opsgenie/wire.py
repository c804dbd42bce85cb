"""Opsgenie's JSON read into typed values: the on-call answer, schedules with their rotations,
overrides, the override API's answers, escalation policies, teams' members and the next on-call.
Nothing else in the product reads Opsgenie's dicts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, ConfigDict, Field, StrictBool, StrictInt

from slackgenie.core.durations import iso_utc
from slackgenie.core.model import OnCall, ReadFailure, ScheduleInfo
from slackgenie.core.rotation import (NOBODY, WEEKDAYS, Override, Participant, Restriction, Rotation, ScheduleModel,
                                      Span)
from slackgenie.sources.levels import People, Policy, Recipient, Rule, TeamRole
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
        participant = (NOBODY if user.get("type") == "none" else
                       Participant("user", str(user.get("username") or user.get("name") or ""), str(user.get("id") or "")))
        out.append(Override(alias=o.get("alias", ""), user=participant, start=_parse(o["startDate"]),
                            end=_parse(o["endDate"]),
                            rotations=[r.get("id") or r.get("name", "") for r in o.get("rotations") or []]))
    return out


def _participant(raw: object) -> Participant:
    """A rotation participant: a user by username, a team or an escalation by name, or nobody."""
    p = raw if isinstance(raw, dict) else {}
    return Participant(str(p.get("type") or ""), str(p.get("username") or p.get("name") or ""), str(p.get("id") or ""))


def _restriction(raw: object) -> Restriction | None:
    """Opsgenie's ``timeRestriction`` (``time-of-day``: one ``restriction``; ``weekday-and-time-of-day``:
    ``restrictions`` by weekday); None for none, or a kind the maths does not know (never restricted)."""
    if not isinstance(raw, dict) or raw.get("type") not in ("time-of-day", "weekday-and-time-of-day"):
        return None
    if raw["type"] == "time-of-day":
        spec = raw.get("restriction") or {}
        return Restriction(daily=True, spans=(Span(_time(spec, "start"), _time(spec, "end")),))
    return Restriction(daily=False, spans=tuple(
        Span(_time(s, "start"), _time(s, "end"), WEEKDAYS.index(s["startDay"]), WEEKDAYS.index(s["endDay"]))
        for s in raw.get("restrictions") or []))


def _time(spec: dict[str, Any], which: str) -> timedelta:
    return timedelta(hours=int(spec.get(f"{which}Hour", 0)), minutes=int(spec.get(f"{which}Min", 0)))


def schedule_from_api(data: dict[str, Any]) -> ScheduleModel:
    """A ``ScheduleModel`` from Opsgenie's schedule JSON (``GET /v2/schedules?expand=rotation``)."""
    rotations = []
    for r in data.get("rotations") or []:
        rotations.append(Rotation(
            id=r.get("id", ""), name=r.get("name", ""), start=_parse(r["startDate"]),
            end=_parse(r["endDate"]) if r.get("endDate") else None, type=r.get("type", "weekly"),
            participants=[_participant(p) for p in r.get("participants") or []], length=int(r.get("length") or 1),
            time_restriction=_restriction(r.get("timeRestriction")),
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


def created_alias(answer: Any) -> str:
    """The alias in the create-override answer."""
    return fit_at(("data",), _Created, answer, "Opsgenie: the create-override answer is").alias


def listed_overrides(answer: Any) -> list[_ListedOverride]:
    """The overrides in the list-overrides answer."""
    return fit(_OverrideList, answer, "Opsgenie: the list-overrides answer is").data


# --- escalation policies (REFERENCE.md §1.2), teams and the next on-call ------------------------
# Opsgenie's Duration units, the spec's own spelling ("miliseconds") and the usual one alike
_MICROSECONDS = {"days": 86_400_000_000, "hours": 3_600_000_000, "minutes": 60_000_000, "seconds": 1_000_000,
                 "miliseconds": 1_000, "milliseconds": 1_000, "micros": 1, "nanos": 0.001}


class _Duration(Wire):
    amount: StrictInt = Field(alias="timeAmount", ge=0)
    unit: Literal["days", "hours", "minutes", "seconds", "miliseconds", "milliseconds", "micros", "nanos"] = Field(
        "minutes", alias="timeUnit")


class _RuleRecipient(Wire):
    """``{type, id?, name?, username?}``: escalation rules take users, schedules and teams only."""
    type: Literal["user", "schedule", "team"]
    id: Text | None = None
    name: Text | None = None
    username: Text | None = None


class _Rule(Wire):
    notify: Text = Field(alias="notifyType")
    delay: _Duration
    recipient: _RuleRecipient


class _Escalation(Wire):
    id: Text
    name: Text
    rules: list[_Rule]


class _Named(Wire):
    """Enough of a policy the rest of which cannot be read, to say which it is."""
    id: Text | None = None
    name: Text | None = None


def _policy(raw: _Escalation, what: str) -> Policy:
    rules = []
    for i, r in enumerate(raw.rules):
        who = r.recipient
        name = who.username if who.type == "user" else who.name
        if who.id is None and name is None:
            raise Malformed(f"{what} malformed at rules.{i}.recipient: a {who.type} named by neither id nor "
                            f"{'username' if who.type == 'user' else 'name'}")
        try:
            delay = timedelta(microseconds=r.delay.amount * _MICROSECONDS[r.delay.unit])
        except OverflowError:
            raise Malformed(f"{what} malformed at rules.{i}.delay: {r.delay.amount} {r.delay.unit} "
                            "is too long") from None
        rules.append(Rule(delay, r.notify, Recipient(who.type, who.id, name)))
    return Policy(raw.id, raw.name, tuple(rules))


def policy_from_api(answer: Any) -> Policy:
    """The policy in ``GET /v2/escalations/{identifier}``'s answer; ``Malformed`` if it does not fit."""
    what = "Opsgenie: the escalation policy is"
    return _policy(fit_at(("data",), _Escalation, answer, what), what)


def policies_from_api(items: list[Any]) -> tuple[list[Policy], dict[str, str], int]:
    """The policies of ``GET /v2/escalations``, read one by one: (those that fit, why each that
    does not fit fails by its id and by its name, how many cannot even be named)."""
    policies: list[Policy] = []
    broken: dict[str, str] = {}
    nameless = 0
    for i, item in enumerate(items):
        what = "Opsgenie: the escalation policy is"
        try:
            policies.append(_policy(fit(_Escalation, item, what), what))
        except Malformed as exc:
            named = fits(_Named, item)
            keys = [k for k in (named.id, named.name) if k] if named is not None else []
            nameless += not keys
            broken.update({k: str(exc) for k in keys})
    return policies, broken, nameless


class _UserMeta(Wire):
    username: Text


class _Member(Wire):
    user: _UserMeta
    role: Text = "user"


class _Team(Wire):
    id: Text
    name: Text
    members: list[_Member]


@dataclass(frozen=True)
class TeamMembers:
    """A team's members (usernames) and which of them are its admins."""

    id: str
    name: str
    members: frozenset[str]
    admins: frozenset[str]

    def people(self, role: TeamRole) -> People:
        """Who a team is notified as: everyone (``all``), its admins, or its members who are not
        admins (``users``: custom roles count as users)."""
        chosen = (self.members if role == "all" else self.admins if role == "admins"
                  else self.members - self.admins)
        return People(frozenset(chosen))


def team_from_api(answer: Any) -> TeamMembers:
    """``GET /v2/teams/{identifier}``: a team without its ``members`` cannot say who it is."""
    team = fit_at(("data",), _Team, answer, "Opsgenie: the team is")
    return TeamMembers(team.id, team.name, frozenset(m.user.username for m in team.members),
                       frozenset(m.user.username for m in team.members if m.role == "admin"))


def username_from_api(answer: Any) -> str:
    """``GET /v2/users/{identifier}``: the user's username."""
    return fit_at(("data",), _UserMeta, answer, "Opsgenie: the user is").username


class _FlatNext(Wire):
    """``GET /v2/schedules/{id}/next-on-calls?flat=true``: the exact next on-call's usernames."""
    parent: _Parent = Field(alias="_parent")
    exact: list[Text] = Field(alias="exactNextOnCallParticipants")


def next_from_api(ref: str, answer: Any) -> OnCall | ReadFailure:
    """Who is on call right after the schedule's next change (Opsgenie's "exact next")."""
    try:
        found = fit_at(("data",), _FlatNext, answer, "Opsgenie's next-on-call answer is")
    except Malformed as exc:
        return ReadFailure(ref, str(exc))
    return OnCall(schedule=ref, schedule_id=found.parent.id, schedule_name=found.parent.name,
                  usernames=frozenset(found.exact), enabled=found.parent.enabled)
