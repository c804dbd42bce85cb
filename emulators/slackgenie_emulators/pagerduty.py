"""A loopback emulator of the PagerDuty REST API v2: on-calls, schedules, overrides and users.

It serves no organisation of its own: it is a *view* over an ``OpsgenieState``, the one the
Opsgenie emulator serves, so the same schedules, rotations, overrides and users answer in
PagerDuty's shapes and a change a test makes to that state shows up here at once. The engine in
``schedules.py`` is the only truth about who is on call.

The mapping:

* an Opsgenie user is a PagerDuty ``User``: ``email`` is the Opsgenie username, ``name`` its full
  name, ``id`` a deterministic ``P…`` id (``user_id``);
* an Opsgenie schedule is a PagerDuty ``Schedule`` (``schedule_id``) whose rotations are its
  schedule layers;
* an Opsgenie escalation (``OpsgenieState.escalations``) is a PagerDuty ``EscalationPolicy``
  (``policy_id``; see ``_levels`` for how its rules become levels); a schedule that none of them
  targets stands in a policy of its own, ``"<name> policy"``, at escalation level 1, unless its
  name is in ``detached`` (then ``/oncalls`` never shows it, as PagerDuty leaves out schedules no
  escalation policy uses, while ``/schedules/{id}/users`` still answers; ``detached`` removes only
  that stand-in: a policy of the organisation that targets the schedule still shows it);
* a PagerDuty override is an engine ``Override`` on every rotation of the schedule; the last one
  created has priority, as PagerDuty documents.

Wire contract as documented (see ``shared/specs/pagerduty/REFERENCE.md``):
``Authorization: Token token=<key>`` exactly, or 401; ``{"error": {"message", "code", "errors"}}``
error bodies; classic ``limit``/``offset``/``more``/``total`` paging (``total`` null unless
``total=true``; ``limit`` at most 100; ``offset + limit`` at most 10000); 403 on any non-GET for a
read-only key; 429 ``Rate Limit Exceeded`` (code 2020) with ``ratelimit-limit``,
``ratelimit-remaining`` and ``ratelimit-reset`` headers (on every answer once a limit is set);
``GET /schedules/{id}/overrides`` answers 201; ``POST`` of overrides answers 201 with one status
per requested override; ``DELETE`` of an override under way truncates it to now (200), of a future
one deletes it (204), of a past one is refused.

Escalation policies (``../shared/specs/escalations/REFERENCE.md`` §3): ``GET /escalation_policies``
(``query``, ``user_ids[]``, ``team_ids[]``, ``include[]``, ``sort_by``, classic paging) and ``GET
/escalation_policies/{id}``; ``/oncalls`` gives one entry per (policy, level, schedule shift) and
one *permanent* entry (``schedule``, ``start`` and ``end`` null) per user named directly on a level,
so one person shows up once per level and policy that reaches them (no level filter: callers keep
the ``escalation_level`` they want); ``schedule_ids[]`` with the literal ``null`` includes the
permanent ones.

Faults of PagerDuty's own making, beside the transport's (``inject``): ``refuse(schedule, status)``
makes every request naming that schedule fail as a whole, as PagerDuty answers one status per
request: a 403 for a schedule of a team the key may not see, a 404, a 5xx; an ``/oncalls``
request naming (``escalation_policy_ids[]``) a policy that targets it fails alike.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slackgenie_emulators.base import Clock, EmulatorServer, Fault, Request, Response
from slackgenie_emulators.opsgenie import OgEscalation, OgTeam, OgUser, OpsgenieState
from slackgenie_emulators.schedules import (
    Override, Rotation, Schedule, restriction_allows, rotation_edges, turn_holder, window_rules,
)

PAGERDUTY_TOKEN = "u+emulatorPDtoken-0001"

ACCOUNT_TIME_ZONE = "UTC"  # what PagerDuty renders in when a request names no time zone
HTML_BASE = "https://slackgenie-emulator.pagerduty.com"  # the web app's URLs (html_url)
SHIFT_HORIZON = timedelta(days=90)  # how far back and on a shift's start and end are looked for
MAX_ONCALL_RANGE = timedelta(days=90)  # /oncalls: "On-call shifts are limited to 90 days"
DEFAULT_RENDER_SPAN = timedelta(weeks=2)  # /schedules: since/until default 2 weeks from the other
DEFAULT_LIMIT, MAX_LIMIT, MAX_RECORDS = 25, 100, 10_000  # classic pagination
_TICK = timedelta(microseconds=1)  # "just before" an instant: answers are constant between changes
_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_TURN_SECONDS = {"hourly": 3600, "daily": 86_400, "weekly": 604_800}

# PagerDuty's error codes (developer docs, "Errors"): status -> (message, code)
_ERRORS: dict[int, tuple[str, int]] = {
    400: ("Invalid Input Provided", 2001),
    401: ("Authentication failed", 2006),
    403: ("Access Denied", 2010),
    404: ("Not Found", 2100),
    408: ("The request took too long to process", 2016),
    429: ("Rate Limit Exceeded", 2020),
}
_INTERNAL_ERROR = ("An internal error has occurred. PagerDuty team has been notified.", 2000)


@lru_cache(maxsize=65_536)
def pd_id(kind: str, key: str, length: int = 6, prefix: str = "P") -> str:
    """A deterministic PagerDuty-style id: ``prefix`` and ``length`` upper-case alphanumerics."""
    n = int.from_bytes(hashlib.sha256(f"{kind}:{key}".encode()).digest(), "big")
    chars = []
    for _ in range(length):
        n, digit = divmod(n, len(_ID_ALPHABET))
        chars.append(_ID_ALPHABET[digit])
    return prefix + "".join(chars)


# --- errors ------------------------------------------------------------------------------------

class ApiError(Exception):
    """An error answer: raised anywhere below ``handle``, turned into PagerDuty's envelope there."""

    def __init__(self, status: int, *errors: str, message: str | None = None, code: int | None = None):
        default_message, default_code = _ERRORS.get(status, _INTERNAL_ERROR)
        super().__init__(message or default_message)
        self.status, self.errors = status, list(errors)
        self.message, self.code = message or default_message, code or default_code

    def response(self) -> Response:
        error: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            error["errors"] = self.errors
        return Response(self.status, {"error": error})


def _bad_input(*errors: str) -> ApiError:
    return ApiError(400, *errors)


# --- dates -------------------------------------------------------------------------------------

def parse_date(value: str, what: str, zone: tzinfo | None = None) -> datetime:
    """ISO 8601 with ``Z`` or an offset; a value without one is read in ``zone`` (UTC)."""
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{what} is not a valid ISO 8601 date-time: {value!r}",
                       message="Invalid time values in 'since' and/or 'until' parameters"
                       if what in ("since", "until") else None,
                       code=2004 if what in ("since", "until") else None) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=zone or timezone.utc)


