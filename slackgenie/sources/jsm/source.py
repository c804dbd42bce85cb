"""JSM Operations (Opsgenie's successor in Jira Service Management) as an on-call source.

The wire, as Atlassian documents it: Basic auth (``JSM_EMAIL`` : ``JSM_API_TOKEN``); the Ops API
at ``{JSM_API_URL}/jsm/ops/api/{cloudId}/v1`` with no envelope; the cloud id from
``{JSM_SITE_URL}/_edge/tenant_info`` unless ``JSM_CLOUD_ID`` gives it; schedules addressed by id
only (names are looked up in the paged schedule list, ``size`` ≤ 50, ``links.next``); on-call
answers are Atlassian account ids (``onCallUsers`` with ``flat=true``), turned into e-mails with
Jira's ``/rest/api/3/user/bulk`` on the site (explicit ``maxResults``: its default of 10 would
silently drop the rest; a server may still answer fewer, with ``isLast: false`` and ``nextPage``,
so the pages are followed to the end), cached. An account id that ``users:`` maps is the person
whatever its e-mail (the mapping is the operator's word, the e-mail only Jira's); where profile
privacy hides an e-mail, the account id is the person, and the plan asks for a ``users:`` mapping.

JSM Ops has no all-schedules on-call answer, so a pass reads only the schedules it needs,
concurrently within ``concurrency``; and a schedule whose answer was read less than
``jsm.recheck`` seconds ago, whose timeline foresees no handoff since, is not read again.
Handoffs come from each schedule's timeline (one read per schedule per 6 hours, overrides
included), so the daemon wakes at each one.
"""

from __future__ import annotations

import base64
import re
import threading
from dataclasses import dataclass
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictBool, StringConstraints, ValidationError

from slackgenie.core.clock import Clock
from slackgenie.settings import Config, ConfigError, required_secret, url_var
from slackgenie.sources.forecast import ShiftForecast
from slackgenie.core.model import OnCall, ReadFailure, ScheduleInfo
from slackgenie.retry import ApiObserver, RetryPolicy
from slackgenie.core.shifts import Stretch, stretches
from slackgenie.sources.base import Override, ProviderSpec
from slackgenie.sources.http import (ApiClient, Dialect, Kept, SourceAuthError, SourceError, SourceNotFound, first_error,
                                     is_email)

log = structlog.get_logger("slackgenie.jsm")

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
PAGE = 50  # the largest page the schedule list gives
USERS_PAGE = 50  # account ids per /user/bulk request
DELETE_SCOPE = "delete:ops-config:jira-service-management"  # deleting an override (account API tokens lack it)
MAX_PAGES = 200  # 10,000 schedules: beyond it, a list that never ends is an error
CATALOG_AGE = 3600.0  # seconds the schedule list (names -> ids) is kept
PEOPLE_AGE = 86400.0  # seconds an account's e-mail is kept


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

DEFAULT_API_URL = "https://api.atlassian.com"


@dataclass(frozen=True)
class JsmSecrets:
    site_url: str  # https://acme.atlassian.net: Jira's user API, and the cloud id
    email: str
    api_token: SecretStr
    api_url: str  # https://api.atlassian.com: the JSM Ops API
    cloud_id: str | None = None  # otherwise read from {site_url}/_edge/tenant_info

    def basic(self) -> str:
        """The Basic credential as it travels (base64): a secret too, wherever it is echoed."""
        return base64.b64encode(f"{self.email}:{self.api_token.get_secret_value()}".encode()).decode()

    def values(self) -> list[str]:
        return [self.api_token.get_secret_value(), self.basic()]


