"""PagerDuty's REST API v2, call by call: each method one endpoint, its answer checked against
``wire`` (``SourceError`` when it does not fit), the lists read in offset pages (``_pages``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from slackgenie.core.durations import iso_utc
from slackgenie.retry import ApiObserver, RetryPolicy, Stop
from slackgenie.sources.http import ApiClient, Dialect, SourceError
from slackgenie.sources.pagerduty.settings import PagerDutySecrets
from slackgenie.sources.pagerduty.wire import (CreateStatus, EscalationPolicy, Final, Layer, Layers, ListedOverride,
                                               OnCallPage, OverrideList, PolicyPage, Rendered, Schedule, SchedulePage,
                                               User, Users)
from slackgenie.sources.paging import Listing, Page, every
from slackgenie.sources.validate import fit, fit_at, fitting

BATCH = 100  # schedule (or escalation policy) ids per /oncalls request
PAGE = 100  # entries per page
MAX_PAGES = 100


def _message(body: Any) -> str | None:
    """``{"error": {"code", "message", "errors": [...]}}``."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    details = error.get("errors")
    extra = "; ".join(str(d) for d in details[:3]) if isinstance(details, list) else ""
    message = str(error.get("message") or "")
    return f"{message} ({extra})" if message and extra else (message or extra or None)


DIALECT = Dialect(api="pagerduty", title="PagerDuty", message=_message,
                  auth_fix="check PAGERDUTY_API_TOKEN (a REST API key of this account's service region)",
                  window_header="ratelimit-reset")


def _quote(value: str) -> str:
    return quote(value, safe="")


@dataclass(frozen=True)
class _Paged:
    """An offset-paged list: where it is, its pages' model, and how its errors name it."""

    op: str
    path: str
    model: type[OnCallPage | SchedulePage | PolicyPage]
    listing: Listing


_ONCALLS = _Paged("listOnCalls", "/oncalls", OnCallPage,
                  Listing("PagerDuty", "the on-call answer", "on-calls", MAX_PAGES,
                          stuck="the on-call pages do not move on (offset ignored?)"))
_SCHEDULES = _Paged("listSchedules", "/schedules", SchedulePage,
                    Listing("PagerDuty", "the schedule list", "schedules", MAX_PAGES))
_POLICIES = _Paged("listEscalationPolicies", "/escalation_policies", PolicyPage,
                   Listing("PagerDuty", "the escalation policy list", "escalation policies", MAX_PAGES))