def zone_param(name: str | None, default: str) -> tzinfo:
    """The time zone a request names (an IANA name), or ``default``; an unknown name is a 400."""
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad_input(f"time_zone is not a known time zone: {name!r}") from None


def render(dt: datetime | None, zone: tzinfo) -> str | None:
    """An instant as PagerDuty writes it: ``Z`` in UTC, else the zone's offset."""
    if dt is None:
        return None
    local = dt.astimezone(zone)
    if local.utcoffset() == timedelta(0) and str(zone) in ("UTC", "Etc/UTC"):
        return local.strftime("%Y-%m-%dT%H:%M:%SZ")
    return local.replace(microsecond=0).isoformat()


def _overlaps(start: datetime | None, end: datetime | None, since: datetime, until: datetime) -> bool:
    """Whether ``[start, end)`` (None: unbounded) meets the range ``[since, until)``; a range with
    ``since == until`` is that instant."""
    return (start is None or start < until or start <= since) and (end is None or end > since)


# --- who is on call when: walking the engine's change instants ---------------------------------

Who = Callable[[datetime], frozenset[str]]  # the usernames on call at an instant
Edges = Callable[[datetime, datetime], set[datetime]]  # every instant in (lo, hi] an answer may change


@dataclass(frozen=True)
class Shift:
    """One person's contiguous time on call; ``None`` where no bound was found within the horizon."""

    username: str
    start: datetime | None
    end: datetime | None


def _edges_forward(edges: Edges, after: datetime, limit: datetime) -> Iterator[datetime]:
    """The change instants in ``(after, limit]`` in order, in slices that double (a day, two...)."""
    lo, width = after, timedelta(days=1)
    while lo < limit:
        hi = min(lo + width, limit)
        yield from sorted(edges(lo, hi))
        lo, width = hi, width * 2


def _edges_backward(edges: Edges, before: datetime, limit: datetime) -> Iterator[datetime]:
    """The change instants in ``(limit, before]``, latest first, in slices that double."""
    hi, width = before, timedelta(days=1)
    while hi > limit:
        lo = max(hi - width, limit)
        yield from sorted(edges(lo, hi), reverse=True)
        hi, width = lo, width * 2


def shifts(who: Who, edges: Edges, since: datetime, until: datetime, horizon: timedelta) -> list[Shift]:
    """Every shift that overlaps ``[since, until]``, with its real start and end.

    ``who`` is constant between the instants ``edges`` lists, so a shift starts at the latest
    change instant before which its person was off call, and ends at the first one after which they
    are. Both are searched for at most ``horizon`` beyond the range; ``None`` when not found.
    """
    active: dict[str, datetime | None] = {}
    pending = set(who(since))
    for edge in _edges_backward(edges, since, since - horizon):
        if not pending:
            break
        before = who(edge - _TICK)
        for username in pending - before:
            active[username] = edge
        pending &= before
    active.update({username: None for username in pending})

    out: list[Shift] = []
    for edge in _edges_forward(edges, since, until + horizon):
        if edge >= until and not active:
            break
        now = who(edge)
        for username in [u for u in active if u not in now]:
            out.append(Shift(username, active.pop(username), edge))
        if edge < until:  # a shift that begins at ``until`` or later does not overlap the range
            active.update({u: edge for u in now if u not in active})
    out += [Shift(username, start, None) for username, start in active.items()]
    return sorted(out, key=lambda s: (s.start or datetime.min.replace(tzinfo=timezone.utc), s.username))


def users_between(who: Who, edges: Edges, since: datetime, until: datetime) -> list[str]:
    """Everyone on call at some instant of ``[since, until]``, in the order they come on."""
    seen = sorted(who(since))
    for edge in _edges_forward(edges, since, until):
        if edge >= until:
            break
        seen += sorted(u for u in who(edge) if u not in seen)
    return seen


def _clip(shift: Shift, since: datetime, until: datetime) -> tuple[datetime, datetime]:
    start = since if shift.start is None else max(shift.start, since)
    end = until if shift.end is None else min(shift.end, until)
    return start, end


def _coverage(intervals: list[tuple[datetime, datetime]], since: datetime, until: datetime) -> float:
    """The percentage of ``[since, until]`` that the (clipped) intervals cover between them."""
    span = (until - since).total_seconds()
    if span <= 0:
        return 100.0 if intervals else 0.0
    covered, reach = 0.0, since
    for start, end in sorted(intervals):
        start = max(start, reach)
        if end > start:
            covered += (end - start).total_seconds()
            reach = end
    return round(100.0 * covered / span, 2)