def load(env: Mapping[str, str]) -> JsmSecrets:
    site = (env.get("JSM_SITE_URL") or "").strip()
    if not site:
        raise ConfigError("environment", "JSM_SITE_URL", "is not set",
                          "set JSM_SITE_URL to your Atlassian site, e.g. https://acme.atlassian.net")
    site = url_var(env, "JSM_SITE_URL", "https://acme.atlassian.net").rstrip("/")
    parts = urlsplit(site)
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ConfigError("environment", "JSM_SITE_URL", "has a path: it must name the site alone",
                          "set JSM_SITE_URL to the site's root, e.g. https://acme.atlassian.net")
    email = (env.get("JSM_EMAIL") or "").strip()
    if not re.match(r"^[^@\s:]+@[^@\s:]+$", email):
        raise ConfigError("environment", "JSM_EMAIL", "is not set" if not email else "is not an e-mail address",
                          "set JSM_EMAIL to the e-mail of the Atlassian account that owns JSM_API_TOKEN")
    token = required_secret(env, "JSM_API_TOKEN", "an Atlassian API token of that account (id.atlassian.com → API tokens)")
    cloud_id = (env.get("JSM_CLOUD_ID") or "").strip() or None
    if cloud_id is not None and not UUID_RE.match(cloud_id):
        raise ConfigError("environment", "JSM_CLOUD_ID", "is not a cloud id (a UUID)",
                          "unset it (it is read from the site), or copy the id from admin.atlassian.com")
    return JsmSecrets(site, email, SecretStr(token), url_var(env, "JSM_API_URL", DEFAULT_API_URL).rstrip("/"), cloud_id)


Text = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=512, pattern=r"^[^\x00-\x1f\x7f]+$")]


