"""A loopback emulator of JSM Operations (Jira Service Management Ops) on-call schedules and the
Jira platform user lookups, as a view over an ``OpsgenieState``.

One server plays both Atlassian hosts, so the product can be pointed at it as the site URL and as
the API URL:

* the site: ``GET /_edge/tenant_info`` (``{"cloudId"}``, no auth) and the Jira platform REST
  user lookups under ``/rest/api/3/`` (``user``, ``user/bulk``, ``user/search``, ``myself``);
* the Ops API: ``/jsm/ops/api/{cloudId}/v1/schedules...`` (list, get, on-calls, next-on-calls,
  overrides, timeline) and ``/v1/teams/{teamId}/escalations[/{id}]`` (a team's escalations: the
  shared organisation's policies whose owner team it is, paged ``offset``/``size`` 1-100 default
  20; delays in whole minutes; recipients by id only, a user by account id; ``enabled``).

No team-membership API is served: the JSM Ops API has none (../shared/specs/jsm-ops/SOURCE.md
"Left out": teams; the Atlassian Teams API is another product's, addressed by organisation id).

Wire contract, from the JSM Ops OpenAPI document and the Jira platform one: HTTP Basic
``email:api_token``; **no** ``data`` envelope; ``offset``/``size`` paging with a relative
``links.next``; ``401 {"code","message"}`` and ``403/404/422 {"errors":[{"title","code"}]}``;
schedules addressed by id only; users as Atlassian account ids, mapped to e-mails through the
Jira ``user`` endpoints, where a private profile's ``emailAddress`` is null.

The organisation is the Opsgenie emulator's: the same schedules, rotations, overrides and users,
and the engine in ``schedules.py`` decides who is on call. Overrides created here are engine
overrides on the shared schedule, so both emulators see them.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote, urlencode

from slackgenie_emulators.base import Clock, EmulatorServer, Fault, RateWindow, Request, Response, iso
from slackgenie_emulators.opsgenie import OgEscalation, OgUser, OpsgenieState
from slackgenie_emulators.schedules import Override, Participant, Rotation, Schedule, resolve_wall, rotation_edges, wall_clock

JSM_EMAIL = "slackgenie-bot@example.com"
JSM_TOKEN = "ATATT3x-emulator-jsm-token-0001"  # API token (Basic auth email:token)
JSM_CLOUD_ID = "a436116f-02ce-4520-8fbb-7301462a1674"

OPS_PREFIX = "/jsm/ops/api/"
JIRA_PREFIX = "/rest/api/3/"
READ_SCOPE = "read:ops-config:jira-service-management"
WRITE_SCOPE = "write:ops-config:jira-service-management"
DELETE_SCOPE = "delete:ops-config:jira-service-management"
SCOPE_MISMATCH = "Unauthorized; scope does not match"
JIRA_UNAUTHENTICATED = "Client must be authenticated to access this resource."
TIMELINE_EXPANSIONS = ["base", "forwarding", "override"]
MINUTES = {"minutes": 1, "hours": 60, "days": 1440}  # an Opsgenie delay's unit in JSM Ops' whole minutes
BOT_NAME = "Slackgenie Bot"


@lru_cache(maxsize=4096)
def _account_id(username: str) -> str:
    return "712020:" + str(uuid.uuid5(uuid.NAMESPACE_URL, "jsm-account:" + username.lower()))


class _Problem(Exception):
    """An error answer in the API's own shape: raised by handlers, answered by the router."""

    def __init__(self, status: int, title: str, code: str):
        super().__init__(title)
        self.status, self.title, self.code = status, title, code


def _unprocessable(title: str) -> _Problem:
    return _Problem(422, title, "UNPROCESSABLE_ENTITY")


def _not_found(title: str) -> _Problem:
    return _Problem(404, title, "NOT_FOUND")


def _ops_error(status: int, title: str, code: str) -> Response:
    return Response(status, {"errors": [{"title": title, "code": code}]})


def _ops_unauthorized(message: str = "Unauthorized") -> Response:
    return Response(401, {"code": 401, "message": message})


def _jira_error(status: int, *messages: str) -> Response:
    return Response(status, {"errorMessages": list(messages), "errors": {}})


def _retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


