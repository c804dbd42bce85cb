"""The JSM Ops and Jira JSON this provider reads, as pydantic models: what an answer must hold to
be believed. Private to this package (the leading underscore): no module outside ``jsm/`` reads
a vendor's JSON. Escalations are read into ``sources.levels``' typed rules here (``policy_from_api``,
``policies_from_api``): a policy that does not fit is ``Malformed`` (a failed read)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field, StrictBool, StrictInt

from slackgenie.sources.levels import Policy, Recipient, Rule
from slackgenie.sources.validate import Malformed, Text, Wire, fit, fits


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



class _FlatNextOnCalls(Wire):
    """``GET /v1/schedules/{id}/next-on-calls?flat=true``: the next on-call account ids."""
    nextOnCallUsers: list[Text]


# --- escalations (../shared/specs/escalations/REFERENCE.md §2.2) -----------------------------------

class _EscalationRecipient(Wire):
    """Ids only: a user's Atlassian account id, a schedule's or a team's UUID."""
    id: Text
    type: Literal["user", "schedule", "team"]


class _EscalationRule(Wire):
    notifyType: Literal["default", "next", "previous", "users", "admins", "all", "random"]
    delay: StrictInt = Field(ge=0, le=525_600)  # whole minutes from the escalation's start (a year at most)
    recipient: _EscalationRecipient


class _Escalation(Wire):
    """``EscalationResponse``: no owner team (the path names it)."""
    id: Text
    name: Text
    rules: list[_EscalationRule]
    enabled: StrictBool = True  # CreateEscalationRequest's default


class _Named(Wire):
    id: Text | None = None
    name: Text | None = None


WHAT = "JSM Ops: the escalation is"


def _policy(raw: _Escalation) -> Policy:
    rules = tuple(Rule(timedelta(minutes=r.delay), r.notifyType, Recipient(r.recipient.type, r.recipient.id))
                  for r in raw.rules)
    return Policy(raw.id, raw.name, rules, raw.enabled)


def policy_from_api(answer: Any) -> Policy:
    """``GET /v1/teams/{teamId}/escalations/{id}``'s answer (the object is the body)."""
    return _policy(fit(_Escalation, answer, WHAT))


def policies_from_api(items: list[Any]) -> tuple[list[Policy], dict[str, str], int]:
    """A team's escalations (the ``values`` of every page), read one by one: (those that fit, why
    each that does not fit fails, by its id and by its name, how many cannot even be named)."""
    policies: list[Policy] = []
    broken: dict[str, str] = {}
    nameless = 0
    for i, item in enumerate(items):
        try:
            policies.append(_policy(fit(_Escalation, item, WHAT, f"values.{i}.")))
        except Malformed as exc:
            named = fits(_Named, item)
            keys = [k for k in (named.id, named.name) if k] if named is not None else []
            nameless += not keys
            broken.update({k: str(exc) for k in keys})
    return policies, broken, nameless