class _Schedule(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Text
    name: Text
    enabled: StrictBool = True
    teamId: Text | None = None


class _Links(BaseModel):
    model_config = ConfigDict(extra="ignore")
    next: str | None = None


class _SchedulePage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    values: list[Any]  # each schedule is read on its own: one odd entry costs only itself
    links: _Links = Field(default_factory=_Links)


class _FlatOnCalls(BaseModel):
    """``GET /v1/schedules/{id}/on-calls?flat=true``: account ids. The Opsgenie name
    ``onCallRecipients`` is read only when the documented ``onCallUsers`` is absent."""

    model_config = ConfigDict(extra="ignore")
    onCallUsers: list[Text] | None = None
    onCallRecipients: list[Text] | None = None


class _User(BaseModel):
    model_config = ConfigDict(extra="ignore")
    accountId: Text
    emailAddress: str | None = None  # null where the person's privacy settings hide it
    displayName: str | None = None
    active: StrictBool = True


class _UserPage(BaseModel):
    """``PageBeanUser``: a page may hold fewer than ``maxResults`` asked (the server's own cap),
    with ``isLast: false`` and ``nextPage`` (the URL of the next one)."""

    model_config = ConfigDict(extra="ignore")
    values: list[_User]
    isLast: StrictBool | None = None
    nextPage: str | None = None


class _Responder(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    id: str | None = None
    name: str | None = None


class _Period(BaseModel):
    model_config = ConfigDict(extra="ignore")
    startDate: datetime
    endDate: datetime
    responder: _Responder | None = None


class _TimelineRotation(BaseModel):
    model_config = ConfigDict(extra="ignore")
    periods: list[_Period] = Field(default_factory=list)


class _Final(BaseModel):
    model_config = ConfigDict(extra="ignore")
    rotations: list[_TimelineRotation] = Field(default_factory=list)


class _Timeline(BaseModel):
    model_config = ConfigDict(extra="ignore")
    finalTimeline: _Final


class _Participant(BaseModel):
    """A rotation's participant (``ResponderInfo``): ``id`` is null for ``noone``."""

    model_config = ConfigDict(extra="ignore")
    type: Text
    id: Text | None = None


class _Rotation(BaseModel):
    model_config = ConfigDict(extra="ignore")
    participants: list[_Participant] = Field(default_factory=list)


class _ScheduleRotations(BaseModel):
    """A schedule as the list gives it with ``expand=rotation``."""

    model_config = ConfigDict(extra="ignore")
    id: Text
    rotations: list[_Rotation] | None = None


class _Override(BaseModel):
    """``Override``: the alias is the server's (the create request has none)."""

    model_config = ConfigDict(extra="ignore")
    alias: Text
    responder: _Participant
    startDate: datetime
    endDate: datetime


class _Created(BaseModel):
    model_config = ConfigDict(extra="ignore")
    alias: Text


class _OverridePage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    values: list[_Override]
    links: _Links = Field(default_factory=_Links)


class JsmClient:
    """Typed calls over the JSM Ops API and Jira's user API. Thread-safe."""

    def __init__(self, secrets: JsmSecrets, policy: RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None, observer: ApiObserver | None = None):
        auth = httpx.BasicAuth(secrets.email, secrets.api_token.get_secret_value())
        self.site = ApiClient(secrets.site_url, JIRA, {}, policy, transport, observer, auth=auth)
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
                                      self._policy, self._transport, self._observer, auth=self._auth)
            return self._ops

    def _read_cloud_id(self) -> str:
        body = self.site.get("tenantInfo", "/_edge/tenant_info")
        cloud_id = body.get("cloudId") if isinstance(body, dict) else None
        if not isinstance(cloud_id, str) or not UUID_RE.match(cloud_id):
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
        out: list[_Schedule] = []
        offset = 0
        for _ in range(MAX_PAGES):
            raw = self.ops.get("listSchedules", "/schedules", {"size": str(PAGE), "offset": str(offset)})
            try:
                page = _SchedulePage.model_validate(raw)
            except ValidationError as exc:
                raise SourceError(f"JSM Ops: the schedule list is malformed at {first_error(exc)}") from None
            for item in page.values:
                try:
                    out.append(_Schedule.model_validate(item))
                except ValidationError as exc:
                    log.warning("jsm.schedule_unreadable", error=first_error(exc), effect="left out of the list")
            if not page.links.next or not page.values:
                return out
            following = _next_offset(page.links.next, offset + len(page.values))
            if following <= offset:
                raise SourceError("JSM Ops: the schedule list's links.next does not move on")
            offset = following
        raise SourceError(f"JSM Ops: the schedule list did not end within {MAX_PAGES} pages")

    def on_call_ids(self, schedule_id: str, at: datetime | None) -> list[str]:
        params = {"flat": "true", **({"date": _iso(at)} if at else {})}
        raw = self.ops.get("getOnCalls", f"/schedules/{quote(schedule_id, safe='')}/on-calls", params)
        if isinstance(raw, dict) and "data" in raw and "onCallUsers" not in raw:
            raw = raw["data"]  # some Opsgenie-derived endpoints wrap their answer
        try:
            answer = _FlatOnCalls.model_validate(raw)
        except ValidationError as exc:
            raise SourceError(f"JSM Ops: the on-call answer is malformed at {first_error(exc)}") from None
        ids = answer.onCallUsers if answer.onCallUsers is not None else answer.onCallRecipients
        if ids is None:
            raise SourceError("JSM Ops: the on-call answer holds no onCallUsers")
        return ids

    def periods(self, schedule_id: str, start: datetime, days: int) -> list[_Period]:
        """The schedule's final timeline (overrides included) from the day before ``start``."""
        params = {"date": _iso(start - timedelta(days=1)), "interval": str(days + 2), "intervalUnit": "days"}
        raw = self.ops.get("getTimeline", f"/schedules/{quote(schedule_id, safe='')}/timeline", params)
        try:
            timeline = _Timeline.model_validate(raw)
        except ValidationError as exc:
            raise SourceError(f"JSM Ops: the timeline is malformed at {first_error(exc)}") from None
        return [p for r in timeline.finalTimeline.rotations for p in r.periods]

    def timeline(self, schedule_id: str, start: datetime, days: int) -> list[datetime]:
        """Every period boundary of the schedule's final timeline from the day before ``start``."""
        return sorted({_utc(t) for p in self.periods(schedule_id, start, days) for t in (p.startDate, p.endDate)})

    def _paged(self, op: str, path: str, params: Mapping[str, str], what: str) -> list[Any]:
        """Every page's ``values`` (``offset``/``size``; ``links.next`` absent or null on the
        last), at most ``MAX_PAGES`` pages."""
        out: list[Any] = []
        offset = 0
        for _ in range(MAX_PAGES):
            raw = self.ops.get(op, path, {**params, "size": str(PAGE), "offset": str(offset)})
            try:
                page = _SchedulePage.model_validate(raw)
            except ValidationError as exc:
                raise SourceError(f"JSM Ops: {what} is malformed at {first_error(exc)}") from None
            out += page.values
            if not page.links.next or not page.values:
                return out
            following = _next_offset(page.links.next, offset + len(page.values))
            if following <= offset:
                raise SourceError(f"JSM Ops: {what}'s links.next does not move on")
            offset = following
        raise SourceError(f"JSM Ops: {what} did not end within {MAX_PAGES} pages")

    def rotations(self, schedule: _Schedule) -> list[_Rotation] | None:
        """The schedule's rotations, from the schedule list with ``expand=rotation`` (the spec's
        get has no ``expand``): the list narrowed to its name (``query``: exact, case-insensitive),
        then, if the schedule is not there, the whole list. None: the list does not hold it."""
        for params in ({"query": schedule.name, "expand": "rotation"}, {"expand": "rotation"}):
            for item in self._paged("listSchedules", "/schedules", params, "the schedule list"):
                if not isinstance(item, dict) or item.get("id") != schedule.id:
                    continue
                try:
                    found = _ScheduleRotations.model_validate(item)
                except ValidationError as exc:
                    raise SourceError(f"JSM Ops: the schedule's rotations are malformed at {first_error(exc)}") \
                        from None
                if found.rotations is None:
                    raise SourceError("JSM Ops: the schedule list gave no rotations (expand=rotation)")
                return found.rotations
        return None

    def create_override(self, schedule_id: str, account_id: str, start: datetime, end: datetime) -> str:
        """``POST /v1/schedules/{id}/overrides`` of every rotation (no ``rotationIds``), sent once:
        a repeated create makes two overrides. The alias is the server's."""
        body = {"responder": {"type": "user", "id": account_id}, "startDate": _iso(_utc(start)),
                "endDate": _iso(_utc(end))}
        raw = self.ops.call("createOverride", "POST", f"/schedules/{quote(schedule_id, safe='')}/overrides",
                            body=body, retry=False)
        try:
            return _Created.model_validate(raw).alias
        except ValidationError as exc:
            raise SourceError(f"JSM Ops: the create-override answer is malformed at {first_error(exc)}") from None

    def overrides(self, schedule_id: str) -> list[_Override]:
        """The schedule's ongoing and future overrides, page by page."""
        items = self._paged("listOverrides", f"/schedules/{quote(schedule_id, safe='')}/overrides", {},
                            "the override list")
        try:
            return _OverridePage.model_validate({"values": items}).values
        except ValidationError as exc:
            raise SourceError(f"JSM Ops: the override list is malformed at {first_error(exc)}") from None

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
        out: list[_User] = []
        start = 0
        for _ in range(len(batch) + 1):
            params = [("accountId", a) for a in batch] + [("maxResults", str(len(batch))), ("startAt", str(start))]
            raw = self.site.get("bulkGetUsers", "/rest/api/3/user/bulk", params)
            try:
                page = _UserPage.model_validate(raw)
            except ValidationError as exc:
                raise SourceError(f"Jira user API: the answer is malformed at {first_error(exc)}") from None
            out += page.values
            last = page.isLast if page.isLast is not None else not page.nextPage
            if last or not page.values:  # an empty page ends it: what it left out is not known
                return out
            following = _query_int(page.nextPage, "startAt", start + len(page.values))
            if following <= start:
                raise SourceError("Jira user API: user/bulk's nextPage does not move on")
            start = following
        raise SourceError(f"Jira user API: user/bulk did not end within {len(batch) + 1} pages")


def _match(ref: str, schedules: list[_Schedule]) -> _Schedule | ReadFailure | None:
    by_id = [s for s in schedules if s.id == ref]
    if by_id:
        return by_id[0]
    by_name = [s for s in schedules if s.name == ref]
    if len(by_name) > 1:
        return ReadFailure(ref, f"JSM Ops has {len(by_name)} schedules named {ref!r}: name it by id")
    return by_name[0] if by_name else None


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _next_offset(link: str, fallback: int) -> int:
    """The offset named by ``links.next`` (relative or absolute alike)."""
    return _query_int(link, "offset", fallback)


def _query_int(link: str | None, name: str, fallback: int) -> int:
    """The integer a link's query names (``offset``, ``startAt``); ``fallback`` where it names none.
    Only the number is taken: the request goes to the same host as before, never to the link."""
    try:
        value = parse_qs(urlsplit(link or "").query).get(name)
        return int(value[0]) if value else fallback
    except (ValueError, TypeError):
        return fallback


class JsmSource:
    provider = "jsm"

    def __init__(self, client: JsmClient, concurrency: int = 8, recheck: float = 300.0,
                 now: Callable[[], datetime] | None = None, monotonic: Callable[[], float] = time.monotonic,
                 mapped: Iterable[str] = ()):
        self.client = client
        # the ``users:`` keys, by lower case: an account id among them is that person, before its e-mail
        self._mapped = {key.strip().lower(): key.strip() for key in mapped}
        self.concurrency = concurrency
        self.recheck = recheck
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._monotonic = monotonic  # the clock of answers' ages (simulated in benchmarks)
        self._lock = threading.Lock()
        self._catalog = Kept(client.schedules, CATALOG_AGE)  # names -> ids
        self._people: dict[str, tuple[float, _User]] = {}  # account id -> (read at, Jira's user)
        self._answers: dict[str, tuple[datetime, float, OnCall]] = {}  # ref -> (read at, monotonic, answer)
        # schedule id -> the starts and ends of overrides written here, which the forecast read
        # before them does not foresee: no answer is kept across one, and the daemon wakes at each
        self._written: dict[str, set[datetime]] = {}
        self.forecast = ShiftForecast(self._boundaries, self._now)

    # --- names and ids ---------------------------------------------------------------------
    def _find(self, ref: str) -> _Schedule | ReadFailure:
        """The schedule a reference names (an id, or an exact name), from the cached list; a
        name not in it is looked for again in a fresh list, at most once a minute."""
        try:
            found = _match(ref, self._catalog.get())
            if found is None:  # a schedule created since: look again, in a list at most a minute old
                found = _match(ref, self._catalog.get(refresh_if_older=60))
        except SourceError as exc:
            return ReadFailure(ref, str(exc))
        return found or ReadFailure(ref, "no such schedule in JSM Ops (check the name or id; the API user must "
                                         "be able to see it)")

    def catalog(self) -> list[ScheduleInfo]:
        return [ScheduleInfo(s.id, s.name, None, s.enabled) for s in self._catalog.get()]

    # --- who is on call ----------------------------------------------------------------------
    def on_calls(self, refs: Sequence[str], at: datetime | None = None) -> dict[str, OnCall | ReadFailure]:
        wanted = list(dict.fromkeys(refs))
        now = self._now()
        results: dict[str, OnCall | ReadFailure] = {}
        to_read: list[str] = []
        for ref in wanted:
            with self._lock:
                cached = self._answers.get(ref)
            if (at is None and cached is not None and self._monotonic() - cached[1] < self.recheck
                    and self.forecast.unchanged_since(ref, cached[0], now)
                    and not self._written_within(cached[2].schedule_id, cached[0], now)):
                results[ref] = cached[2]
            else:
                to_read.append(ref)
        if not to_read:
            return results
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="jsm") as pool:
            ids = dict(zip(to_read, pool.map(lambda r: self._read_ids(r, at), to_read)))
        people = self._people_for({a for v in ids.values() if isinstance(v, tuple) for a in v[1]
                                   if not is_email(a)})
        for ref, got in ids.items():
            if isinstance(got, ReadFailure):
                results[ref] = got
                continue
            schedule, accounts = got
            known: dict[str, _User] = {}
            if accounts and isinstance(people, ReadFailure):
                results[ref] = ReadFailure(ref, people.error)
                continue
            if isinstance(people, dict):
                known = people
            usernames: set[str] = set()
            unmapped: list[tuple[str, str]] = []
            bad: str | None = None
            for account in accounts:
                if is_email(account):  # the legacy onCallRecipients shape: already an e-mail
                    usernames.add(account.lower())
                    continue
                user = known[account]
                if (mapped := self._mapped.get(account.lower())) is not None:
                    usernames.add(mapped)  # users: maps the account: its e-mail is not asked
                elif user.emailAddress is None:
                    usernames.add(account)
                    who = f"Atlassian account {account}" + (f" ({user.displayName})" if user.displayName else "")
                    unmapped.append((account, f"{who} does not show its e-mail (profile privacy)"))
                elif is_email(user.emailAddress.strip()):
                    usernames.add(user.emailAddress.strip().lower())
                else:
                    bad = f"Jira's user API gave account {account} an e-mail that is not one"
            if bad:
                results[ref] = ReadFailure(ref, bad)
                continue
            answer = OnCall(ref, schedule.id, schedule.name, frozenset(usernames), schedule.enabled, tuple(unmapped))
            results[ref] = answer
            if at is None:
                with self._lock:
                    self._answers[ref] = (now, self._monotonic(), answer)
        return results

    def _read_ids(self, ref: str, at: datetime | None) -> tuple[_Schedule, list[str]] | ReadFailure:
        found = self._find(ref)
        if isinstance(found, ReadFailure):
            return found
        try:
            return found, self.client.on_call_ids(found.id, at)
        except SourceNotFound:
            return ReadFailure(ref, "no such schedule in JSM Ops (check the name or id)")
        except SourceError as exc:
            return ReadFailure(ref, str(exc))
        except Exception as exc:  # a malformed answer is a failed read, never "nobody"
            return ReadFailure(ref, f"unexpected answer: {type(exc).__name__}")

    def _people_for(self, accounts: Iterable[str]) -> dict[str, _User] | ReadFailure:
        """Each account's Jira user, from the cache or in bulk. A failed lookup fails the read,
        and so does an account the answer leaves out (``user/bulk`` drops what it does not
        return, silently): a person whose e-mail could not be fetched is neither 'nobody' nor
        someone to drop. Only answers are cached, never an absence."""
        now = time.monotonic()
        with self._lock:
            known = {a: v[1] for a in accounts if (v := self._people.get(a)) and now - v[0] < PEOPLE_AGE}
        missing = sorted(set(accounts) - set(known))
        if missing:
            try:
                found = {u.accountId: u for u in self.client.users(missing)}
            except SourceError as exc:
                return ReadFailure("people", f"could not look up who the on-call accounts are: {exc}")
            absent = [a for a in missing if a not in found]
            if absent:
                return ReadFailure("people", f"Jira's user API did not return account(s) {', '.join(absent[:3])}"
                                             f"{' …' if len(absent) > 3 else ''}: who is on call is not known")
            with self._lock:
                for account in missing:
                    self._people[account] = (now, found[account])
                    known[account] = found[account]
        return known

    # --- handoffs ------------------------------------------------------------------------------
    def _boundaries(self, refs: list[str], start: datetime, end: datetime) -> Mapping[str, list[datetime]]:
        days = max(1, int((end - start).total_seconds() // 86400) + 1)

        def one(ref: str) -> list[datetime] | None:
            found = self._find(ref)
            if isinstance(found, ReadFailure):
                return None
            try:
                return self.client.timeline(found.id, start, days)
            except SourceError as exc:
                log.warning("jsm.timeline_failed", schedule=ref, error=str(exc))
                return None

        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="jsm-timeline") as pool:
            got = dict(zip(refs, pool.map(one, refs)))
        return {ref: edges for ref, edges in got.items() if edges is not None}

    def stretches(self, refs: Sequence[str], start: datetime,
                  end: datetime) -> dict[str, list[Stretch] | ReadFailure]:
        """From each schedule's final timeline; users' account ids become e-mails as in
        ``on_calls`` (a hidden e-mail: the account id). A user who cannot be looked up fails it."""
        days = max(1, int((end - start).total_seconds() // 86400) + 1)

        def one(ref: str) -> list[_Period] | ReadFailure:
            found = self._find(ref)
            if isinstance(found, ReadFailure):
                return found
            try:
                return self.client.periods(found.id, start, days)
            except SourceError as exc:
                return ReadFailure(ref, str(exc))

        wanted = list(dict.fromkeys(refs))
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="jsm-coverage") as pool:
            read = dict(zip(wanted, pool.map(one, wanted)))
        accounts = {p.responder.id for got in read.values() if not isinstance(got, ReadFailure) for p in got
                    if p.responder is not None and p.responder.type == "user" and p.responder.id}
        people = self._people_for(accounts) if accounts else {}
        out: dict[str, list[Stretch] | ReadFailure] = {}
        for ref, got in read.items():
            if isinstance(got, ReadFailure):
                out[ref] = got
                continue
            pieces: list[tuple[datetime, datetime, str | None]] = []
            for p in got:
                r = p.responder
                if r is not None and r.type == "noone":
                    continue
                who: str | None
                if r is None or r.type != "user":  # a team or an escalation: someone, not a person
                    who = (r.name or r.id or r.type) if r is not None else "someone"
                elif isinstance(people, ReadFailure) or not r.id:
                    out[ref] = ReadFailure(ref, people.error if isinstance(people, ReadFailure)
                                           else "a timeline period names a user without an id")
                    break
                else:
                    who = self._identity(r.id, people[r.id])
                pieces.append((_utc(p.startDate), _utc(p.endDate), who))
            else:
                out[ref] = stretches(pieces, start, end)
        return out

    # --- taking a shift from Slack: overrides ---------------------------------------------------
    def members(self, ref: str) -> dict[str, str] | ReadFailure:
        """The users in the schedule's rotations (the schedule list with ``expand=rotation``):
        the identity ``on_calls`` gives (the lower-cased e-mail; the account id where Jira hides
        it) -> the Atlassian account id. Teams and escalations are not persons: left out."""
        found = self._find(ref)
        if isinstance(found, ReadFailure):
            return found
        try:
            rotations = self.client.rotations(found)
        except SourceError as exc:
            return ReadFailure(ref, str(exc))
        if rotations is None:
            return ReadFailure(ref, "no such schedule in JSM Ops (check the name or id)")
        accounts = list(dict.fromkeys(p.id for r in rotations for p in r.participants if p.type == "user" and p.id))
        people = self._people_for(accounts) if accounts else {}
        if isinstance(people, ReadFailure):
            return ReadFailure(ref, people.error)
        out: dict[str, str] = {}
        for account in accounts:
            out.setdefault(self._identity(account, people[account]), account)
        return out

    def _identity(self, account: str, user: _User) -> str:
        """Who an account is, as ``on_calls`` names them: its ``users:`` key where that maps it
        (before its e-mail, which may be another Slack account's), else its lower-cased e-mail,
        else (hidden or not an e-mail) the account id."""
        mapped = self._mapped.get(account.lower())
        if mapped is not None:
            return mapped
        email = (user.emailAddress or "").strip()
        return email.lower() if is_email(email) else account

    def _schedule_id(self, ref: str) -> str:
        found = self._find(ref)
        if isinstance(found, ReadFailure):
            raise SourceError(f"JSM Ops schedule {ref!r}: {found.error}")
        return found.id

    def create_override(self, ref: str, user_id: str, start: datetime, end: datetime) -> str:
        """An override of every rotation for the account ``user_id``; sent once. Its alias."""
        schedule_id = self._schedule_id(ref)
        try:
            return self.client.create_override(schedule_id, user_id, start, end)
        finally:  # even on a failure: a lost answer may hide an override made
            self._wrote(schedule_id, (start, end))

    def overrides_of(self, ref: str, user_id: str, now: datetime) -> list[Override]:
        """The account's overrides in the schedule that end after ``now``, in order of start."""
        listed = self.client.overrides(self._schedule_id(ref))
        mine = [Override(o.alias, user_id, _utc(o.startDate), _utc(o.endDate)) for o in listed
                if o.responder.type == "user" and o.responder.id == user_id and _utc(o.endDate) > _utc(now)]
        return sorted(mine, key=lambda o: (o.start, o.end, o.id))

    def delete_override(self, ref: str, override_id: str) -> None:
        """Delete one override; one already gone (a retry after a lost answer) counts as done."""
        schedule_id = self._schedule_id(ref)
        try:
            self.client.delete_override(schedule_id, override_id)
        except SourceNotFound:
            log.info("jsm.override_already_gone", schedule=ref, alias=override_id)
        finally:
            self._wrote(schedule_id)

    def _written_within(self, schedule_id: str, since: datetime, now: datetime) -> bool:
        with self._lock:
            return any(since < t <= now for t in self._written.get(schedule_id, ()))

    def _wrote(self, schedule_id: str, edges: Iterable[datetime] = ()) -> None:
        """After an override is written: no kept answer of the schedule holds any more, and its
        edges are handoffs the forecast (read before it) does not know. Edges long past are let go."""
        horizon = self._now() - timedelta(days=1)
        with self._lock:
            for ref in [r for r, (_, _, answer) in self._answers.items() if answer.schedule_id == schedule_id]:
                del self._answers[ref]
            kept = {t for t in self._written.get(schedule_id, set()) | {_utc(e) for e in edges} if t > horizon}
            if kept:
                self._written[schedule_id] = kept
            else:
                self._written.pop(schedule_id, None)

    def next_handoff(self, refs: Sequence[str], after: datetime) -> datetime | None:
        foreseen = self.forecast.next_handoff(refs, after)
        with self._lock:
            if not self._written:
                return foreseen
        ids = {found.id for ref in refs if not isinstance(found := self._find(ref), ReadFailure)}
        with self._lock:
            written = [t for i in ids for t in self._written.get(i, ()) if t > after]
        return min([t for t in (foreseen, *written) if t is not None], default=None)

    def observe(self, reads: Mapping[str, OnCall | ReadFailure], at: datetime) -> None:
        self.forecast.observe(reads, at)

    def close(self) -> None:
        self.client.close()


def build(secrets: JsmSecrets, config: Config, clock: Clock, observer: ApiObserver | None) -> JsmSource:
    return JsmSource(JsmClient(secrets, config.file.retry, observer=observer), config.file.concurrency,
                     config.file.jsm.recheck, clock.now, clock.monotonic, mapped=config.file.users)


SPEC = ProviderSpec("jsm", load, build, credentials="JSM_EMAIL and JSM_API_TOKEN",
                    urls="JSM_SITE_URL (https://<site>.atlassian.net), JSM_API_URL and JSM_CLOUD_ID")
