"""The HTTP calls of JSM Ops (schedules, on-calls, timelines, overrides, teams' escalations) and of Jira's user API
(``/rest/api/3/user/bulk``), each answer checked against ``wire.py``, lists followed page by page."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx

from slackgenie.core.durations import iso_utc
from slackgenie.core.ids import UUID
from slackgenie.retry import ApiObserver, RetryPolicy, Stop
from slackgenie.sources.http import ApiClient, Dialect, SourceAuthError, SourceError
from slackgenie.sources.jsm.settings import JsmSecrets
from slackgenie.sources.jsm.wire import (_Created, _FlatNextOnCalls, _FlatOnCalls, _Override, _OverridePage, _Period,
                                         _Rotation, _Schedule, _SchedulePage, _ScheduleRotations, _Timeline, _User,
                                         _UserPage)
from slackgenie.sources.paging import Listing, Page, every, start_named
from slackgenie.sources.validate import fit, fitting

PAGE = 50  # the largest page the schedule list gives
ESCALATIONS_PAGE = 100  # the largest page a team's escalation list gives (its default is 20)
USERS_PAGE = 50  # account ids per /user/bulk request
DELETE_SCOPE = "delete:ops-config:jira-service-management"  # deleting an override (account API tokens lack it)
MAX_PAGES = 200  # 10,000 schedules: beyond it, a list that never ends is an error


def _message(body: Any) -> str | None:
    """``{message}`` (older endpoints) or ``{errors:[{title, detail}]}`` (newer ones)."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("message"), str):
        return str(body["message"])
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return str(first.get("detail") or first.get("title") or "") or None
    return None


OPS = Dialect(api="jsm", title="JSM Ops", message=_message,
              auth_fix="check JSM_EMAIL and JSM_API_TOKEN, and that the account may read JSM Ops schedules")
JIRA = Dialect(api="jira", title="Jira user API", message=_message,
               auth_fix="check JSM_SITE_URL, JSM_EMAIL and JSM_API_TOKEN; looking up people needs the "
                        "'Browse users and groups' permission")