def _starts_before(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether on-call entry ``a`` starts before ``b`` (a permanent one, start null, first of all)."""
    return b["start"] is not None and (a["start"] is None or parse_date(a["start"], "start") < parse_date(b["start"], "start"))


# --- rate limits -------------------------------------------------------------------------------

class _Budget:
    """A rolling window of at most ``limit`` requests per ``period`` seconds, saying what is left."""

    def __init__(self, limit: int, period: float):
        self.limit, self.period = limit, period
        self._times: list[float] = []
        self._lock = threading.Lock()

    def take(self) -> tuple[bool, int, int]:
        """(allowed, remaining afterwards, whole seconds until the window has room again)."""
        now = time.monotonic()
        with self._lock:
            self._times = [t for t in self._times if now - t < self.period]
            allowed = len(self._times) < self.limit
            if allowed:
                self._times.append(now)
            remaining = self.limit - len(self._times)
            reset = math.ceil(self.period - (now - self._times[0])) if self._times else 0
            return allowed, remaining, max(reset, 1 if not allowed else 0)


# --- the emulator ------------------------------------------------------------------------------

_ONCALL_INCLUDES = {"users", "schedules", "escalation_policies"}
_POLICY_INCLUDES = {"services", "teams", "targets", "escalation_rule_assignment_strategies"}
_POLICY_SORTS = {"name": False, "name:asc": False, "name:desc": True}  # sort_by -> descending
MAX_TARGETS = 10  # an EscalationRule's targets: 1 to 10
LAST_RULE_DELAY = 30  # minutes the last level waits before the policy loops (num_loops 0: it ends)
_MINUTES = {"days": 1440.0, "hours": 60.0, "minutes": 1.0, "seconds": 1 / 60, "miliseconds": 1 / 60_000,
            "milliseconds": 1 / 60_000, "micros": 1 / 60_000_000, "nanos": 1 / 60_000_000_000}


@dataclass(frozen=True)
class _Level:
    """One escalation rule as PagerDuty shows it: its wait and its targets (users, schedules)."""

    delay: int  # escalation_delay_in_minutes: the wait at this level before the next
    targets: tuple[OgUser | Schedule, ...]


@dataclass(frozen=True)
class _Policy:
    """An escalation policy as PagerDuty shows it: the organisation's, or a schedule's stand-in."""

    id: str
    name: str
    levels: tuple[_Level, ...]
    team: OgTeam | None
    rule_key: str  # what its rules' ids are made from
    description: str = ""
_SCHEDULE_INCLUDES = {"schedule_layers", "overrides_subschedule", "final_schedule"}
_USER_INCLUDES = {"contact_methods", "notification_rules", "teams", "subdomains", "calendar_urls"}


class PagerDutyEmulator(EmulatorServer):
    """PagerDuty's REST API v2 over an Opsgenie organisation (see the module docstring)."""

    name = "pagerduty-emulator"

    def __init__(self, org: OpsgenieState, *, api_tokens: set[str] | None = None, clock: Clock | None = None,
                 host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port, clock)
        self.org = org
        self.api_tokens: set[str] = set(api_tokens) if api_tokens is not None else {PAGERDUTY_TOKEN}
        self.read_only_tokens: set[str] = set()  # valid keys (listed here or in api_tokens) that may only GET
        self.detached: set[str] = set()  # schedule names no escalation policy uses
        self.refusing: dict[str, int] = {}  # schedule id -> the status any request naming it fails with
        # targets a level has beside its Opsgenie rule's one recipient (PagerDuty: 1-10 per level),
        # by (escalation id, level): see ``also_notify``
        self.extra_targets: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self._limit: tuple[int, float] | None = None
        self._budgets: dict[str, _Budget] = {}

    # --- public helpers ------------------------------------------------------------------------
    def user_id(self, username: str) -> str:
        """The PagerDuty id of the organisation's user ``username`` (deterministic)."""
        return pd_id("user", username)

    def schedule_id(self, name_or_og_id: str) -> str:
        """The PagerDuty id of a schedule, named by its name or its Opsgenie id (KeyError if neither)."""
        with self.org.lock:
            schedule = self.org.schedule(name_or_og_id) or self.org.schedule(name_or_og_id, "name")
        if schedule is None:
            raise KeyError(f"no schedule named or with id {name_or_og_id!r}")
        return self._schedule_pd_id(schedule)

    def refuse(self, name_or_og_id: str, status: int = 403) -> str:
        """Make every request that names this schedule fail as a whole with ``status`` (its PagerDuty
        id is returned): a ``GET /oncalls`` whose ``schedule_ids[]`` list it, whatever else they list,
        and its own ``/schedules/{id}…`` paths. 403 (``Access Denied``, code 2010): a schedule of a
        team the key may not see; 404 (code 2100): a schedule deleted since its id was listed; 5xx
        (code 2000): a schedule PagerDuty cannot render. The schedule list still shows it."""
        sid = self.schedule_id(name_or_og_id)
        with self._lock:
            self.refusing[sid] = status
        return sid

    def policy_id(self, name_or_og_id: str) -> str:
        """The PagerDuty id of an escalation policy of the organisation, by its name or Opsgenie id."""
        escalation = self.org.escalation(name_or_og_id) or self.org.escalation(name_or_og_id, "name")
        if escalation is None:
            raise KeyError(f"no escalation policy named or with id {name_or_og_id!r}")
        return self._escalation_pd_id(escalation)

    def also_notify(self, escalation: OgEscalation, level: int, recipient: dict[str, Any]) -> None:
        """Give a level (from 1) one more target: ``{"type": "user", "username": ...}`` or
        ``{"type": "schedule", "name": ...}``. Opsgenie's rules have one recipient each, so the
        shared organisation cannot say "this schedule and that user at level 2"; PagerDuty can."""
        if recipient.get("type") not in ("user", "schedule"):
            raise ValueError(f"a PagerDuty escalation target is a user or a schedule, not {recipient}")
        with self._lock:
            self.extra_targets.setdefault((escalation.id, level), []).append(dict(recipient))

    def set_rate_limit(self, limit: int, period: float = 60.0) -> None:
        """Allow each key ``limit`` requests per ``period`` seconds; beyond that, 429. From now on
        every answer carries the ``ratelimit-*`` headers."""
        with self._lock:
            self._limit = (limit, period)
            self._budgets = {}

    # --- ids -----------------------------------------------------------------------------------
    @staticmethod
    def _schedule_pd_id(schedule: Schedule) -> str:
        return pd_id("schedule", schedule.id)  # the Opsgenie id: stable when the schedule is renamed

    @staticmethod
    def _policy_id(schedule: Schedule) -> str:
        return pd_id("escalation_policy", schedule.id)  # a schedule's stand-in policy

    @staticmethod
    def _escalation_pd_id(escalation: OgEscalation) -> str:
        return pd_id("escalation_policy", escalation.id)

    @staticmethod
    def _override_id(override: Override) -> str:
        return pd_id("override", override.alias, length=13, prefix="Q")

    # --- the request cycle -------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        match = re.fullmatch(r"Token token=(\S+)", request.headers.get("authorization", "").strip())
        token = match.group(1) if match else None
        if token is None or (token not in self.api_tokens and token not in self.read_only_tokens):
            return ApiError(401, "Supply a valid API key as 'Authorization: Token token=<API_KEY>'.").response()
        allowed, headers = self._take_budget(token)
        if not allowed:
            response = ApiError(429).response()
        elif request.method != "GET" and token in self.read_only_tokens:
            response = ApiError(403, "This API key is read-only: it may only make GET requests.").response()
        else:
            try:
                response = self._route(request)
            except ApiError as exc:
                response = exc.response()
        response.headers.update(headers)  # every answer the limit was evaluated for carries them
        return response

    def _take_budget(self, token: str) -> tuple[bool, dict[str, str]]:
        """Whether the key may make this request, and the ``ratelimit-*`` headers (none without a limit)."""
        with self._lock:
            if self._limit is None:
                return True, {}
            budget = self._budgets.setdefault(token, _Budget(*self._limit))
        allowed, remaining, reset = budget.take()
        return allowed, {"ratelimit-limit": str(budget.limit), "ratelimit-remaining": str(remaining),
                         "ratelimit-reset": str(reset)}

    def fault_response(self, fault: Fault, request: Request) -> Response:
        response = ApiError(fault.status).response()
        if fault.status == 429:
            reset = math.ceil(fault.retry_after) if fault.retry_after is not None else 1
            limit = self._limit[0] if self._limit else 960
            response.headers.update({"ratelimit-limit": str(limit), "ratelimit-remaining": "0",
                                     "ratelimit-reset": str(reset)})
        if fault.retry_after is not None:
            response.headers["Retry-After"] = str(math.ceil(fault.retry_after))
        return response

    def _refused(self, schedule_ids: list[str], policy_ids: list[str] | None = None) -> None:
        """A request naming a refusing schedule, or a policy that targets one, fails as a whole:
        PagerDuty answers one status for the request, never a partial answer that leaves that
        schedule out."""
        named = list(schedule_ids)
        if policy_ids:
            wanted = set(policy_ids)
            with self.org.lock:
                named += [self._schedule_pd_id(t) for p in self._policies() if p.id in wanted
                          for level in p.levels for t in level.targets if isinstance(t, Schedule)]
        with self._lock:
            status = next((self.refusing[s] for s in named if s in self.refusing), None)
        if status is not None:
            raise ApiError(status)  # the envelope of its status (403: "Access Denied", code 2010)

    def _route(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        if req.method == "GET" and path == "/oncalls":
            self._refused(req.args("schedule_ids[]"), req.args("escalation_policy_ids[]"))
            return self._list_oncalls(req)
        if req.method == "GET" and path == "/escalation_policies":
            return self._list_policies(req)
        if req.method == "GET" and (m := re.fullmatch(r"/escalation_policies/([^/]+)", path)):
            return self._get_policy(req, unquote(m.group(1)))
        if req.method == "GET" and path == "/schedules":
            return self._list_schedules(req)
        if req.method == "GET" and path == "/users":
            return self._list_users(req)
        if req.method == "GET" and path == "/users/me":
            raise ApiError(400, "GET /users/me needs a user-level API key or an OAuth token; this request "
                                "was made with an account-level API key, which acts as no user.")
        if req.method == "GET" and (m := re.fullmatch(r"/users/([^/]+)", path)):
            return self._get_user(req, unquote(m.group(1)))
        m = re.fullmatch(r"/schedules/([^/]+)(?:/(users|overrides)(?:/([^/]+))?)?", path)
        if m is None:
            raise ApiError(404)
        self._refused([unquote(m.group(1))])
        with self.org.lock:
            schedule = self._schedules_by_id().get(unquote(m.group(1)))
            if schedule is None:
                raise ApiError(404)
            sub, item = m.group(2), m.group(3)
            if sub is None and req.method == "GET":
                return self._get_schedule(req, schedule)
            if sub == "users" and item is None and req.method == "GET":
                return self._schedule_users(req, schedule)
            if sub == "overrides" and item is None and req.method == "GET":
                return self._list_overrides(req, schedule)
            if sub == "overrides" and item is None and req.method == "POST":
                return self._create_overrides(req, schedule)
            if sub == "overrides" and item is not None and req.method == "DELETE":
                return self._delete_override(schedule, unquote(item))
        raise ApiError(404)

    # --- lookups (callers hold org.lock) ------------------------------------------------------
    def _schedules(self) -> list[Schedule]:
        return sorted(self.org.schedules.values(), key=lambda s: (s.name, self._schedule_pd_id(s)))

    def _schedules_by_id(self) -> dict[str, Schedule]:
        return {self._schedule_pd_id(s): s for s in self.org.schedules.values()}

    def _users_by_name(self) -> dict[str, OgUser]:
        return {u.username: u for u in self.org.users.values()}

    def _users_by_id(self) -> dict[str, OgUser]:
        return {self.user_id(u.username): u for u in self.org.users.values()}

    def _attached(self, schedule: Schedule) -> bool:
        return schedule.name not in self.detached

    # --- request parameters ------------------------------------------------------------------
    def _range(self, req: Request, *, required: bool = False, max_span: timedelta | None = None,
               ) -> tuple[datetime, datetime]:
        """``since`` and ``until``: both default to now (or are required); until must not precede since."""
        raw = {k: (req.query.get(k) or "").strip() for k in ("since", "until")}
        if required and not all(raw.values()):
            raise _bad_input("since and until are both required")
        now = self.clock.now()
        since = parse_date(raw["since"], "since") if raw["since"] else now
        until = parse_date(raw["until"], "until") if raw["until"] else now
        if until < since:
            raise ApiError(400, "until must not be before since", message="Invalid Query Date Range", code=2005)
        if max_span is not None and until - since > max_span:
            raise ApiError(400, f"the range from since to until must not exceed {max_span.days} days",
                           message="Invalid Query Date Range", code=2005)
        return since, until

    def _render_range(self, req: Request) -> tuple[datetime, datetime] | None:
        """/schedules' ``since``/``until``: each defaults to two weeks from the other; None without both."""
        raw = {k: (req.query.get(k) or "").strip() for k in ("since", "until")}
        if not any(raw.values()):
            return None
        if raw["since"]:
            since = parse_date(raw["since"], "since")
            until = parse_date(raw["until"], "until") if raw["until"] else since + DEFAULT_RENDER_SPAN
        else:
            until = parse_date(raw["until"], "until")
            since = until - DEFAULT_RENDER_SPAN
        if until < since:
            raise ApiError(400, "until must not be before since", message="Invalid Query Date Range", code=2005)
        return since, until

    @staticmethod
    def _includes(req: Request, allowed: set[str]) -> set[str]:
        wanted = set(req.args("include[]"))
        unknown = wanted - allowed
        if unknown:
            raise _bad_input(f"include[] must be one of {sorted(allowed)}, not {sorted(unknown)}")
        return wanted

    @staticmethod
    def _flag(req: Request, name: str) -> bool:
        return (req.query.get(name) or "").strip().lower() == "true"

    def _page(self, req: Request, items: list[Any]) -> tuple[list[Any], dict[str, Any]]:
        """Classic pagination: the page and ``{limit, offset, more, total}``."""
        try:
            limit = int(req.query.get("limit") or DEFAULT_LIMIT)
            offset = int(req.query.get("offset") or 0)
        except ValueError:
            raise _bad_input("limit and offset must be integers") from None
        if limit < 1 or offset < 0:
            raise _bad_input("limit must be positive and offset must not be negative")
        limit = min(limit, MAX_LIMIT)
        if offset + limit > MAX_RECORDS:
            raise _bad_input(f"offset + limit must not exceed {MAX_RECORDS}")
        page = items[offset:offset + limit]
        return page, {"limit": limit, "offset": offset, "more": offset + len(page) < len(items),
                      "total": len(items) if self._flag(req, "total") else None}

    # --- JSON shapes ----------------------------------------------------------------------------
    def _ref(self, kind: str, path: str, ident: str, summary: str) -> dict[str, Any]:
        return {"id": ident, "type": f"{kind}_reference", "summary": summary,
                "self": f"{self.url}/{path}/{ident}", "html_url": f"{HTML_BASE}/{path}/{ident}"}

    def _user_ref(self, user: OgUser) -> dict[str, Any]:
        return self._ref("user", "users", self.user_id(user.username), user.full_name)

    def _schedule_ref(self, schedule: Schedule) -> dict[str, Any]:
        return self._ref("schedule", "schedules", self._schedule_pd_id(schedule), schedule.name)

    def _policy_ref(self, policy: _Policy) -> dict[str, Any]:
        return self._ref("escalation_policy", "escalation_policies", policy.id, policy.name)

    def _team_ref(self, team: OgTeam) -> dict[str, Any]:
        return self._ref("team", "teams", pd_id("team", team.id), team.name)

    def _user_json(self, user: OgUser, calendar_urls: bool = False) -> dict[str, Any]:
        uid = self.user_id(user.username)
        contact = pd_id("contact_method", user.username)
        data: dict[str, Any] = {
            "id": uid, "type": "user", "summary": user.full_name, "self": f"{self.url}/users/{uid}",
            "html_url": f"{HTML_BASE}/users/{uid}", "name": user.full_name, "email": user.username,
            "time_zone": user.time_zone, "color": "green", "role": "user",
            "avatar_url": "https://pd-static-assets.pagerduty.com/users/blank-avatar.png",
            "description": "", "invitation_sent": False, "job_title": "", "created_via_sso": False,
            "teams": [self._team_ref(t) for t in sorted(self.org.teams.values(), key=lambda t: t.name)
                      if user.username in t.members],
            "contact_methods": [{"id": contact, "type": "email_contact_method_reference", "summary": "Default",
                                 "self": f"{self.url}/users/{uid}/contact_methods/{contact}", "html_url": None}],
            "notification_rules": [],
        }
        if calendar_urls:
            secret = pd_id("calendar", user.username, length=16, prefix="")
            data["http_cal_url"] = f"{HTML_BASE.replace('https://', 'https://webcal.')}/private/{secret}/feed"
            data["web_cal_url"] = f"webcal://{HTML_BASE.removeprefix('https://')}/private/{secret}/feed"
        return data

    def _policy_json(self, policy: _Policy, include: set[str], zone: tzinfo) -> dict[str, Any]:
        """An ``EscalationPolicy``: ``include[]`` ``targets`` gives whole users and schedules for the
        references, ``teams`` whole teams, ``escalation_rule_assignment_strategies`` each rule's
        strategy (everyone at a level is notified: ``assign_to_everyone``)."""
        rules = []
        for number, level in enumerate(policy.levels, 1):
            targets = []
            for t in level.targets:
                if isinstance(t, OgUser):
                    targets.append(self._user_json(t) if "targets" in include else self._user_ref(t))
                else:
                    targets.append(self._schedule_json(t, set(), None, zone, False) if "targets" in include
                                   else self._schedule_ref(t))
            rule: dict[str, Any] = {"id": pd_id("escalation_rule", f"{policy.rule_key}#{number}"),
                                    "escalation_delay_in_minutes": level.delay, "targets": targets}
            if "escalation_rule_assignment_strategies" in include:
                rule["escalation_rule_assignment_strategy"] = "assign_to_everyone"
            rules.append(rule)
        teams = [] if policy.team is None else [
            {**self._team_ref(policy.team), "type": "team", "name": policy.team.name,
             "description": policy.team.description} if "teams" in include else self._team_ref(policy.team)]
        return {**self._policy_ref(policy), "type": "escalation_policy", "name": policy.name,
                "description": policy.description, "num_loops": 0, "on_call_handoff_notifications": "if_has_services",
                "escalation_rules": rules, "services": [], "teams": teams}

    def _owner_team(self, schedule: Schedule) -> OgTeam | None:
        return self.org.teams.get(schedule.owner_team["id"]) if schedule.owner_team else None

    def _owner_teams(self, schedule: Schedule) -> list[dict[str, Any]]:
        team = self.org.teams.get(schedule.owner_team["id"]) if schedule.owner_team else None
        return [self._team_ref(team)] if team else []

    def _participant_users(self, participant: dict[str, Any], users: dict[str, OgUser]) -> list[OgUser]:
        """The organisation's users (``users``: by username) a rotation participant stands for (a
        team: its members)."""
        if participant.get("type") == "user":
            names = [str(participant.get("username"))]
        elif participant.get("type") == "team":
            team = self.org.teams.get(str(participant.get("id")))
            names = list(team.members) if team else []
        else:
            names = []
        return [users[n] for n in names if n in users]

    def _schedule_json(self, schedule: Schedule, include: set[str], rendered: tuple[datetime, datetime] | None,
                       zone: tzinfo, overflow: bool) -> dict[str, Any]:
        users = self._users_by_name()
        members: list[OgUser] = []
        for rotation in schedule.rotations:
            for participant in rotation.participants:
                members += [u for u in self._participant_users(participant, users) if u not in members]
        data: dict[str, Any] = {
            **self._schedule_ref(schedule), "type": "schedule", "name": schedule.name,
            "time_zone": schedule.timezone, "description": schedule.description,
            "escalation_policies": [self._policy_ref(p) for p in self._policies_of(schedule)],
            "users": [self._user_ref(u) for u in members], "teams": self._owner_teams(schedule),
        }
        if "schedule_layers" in include:
            data["schedule_layers"] = [self._layer_json(schedule, r, rendered, zone, overflow)
                                       for r in schedule.rotations]
        if "final_schedule" in include:
            entries = self._rendered_entries(self._final_who(schedule), self._schedule_edges(schedule),
                                             rendered, zone, overflow)
            data["final_schedule"] = {"name": "Final Schedule", **entries}
        if "overrides_subschedule" in include:
            data["overrides_subschedule"] = {"name": "Overrides", **self._override_entries(schedule, rendered, zone,
                                                                                          overflow)}
        return data

    def _layer_json(self, schedule: Schedule, rotation: Rotation, rendered: tuple[datetime, datetime] | None,
                    zone: tzinfo, overflow: bool) -> dict[str, Any]:
        by_name = self._users_by_name()
        users: list[OgUser] = []
        for participant in rotation.participants:
            users += [u for u in self._participant_users(participant, by_name) if u not in users]
        restrictions = []
        for rule in window_rules(rotation.time_restriction) or []:
            opens = int(rule.opens.total_seconds())
            restriction: dict[str, Any] = {
                "type": "daily_restriction" if rule.weekday is None else "weekly_restriction",
                "start_time_of_day": f"{opens // 3600:02d}:{opens // 60 % 60:02d}:{opens % 60:02d}",
                "duration_seconds": int(rule.lasts.total_seconds())}
            if rule.weekday is not None:
                restriction["start_day_of_week"] = rule.weekday + 1  # ISO: 1 is Monday
            restrictions.append(restriction)
        return {
            "id": pd_id("schedule_layer", rotation.id), "name": rotation.name,
            "start": render(rotation.start_date, zone), "end": render(rotation.end_date, zone),
            "rotation_virtual_start": render(rotation.start_date, zone),
            "rotation_turn_length_seconds": _TURN_SECONDS[rotation.type] * rotation.length,
            "users": [{"user": self._user_ref(u)} for u in users], "restrictions": restrictions,
            **self._rendered_entries(self._layer_who(schedule, rotation), self._rotation_edges(schedule, rotation),
                                     rendered, zone, overflow),
        }

    def _rendered_entries(self, who: Who, edges: Edges, rendered: tuple[datetime, datetime] | None,
                          zone: tzinfo, overflow: bool) -> dict[str, Any]:
        if rendered is None:
            return {"rendered_schedule_entries": [], "rendered_coverage_percentage": None}
        since, until = rendered
        users = self._users_by_name()
        found = shifts(who, edges, since, until, SHIFT_HORIZON if overflow else timedelta(0))
        entries = []
        for shift in found:
            start, end = (shift.start, shift.end) if overflow else _clip(shift, since, until)
            entries.append({"start": render(start, zone), "end": render(end, zone),
                            "user": self._user_ref(users[shift.username])})
        return {"rendered_schedule_entries": entries,
                "rendered_coverage_percentage": _coverage([_clip(s, since, until) for s in found], since, until)}

    def _override_entries(self, schedule: Schedule, rendered: tuple[datetime, datetime] | None, zone: tzinfo,
                          overflow: bool) -> dict[str, Any]:
        if rendered is None:
            return {"rendered_schedule_entries": [], "rendered_coverage_percentage": None}
        since, until = rendered
        entries, spans = [], []
        for override, user in self._user_overrides(schedule):
            if _overlaps(override.start_date, override.end_date, since, until):
                span = (max(override.start_date, since), min(override.end_date, until))
                start, end = (override.start_date, override.end_date) if overflow else span
                spans.append(span)
                entries.append({"start": render(start, zone), "end": render(end, zone), "user": self._user_ref(user)})
        return {"rendered_schedule_entries": entries, "rendered_coverage_percentage": _coverage(spans, since, until)}

    def _user_overrides(self, schedule: Schedule) -> list[tuple[Override, OgUser]]:
        """The schedule's overrides that put a user on call (PagerDuty has no "nobody" override)."""
        users = self._users_by_name()
        found = [(o, users[str(o.user.get("username"))]) for o in schedule.overrides
                 if o.user.get("type") == "user" and o.user.get("username") in users]
        return sorted(found, key=lambda pair: (pair[0].start_date, self._override_id(pair[0])))

    def _override_json(self, override: Override, user: OgUser, zone: tzinfo,
                       bounds: tuple[datetime, datetime] | None = None) -> dict[str, Any]:
        start, end = override.start_date, override.end_date
        if bounds is not None:
            start, end = max(start, bounds[0]), min(end, bounds[1])
        return {"id": self._override_id(override), "start": render(start, zone), "end": render(end, zone),
                "user": self._user_ref(user)}

    # --- the engine, as functions of time ----------------------------------------------------
    def _final_who(self, schedule: Schedule) -> Who:
        known = set(self._users_by_name())
        cache: dict[datetime, frozenset[str]] = {}

        def who(at: datetime) -> frozenset[str]:
            if at not in cache:
                cache[at] = frozenset(u for u in schedule.recipients(at) if u in known)
            return cache[at]
        return who

    def _layer_who(self, schedule: Schedule, rotation: Rotation) -> Who:
        """One layer alone: its turns and restriction, without overrides (those are a layer above)."""
        users = self._users_by_name()

        def who(at: datetime) -> frozenset[str]:
            participant = turn_holder(rotation, schedule.zone, at)
            if participant is None or not restriction_allows(rotation.time_restriction, schedule.zone, at):
                return frozenset()
            return frozenset(u.username for u in self._participant_users(participant, users))
        return who

    @staticmethod
    def _schedule_edges(schedule: Schedule) -> Edges:
        rotations, overrides, zone = list(schedule.rotations), list(schedule.overrides), schedule.zone

        def edges(lo: datetime, hi: datetime) -> set[datetime]:
            found: set[datetime] = set()
            for rotation in rotations:
                found |= rotation_edges(rotation, zone, lo, hi)
            for o in overrides:
                found.update(t for t in (o.start_date, o.end_date) if lo < t <= hi)
            return found
        return edges

    @staticmethod
    def _rotation_edges(schedule: Schedule, rotation: Rotation) -> Edges:
        return lambda lo, hi: rotation_edges(rotation, schedule.zone, lo, hi)

    # --- GET /oncalls --------------------------------------------------------------------------
    def _list_oncalls(self, req: Request) -> Response:
        since, until = self._range(req, max_span=MAX_ONCALL_RANGE)
        include = self._includes(req, _ONCALL_INCLUDES)
        zone = zone_param(req.query.get("time_zone"), ACCOUNT_TIME_ZONE)
        wanted_schedules = set(req.args("schedule_ids[]"))  # "null": the permanent on-calls of direct user targets
        wanted_users = set(req.args("user_ids[]"))
        wanted_policies = set(req.args("escalation_policy_ids[]"))
        oncalls: list[dict[str, Any]] = []
        with self.org.lock:
            users = self._users_by_name()
            found: dict[str, list[Shift]] = {}  # by schedule: its shifts, once however many levels name it
            for policy in self._policies():
                if wanted_policies and policy.id not in wanted_policies:
                    continue
                for number, level in enumerate(policy.levels, 1):
                    for target in level.targets:
                        if isinstance(target, OgUser):  # named directly: on call for good, in no schedule
                            if (wanted_schedules and "null" not in wanted_schedules) or (
                                    wanted_users and self.user_id(target.username) not in wanted_users):
                                continue
                            oncalls.append(self._oncall_json(policy, number, target, None, None, None, include,
                                                             zone))
                            continue
                        if not target.enabled or (wanted_schedules
                                                  and self._schedule_pd_id(target) not in wanted_schedules):
                            continue
                        if target.id not in found:
                            found[target.id] = sorted(
                                shifts(self._final_who(target), self._schedule_edges(target), since, until,
                                       SHIFT_HORIZON),
                                key=lambda s: (s.start or datetime.min.replace(tzinfo=timezone.utc),
                                               self.user_id(s.username)))
                        for shift in found[target.id]:
                            user = users[shift.username]
                            if wanted_users and self.user_id(user.username) not in wanted_users:
                                continue
                            oncalls.append(self._oncall_json(policy, number, user, target, shift.start, shift.end,
                                                             include, zone))
        if self._flag(req, "earliest"):  # the earliest entry of each (policy, level, user): a permanent one first
            first: dict[tuple[str, int, str], int] = {}
            for i, entry in enumerate(oncalls):
                key = (entry["escalation_policy"]["id"], entry["escalation_level"], entry["user"]["id"])
                if key not in first or _starts_before(entry, oncalls[first[key]]):
                    first[key] = i
            oncalls = [oncalls[i] for i in sorted(first.values())]
        page, meta = self._page(req, oncalls)
        return Response(200, {"oncalls": page, **meta})

    def _oncall_json(self, policy: _Policy, level: int, user: OgUser, schedule: Schedule | None,
                     start: datetime | None, end: datetime | None, include: set[str], zone: tzinfo) -> dict[str, Any]:
        sched: dict[str, Any] | None = None
        if schedule is not None:
            sched = (self._schedule_json(schedule, set(), None, zone, False) if "schedules" in include
                     else self._schedule_ref(schedule))
        return {
            "user": self._user_json(user) if "users" in include else self._user_ref(user),
            "schedule": sched,
            "escalation_policy": (self._policy_json(policy, set(), zone) if "escalation_policies" in include
                                  else self._policy_ref(policy)),
            "escalation_level": level,
            "start": render(start, zone), "end": render(end, zone),
        }

    # --- escalation policies -------------------------------------------------------------------
    def _policies(self) -> list[_Policy]:
        """Every escalation policy (callers hold org.lock): the organisation's, and a stand-in for
        each attached schedule none of them targets; by name."""
        real = [self._escalation_policy(e) for e in self.org.escalations.values()]
        targeted = {t.id for p in real for level in p.levels for t in level.targets if isinstance(t, Schedule)}
        stand_ins = [_Policy(self._policy_id(s), f"{s.name} policy", (_Level(LAST_RULE_DELAY, (s,)),),
                             self._owner_team(s), s.id)
                     for s in self._schedules() if self._attached(s) and s.id not in targeted]
        return sorted(real + stand_ins, key=lambda p: (p.name, p.id))

    def _policies_of(self, schedule: Schedule) -> list[_Policy]:
        return [p for p in self._policies() if any(t is schedule for level in p.levels for t in level.targets)]

    def _escalation_policy(self, escalation: OgEscalation) -> _Policy:
        """An Opsgenie escalation as PagerDuty shows it (REFERENCE.md §0, §3.2). Level i is its
        i-th rule in order of delay (equal delays keep their order); a level waits until the next
        level's delay (Opsgenie counts delays from the start, PagerDuty per level), at least a
        minute, the last ``LAST_RULE_DELAY``. Targets: a schedule; a user; and, as PagerDuty has
        no team targets, a team as its members' ``user_reference``s (``admins``: its admins,
        ``users``: the others; any other notifyType: all of them), the first ``MAX_TARGETS``, as
        one would write the team into a PagerDuty policy. A schedule's ``next``/``previous`` has no
        PagerDuty equivalent: the schedule itself. ``extra_targets`` join their level."""
        def offset(rule: dict[str, Any]) -> float:
            delay = rule.get("delay") or {}
            return float(delay.get("timeAmount", 0)) * _MINUTES.get(str(delay.get("timeUnit", "minutes")), 1.0)

        rules = sorted(escalation.rules, key=offset)
        with self._lock:
            extra = {level: list(found) for (eid, level), found in self.extra_targets.items() if eid == escalation.id}
        levels = []
        for i, rule in enumerate(rules):
            targets = self._targets(rule)
            for recipient in extra.get(i + 1, []):
                targets += self._targets({"notifyType": "default", "recipient": recipient})
            unique: list[OgUser | Schedule] = []
            for t in targets:  # each once (they are not hashable)
                if not any(t is u for u in unique):
                    unique.append(t)
            delay = LAST_RULE_DELAY if i + 1 == len(rules) else max(1, round(offset(rules[i + 1]) - offset(rule)))
            levels.append(_Level(delay, tuple(unique[:MAX_TARGETS])))
        team = self.org.teams.get(escalation.owner_team) if escalation.owner_team else None
        return _Policy(self._escalation_pd_id(escalation), escalation.name, tuple(levels), team, escalation.id,
                       escalation.description)

    def _targets(self, rule: dict[str, Any]) -> list[OgUser | Schedule]:
        r = rule.get("recipient") or {}
        if r.get("type") == "schedule":
            schedule = self.org.schedules.get(str(r.get("id"))) or next(
                (s for s in self.org.schedules.values() if s.name == r.get("name")), None)
            return [schedule] if schedule is not None else []
        if r.get("type") == "user":
            user = self.org.user(str(r.get("id") or "")) or self.org.user(str(r.get("username") or ""))
            return [user] if user is not None else []
        if r.get("type") == "team":
            team = self.org.teams.get(str(r.get("id"))) or next(
                (t for t in self.org.teams.values() if t.name == r.get("name")), None)
            if team is None:
                return []
            notify = rule.get("notifyType")
            names = (team.admins if notify == "admins" else [m for m in team.members if m not in team.admins]
                     if notify == "users" else team.members)
            users = self._users_by_name()
            return [users[n] for n in names if n in users]
        return []

    def _find_policy(self, ident: str) -> _Policy | None:
        return next((p for p in self._policies() if p.id == ident), None)

    def _list_policies(self, req: Request) -> Response:
        include = self._includes(req, _POLICY_INCLUDES)
        sort = (req.query.get("sort_by") or "name").strip()
        if sort not in _POLICY_SORTS:
            raise _bad_input(f"sort_by must be one of {sorted(_POLICY_SORTS)}, not {sort!r}")
        query = (req.query.get("query") or "").strip().lower()
        users, teams = set(req.args("user_ids[]")), set(req.args("team_ids[]"))
        zone = zone_param(None, ACCOUNT_TIME_ZONE)
        with self.org.lock:
            matching = [p for p in self._policies() if query in p.name.lower()
                        and (not teams or (p.team is not None and pd_id("team", p.team.id) in teams))
                        and (not users or users & {self.user_id(t.username) for level in p.levels
                                                   for t in level.targets if isinstance(t, OgUser)})]
            matching.sort(key=lambda p: (p.name.lower(), p.id), reverse=_POLICY_SORTS[sort])
            page, meta = self._page(req, matching)
            body = [self._policy_json(p, include, zone) for p in page]
        return Response(200, {"escalation_policies": body, **meta})

    def _get_policy(self, req: Request, ident: str) -> Response:
        include = self._includes(req, _POLICY_INCLUDES)
        with self.org.lock:
            policy = self._find_policy(ident)
            if policy is None:
                raise ApiError(404)
            return Response(200, {"escalation_policy": self._policy_json(policy, include,
                                                                         zone_param(None, ACCOUNT_TIME_ZONE))})

    # --- schedules -------------------------------------------------------------------------------
    def _list_schedules(self, req: Request) -> Response:
        include = self._includes(req, _SCHEDULE_INCLUDES)
        query = (req.query.get("query") or "").strip().lower()
        teams = set(req.args("team_ids[]"))
        rendered = self._render_range(req)
        zone = zone_param(req.query.get("time_zone"), ACCOUNT_TIME_ZONE)  # the list: the account's by default
        next_for = req.query.get("include_next_oncall_for_user")
        with self.org.lock:
            matching = [s for s in self._schedules() if query in s.name.lower()
                        and (not teams or {t["id"] for t in self._owner_teams(s)} & teams)]
            page, meta = self._page(req, matching)
            body = [self._schedule_json(s, include, rendered, zone, False) for s in page]
            if next_for:
                for schedule, data in zip(page, body):
                    data["next_oncall_for_user"] = self._next_oncall(schedule, next_for, zone)
        return Response(200, {"schedules": body, **meta})

    def _get_schedule(self, req: Request, schedule: Schedule) -> Response:
        rendered = self._render_range(req)
        zone = zone_param(req.query.get("time_zone"), schedule.timezone)
        data = self._schedule_json(schedule, _SCHEDULE_INCLUDES, rendered, zone, self._flag(req, "overflow"))
        if req.query.get("include_next_oncall_for_user"):
            data["next_oncall_for_user"] = self._next_oncall(schedule, req.query["include_next_oncall_for_user"], zone)
        return Response(200, {"schedule": data})

    def _next_oncall(self, schedule: Schedule, user_pd_id: str, zone: tzinfo) -> dict[str, Any]:
        """The user's current or next shift in the schedule (within the horizon)."""
        user = self._users_by_id().get(user_pd_id)
        if user is None:
            raise _bad_input(f"include_next_oncall_for_user: no user with id {user_pd_id!r}")
        now = self.clock.now()
        found = [s for s in shifts(self._final_who(schedule), self._schedule_edges(schedule), now,
                                   now + SHIFT_HORIZON, timedelta(0))
                 if s.username == user.username]
        ref = {"id": self.user_id(user.username), "type": "user_reference"}
        if not found:
            return {"start": None, "end": None, "user": ref}
        return {"start": render(found[0].start or now, zone), "end": render(found[0].end, zone), "user": ref}

    def _schedule_users(self, req: Request, schedule: Schedule) -> Response:
        since, until = self._range(req)
        users = self._users_by_name()
        names = users_between(self._final_who(schedule), self._schedule_edges(schedule), since, until)
        return Response(200, {"users": [self._user_json(users[n]) for n in names]})

    # --- overrides -----------------------------------------------------------------------------
    def _list_overrides(self, req: Request, schedule: Schedule) -> Response:
        since, until = self._range(req, required=True)
        editable, overflow = self._flag(req, "editable"), self._flag(req, "overflow")
        zone = zone_param(None, ACCOUNT_TIME_ZONE)
        now = self.clock.now()
        out = []
        for override, user in self._user_overrides(schedule):
            if not _overlaps(override.start_date, override.end_date, since, until):
                continue
            if editable:  # "only future overrides are editable"; "the result will only include the id"
                if override.start_date > now:
                    out.append({"id": self._override_id(override)})
                continue
            out.append(self._override_json(override, user, zone, None if overflow else (since, until)))
        return Response(201, {"overrides": out})  # 201, as the API documents it

    def _create_overrides(self, req: Request, schedule: Schedule) -> Response:
        body = req.json if isinstance(req.json, dict) else None
        if body is not None and isinstance(body.get("override"), dict) and "overrides" not in body:
            result = self._create_override(schedule, body["override"])  # the older, deprecated single form
            if result["status"] != 201:
                raise _bad_input(*result["errors"])
            return Response(201, {"override": result["override"]})
        if body is None or not isinstance(body.get("overrides"), list) or not body["overrides"]:
            raise _bad_input('The body must be JSON: {"overrides": [{"start", "end", "user"}, ...]}')
        return Response(201, [self._create_override(schedule, item) for item in body["overrides"]])

    def _create_override(self, schedule: Schedule, item: Any) -> dict[str, Any]:
        """One requested override: created (status 201) or refused (400, with errors)."""
        if not isinstance(item, dict):
            return {"status": 400, "errors": ["An override must be an object"], "override": {}}
        echo = {k: item[k] for k in ("start", "end", "user") if k in item}
        errors: list[str] = []
        zone: tzinfo | None = None
        if item.get("time_zone") is not None:
            try:
                zone = zone_param(str(item["time_zone"]), ACCOUNT_TIME_ZONE)
            except ApiError:
                errors.append(f"Unknown time_zone {item['time_zone']!r}")
        bounds: list[datetime] = []
        for key in ("start", "end"):
            if not isinstance(item.get(key), str):
                errors.append(f"Override {key} is required")
                continue
            try:
                bounds.append(parse_date(item[key], key, zone))
            except ApiError:
                errors.append(f"Override {key} is not a valid ISO 8601 date-time")
        ref = item.get("user")
        user = self._users_by_id().get(str(ref.get("id"))) if isinstance(ref, dict) else None
        if user is None:
            errors.append("Override user must be a reference to an existing user")
        elif isinstance(ref, dict) and ref.get("type") not in (None, "user", "user_reference"):
            errors.append("Override user must be a user_reference")
        if len(bounds) == 2 and bounds[1] <= bounds[0]:
            errors.append("Override must end after its start")
        if errors or user is None:
            if user is not None:
                echo["user"] = self._user_ref(user)
            return {"status": 400, "errors": errors, "override": echo}
        override = Override(alias=str(uuid.uuid4()), user={"type": "user", "id": user.id, "username": user.username},
                            start_date=bounds[0], end_date=bounds[1], rotations=[])
        with self.org.lock:
            schedule.overrides.insert(0, override)  # the last created has priority: the engine takes the first
        return {"status": 201, "override": self._override_json(override, user, zone_param(None, ACCOUNT_TIME_ZONE))}

    def _delete_override(self, schedule: Schedule, override_id: str) -> Response:
        """As ``deleteScheduleOverride`` documents it: "You cannot remove a past override"; one
        under way (its start before now, its end after) "will be truncated to the current time",
        answered 200 rather than the 204 of a delete. The 200 is documented without a body, so none
        is sent; the refusal of a past override is documented with no status: 400 (ArgumentError)
        here, which is unverified."""
        match = next((o for o in schedule.overrides if self._override_id(o) == override_id), None)
        if match is None:
            raise ApiError(404)
        now = self.clock.now()
        if match.end_date <= now:
            raise _bad_input("You cannot remove a past override.")
        if match.start_date < now:
            match.end_date = now
            return Response(200, b"")
        schedule.overrides.remove(match)
        return Response(204, b"")

    # --- users -----------------------------------------------------------------------------------
    def _list_users(self, req: Request) -> Response:
        self._includes(req, _USER_INCLUDES - {"calendar_urls"})
        query = (req.query.get("query") or "").strip().lower()
        teams = set(req.args("team_ids[]"))
        with self.org.lock:
            users = sorted(self.org.users.values(), key=lambda u: (u.full_name.lower(), u.username))
            matching = [u for u in users if (query in u.full_name.lower() or query in u.username.lower())]
            if teams:
                member_of = {n for t in self.org.teams.values() if pd_id("team", t.id) in teams for n in t.members}
                matching = [u for u in matching if u.username in member_of]
            page, meta = self._page(req, matching)
            body = [self._user_json(u) for u in page]
        return Response(200, {"users": body, **meta})

    def _get_user(self, req: Request, ident: str) -> Response:
        include = self._includes(req, _USER_INCLUDES)
        with self.org.lock:
            user = self._users_by_id().get(ident)
            if user is None:
                raise ApiError(404)
            return Response(200, {"user": self._user_json(user, calendar_urls="calendar_urls" in include)})