class JsmEmulator(EmulatorServer):
    """JSM Operations + Jira user lookups over ``org``. Mutate ``org`` (or ``hidden_emails``) from tests."""

    name = "jsm-emulator"

    def __init__(self, org: OpsgenieState, *, email: str = JSM_EMAIL, api_token: str = JSM_TOKEN,
                 cloud_id: str = JSM_CLOUD_ID, clock: Clock | None = None, host: str = "127.0.0.1", port: int = 0,
                 user_page_cap: int | None = None):
        super().__init__(host, port, clock)
        self.org = org
        self.email = email
        self.api_token = api_token
        self.cloud_id = cloud_id
        self.hidden_emails: set[str] = set()  # Opsgenie usernames whose Jira emailAddress is null
        # the most users one user/bulk page holds, whatever maxResults asks (None: as many as it asks)
        self.user_page_cap: int | None = None
        self.set_user_page_cap(user_page_cap)
        self._scopes: frozenset[str] = frozenset({READ_SCOPE, WRITE_SCOPE, DELETE_SCOPE})
        self._ops_limit: RateWindow | None = None
        self._jira_limit: RateWindow | None = None

    # --- test controls ---------------------------------------------------------------------
    def account_id(self, username: str) -> str:
        """The Atlassian account id of an org user (by Opsgenie username): deterministic, stable across runs."""
        return _account_id(username)

    def set_rate_limit(self, limit: int, period: float = 60.0) -> None:
        """At most ``limit`` requests per ``period`` seconds on every /jsm/ops path; 429 with Retry-After beyond."""
        self._ops_limit = RateWindow(limit, period)

    def set_jira_rate_limit(self, limit: int, period: float = 60.0) -> None:
        """The same for the Jira platform paths (/rest/api/3/...)."""
        self._jira_limit = RateWindow(limit, period)

    def set_user_page_cap(self, cap: int | None) -> None:
        """Cap every ``user/bulk`` page at ``cap`` users, below the ``maxResults`` asked if need be,
        as Jira caps its pages server-side: the answer then says ``maxResults: cap``, ``isLast:
        false`` and the ``nextPage`` URL while users remain. None: no cap (the default)."""
        if cap is not None and cap < 1:
            raise ValueError("a page holds at least one user")
        self.user_page_cap = cap

    def set_scopes(self, read: bool = True, write: bool = True, *, delete: bool = True) -> None:
        """Which ops-config scopes the API token carries. A request needing a missing one gets 401
        ``scope does not match``. (Real account API tokens lack the delete scope; the emulator
        grants it by default so that tests can clean up their overrides.)"""
        granted = {READ_SCOPE} if read else set()
        if write:
            granted.add(WRITE_SCOPE)
        if delete:
            granted.add(DELETE_SCOPE)
        self._scopes = frozenset(granted)

    # --- faults -------------------------------------------------------------------------------
    def fault_response(self, fault: Fault, request: Request) -> Response:
        jira = request.path.startswith(JIRA_PREFIX)
        if fault.status == 401:
            return _jira_error(401, JIRA_UNAUTHENTICATED) if jira else _ops_unauthorized()
        if fault.status == 429:
            resp = (_jira_error(429, "Rate limit exceeded.") if jira
                    else _ops_error(429, "Too many requests", "TOO_MANY_REQUESTS"))
        elif fault.status >= 500:
            resp = (_jira_error(fault.status, "Internal server error") if jira
                    else _ops_error(fault.status, "Internal server error", "INTERNAL_SERVER_ERROR"))
        else:
            resp = (_jira_error(fault.status, "Injected error") if jira
                    else _ops_error(fault.status, "Injected error", "INJECTED_ERROR"))
        if fault.retry_after is not None:
            resp.headers["Retry-After"] = _retry_after(fault.retry_after)
        return resp

    # --- routing --------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        path = request.path
        if path.rstrip("/") == "/_edge/tenant_info":
            if request.method != "GET":
                return _ops_error(405, "Method not allowed", "METHOD_NOT_ALLOWED")
            return Response(200, {"cloudId": self.cloud_id})
        if path.startswith(OPS_PREFIX):
            return self._ops(request)
        if path.startswith(JIRA_PREFIX):
            return self._jira(request)
        return _ops_error(404, "Requested resource does not exist", "NOT_FOUND")

    def _authenticated(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        email, sep, token = decoded.partition(":")
        return bool(sep) and email.lower() == self.email.lower() and token == self.api_token

    # --- the Ops API --------------------------------------------------------------------------
    def _ops(self, req: Request) -> Response:
        if not self._authenticated(req):
            return _ops_unauthorized()
        bucket = self._ops_limit
        if bucket is not None and (wait := bucket.take()) > 0:
            resp = _ops_error(429, "Too many requests", "TOO_MANY_REQUESTS")
            resp.headers["Retry-After"] = _retry_after(wait)
            return resp
        m = re.fullmatch(r"/jsm/ops/api/([^/]+)/v1(/.*)?", req.path)
        if m is None:
            return _ops_error(404, "Requested resource does not exist", "NOT_FOUND")
        if unquote(m.group(1)) != self.cloud_id:
            return _ops_error(404, f"No site exists with cloud id [{unquote(m.group(1))}]", "NOT_FOUND")
        needed = {"GET": {READ_SCOPE}, "POST": {READ_SCOPE, WRITE_SCOPE}, "PUT": {READ_SCOPE, WRITE_SCOPE},
                  "PATCH": {READ_SCOPE, WRITE_SCOPE}, "DELETE": {DELETE_SCOPE}}.get(req.method, set())
        if not needed <= self._scopes:
            return _ops_unauthorized(SCOPE_MISMATCH)
        try:
            return self._ops_route(req, (m.group(2) or "").rstrip("/"))
        except _Problem as p:
            return _ops_error(p.status, p.title, p.code)

    def _ops_route(self, req: Request, rest: str) -> Response:
        method = req.method
        if rest == "/schedules":
            _allow(method, "GET")
            return self._list_schedules(req)
        m = re.fullmatch(r"/teams/([^/]+)/escalations(?:/([^/]+))?", rest)
        if m is not None:
            _allow(method, "GET")
            return self._escalations(req, unquote(m.group(1)), unquote(m.group(2)) if m.group(2) else None)
        m = re.fullmatch(r"/schedules/([^/]+)(?:/(on-calls|next-on-calls|overrides|timeline)(?:/([^/]+))?)?", rest)
        if m is None:
            raise _not_found("Requested resource does not exist")
        what, alias = m.group(2), m.group(3)
        if alias is not None and what != "overrides":
            raise _not_found("Requested resource does not exist")
        with self.org.lock:
            schedule = self._schedule(unquote(m.group(1)))
            if what is None:
                _allow(method, "GET")
                return Response(200, self._schedule_json(schedule, with_rotations=False))
            if what == "on-calls":
                _allow(method, "GET")
                return Response(200, self._on_calls(req, schedule))
            if what == "next-on-calls":
                _allow(method, "GET")
                return Response(200, self._next_on_calls(req, schedule))
            if what == "timeline":
                _allow(method, "GET")
                return Response(200, self._timeline(req, schedule))
            if alias is None:
                _allow(method, "GET", "POST")
                if method == "POST":
                    return Response(201, self._create_override(req, schedule))
                return Response(200, self._list_overrides(req, schedule))
            _allow(method, "GET", "DELETE")
            override = next((o for o in schedule.overrides if o.alias == unquote(alias)), None)
            if override is None:
                raise _not_found(f"No override exists with alias [{unquote(alias)}]")
            if method == "GET":
                return Response(200, self._override_json(schedule, override))
            schedule.overrides.remove(override)
            return Response(204, b"")

    def _schedule(self, ident: str) -> Schedule:
        schedule = self.org.schedules.get(ident)  # by id only: a name is not an id
        if schedule is None:
            raise _not_found(f"No schedule exists with id [{ident}]")
        return schedule

    # --- escalations (REFERENCE.md §2 of ../shared/specs/escalations) ---------------------------
    def _escalations(self, req: Request, team_id: str, ident: str | None) -> Response:
        """A team's escalations (``EscalationPaginatedResponse``) or one (``EscalationResponse``):
        those of the shared organisation whose owner team is ``team_id``; 404 for an unknown team,
        or an escalation that is not that team's."""
        with self.org.lock:
            if team_id not in self.org.teams:  # by id only
                raise _not_found(f"No team exists with id [{team_id}]")
            mine = [e for e in self.org.escalations.values() if e.owner_team == team_id]
            if ident is not None:
                found = next((e for e in mine if e.id == ident), None)
                if found is None:
                    raise _not_found(f"No escalation exists with id [{ident}]")
                return Response(200, self._escalation_json(found))
            size = _int_param(req, "size", 20, 1, 100)
            offset = _int_param(req, "offset", 0, 0)
            values = [self._escalation_json(e) for e in mine[offset:offset + size]]
        links: dict[str, str] = {}
        if offset + size < len(mine):
            links["next"] = f"/v1/teams/{quote(team_id, safe='')}/escalations?offset={offset + size}&size={size}"
        return Response(200, {"values": values, "links": links})

    def _escalation_json(self, e: OgEscalation) -> dict[str, Any]:
        """No owner team (the path names it); each delay in whole minutes; recipients by id only."""
        rules = []
        for rule in e.rules:
            delay, r = rule["delay"], rule["recipient"]
            minutes = int(delay["timeAmount"]) * MINUTES[delay.get("timeUnit", "minutes")]
            who = self.account_id(r["username"]) if r["type"] == "user" else r["id"]
            rules.append({"condition": rule["condition"], "notifyType": rule["notifyType"], "delay": minutes,
                          "recipient": {"id": who, "type": r["type"]}})
        return {"id": e.id, "name": e.name, "description": e.description, "rules": rules, "enabled": e.enabled,
                "repeat": {"waitInterval": 0, "count": 1, "resetRecipientStates": False, "closeAlertAfterAll": False}}

    # --- schedules ------------------------------------------------------------------------------
    def _list_schedules(self, req: Request) -> Response:
        size, offset = _paging(req)
        query = req.query.get("query") or ""
        with_rotations = "rotation" in _expand(req)
        with self.org.lock:
            matching = [s for s in self.org.schedules.values() if _name_matches(s.name, query)]
            values = [self._schedule_json(s, with_rotations) for s in matching[offset:offset + size]]
        links: dict[str, str] = {}
        if offset + size < len(matching):
            extra = {k: v for k, v in (("query", query), ("expand", "rotation" if with_rotations else "")) if v}
            links["next"] = f"/v1/schedules?offset={offset + size}&size={size}" + (f"&{urlencode(extra)}" if extra else "")
        return Response(200, {"values": values, "links": links, "_expands": ["rotation"]})

    def _schedule_json(self, s: Schedule, with_rotations: bool) -> dict[str, Any]:
        data: dict[str, Any] = {"id": s.id, "name": s.name, "description": s.description,
                                "timezone": s.timezone, "enabled": s.enabled}
        if s.owner_team:
            data["teamId"] = s.owner_team["id"]
        if with_rotations:
            data["rotations"] = [self._rotation_json(r) for r in s.rotations]
        return data

    def _rotation_json(self, r: Rotation) -> dict[str, Any]:
        data: dict[str, Any] = {"id": r.id, "name": r.name, "startDate": iso(r.start_date), "type": r.type,
                                "length": r.length, "participants": [self._responder(p) for p in r.participants]}
        if r.end_date is not None:
            data["endDate"] = iso(r.end_date)
        if r.time_restriction:
            data["timeRestriction"] = dict(r.time_restriction)
        return data

    def _responder(self, p: Participant) -> dict[str, Any]:
        """A participant as ``ResponderInfo``/``TimelineResponder``: users by account id; nobody as ``noone``."""
        kind = p.get("type")
        if kind == "user":
            return {"type": "user", "id": self.account_id(str(p["username"]))}
        if kind in (None, "none", "noone"):
            return {"type": "noone"}
        return {"type": kind, "id": str(p.get("id") or p.get("name") or "")}

    # --- on-calls ---------------------------------------------------------------------------------
    def _members(self, team_id: str) -> list[str]:
        team = self.org.team(team_id)
        return list(team.members) if team else []

    def _participant_tree(self, p: Participant) -> dict[str, Any] | None:
        """An ``OnCallParticipant``; a team carries its members, flattened, as nested users."""
        responder = self._responder(p)
        if responder["type"] == "noone":
            return None
        if responder["type"] == "team":
            responder["onCallParticipants"] = [{"id": self.account_id(u), "type": "user"}
                                               for u in self._members(str(p.get("id")))]
        return responder

    def _user_ids(self, participants: Iterable[Participant]) -> list[str]:
        """The account ids of the users among ``participants``, teams counted as their members."""
        out: list[str] = []
        for p in participants:
            if p.get("type") == "user":
                names = [str(p["username"])]
            elif p.get("type") == "team":
                names = self._members(str(p.get("id")))
            else:
                names = []
            out += [a for a in map(self.account_id, names) if a not in out]
        return out

    def _trees(self, participants: Iterable[Participant]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for p in participants:
            tree = self._participant_tree(p)
            if tree is not None and tree not in out:
                out.append(tree)
        return out

    def _on_calls(self, req: Request, s: Schedule) -> dict[str, Any]:
        flat, at = _flag(req, "flat"), _date(req, "date", self.clock.now())
        on_call = [p for _, p, _ in s.on_call(at)]
        return {"onCallUsers": self._user_ids(on_call)} if flat else {"onCallParticipants": self._trees(on_call)}

    def _next_on_calls(self, req: Request, s: Schedule) -> dict[str, Any]:
        flat, at = _flag(req, "flat"), _date(req, "date", self.clock.now())
        following = [p for _, p in s.next_holders(at)]  # per rotation: whom it puts on call next
        if flat:
            return {"nextOnCallUsers": self._user_ids(following)}
        return {"nextOnCallParticipants": self._trees(following)}

    # --- overrides ----------------------------------------------------------------------------------
    def _override_json(self, s: Schedule, o: Override) -> dict[str, Any]:
        return {"alias": o.alias, "responder": self._responder(o.user), "startDate": iso(o.start_date),
                "endDate": iso(o.end_date),
                "rotationIds": [r.id for r in s.rotations if o.names(r)] if o.rotations else None}

    def _list_overrides(self, req: Request, s: Schedule) -> dict[str, Any]:
        size, offset = _paging(req)
        now = self.clock.now()
        current = sorted((o for o in s.overrides if o.end_date > now), key=lambda o: o.start_date)  # ongoing and future
        links: dict[str, str] = {}
        if offset + size < len(current):
            links["next"] = f"/v1/schedules/{s.id}/overrides?offset={offset + size}&size={size}"
        return {"values": [self._override_json(s, o) for o in current[offset:offset + size]], "links": links}

    def _create_override(self, req: Request, s: Schedule) -> dict[str, Any]:
        body = req.json
        if not isinstance(body, dict):
            raise _unprocessable("The request body must be a JSON object (CreateOverrideRequest)")
        missing = [k for k in ("responder", "startDate", "endDate") if body.get(k) is None]
        if missing:
            raise _unprocessable(f"Missing required field(s): {', '.join(missing)}")
        responder = body["responder"]
        if not isinstance(responder, dict) or responder.get("type") not in ("user", "noone"):
            raise _unprocessable("responder.type must be one of [user, noone]")
        username: str | None = None
        if responder["type"] == "user":
            user = self._user_by_account(responder.get("id"))
            if user is None:
                raise _unprocessable(f"No user exists with id [{responder.get('id')}]")
            username = user.username
        elif responder.get("id") is not None:
            raise _unprocessable("responder.id must be null when responder.type is noone")
        start = _parse_date(body["startDate"], "startDate")
        end = _parse_date(body["endDate"], "endDate")
        if end <= start:
            raise _unprocessable("endDate must be after startDate")
        rotation_ids = body.get("rotationIds")
        if rotation_ids is not None:
            known = {r.id for r in s.rotations}
            if not isinstance(rotation_ids, list) or not all(isinstance(r, str) and r in known for r in rotation_ids):
                raise _unprocessable(f"rotationIds must be ids of this schedule's rotations: {sorted(known)}")
        override = self.org.add_override(s, username, start, end, rotations=list(rotation_ids or []),
                                         alias=str(uuid.uuid4()))
        return self._override_json(s, override)

    # --- timeline -----------------------------------------------------------------------------------
    def _timeline(self, req: Request, s: Schedule) -> dict[str, Any]:
        interval = _int_param(req, "interval", 1, minimum=1)
        unit = req.query.get("intervalUnit") or "weeks"
        if unit not in ("days", "weeks", "months"):
            raise _unprocessable("intervalUnit must be one of [days, weeks, months]")
        now = self.clock.now()
        at = _date(req, "date", now)
        start, end = _timeline_range(at, unit, interval, s.zone)
        if start < now - timedelta(days=366) or end > now + timedelta(days=2 * 366):
            raise _unprocessable("The timeline can go back at most one year and forward at most two years")
        expand = _expand(req)
        body: dict[str, Any] = {"startDate": iso(start), "endDate": iso(end),
                                "finalTimeline": self._layer(s, start, end, "final")}
        for name, key in (("base", "baseTimeline"), ("override", "overrideTimeline"),
                          ("forwarding", "forwardingTimeline")):
            if name in expand:
                body[key] = self._layer(s, start, end, name)
        body["_expands"] = list(TIMELINE_EXPANSIONS)
        return body

    def _layer(self, s: Schedule, start: datetime, end: datetime, layer: str) -> dict[str, Any]:
        rotations = []
        for order, rotation in enumerate(s.rotations, start=1):
            periods = [] if layer == "forwarding" else self._periods(s, rotation, start, end, layer)
            rotations.append({"id": rotation.id, "name": rotation.name, "order": float(order),
                              "deleted": False, "periods": periods})
        return {"rotations": rotations}

    def _periods(self, s: Schedule, r: Rotation, start: datetime, end: datetime, layer: str) -> list[dict[str, Any]]:
        """Contiguous ``[startDate, endDate)`` periods of one responder (and one period type) in ``[start, end)``.

        The engine's answer can only change at the rotation's own edges (turn starts, restriction
        windows, start and end) and at its overrides' bounds, so it is read at each of those.
        """
        overrides = [o for o in s.overrides if o.names(r)]
        points = {start} | {t for t in rotation_edges(r, s.zone, start, end) if t < end}
        points |= {t for o in overrides for t in (o.start_date, o.end_date) if start < t < end}
        periods: list[dict[str, Any]] = []
        current: tuple[str, dict[str, Any]] | None = None
        opened = start
        for t in sorted(points):
            state = self._state(s, r, t, layer)
            if state == current:
                continue
            if current is not None:
                periods.append(self._period(opened, t, current))
            current, opened = state, t
        if current is not None:
            periods.append(self._period(opened, end, current))
        return periods

    def _state(self, s: Schedule, r: Rotation, t: datetime, layer: str) -> tuple[str, dict[str, Any]] | None:
        """(period type, responder) for ``r`` at ``t`` in one layer; None when nobody is on call there."""
        if not s.enabled:
            return None
        override = next((o for o in s.overrides if o.applies(r, t)), None)
        if layer == "override":
            return ("override", self._responder(override.user)) if override else None
        if layer == "base":
            base = Schedule(id=s.id, name=s.name, timezone=s.timezone, enabled=s.enabled, rotations=[r])
            held = base.holder(r, t)  # the engine without overrides
            return ("base", self._responder(held[0])) if held else None
        held = s.holder(r, t)  # the final layer: exactly what the engine says
        if held is not None:
            return ("override" if held[1] is not None else "base", self._responder(held[0]))
        if override is not None:  # an override to nobody: shown, as JSM shows a noone period
            return ("override", {"type": "noone"})
        return None

    def _period(self, start: datetime, end: datetime, state: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        kind, responder = state
        period: dict[str, Any] = {"startDate": iso(start), "endDate": iso(end), "type": kind,
                                  "responder": dict(responder)}
        if responder["type"] == "team":
            period["flattenedResponders"] = [{"id": self.account_id(u), "type": "user"}
                                             for u in self._members(responder["id"])]
        return period

    # --- Jira platform: users ---------------------------------------------------------------------
    def _jira(self, req: Request) -> Response:
        if not self._authenticated(req):
            return _jira_error(401, JIRA_UNAUTHENTICATED)
        bucket = self._jira_limit
        if bucket is not None and (wait := bucket.take()) > 0:
            resp = _jira_error(429, "Rate limit exceeded. Please respect the Retry-After header.")
            reset = self.clock.now() + timedelta(seconds=wait)
            resp.headers.update({"Retry-After": _retry_after(wait), "RateLimit-Reason": "jira-burst-based",
                                 "X-RateLimit-Reset": reset.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")})
            return resp
        path = req.path.rstrip("/")
        if req.method != "GET":
            return _jira_error(405, f"Method {req.method} is not allowed")
        try:
            if path == "/rest/api/3/myself":
                return Response(200, self._bot_json())
            if path == "/rest/api/3/user":
                return self._get_user(req)
            if path == "/rest/api/3/user/bulk":
                return self._bulk_users(req)
            if path == "/rest/api/3/user/search":
                return self._find_users(req)
        except _Problem as p:
            return _jira_error(p.status, p.title)
        return _jira_error(404, "Requested resource does not exist")

    def _user_by_account(self, account_id: Any) -> OgUser | None:
        if not isinstance(account_id, str) or not account_id:
            return None
        with self.org.lock:
            return next((u for u in self.org.users.values() if self.account_id(u.username) == account_id), None)

    def _directory(self) -> list[dict[str, Any]]:
        """Every Jira user the token can see: the org's users, then the bot."""
        with self.org.lock:
            users = [self._user_json(u) for u in self.org.users.values()]
        return [*users, self._bot_json()]

    def _user_self(self, account_id: str) -> str:
        return f"{self.url}/rest/api/3/user?accountId={quote(account_id)}"

    def _user_json(self, u: OgUser) -> dict[str, Any]:
        aid = self.account_id(u.username)
        return {"self": self._user_self(aid), "accountId": aid, "accountType": "atlassian",
                "emailAddress": None if u.username in self.hidden_emails else u.username,
                "avatarUrls": _avatars(aid), "displayName": u.full_name, "active": not u.blocked,
                "timeZone": u.time_zone, "locale": "en_US"}

    def _bot_json(self) -> dict[str, Any]:
        aid = self.account_id(self.email)
        return {"self": self._user_self(aid), "accountId": aid, "accountType": "atlassian",
                "emailAddress": self.email, "avatarUrls": _avatars(aid), "displayName": BOT_NAME,
                "active": True, "timeZone": "UTC", "locale": "en_US"}

    def _get_user(self, req: Request) -> Response:
        wanted = req.query.get("accountId")
        if not wanted:
            raise _Problem(400, "The accountId query parameter needs to be provided.", "BAD_REQUEST")
        found = next((u for u in self._directory() if u["accountId"] == wanted), None)
        if found is None:
            raise _Problem(404, "Specified user does not exist or you do not have required permissions", "NOT_FOUND")
        return Response(200, found)

    def _bulk_users(self, req: Request) -> Response:
        wanted = list(dict.fromkeys(a for a in req.args("accountId") if a))
        if not wanted:
            raise _Problem(400, "The accountId query parameter needs to be provided.", "BAD_REQUEST")
        if any(len(a) > 128 for a in wanted):
            raise _Problem(400, "An accountId is longer than 128 characters.", "BAD_REQUEST")
        start_at = _jira_int(req, "startAt", 0, minimum=0)
        max_results = _jira_int(req, "maxResults", 10, minimum=1)
        if self.user_page_cap is not None:  # the server's own cap: maxResults then says what a page holds
            max_results = min(max_results, self.user_page_cap)
        by_id = {u["accountId"]: u for u in self._directory()}
        found = [by_id[a] for a in wanted if a in by_id]  # unknown ids are left out, silently
        page = found[start_at:start_at + max_results]
        ids = [("accountId", a) for a in wanted]

        def url(at: int) -> str:
            return f"{self.url}/rest/api/3/user/bulk?" + urlencode([("startAt", at), ("maxResults", max_results), *ids])

        body: dict[str, Any] = {"self": url(start_at), "maxResults": max_results, "startAt": start_at,
                                "total": len(found), "isLast": start_at + max_results >= len(found), "values": page}
        if not body["isLast"]:
            body["nextPage"] = url(start_at + max_results)
        return Response(200, body)

    def _find_users(self, req: Request) -> Response:
        query, account = req.query.get("query"), req.query.get("accountId")
        if not query and not account:
            raise _Problem(400, "One of 'accountId', 'query' or 'property' must be provided.", "BAD_REQUEST")
        if query and account:
            raise _Problem(400, "Only one of 'accountId' and 'query' may be provided.", "BAD_REQUEST")
        start_at = _jira_int(req, "startAt", 0, minimum=0)
        max_results = _jira_int(req, "maxResults", 50, minimum=1)
        if account:
            found = [u for u in self._directory() if u["accountId"] == account]
        else:
            needle = (query or "").casefold()
            found = [u for u in self._directory()
                     if str(u["displayName"]).casefold().startswith(needle)
                     or (u["emailAddress"] is not None and str(u["emailAddress"]).casefold().startswith(needle))]
        return Response(200, found[start_at:start_at + max_results])


# --- parameters -------------------------------------------------------------------------------------

def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise _Problem(405, f"Method {method} is not allowed here; use {' or '.join(allowed)}", "METHOD_NOT_ALLOWED")


def _int_param(req: Request, name: str, default: int, minimum: int | None = None,
               maximum: int | None = None) -> int:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _unprocessable(f"{name} must be an integer, not [{raw}]") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise _unprocessable(f"{name} must be {bounds}, not {value}")
    return value


def _jira_int(req: Request, name: str, default: int, minimum: int) -> int:
    try:
        return _int_param(req, name, default, minimum=minimum)
    except _Problem as p:
        raise _Problem(400, p.title, "BAD_REQUEST") from None


def _paging(req: Request) -> tuple[int, int]:
    """(size, offset): size 1-50, default 25; offset from 0."""
    return _int_param(req, "size", 25, 1, 50), _int_param(req, "offset", 0, 0)


def _expand(req: Request) -> set[str]:
    """``expand`` repeated or comma-separated."""
    return {part.strip() for value in req.args("expand") for part in value.split(",") if part.strip()}


def _flag(req: Request, name: str) -> bool:
    raw = (req.query.get(name) or "false").lower()
    if raw not in ("true", "false"):
        raise _unprocessable(f"{name} must be true or false, not [{req.query.get(name)}]")
    return raw == "true"


def _parse_date(raw: Any, name: str) -> datetime:
    """ISO 8601 with an offset (``Z`` or ``+00:00``); anything else is unprocessable."""
    if not isinstance(raw, str):
        raise _unprocessable(f"{name} must be an ISO 8601 date-time string")
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _unprocessable(f"Invalid {name} [{raw}]; use ISO 8601 with an offset, "
                             "such as 2023-12-15T15:20:25+00:00 (URL-encode + as %2B)") from None
    if value.tzinfo is None:
        raise _unprocessable(f"Invalid {name} [{raw}]: an offset (Z or +hh:mm) is required")
    return value.astimezone(UTC)


def _date(req: Request, name: str, default: datetime) -> datetime:
    raw = req.query.get(name)
    return default if raw is None or raw == "" else _parse_date(raw, name)


def _name_matches(name: str, query: str) -> bool:
    """Exact, case-insensitive; a trailing ``*`` makes it a prefix match. No query matches all."""
    if not query:
        return True
    if query.endswith("*"):
        return name.casefold().startswith(query[:-1].casefold())
    return name.casefold() == query.casefold()


def _timeline_range(at: datetime, unit: str, interval: int, zone: tzinfo) -> tuple[datetime, datetime]:
    """[start, end): start is the beginning (local midnight; Monday for weeks; the 1st for months) of
    the ``unit`` containing ``at`` in the schedule's zone; end is ``interval`` units later, in wall time."""
    local = wall_clock(at, zone)
    first = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "weeks":
        first -= timedelta(days=first.weekday())
    elif unit == "months":
        first = first.replace(day=1)
    if unit == "days":
        last = first + timedelta(days=interval)
    elif unit == "weeks":
        last = first + timedelta(weeks=interval)
    else:
        months = first.month - 1 + interval
        last = first.replace(year=first.year + months // 12, month=months % 12 + 1)
    return resolve_wall(first, zone), resolve_wall(last, zone)


def _avatars(account_id: str) -> dict[str, str]:
    base = f"https://avatar-management.example.invalid/{quote(account_id)}.png"
    return {f"{n}x{n}": f"{base}?size={n}" for n in (16, 24, 32, 48)}
