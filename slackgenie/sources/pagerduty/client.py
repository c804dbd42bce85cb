"""PagerDuty's REST API v2, call by call: each method one endpoint, its answer checked against
``wire`` (``SourceError`` when it does not fit), the lists read in offset pages (``_pages``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import structlog
from pydantic import BaseModel, ValidationError

from slackgenie.retry import ApiObserver, RetryPolicy, Stop
from slackgenie.sources.http import ApiClient, Dialect, SourceError, first_error
from slackgenie.sources.pagerduty.wire import (CreateStatus, Layer, LayersAnswer, ListedOverride, OnCallPage,
                                               OverrideList, Rendered, Schedule, ScheduleAnswer, SchedulePage, User,
                                               UserAnswer, Users)

from slackgenie.sources.pagerduty.settings import PagerDutySecrets

log = structlog.get_logger("slackgenie.pagerduty")

BATCH = 100  # schedule ids per /oncalls request
PAGE = 100  # entries per page
MAX_PAGES = 100

M = TypeVar("M", bound=BaseModel)


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


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quote(value: str) -> str:
    return quote(value, safe="")


def _fit(model: type[M], raw: Any, what: str, at: str = "") -> M:
    """``raw`` as ``model``; otherwise ``SourceError`` saying where ``what`` (``"the … is"``) does not fit."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise SourceError(f"PagerDuty: {what} malformed at {at}{first_error(exc)}") from None


@dataclass(frozen=True)
class _Listing:
    """An offset-paged list, and how its errors name it."""

    op: str
    path: str
    model: type[OnCallPage | SchedulePage]
    answer: str  # the whole answer: "the on-call answer"
    items: str  # its items: "on-calls"
    stuck: str | None = None  # the error when a page repeats the one before (None: not looked for)


_ONCALLS = _Listing("listOnCalls", "/oncalls", OnCallPage, "the on-call answer", "on-calls",
                    stuck="the on-call pages do not move on (offset ignored?)")
_SCHEDULES = _Listing("listSchedules", "/schedules", SchedulePage, "the schedule list", "schedules")


class PagerDutyClient:
    def __init__(self, secrets: PagerDutySecrets, policy: RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None, observer: ApiObserver | None = None,
                 stop: Stop | None = None):
        self.api = ApiClient(secrets.api_url, DIALECT,
                             {"Authorization": f"Token token={secrets.api_token.get_secret_value()}",
                              "Accept": "application/vnd.pagerduty+json;version=2"},
                             policy, transport, observer, stop=stop)

    def close(self) -> None:
        self.api.close()

    def _pages(self, listing: _Listing, params: list[tuple[str, str]], retry: bool = True) -> Iterator[list[Any]]:
        """The items of each page of an offset-paged list (``limit``/``offset``, ``more``), as sent."""
        offset = 0
        previous: list[Any] | None = None
        for _ in range(MAX_PAGES):
            raw = self.api.call(listing.op, "GET", listing.path,
                                params + [("limit", str(PAGE)), ("offset", str(offset))], retry=retry)
            page = _fit(listing.model, raw, f"{listing.answer} is")
            if page.more and not page.listed:
                raise SourceError(f"PagerDuty: an empty page of {listing.items} says more follow")
            if listing.stuck is not None and page.listed == previous:
                raise SourceError(f"PagerDuty: {listing.stuck}")
            previous = page.listed
            yield page.listed
            if not page.more:
                return
            offset += len(page.listed)
        raise SourceError(f"PagerDuty: {listing.answer} did not end within {MAX_PAGES} pages")

    def on_calls(self, schedule_ids: Sequence[str], since: datetime | None = None, until: datetime | None = None,
                 retry: bool = True) -> list[Any]:
        """Every on-call entry of these schedules (at most ``BATCH``: one request, in pages), now or
        overlapping ``since``..``until``, as sent. ``retry=False``: one attempt per page."""
        if len(schedule_ids) > BATCH:
            raise ValueError(f"at most {BATCH} schedules per /oncalls request, not {len(schedule_ids)}")
        base = [("schedule_ids[]", s) for s in schedule_ids] + [("include[]", "users")]
        if since is not None:
            base += [("since", _iso(since)), ("until", _iso(until or since))]
        return [entry for page in self._pages(_ONCALLS, base, retry) for entry in page]

    def schedules(self) -> list[Schedule]:
        out: list[Schedule] = []
        for page in self._pages(_SCHEDULES, []):
            for item in page:
                try:
                    out.append(Schedule.model_validate(item))
                except ValidationError as exc:
                    log.warning("pagerduty.schedule_unreadable", error=first_error(exc), effect="left out of the list")
        return out

    def schedule_users(self, schedule_id: str, at: datetime, until: datetime | None = None) -> list[User]:
        """Who the schedule puts on call at ``at`` (or at any time up to ``until``), with e-mails."""
        raw = self.api.get("listScheduleUsers", f"/schedules/{schedule_id}/users",
                           {"since": _iso(at), "until": _iso(until or at)})
        return _fit(Users, raw, "the schedule's users are").users

    def final_schedule(self, schedule_id: str, since: datetime, until: datetime) -> list[Rendered]:
        """The schedule's final layer (overrides included): who is on call, when."""
        raw = self.api.get("getSchedule", f"/schedules/{schedule_id}", {"since": _iso(since), "until": _iso(until)})
        return _fit(ScheduleAnswer, raw, "the final schedule is").schedule.final_schedule.rendered_schedule_entries

    def layers(self, schedule_id: str) -> list[Layer]:
        """The schedule's layers, each with its users (references: ids, no e-mails)."""
        raw = self.api.get("getSchedule", f"/schedules/{_quote(schedule_id)}")
        return _fit(LayersAnswer, raw, "the schedule's layers are").schedule.schedule_layers

    def user(self, user_id: str) -> User:
        raw = self.api.get("getUser", f"/users/{_quote(user_id)}")
        return _fit(UserAnswer, raw, f"user {user_id} is").user

    def overrides(self, schedule_id: str, since: datetime, until: datetime) -> list[ListedOverride]:
        """The schedule's overrides that overlap ``since``..``until``, with their own bounds."""
        raw = self.api.get("listScheduleOverrides", f"/schedules/{_quote(schedule_id)}/overrides",
                           {"since": _iso(since), "until": _iso(until), "overflow": "true"})
        return _fit(OverrideList, raw, "the schedule's overrides are").overrides

    def create_override(self, schedule_id: str, user_id: str, start: datetime, end: datetime) -> str:
        """One override, sent once (a repeated create would make two); its id."""
        body = {"overrides": [{"start": _iso(start), "end": _iso(end),
                               "user": {"id": user_id, "type": "user_reference"}, "time_zone": "UTC"}]}
        raw = self.api.call("createScheduleOverride", "POST", f"/schedules/{_quote(schedule_id)}/overrides",
                            body=body, retry=False)
        if not isinstance(raw, list) or len(raw) != 1:
            raise SourceError("PagerDuty: the create-override answer is not one status per override asked for")
        created = _fit(CreateStatus, raw[0], "the create-override answer is", at="0.")
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
