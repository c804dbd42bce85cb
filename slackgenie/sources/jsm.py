"""JSM Operations (Opsgenie's successor in Jira Service Management) as an on-call source.

The wire, as Atlassian documents it: Basic auth (``JSM_EMAIL`` : ``JSM_API_TOKEN``); the Ops API
at ``{JSM_API_URL}/jsm/ops/api/{cloudId}/v1`` with no envelope; the cloud id from
``{JSM_SITE_URL}/_edge/tenant_info`` unless ``JSM_CLOUD_ID`` gives it; schedules addressed by id
only (names are looked up in the paged schedule list, ``size`` ≤ 50, ``links.next``); on-call
answers are Atlassian account ids (``onCallUsers`` with ``flat=true``), turned into e-mails with
Jira's ``/rest/api/3/user/bulk`` on the site (explicit ``maxResults``: its default of 10 would
silently drop the rest), cached. Where profile privacy hides an e-mail, the account id is the
person, and the plan asks for a ``users:`` mapping.

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

from slackgenie.clock import Clock
from slackgenie.config import Config, ConfigError, required_secret, url_var
from slackgenie.handoffs import ShiftForecast
from slackgenie.model import OnCall, ReadFailure, ScheduleInfo
from slackgenie.retry import ApiObserver, RetryPolicy
from slackgenie.shifts import Stretch, stretches
from slackgenie.sources.base import ProviderSpec
from slackgenie.sources.http import ApiClient, Dialect, Kept, SourceError, SourceNotFound, first_error, is_email

log = structlog.get_logger("slackgenie.jsm")

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
PAGE = 50  # the largest page the schedule list gives
USERS_PAGE = 50  # account ids per /user/bulk request
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
    model_config = ConfigDict(extra="ignore")
    values: list[_User]
    isLast: StrictBool | None = None


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

    def users(self, account_ids: Sequence[str]) -> list[_User]:
        """Jira users by account id, ``USERS_PAGE`` per request."""
        out: list[_User] = []
        for i in range(0, len(account_ids), USERS_PAGE):
            batch = account_ids[i:i + USERS_PAGE]
            params = [("accountId", a) for a in batch] + [("maxResults", str(len(batch))), ("startAt", "0")]
            raw = self.site.get("bulkGetUsers", "/rest/api/3/user/bulk", params)
            try:
                page = _UserPage.model_validate(raw)
            except ValidationError as exc:
                raise SourceError(f"Jira user API: the answer is malformed at {first_error(exc)}") from None
            out += page.values
        return out


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
    try:
        value = parse_qs(urlsplit(link).query).get("offset")
        return int(value[0]) if value else fallback
    except (ValueError, TypeError):
        return fallback


class JsmSource:
    provider = "jsm"

    def __init__(self, client: JsmClient, concurrency: int = 8, recheck: float = 300.0,
                 now: Callable[[], datetime] | None = None, monotonic: Callable[[], float] = time.monotonic):
        self.client = client
        self.concurrency = concurrency
        self.recheck = recheck
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._monotonic = monotonic  # the clock of answers' ages (simulated in benchmarks)
        self._lock = threading.Lock()
        self._catalog = Kept(client.schedules, CATALOG_AGE)  # names -> ids
        self._people: dict[str, tuple[float, _User]] = {}  # account id -> (read at, Jira's user)
        self._answers: dict[str, tuple[datetime, float, OnCall]] = {}  # ref -> (read at, monotonic, answer)
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
                    and self.forecast.unchanged_since(ref, cached[0], now)):
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
                if user.emailAddress is None:
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
                    email = (people[r.id].emailAddress or "").strip()
                    who = email.lower() if is_email(email) else r.id
                pieces.append((_utc(p.startDate), _utc(p.endDate), who))
            else:
                out[ref] = stretches(pieces, start, end)
        return out

    def next_handoff(self, refs: Sequence[str], after: datetime) -> datetime | None:
        return self.forecast.next_handoff(refs, after)

    def observe(self, reads: Mapping[str, OnCall | ReadFailure], at: datetime) -> None:
        self.forecast.observe(reads, at)

    def close(self) -> None:
        self.client.close()


def build(secrets: JsmSecrets, config: Config, clock: Clock, observer: ApiObserver | None) -> JsmSource:
    return JsmSource(JsmClient(secrets, config.file.retry, observer=observer), config.file.concurrency,
                     config.file.jsm.recheck, clock.now, clock.monotonic)


SPEC = ProviderSpec("jsm", load, build, credentials="JSM_EMAIL and JSM_API_TOKEN",
                    urls="JSM_SITE_URL (https://<site>.atlassian.net), JSM_API_URL and JSM_CLOUD_ID")