class JsmClient:
    """Typed calls over the JSM Ops API and Jira's user API. Thread-safe."""

    def __init__(self, secrets: JsmSecrets, policy: RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None, observer: ApiObserver | None = None,
                 stop: Stop | None = None):
        auth = httpx.BasicAuth(secrets.email, secrets.api_token.get_secret_value())
        self.site = ApiClient(secrets.site_url, JIRA, {}, policy, transport, observer, auth=auth, stop=stop)
        self._stop = self.site.stop
        self._api_url = secrets.api_url
        self._auth = auth
        self._policy, self._transport, self._observer = policy, transport, observer
        self._cloud_id = secrets.cloud_id
        self._ops: ApiClient | None = None
        self._lock = threading.Lock()

    @property
    def ops(self) -> ApiClient:
        """The Ops API client, once the cloud id is known (read once, then kept)."""
        with self._lock:
            if self._ops is None:
                cloud_id = self._cloud_id or self._read_cloud_id()
                self._ops = ApiClient(f"{self._api_url}/jsm/ops/api/{quote(cloud_id, safe='')}/v1", OPS, {},
                                      self._policy, self._transport, self._observer, auth=self._auth,
                                      stop=self._stop)
            return self._ops

    def _read_cloud_id(self) -> str:
        body = self.site.get("tenantInfo", "/_edge/tenant_info")
        cloud_id = body.get("cloudId") if isinstance(body, dict) else None
        if not isinstance(cloud_id, str) or not UUID.match(cloud_id):
            raise SourceError("JSM Ops: the site's /_edge/tenant_info gave no cloud id (is JSM_SITE_URL your "
                              "Atlassian site, e.g. https://acme.atlassian.net? or set JSM_CLOUD_ID)")
        return cloud_id

    def close(self) -> None:
        self.site.close()
        with self._lock:
            if self._ops is not None:
                self._ops.close()

    def schedules(self) -> list[_Schedule]:
        """Every schedule, page by page (``links.next`` absent or null on the last). An entry
        that does not fit is left out, and said so: it cannot be anyone's schedule to read."""
        return fitting(_Schedule, self._paged("listSchedules", "/schedules", {}, "the schedule list"),
                       "jsm.schedule_unreadable")

    def on_call_ids(self, schedule_id: str, at: datetime | None) -> list[str]:
        params = {"flat": "true", **({"date": iso_utc(at)} if at else {})}
        raw = self.ops.get("getOnCalls", f"/schedules/{quote(schedule_id, safe='')}/on-calls", params)
        if isinstance(raw, dict) and "data" in raw and "onCallUsers" not in raw:
            raw = raw["data"]  # some Opsgenie-derived endpoints wrap their answer
        answer = fit(_FlatOnCalls, raw, "JSM Ops: the on-call answer is")
        ids = answer.onCallUsers if answer.onCallUsers is not None else answer.onCallRecipients
        if ids is None:
            raise SourceError("JSM Ops: the on-call answer holds no onCallUsers")
        return ids

    def next_on_call_ids(self, schedule_id: str, at: datetime | None) -> list[str]:
        """``GET /v1/schedules/{id}/next-on-calls?flat=true``: the account ids on call next."""
        params = {"flat": "true", **({"date": iso_utc(at)} if at else {})}
        raw = self.ops.get("getNextOnCalls", f"/schedules/{quote(schedule_id, safe='')}/next-on-calls", params)
        return fit(_FlatNextOnCalls, raw, "JSM Ops: the next-on-call answer is").nextOnCallUsers

    def team_escalations(self, team_id: str) -> list[Any]:
        """Every escalation of a team (``GET /v1/teams/{teamId}/escalations``), page by page,
        ``ESCALATIONS_PAGE`` at a time; each entry as JSON (read one by one: ``wire.policies_from_api``)."""
        return self._paged("listEscalations", f"/teams/{quote(team_id, safe='')}/escalations", {},
                           "a team's escalation list", "escalations", ESCALATIONS_PAGE)

    def escalation(self, team_id: str, escalation_id: str) -> Any:
        """One escalation of a team, as JSON (``GET /v1/teams/{teamId}/escalations/{id}``)."""
        return self.ops.get("getEscalation",
                            f"/teams/{quote(team_id, safe='')}/escalations/{quote(escalation_id, safe='')}")

    def periods(self, schedule_id: str, start: datetime, days: int) -> list[_Period]:
        """The schedule's final timeline (overrides included) from the day before ``start``."""
        params = {"date": iso_utc(start - timedelta(days=1)), "interval": str(days + 2), "intervalUnit": "days"}
        raw = self.ops.get("getTimeline", f"/schedules/{quote(schedule_id, safe='')}/timeline", params)
        timeline = fit(_Timeline, raw, "JSM Ops: the timeline is")
        return [p for r in timeline.finalTimeline.rotations for p in r.periods]

    def timeline(self, schedule_id: str, start: datetime, days: int) -> list[datetime]:
        """Every period boundary of the schedule's final timeline from the day before ``start``."""
        return sorted({_utc(t) for p in self.periods(schedule_id, start, days) for t in (p.startDate, p.endDate)})

    def _paged(self, op: str, path: str, params: Mapping[str, str], what: str, items: str = "schedules",
               size: int = PAGE) -> list[Any]:
        """Every page's ``values`` (``offset``/``size``; ``links.next`` absent or null on the last),
        at most ``MAX_PAGES`` pages."""

        def fetch(offset: int) -> Page[Any]:
            raw = self.ops.get(op, path, {**params, "size": str(size), "offset": str(offset)})
            page = fit(_SchedulePage, raw, f"JSM Ops: {what} is")
            return Page(page.values, bool(page.links.next), start_named(page.links.next, "offset"))

        return every(Listing("JSM Ops", what, items, MAX_PAGES, link="links.next"), fetch)

    def rotations(self, schedule: _Schedule) -> list[_Rotation] | None:
        """The schedule's rotations, from the schedule list with ``expand=rotation`` (the spec's
        get has no ``expand``): the list narrowed to its name (``query``: exact, case-insensitive),
        then, if the schedule is not there, the whole list. None: the list does not hold it."""
        for params in ({"query": schedule.name, "expand": "rotation"}, {"expand": "rotation"}):
            for item in self._paged("listSchedules", "/schedules", params, "the schedule list"):
                if not isinstance(item, dict) or item.get("id") != schedule.id:
                    continue
                found = fit(_ScheduleRotations, item, "JSM Ops: the schedule's rotations are")
                if found.rotations is None:
                    raise SourceError("JSM Ops: the schedule list gave no rotations (expand=rotation)")
                return found.rotations
        return None

    def create_override(self, schedule_id: str, account_id: str, start: datetime, end: datetime) -> str:
        """``POST /v1/schedules/{id}/overrides`` of every rotation (no ``rotationIds``), sent once:
        a repeated create makes two overrides. The alias is the server's."""
        body = {"responder": {"type": "user", "id": account_id}, "startDate": iso_utc(_utc(start)),
                "endDate": iso_utc(_utc(end))}
        raw = self.ops.call("createOverride", "POST", f"/schedules/{quote(schedule_id, safe='')}/overrides",
                            body=body, retry=False)
        return fit(_Created, raw, "JSM Ops: the create-override answer is").alias

    def overrides(self, schedule_id: str) -> list[_Override]:
        """The schedule's ongoing and future overrides, page by page."""
        items = self._paged("listOverrides", f"/schedules/{quote(schedule_id, safe='')}/overrides", {},
                            "the override list", "overrides")
        return fit(_OverridePage, {"values": items}, "JSM Ops: the override list is").values

    def delete_override(self, schedule_id: str, alias: str) -> None:
        """``DELETE /v1/schedules/{id}/overrides/{alias}``; retried (deleting twice is harmless).
        A refusal says what deleting needs: a 401 is the API's answer to a token without the
        delete scope (account API tokens carry read and write, not delete), a 403 an account
        that may not edit the schedule."""
        try:
            self.ops.call("deleteOverride", "DELETE",
                          f"/schedules/{quote(schedule_id, safe='')}/overrides/{quote(alias, safe='')}")
        except SourceAuthError as exc:
            if exc.status == 401:
                raise SourceAuthError(f"JSM Ops: HTTP 401 on the delete: the API token lacks the scope {DELETE_SCOPE} "
                                      "(account API tokens lack it): set JSM_API_TOKEN to a token granted that scope",
                                      exc.status, exc.request_id) from None
            raise SourceAuthError(f"JSM Ops: HTTP {exc.status} on the delete: the account (JSM_EMAIL) may not edit "
                                  "this schedule: make it an admin of the schedule's team", exc.status,
                                  exc.request_id) from None

    def users(self, account_ids: Sequence[str]) -> list[_User]:
        """Jira users by account id, ``USERS_PAGE`` ids per batch, each batch page by page."""
        out: list[_User] = []
        for i in range(0, len(account_ids), USERS_PAGE):
            out += self._user_pages(account_ids[i:i + USERS_PAGE])
        return out

    def _user_pages(self, batch: Sequence[str]) -> list[_User]:
        """One batch's users, following ``nextPage`` until ``isLast``: Jira may answer fewer than
        the ``maxResults`` asked. Every page but the last brings someone, so a batch takes at most
        one page more than it has ids; each request is bounded by the retry policy's deadlines."""

        def fetch(start: int) -> Page[_User]:
            params = [("accountId", a) for a in batch] + [("maxResults", str(len(batch))), ("startAt", str(start))]
            raw = self.site.get("bulkGetUsers", "/rest/api/3/user/bulk", params)
            page = fit(_UserPage, raw, "Jira user API: the answer is")
            last = page.isLast if page.isLast is not None else not page.nextPage
            return Page(page.values, not last, start_named(page.nextPage, "startAt"))

        return every(Listing("Jira user API", "user/bulk", "users", len(batch) + 1, link="nextPage"), fetch)


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
