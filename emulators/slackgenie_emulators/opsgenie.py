"""A loopback emulator of the Opsgenie REST API v2 (schedules, who-is-on-call, overrides, users, teams,
escalations).

Wire contract as documented: ``Authorization: GenieKey <key>``; ``{data, took, requestId}``
envelopes; ``{message, took, requestId}`` errors; ``scheduleIdentifierType`` on who-is-on-call
and overrides, ``identifierType`` on schedules, teams and escalations; ``flat`` and ``date``;
per-domain rate limits (escalations: Configuration, like schedules and teams) that answer 429
with ``X-RateLimit-State: THROTTLED`` and no ``Retry-After``.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from slackgenie_emulators.base import Clock, EmulatorServer, Fault, RateWindow, Request, Response, iso, parse_time
from slackgenie_emulators.schedules import Override, Rotation, Schedule

THROTTLE_MESSAGE = "You are making too many requests! To avoid errors, we recommend you limit requests."


@dataclass
class OgUser:
    id: str
    username: str
    full_name: str
    time_zone: str = "UTC"
    blocked: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "username": self.username, "fullName": self.full_name,
            "role": {"id": "User", "name": "User"}, "timeZone": self.time_zone, "locale": "en_US",
            "tags": [], "details": {}, "blocked": self.blocked, "verified": True,
            "createdAt": "2024-01-01T00:00:00.000Z", "userAddress": {},
        }


@dataclass
class OgTeam:
    id: str
    name: str
    members: list[str] = field(default_factory=list)  # usernames
    description: str = ""
    admins: list[str] = field(default_factory=list)  # those of ``members`` whose team role is admin


@dataclass
class OgEscalation:
    """An escalation policy of the shared organisation, in Opsgenie's own shape (the JSM Ops and
    PagerDuty emulators present it in theirs). ``rules``: Opsgenie ``EscalationRule`` dicts
    (``condition``, ``notifyType``, ``delay`` {timeAmount, timeUnit}, ``recipient``), in the order
    given; recipients carry both id and name/username."""

    id: str
    name: str
    owner_team: str | None = None  # a team's id
    rules: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""
    enabled: bool = True  # JSM Ops shows it; Opsgenie has no such flag


class OpsgenieState:
    """The organisation the emulator serves. Mutate it from tests through the methods below."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.users: dict[str, OgUser] = {}
        self.teams: dict[str, OgTeam] = {}
        self.schedules: dict[str, Schedule] = {}
        self.escalations: dict[str, OgEscalation] = {}

    def add_user(self, username: str, full_name: str = "", time_zone: str = "UTC") -> OgUser:
        user = OgUser(id=str(uuid.uuid5(uuid.NAMESPACE_URL, "og-user:" + username)), username=username,
                      full_name=full_name or username.split("@")[0].title(), time_zone=time_zone)
        with self.lock:
            self.users[user.id] = user
        return user

    def add_team(self, name: str, members: list[str] | None = None, admins: list[str] | None = None) -> OgTeam:
        team = OgTeam(id=str(uuid.uuid5(uuid.NAMESPACE_URL, "og-team:" + name)), name=name, members=list(members or []),
                      admins=list(admins or []))
        with self.lock:
            self.teams[team.id] = team
        return team

    def add_schedule(self, name: str, timezone: str = "UTC", rotations: list[dict[str, Any]] | None = None,
                     team: str | None = None, enabled: bool = True) -> Schedule:
        sid = str(uuid.uuid5(uuid.NAMESPACE_URL, "og-schedule:" + name))
        owner = None
        if team:
            t = self.team(team)
            owner = {"id": t.id, "name": t.name} if t else None
        schedule = Schedule(id=sid, name=name, timezone=timezone, enabled=enabled, owner_team=owner,
                            team_members=self._team_members)
        for spec in rotations or []:
            self.add_rotation(schedule, spec)
        with self.lock:
            self.schedules[sid] = schedule
        return schedule

    def add_rotation(self, schedule: Schedule, spec: dict[str, Any]) -> Rotation:
        participants = [self._participant(p) for p in spec["participants"]]
        rotation = Rotation(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"og-rotation:{schedule.id}:{spec.get('name', len(schedule.rotations))}")),
            name=spec.get("name") or f"Rotation {len(schedule.rotations) + 1}",
            start_date=parse_time(spec["startDate"]),
            end_date=parse_time(spec["endDate"]) if spec.get("endDate") else None,
            type=spec["type"], length=int(spec.get("length", 1)), participants=participants,
            time_restriction=spec.get("timeRestriction"),
        )
        with self.lock:
            schedule.rotations.append(rotation)
        return rotation

    def add_override(self, schedule: Schedule, username: str | None, start: datetime, end: datetime,
                     rotations: list[str] | None = None, alias: str | None = None) -> Override:
        user = {"type": "none"} if username is None else self._participant({"type": "user", "username": username})
        override = Override(alias=alias or str(uuid.uuid4()), user=user, start_date=start, end_date=end,
                            rotations=list(rotations or []))
        with self.lock:
            schedule.overrides.append(override)
        return override

    def add_escalation(self, name: str, rules: list[dict[str, Any]], team: str | None = None) -> OgEscalation:
        """An escalation policy; each rule ``{"notifyType": …, "delay": minutes or {timeAmount,
        timeUnit}, "recipient": {"type": user|schedule|team, "name"|"username"|"id": …}}``."""
        owner = self.team(team) if team else None
        with self.lock:  # a second policy of one name gets an id of its own (it replaced the first)
            seed = "og-escalation:" + name
            ident = str(uuid.uuid5(uuid.NAMESPACE_URL, seed))
            for n in range(2, 2 + len(self.escalations)):
                if ident not in self.escalations:
                    break
                ident = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{seed}#{n}"))
        escalation = OgEscalation(id=ident, name=name, owner_team=owner.id if owner else None)
        self.set_rules(escalation, rules)
        with self.lock:
            self.escalations[escalation.id] = escalation
        return escalation

    def set_rules(self, escalation: OgEscalation, rules: list[dict[str, Any]]) -> None:
        """Replace a policy's rules (a policy edited between passes)."""
        out = []
        for rule in rules:
            delay = rule.get("delay", 0)
            delay = delay if isinstance(delay, dict) else {"timeAmount": int(delay), "timeUnit": "minutes"}
            out.append({"condition": rule.get("condition", "if-not-acked"),
                        "notifyType": rule.get("notifyType", "default"),
                        "delay": {"timeAmount": delay["timeAmount"], "timeUnit": delay.get("timeUnit", "minutes")},
                        "recipient": self._recipient(rule["recipient"])})
        with self.lock:
            escalation.rules = out

    def _recipient(self, r: dict[str, Any]) -> dict[str, Any]:
        if r.get("type") == "user":
            user = self.user(r.get("username") or r.get("id", ""))
            if user is None:
                raise ValueError(f"unknown Opsgenie user {r}")
            return {"type": "user", "id": user.id, "username": user.username}
        if r.get("type") == "team":
            team = self.team(r.get("name") or r.get("id", ""))
            if team is None:
                raise ValueError(f"unknown Opsgenie team {r}")
            return {"type": "team", "id": team.id, "name": team.name}
        if r.get("type") == "schedule":
            schedule = self.schedule(r.get("id", ""), "id") or self.schedule(r.get("name", ""), "name")
            if schedule is None:
                raise ValueError(f"unknown Opsgenie schedule {r}")
            return {"type": "schedule", "id": schedule.id, "name": schedule.name}
        raise ValueError(f"an escalation rule's recipient is a user, a schedule or a team, not {r}")

    def escalation(self, ident: str, by: str = "id") -> OgEscalation | None:
        with self.lock:
            if by == "name":
                return next((e for e in self.escalations.values() if e.name == ident), None)
            return self.escalations.get(ident)

    def _participant(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("type") == "user":
            user = self.user(p.get("username") or p.get("id", ""))
            if user is None:
                raise ValueError(f"unknown Opsgenie user {p}")
            return {"type": "user", "id": user.id, "username": user.username}
        if p.get("type") == "team":
            team = self.team(p.get("name") or p.get("id", ""))
            if team is None:
                raise ValueError(f"unknown Opsgenie team {p}")
            return {"type": "team", "id": team.id, "name": team.name}
        return {"type": p.get("type", "none"), **{k: v for k, v in p.items() if k != "type"}}

    def _team_members(self, ident: str) -> list[str]:
        team = self.team(ident)
        return list(team.members) if team else []

    def user(self, ident: str) -> OgUser | None:
        with self.lock:
            return self.users.get(ident) or next((u for u in self.users.values() if u.username == ident), None)

    def team(self, ident: str) -> OgTeam | None:
        with self.lock:
            return self.teams.get(ident) or next((t for t in self.teams.values() if t.name == ident), None)

    def schedule(self, ident: str, by: str = "id") -> Schedule | None:
        with self.lock:
            if by == "name":
                return next((s for s in self.schedules.values() if s.name == ident), None)
            return self.schedules.get(ident)

    def rename_schedule(self, schedule: Schedule, name: str) -> None:
        with self.lock:
            schedule.name = name


def _domain(path: str) -> str:
    if "/on-calls" in path or "/next-on-calls" in path:
        return "Schedule-oncalls"
    if path.rstrip("/") == "/v2/users":
        return "Search"
    return "Configuration"


class OpsgenieEmulator(EmulatorServer):
    name = "opsgenie-emulator"

    def __init__(self, state: OpsgenieState | None = None, api_keys: set[str] | None = None,
                 clock: Clock | None = None, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port, clock)
        self.state = state or OpsgenieState()
        self.api_keys = set(api_keys or {"og-emulator-key"})
        self._limits: dict[str, RateWindow] = {}

    def set_rate_limit(self, domain: str, limit: int, period: float = 60.0) -> None:
        """Throttle a request domain (Configuration, Search, Schedule-oncalls) to ``limit`` per ``period``."""
        self._limits[domain] = RateWindow(limit, period)

    # --- envelopes -----------------------------------------------------------------------
    def _ok(self, data: Any, started: float, **extra: Any) -> Response:
        rid = str(uuid.uuid4())
        body = {"data": data, **extra, "took": round(time.monotonic() - started, 3), "requestId": rid}
        return Response(200, body, {"X-Request-ID": rid, "X-Response-Time": body["took"].__str__(),
                                    "X-RateLimit-State": "OK", "X-RateLimit-Reason": "OrganizationLimit",
                                    "X-RateLimit-Period-In-Sec": "60"})

    @staticmethod
    def _error(status: int, message: str, errtype: str | None = None, **extra: Any) -> Response:
        rid = str(uuid.uuid4())
        headers = {"X-Request-ID": rid, "X-Response-Time": "0.0"}
        if errtype:
            headers["X-Opsgenie-Errortype"] = errtype
        return Response(status, {"message": message, **extra, "took": 0.0, "requestId": rid}, headers)

    def _throttled(self, period: float = 60.0) -> Response:
        resp = self._error(429, THROTTLE_MESSAGE, "RateLimitExceeded")
        resp.headers.update({"X-RateLimit-State": "THROTTLED", "X-RateLimit-Reason": "OrganizationLimit",
                             "X-RateLimit-Period-In-Sec": str(int(period))})
        return resp

    def fault_response(self, fault: Fault, request: Request) -> Response:
        if fault.status == 429:
            resp = self._throttled()
            if fault.retry_after is not None:
                resp.headers["Retry-After"] = str(int(fault.retry_after))
            return resp
        return self._error(fault.status, "Internal Server Error" if fault.status >= 500 else "Injected error")

    # --- routing ---------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        started = time.monotonic()
        auth = request.headers.get("authorization", "")
        if not auth.startswith("GenieKey ") or auth[len("GenieKey "):].strip() not in self.api_keys:
            return self._error(401, "Could not authenticate", "Unauthorized")
        bucket = self._limits.get(_domain(request.path))
        if bucket is not None and bucket.take() > 0:
            return self._throttled(bucket.window)
        try:
            return self._route(request, started)
        except _BadRequest as exc:
            return self._error(422, str(exc), "UnprocessableEntity")

    def _route(self, req: Request, started: float) -> Response:
        path = req.path.rstrip("/")
        m = re.fullmatch(r"/v2/schedules", path)
        if m and req.method == "GET":
            expand = "rotation" in (req.query.get("expand") or "")
            with self.state.lock:
                data = [self._schedule_json(s, expand) for s in self.state.schedules.values()]
            return self._ok(data, started, expandable=["rotation"])
        if path == "/v2/schedules/on-calls" and req.method == "GET":
            at = self._date(req)
            flat = _flag(req.query.get("flat"))
            with self.state.lock:
                data = [self._on_call_json(s, at, flat) for s in self.state.schedules.values()]
            return self._ok(data, started)
        m = re.fullmatch(r"/v2/schedules/([^/]+)/(on-calls|next-on-calls|overrides)(?:/([^/]+))?", path)
        if m:
            schedule = self._find_schedule(unquote(m.group(1)), req.query.get("scheduleIdentifierType", "id"))
            if schedule is None:
                return self._error(404, "Schedule with identifier [%s] does not exist" % m.group(1), "NotFound")
            what, alias = m.group(2), m.group(3)
            if what == "on-calls" and req.method == "GET" and alias is None:
                return self._ok(self._on_call_json(schedule, self._date(req), _flag(req.query.get("flat"))), started)
            if what == "next-on-calls" and req.method == "GET" and alias is None:
                return self._ok(self._next_json(schedule, self._date(req), _flag(req.query.get("flat"))), started)
            if what == "overrides":
                return self._overrides(req, schedule, alias, started)
        m = re.fullmatch(r"/v2/schedules/([^/]+)", path)
        if m and req.method == "GET":
            schedule = self._find_schedule(unquote(m.group(1)), req.query.get("identifierType", "id"))
            if schedule is None:
                return self._error(404, "Schedule with identifier [%s] does not exist" % m.group(1), "NotFound")
            return self._ok(self._schedule_json(schedule, True), started)
        if path == "/v2/users" and req.method == "GET":
            return self._list_users(req, started)
        m = re.fullmatch(r"/v2/users/([^/]+)", path)
        if m and req.method == "GET":
            user = self.state.user(unquote(m.group(1)))
            if user is None:
                return self._error(404, "No user exists with username [%s]" % m.group(1), "NotFound")
            return self._ok(user.as_json(), started, expandable=["contact"])
        if path == "/v2/escalations" and req.method == "GET":  # no paging, no filters
            with self.state.lock:
                data = [self._escalation_json(e) for e in self.state.escalations.values()]
            return self._ok(data, started)
        m = re.fullmatch(r"/v2/escalations/([^/]+)", path)
        if m and req.method == "GET":
            by = req.query.get("identifierType", "id")
            if by not in ("id", "name"):
                raise _BadRequest(f"Invalid identifier type [{by}]; use id or name")
            escalation = self.state.escalation(unquote(m.group(1)), by)
            if escalation is None:
                return self._error(404, "Escalation with identifier [%s] does not exist" % m.group(1), "NotFound")
            with self.state.lock:
                return self._ok(self._escalation_json(escalation), started)
        if path == "/v2/teams" and req.method == "GET":
            with self.state.lock:
                data = [{"id": t.id, "name": t.name, "description": t.description} for t in self.state.teams.values()]
            return self._ok(data, started, expandable=["member"])
        m = re.fullmatch(r"/v2/teams/([^/]+)", path)
        if m and req.method == "GET":
            by = req.query.get("identifierType", "id")
            ident = unquote(m.group(1))
            team = self.state.team(ident)
            if team is not None and ((by == "id" and team.id != ident) or (by == "name" and team.name != ident)
                                     or by not in ("id", "name")):
                team = None
            if team is None:
                return self._error(404, "No team exists with identifier [%s]" % m.group(1), "NotFound")
            members = [{"user": {"id": u.id, "username": u.username},
                        "role": "admin" if u.username in team.admins else "user"}
                       for u in (self.state.user(n) for n in team.members) if u]
            return self._ok({"id": team.id, "name": team.name, "description": team.description,
                             "members": members}, started)
        return self._error(404, "Requested resource does not exist", "NotFound")

    # --- helpers -------------------------------------------------------------------------
    def _date(self, req: Request) -> datetime:
        raw = req.query.get("date")
        if not raw:
            return self.clock.now()
        try:
            return parse_time(raw)
        except ValueError:
            raise _BadRequest(f"Invalid date [{raw}]; use ISO-8601 such as 2017-01-15T08:00:00+02:00") from None

    def _find_schedule(self, ident: str, by: str) -> Schedule | None:
        if by not in ("id", "name"):
            raise _BadRequest(f"Invalid identifier type [{by}]; use id or name")
        return self.state.schedule(ident, by)

    def _escalation_json(self, e: OgEscalation) -> dict[str, Any]:
        """An ``Escalation`` as ``GET /v2/escalations[/{identifier}]`` gives it (REFERENCE.md §1.2):
        each rule's delay with its unit, each recipient with id and name (a user: username)."""
        data: dict[str, Any] = {"id": e.id, "name": e.name, "description": e.description,
                                "rules": [{**rule, "delay": dict(rule["delay"]), "recipient": dict(rule["recipient"])}
                                          for rule in e.rules],
                                "repeat": {"waitInterval": 0, "count": 1, "resetRecipientStates": False,
                                           "closeAlertAfterAll": False}}
        owner = self.state.team(e.owner_team) if e.owner_team else None
        if owner is not None:
            data["ownerTeam"] = {"id": owner.id, "name": owner.name}
        return data

    @staticmethod
    def _meta(s: Schedule) -> dict[str, Any]:
        return {"id": s.id, "name": s.name, "enabled": s.enabled}

    def _schedule_json(self, s: Schedule, with_rotations: bool) -> dict[str, Any]:
        data: dict[str, Any] = {"id": s.id, "name": s.name, "description": s.description,
                                "timezone": s.timezone, "enabled": s.enabled}
        if s.owner_team:
            data["ownerTeam"] = s.owner_team
        if with_rotations:
            data["rotations"] = [self._rotation_json(r) for r in s.rotations]
        return data

    @staticmethod
    def _rotation_json(r: Rotation) -> dict[str, Any]:
        data: dict[str, Any] = {"id": r.id, "name": r.name, "startDate": iso(r.start_date), "type": r.type,
                                "length": r.length, "participants": [_participant_json(p) for p in r.participants]}
        if r.end_date:
            data["endDate"] = iso(r.end_date)
        if r.time_restriction:
            data["timeRestriction"] = r.time_restriction
        return data

    def _usernames(self, participant: dict[str, Any]) -> list[str]:
        if participant.get("type") == "user":
            return [participant["username"]]
        if participant.get("type") == "team":
            team = self.state.team(participant["id"])
            return list(team.members) if team else []
        return []

    def _on_call_json(self, s: Schedule, at: datetime, flat: bool) -> dict[str, Any]:
        entries = s.on_call(at)
        if flat:
            names: list[str] = []
            for _, p, _ in entries:
                names += [n for n in self._usernames(p) if n not in names]
            return {"_parent": self._meta(s), "onCallRecipients": names}
        return {"_parent": self._meta(s), "onCallParticipants": _participants_json(entries)}

    def _next_json(self, s: Schedule, at: datetime, flat: bool) -> dict[str, Any]:
        change = s.next_change(at)
        exact = s.on_call(change) if change else []
        # "next" per rotation: whoever each rotation puts on call next, whenever that is.
        per_rotation = [(r, p, None) for r, p in s.next_holders(at)]
        if flat:
            exact_names: list[str] = []
            for _, p, _ in exact:
                exact_names += [n for n in self._usernames(p) if n not in exact_names]
            next_names: list[str] = []
            for _, p, _ in per_rotation:
                next_names += [n for n in self._usernames(p) if n not in next_names]
            return {"_parent": self._meta(s), "nextOnCallParticipants": next_names,
                    "exactNextOnCallParticipants": exact_names}
        return {"_parent": self._meta(s), "nextOnCallRecipients": _participants_json(per_rotation),
                "exactNextOnCallRecipients": _participants_json(exact)}

    def _list_users(self, req: Request, started: float) -> Response:
        try:
            limit = min(max(int(req.query.get("limit", 100)), 1), 100)
            offset = max(int(req.query.get("offset", 0)), 0)
        except ValueError:
            raise _BadRequest("limit and offset must be integers") from None
        with self.state.lock:
            users = sorted(self.state.users.values(), key=lambda u: u.username)
        page = users[offset:offset + limit]
        base = f"{self.url}/v2/users?limit={limit}"
        paging = {"first": f"{base}&offset=0",
                  "last": f"{base}&offset={max(len(users) - 1, 0) // limit * limit}"}
        if offset + limit < len(users):
            paging["next"] = f"{base}&offset={offset + limit}"
        if offset > 0:
            paging["prev"] = f"{base}&offset={max(offset - limit, 0)}"
        resp = self._ok([u.as_json() for u in page], started, totalCount=len(users), paging=paging,
                        expandable=["contact"])
        resp.headers.update({f"X-Paging-{k.title()}": v for k, v in paging.items()})
        return resp

    def _overrides(self, req: Request, s: Schedule, alias: str | None, started: float) -> Response:
        def as_json(o: Override) -> dict[str, Any]:
            return {"_parent": self._meta(s), "alias": o.alias, "user": _participant_json(o.user),
                    "startDate": iso(o.start_date), "endDate": iso(o.end_date),
                    "rotations": [{"id": r.id, "name": r.name} for r in s.rotations if o.rotations and
                                  (r.id in o.rotations or r.name in o.rotations)]}

        if alias is None and req.method == "GET":
            return self._ok([as_json(o) for o in s.overrides], started)
        if alias is None and req.method == "POST":
            body = req.json if isinstance(req.json, dict) else {}
            try:
                user = body["user"]
                username = None if user.get("type") == "none" else (user.get("username") or user.get("id"))
                refs = [r.get("id") or r.get("name") for r in body.get("rotations") or []]
                o = self.state.add_override(s, username, parse_time(body["startDate"]), parse_time(body["endDate"]),
                                            refs, body.get("alias"))
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                raise _BadRequest(f"Invalid override: {exc}") from None
            resp = self._ok({"alias": o.alias}, started, result="Created")
            resp.status = 201
            return resp
        match = next((o for o in s.overrides if o.alias == alias), None)
        if match is None:
            return self._error(404, f"Override with alias [{alias}] does not exist", "NotFound")
        if req.method == "GET":
            return self._ok(as_json(match), started)
        if req.method == "DELETE":
            with self.state.lock:
                s.overrides.remove(match)
            return self._ok(None, started, result="Deleted")
        return self._error(405, "Method not allowed")


class _BadRequest(Exception):
    pass


def _flag(value: str | None) -> bool:
    return (value or "").lower() == "true"


def _participant_json(p: dict[str, Any]) -> dict[str, Any]:
    if p.get("type") == "user":
        return {"type": "user", "id": p["id"], "username": p["username"]}
    if p.get("type") == "team":
        return {"type": "team", "id": p["id"], "name": p["name"]}
    return {"type": p.get("type", "none")}


def _participants_json(entries: list[tuple[Rotation, dict[str, Any], Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _, p, _ in entries:
        item = {"id": p.get("id", ""), "name": p.get("username") or p.get("name", ""), "type": p.get("type")}
        if item not in out:
            out.append(item)
    return out