class PagerDutyClient:
    def __init__(self, secrets: PagerDutySecrets, policy: RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None, observer: ApiObserver | None = None,
                 stop: Stop | None = None):
        self.api = ApiClient(secrets.api_url, DIALECT,
                             {"Authorization": f"Token token={secrets.key.get_secret_value()}",
                              "Accept": "application/vnd.pagerduty+json;version=2"},
                             policy, transport, observer, stop=stop)

    def close(self) -> None:
        self.api.close()

    def _every(self, paged: _Paged, params: list[tuple[str, str]], retry: bool = True) -> list[Any]:
        """The items of every page of an offset-paged list (``limit``/``offset``, ``more``), as sent."""

        def fetch(offset: int) -> Page[Any]:
            raw = self.api.call(paged.op, "GET", paged.path, params + [("limit", str(PAGE)), ("offset", str(offset))],
                                retry=retry)
            page = fit(paged.model, raw, f"PagerDuty: {paged.listing.answer} is")
            return Page(page.listed, page.more)

        return every(paged.listing, fetch)

    def on_calls(self, schedule_ids: Sequence[str], since: datetime | None = None, until: datetime | None = None,
                 retry: bool = True, by: str = "schedule_ids[]") -> list[Any]:
        """Every on-call entry of these schedules (at most ``BATCH``: one request, in pages), now or
        overlapping ``since``..``until``, as sent. ``retry=False``: one attempt per page.
        ``by="escalation_policy_ids[]"``: the ids are escalation policies' (every level of each)."""
        if len(schedule_ids) > BATCH:
            raise ValueError(f"at most {BATCH} ids per /oncalls request, not {len(schedule_ids)}")
        base = [(by, s) for s in schedule_ids] + [("include[]", "users")]
        if since is not None:
            base += [("since", iso_utc(since)), ("until", iso_utc(until or since))]
        return self._every(_ONCALLS, base, retry)

    def escalation_policies(self, query: str | None = None) -> list[Any]:
        """Every escalation policy (``query``: those whose name holds it), as sent (each read on its own)."""
        return self._every(_POLICIES, [("query", query)] if query else [])

    def escalation_policy(self, policy_id: str) -> EscalationPolicy:
        raw = self.api.get("getEscalationPolicy", f"/escalation_policies/{_quote(policy_id)}")
        return fit_at(("escalation_policy",), EscalationPolicy, raw, f"PagerDuty: escalation policy {policy_id} is")

    def schedules(self) -> list[Schedule]:
        return fitting(Schedule, self._every(_SCHEDULES, []), "pagerduty.schedule_unreadable")

    def schedule_users(self, schedule_id: str, at: datetime, until: datetime | None = None) -> list[User]:
        """Who the schedule puts on call at ``at`` (or at any time up to ``until``), with e-mails."""
        raw = self.api.get("listScheduleUsers", f"/schedules/{schedule_id}/users",
                           {"since": iso_utc(at), "until": iso_utc(until or at)})
        return fit(Users, raw, "PagerDuty: the schedule's users are").users

    def final_schedule(self, schedule_id: str, since: datetime, until: datetime) -> list[Rendered]:
        """The schedule's final layer (overrides included): who is on call, when."""
        raw = self.api.get("getSchedule", f"/schedules/{schedule_id}", {"since": iso_utc(since), "until": iso_utc(until)})
        return fit_at(("schedule", "final_schedule"), Final, raw,
                      "PagerDuty: the final schedule is").rendered_schedule_entries

    def layers(self, schedule_id: str) -> list[Layer]:
        """The schedule's layers, each with its users (references: ids, no e-mails)."""
        raw = self.api.get("getSchedule", f"/schedules/{_quote(schedule_id)}")
        return fit_at(("schedule",), Layers, raw, "PagerDuty: the schedule's layers are").schedule_layers

    def user(self, user_id: str) -> User:
        raw = self.api.get("getUser", f"/users/{_quote(user_id)}")
        return fit_at(("user",), User, raw, f"PagerDuty: user {user_id} is")

    def overrides(self, schedule_id: str, since: datetime, until: datetime) -> list[ListedOverride]:
        """The schedule's overrides that overlap ``since``..``until``, with their own bounds."""
        raw = self.api.get("listScheduleOverrides", f"/schedules/{_quote(schedule_id)}/overrides",
                           {"since": iso_utc(since), "until": iso_utc(until), "overflow": "true"})
        return fit(OverrideList, raw, "PagerDuty: the schedule's overrides are").overrides

    def create_override(self, schedule_id: str, user_id: str, start: datetime, end: datetime) -> str:
        """One override, sent once (a repeated create would make two); its id."""
        body = {"overrides": [{"start": iso_utc(start), "end": iso_utc(end),
                               "user": {"id": user_id, "type": "user_reference"}, "time_zone": "UTC"}]}
        raw = self.api.call("createScheduleOverride", "POST", f"/schedules/{_quote(schedule_id)}/overrides",
                            body=body, retry=False)
        if not isinstance(raw, list) or len(raw) != 1:
            raise SourceError("PagerDuty: the create-override answer is not one status per override asked for")
        created = fit(CreateStatus, raw[0], "PagerDuty: the create-override answer is", at="0.")
        if created.status != 201:
            why = "; ".join(created.errors[:3]) or "no reason given"
            raise SourceError(f"PagerDuty did not create the override (status {created.status}): {why}",
                              created.status)
        if created.override.id is None:
            raise SourceError("PagerDuty: the created override has no id")
        return created.override.id

    def delete_override(self, schedule_id: str, override_id: str) -> None:
        """204: deleted; 200: one under way truncated to now (documented without a body: none is
        read). Retried: deleting twice is harmless (see ``PagerDutySource.delete_override``)."""
        self.api.call("deleteScheduleOverride", "DELETE",
                      f"/schedules/{_quote(schedule_id)}/overrides/{_quote(override_id)}")
