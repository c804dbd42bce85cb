"""PagerDuty as an on-call source (REST API v2).

The wire, as PagerDuty documents it: ``Authorization: Token token=…`` and the versioned
``Accept`` header; ``GET /oncalls`` with ``schedule_ids[]`` (a hundred per request) and
``include[]=users`` answers who is on call in every configured schedule with their e-mails, in
offset pages (``more``). An entry's ``start``/``end`` are the shift's own bounds, so handoffs
need no rotation maths: the forecast is the same call over the next day, read hourly.

PagerDuty answers one status for a whole ``/oncalls`` request, so one schedule it refuses (a 403
for a schedule of a team the key may not see, a 404 for one deleted since it was listed, a 5xx)
would fail its hundred: such a batch is split in halves and asked again until the schedule at
fault is alone (see ``PagerDutySource._read``).

A person is named by their e-mail, lower-cased, unless ``users:`` has an entry for their
PagerDuty user id: then by that entry's key, which the plan maps (the e-mail may be a shared
address, or none Slack knows). ``on_calls``, ``stretches`` and ``members`` name people alike.

A schedule that no escalation policy uses has no entries in ``/oncalls`` whoever is on call, so
an empty answer is never taken for "nobody" on its own word: it is confirmed with
``GET /schedules/{id}/users`` for that instant (one call per such schedule).
Schedules are named by id or by name (looked up in the paged schedule list, kept an hour).

Taking a shift from Slack: a schedule's members are the users of its (unended) layers, from
``GET /schedules/{id}``, with their e-mails from ``GET /users/{id}`` (kept an hour). Overrides
are created with ``POST /schedules/{id}/overrides`` (one per request, never retried), which
answers 201 with one status per requested override (``status`` 201: created); they are listed
with ``GET /schedules/{id}/overrides`` over the next 90 days (``overflow=true``: their own
bounds, not the range's; not ``editable=true``, which answers ids only) and deleted with
``DELETE /schedules/{id}/overrides/{override_id}`` (PagerDuty truncates one under way to now:
200 rather than 204; either is done, and so is a 404: gone already, and a refusal to remove a past
override that no longer reaches past now: one a retry finds truncated by its own first attempt).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import structlog
from pydantic import (AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, StrictBool, StringConstraints,
                      ValidationError)

from slackgenie.core.clock import Clock
from slackgenie.settings import Config, required_secret, url_var
from slackgenie.sources.forecast import ShiftForecast
from slackgenie.core.model import OnCall, ReadFailure, ScheduleInfo
from slackgenie.retry import STOPPING, ApiObserver, RetryPolicy
from slackgenie.core.shifts import Stretch, stretches
from slackgenie.sources.base import Override, ProviderSpec
from slackgenie.sources.http import ApiClient, Dialect, Kept, SourceError, SourceNotFound, first_error, is_email

log = structlog.get_logger("slackgenie.pagerduty")

BATCH = 100  # schedule ids per /oncalls request
# Calls a failed batch may take to be narrowed down to the schedules at fault: each such
# schedule costs at most two calls per halving, so this finds two among a hundred (2 * 2 * 7).
NARROWING_CALLS = 28
PAGE = 100  # entries per page
MAX_PAGES = 100
CATALOG_AGE = 3600.0
USER_AGE = 3600.0  # how long a user's e-mail is kept (members)
OVERRIDE_SPAN = timedelta(days=90)  # how far ahead overrides_of looks


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

DEFAULT_URL = "https://api.pagerduty.com"


@dataclass(frozen=True)
class PagerDutySecrets:
    api_token: SecretStr
    api_url: str

    def values(self) -> list[str]:
        return [self.api_token.get_secret_value()]


def load(env: Mapping[str, str]) -> PagerDutySecrets:
    token = required_secret(env, "PAGERDUTY_API_TOKEN", "a PagerDuty REST API key (read-only is enough to sync)")
    return PagerDutySecrets(SecretStr(token), url_var(env, "PAGERDUTY_API_URL", DEFAULT_URL).rstrip("/"))


Text = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=512, pattern=r"^[^\x00-\x1f\x7f]+$")]


class _Ref(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Text
    summary: str | None = None


class _User(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Text
    email: str | None = None
    name: str | None = None
    summary: str | None = None


class _Entry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    user: _User
    schedule: _Ref | None = None
    start: datetime | None = None
    end: datetime | None = None


class _OnCallPage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    oncalls: list[Any]  # each entry is read on its own: one odd entry costs only its schedule
    more: StrictBool = False


class _Team(BaseModel):
    model_config = ConfigDict(extra="ignore")
    summary: str | None = None


class _Schedule(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Text
    name: str | None = None
    summary: str | None = None
    teams: list[_Team] = Field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name or self.summary or self.id


class _SchedulePage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    schedules: list[Any]  # each schedule is read on its own: one odd entry costs only itself
    more: StrictBool = False


class _Rendered(BaseModel):
    model_config = ConfigDict(extra="ignore")
    start: datetime
    end: datetime | None = None  # null: does not end
    user: _Ref | None = None


class _Final(BaseModel):
    model_config = ConfigDict(extra="ignore")
    rendered_schedule_entries: list[_Rendered]


class _ScheduleDetail(BaseModel):
    model_config = ConfigDict(extra="ignore")
    final_schedule: _Final


class _ScheduleAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    schedule: _ScheduleDetail


class _Users(BaseModel):
    model_config = ConfigDict(extra="ignore")
    users: list[_User]


class _LayerUser(BaseModel):
    model_config = ConfigDict(extra="ignore")
    user: _Ref


class _Layer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    end: AwareDatetime | None = None  # null: the layer does not end
    users: list[_LayerUser]


class _LayersDetail(BaseModel):
    model_config = ConfigDict(extra="ignore")
    schedule_layers: list[_Layer]


class _LayersAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    schedule: _LayersDetail


class _UserAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    user: _User


class _ListedOverride(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Text
    start: AwareDatetime
    end: AwareDatetime
    user: _Ref


class _OverrideList(BaseModel):
    """``GET /schedules/{id}/overrides``: ``{overrides: [{id, start, end, user}]}``."""

    model_config = ConfigDict(extra="ignore")
    overrides: list[_ListedOverride]


class _CreatedOverride(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Text | None = None  # read-only: present once created


class _CreateStatus(BaseModel):
    """One element of ``POST /schedules/{id}/overrides``'s answer: ``{status, errors?, override}``."""

    model_config = ConfigDict(extra="ignore")
    status: int | None = None  # the HTTP status of this override's creation: 201 created
    errors: list[str] = Field(default_factory=list)
    override: _CreatedOverride


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class PagerDutyClient:
    def __init__(self, secrets: PagerDutySecrets, policy: RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None, observer: ApiObserver | None = None):
        self.api = ApiClient(secrets.api_url, DIALECT,
                             {"Authorization": f"Token token={secrets.api_token.get_secret_value()}",
                              "Accept": "application/vnd.pagerduty+json;version=2"},
                             policy, transport, observer)

    def close(self) -> None:
        self.api.close()

    def on_calls(self, schedule_ids: Sequence[str], since: datetime | None = None, until: datetime | None = None,
                 retry: bool = True) -> list[Any]:
        """Every on-call entry of these schedules (at most ``BATCH``: one request, in pages), now or
        overlapping ``since``..``until``, as sent. ``retry=False``: one attempt per page."""
        if len(schedule_ids) > BATCH:
            raise ValueError(f"at most {BATCH} schedules per /oncalls request, not {len(schedule_ids)}")
        base = [("schedule_ids[]", s) for s in schedule_ids] + [("include[]", "users")]
        if since is not None:
            base += [("since", _iso(since)), ("until", _iso(until or since))]
        out: list[Any] = []
        offset = 0
        previous: list[Any] | None = None
        for _ in range(MAX_PAGES):
            raw = self.api.call("listOnCalls", "GET", "/oncalls",
                                base + [("limit", str(PAGE)), ("offset", str(offset))], retry=retry)
            try:
                page = _OnCallPage.model_validate(raw)
            except ValidationError as exc:
                raise SourceError(f"PagerDuty: the on-call answer is malformed at {first_error(exc)}") from None
            if page.more and not page.oncalls:
                raise SourceError("PagerDuty: an empty page of on-calls says more follow")
            if page.oncalls == previous:
                raise SourceError("PagerDuty: the on-call pages do not move on (offset ignored?)")
            previous = page.oncalls
            out += page.oncalls
            if not page.more:
                return out
            offset += len(page.oncalls)
        raise SourceError(f"PagerDuty: the on-call answer did not end within {MAX_PAGES} pages")

    def schedule_users(self, schedule_id: str, at: datetime, until: datetime | None = None) -> list[_User]:
        """Who the schedule puts on call at ``at`` (or at any time up to ``until``), with e-mails."""
        raw = self.api.get("listScheduleUsers", f"/schedules/{schedule_id}/users",
                           {"since": _iso(at), "until": _iso(until or at)})
        try:
            return _Users.model_validate(raw).users
        except ValidationError as exc:
            raise SourceError(f"PagerDuty: the schedule's users are malformed at {first_error(exc)}") from None

    def final_schedule(self, schedule_id: str, since: datetime, until: datetime) -> list[_Rendered]:
        """The schedule's final layer (overrides included): who is on call, when."""
        raw = self.api.get("getSchedule", f"/schedules/{schedule_id}", {"since": _iso(since), "until": _iso(until)})
        try:
            return _ScheduleAnswer.model_validate(raw).schedule.final_schedule.rendered_schedule_entries
        except ValidationError as exc:
            raise SourceError(f"PagerDuty: the final schedule is malformed at {first_error(exc)}") from None

    def layers(self, schedule_id: str) -> list[_Layer]:
        """The schedule's layers, each with its users (references: ids, no e-mails)."""
        raw = self.api.get("getSchedule", f"/schedules/{_quote(schedule_id)}")
        try:
            return _LayersAnswer.model_validate(raw).schedule.schedule_layers
        except ValidationError as exc:
            raise SourceError(f"PagerDuty: the schedule's layers are malformed at {first_error(exc)}") from None

    def user(self, user_id: str) -> _User:
        raw = self.api.get("getUser", f"/users/{_quote(user_id)}")
        try:
            return _UserAnswer.model_validate(raw).user
        except ValidationError as exc:
            raise SourceError(f"PagerDuty: user {user_id} is malformed at {first_error(exc)}") from None

    def overrides(self, schedule_id: str, since: datetime, until: datetime) -> list[_ListedOverride]:
        """The schedule's overrides that overlap ``since``..``until``, with their own bounds."""
        raw = self.api.get("listScheduleOverrides", f"/schedules/{_quote(schedule_id)}/overrides",
                           {"since": _iso(since), "until": _iso(until), "overflow": "true"})
        try:
            return _OverrideList.model_validate(raw).overrides
        except ValidationError as exc:
            raise SourceError(f"PagerDuty: the schedule's overrides are malformed at {first_error(exc)}") from None

    def create_override(self, schedule_id: str, user_id: str, start: datetime, end: datetime) -> str:
        """One override, sent once (a repeated create would make two); its id."""
        body = {"overrides": [{"start": _iso(start), "end": _iso(end),
                               "user": {"id": user_id, "type": "user_reference"}, "time_zone": "UTC"}]}
        raw = self.api.call("createScheduleOverride", "POST", f"/schedules/{_quote(schedule_id)}/overrides",
                            body=body, retry=False)
        if not isinstance(raw, list) or len(raw) != 1:
            raise SourceError("PagerDuty: the create-override answer is not one status per override asked for")
        try:
            created = _CreateStatus.model_validate(raw[0])
        except ValidationError as exc:
            raise SourceError(f"PagerDuty: the create-override answer is malformed at 0.{first_error(exc)}") from None
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

    def schedules(self) -> list[_Schedule]:
        out: list[_Schedule] = []
        offset = 0
        for _ in range(MAX_PAGES):
            raw = self.api.get("listSchedules", "/schedules", {"limit": str(PAGE), "offset": str(offset)})
            try:
                page = _SchedulePage.model_validate(raw)
            except ValidationError as exc:
                raise SourceError(f"PagerDuty: the schedule list is malformed at {first_error(exc)}") from None
            if page.more and not page.schedules:
                raise SourceError("PagerDuty: an empty page of schedules says more follow")
            for item in page.schedules:
                try:
                    out.append(_Schedule.model_validate(item))
                except ValidationError as exc:
                    log.warning("pagerduty.schedule_unreadable", error=first_error(exc), effect="left out of the list")
            if not page.more:
                return out
            offset += len(page.schedules)
        raise SourceError(f"PagerDuty: the schedule list did not end within {MAX_PAGES} pages")


class PagerDutySource:
    provider = "pagerduty"

    def __init__(self, client: PagerDutyClient, concurrency: int = 8, now: Callable[[], datetime] | None = None,
                 user_map: Mapping[str, str] | None = None, pass_deadline: float = 60.0):
        self.client = client
        self.concurrency = concurrency
        self.pass_deadline = pass_deadline
        # `users:` keys by lower case: one that is a PagerDuty user id names that person, before their e-mail
        self._mapped_keys = {key.strip().lower(): key for key in (user_map or {})}
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._catalog = Kept(client.schedules, CATALOG_AGE)  # names -> ids
        self.forecast = ShiftForecast(self._boundaries, self._now, max_age=timedelta(hours=1))
        self._emails: dict[str, tuple[float, str]] = {}  # user id -> (when read, e-mail as given)
        self._emails_lock = threading.Lock()

    def _resolve(self, refs: Sequence[str]) -> dict[str, _Schedule | ReadFailure]:
        """Each reference's schedule (an id or an exact name), from the cached list; names not in
        it are looked for again in a fresh list, at most once a minute."""
        try:
            found = {ref: _match(ref, self._catalog.get()) for ref in refs}
            if any(v is None for v in found.values()):  # created since: look again, in a list at most a minute old
                fresh = self._catalog.get(refresh_if_older=60)
                found = {ref: v if v is not None else _match(ref, fresh) for ref, v in found.items()}
        except SourceError as exc:
            return {ref: ReadFailure(ref, str(exc)) for ref in refs}
        return {ref: v if v is not None else ReadFailure(ref, "no such schedule in PagerDuty (check the name or "
                                                              "id; the API key must be able to see it)")
                for ref, v in found.items()}

    def catalog(self) -> list[ScheduleInfo]:
        return [ScheduleInfo(s.id, s.label, s.teams[0].summary if s.teams else None) for s in self._catalog.get()]

    def on_calls(self, refs: Sequence[str], at: datetime | None = None) -> dict[str, OnCall | ReadFailure]:
        wanted = list(dict.fromkeys(refs))
        schedules = self._resolve(wanted)
        results: dict[str, OnCall | ReadFailure] = {r: s for r, s in schedules.items() if isinstance(s, ReadFailure)}
        ok = {r: s for r, s in schedules.items() if not isinstance(s, ReadFailure)}
        if not ok:
            return results
        raw, unread = self._read(sorted({s.id for s in ok.values()}), at)
        results.update({ref: ReadFailure(ref, unread[s.id]) for ref, s in ok.items() if s.id in unread})
        ok = {ref: s for ref, s in ok.items() if s.id not in unread}
        entries, odd = _entries(raw)
        for ref, schedule in ok.items():
            if schedule.id in odd or None in odd:  # an entry that could be this schedule's did not fit
                results[ref] = ReadFailure(ref, f"PagerDuty's on-call answer is malformed: {odd.get(schedule.id) or odd[None]}")
        by_schedule: dict[str, list[_User]] = {}
        for entry in entries:
            if entry.schedule is not None:  # a permanent on-call of an escalation rule is no schedule's
                by_schedule.setdefault(entry.schedule.id, []).append(entry.user)
        empty = [ref for ref, s in ok.items() if s.id not in by_schedule and ref not in results]
        if empty:  # confirm "nobody" with the schedule itself (it may be in no escalation policy)
            with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="pagerduty") as pool:
                confirmed = dict(zip(empty, pool.map(lambda r: self._confirm(r, ok[r], at), empty)))
            for ref, got in confirmed.items():
                if isinstance(got, ReadFailure):
                    results[ref] = got
                else:
                    by_schedule[ok[ref].id] = got
        for ref, schedule in ok.items():
            if ref in results:
                continue
            users: dict[str, _User] = {}
            for u in by_schedule.get(schedule.id, []):  # once per person, whatever the levels
                if u.id not in users or (not users[u.id].email and u.email):
                    users[u.id] = u
            # With include[]=users every user carries an e-mail: one without is an answer that
            # does not fit (a reference instead of a user), never a person to leave out (unless
            # `users:` names them by id: then the e-mail is not needed).
            people = {u.id: self._person(u.id, u.email) for u in users.values()}
            odd_users = [u for u in users.values() if people[u.id] is None]
            if odd_users:
                u = odd_users[0]
                results[ref] = ReadFailure(ref, f"PagerDuty's answer gives user {u.id} ({u.name or u.summary or '?'}) "
                                                "no usable e-mail")
                continue
            usernames = frozenset(p for p in people.values() if p is not None)
            results[ref] = OnCall(ref, schedule.id, schedule.label, usernames, True)
        return results

    def _mapped(self, user_id: str) -> bool:
        """Whether `users:` has an entry for this PagerDuty user id (in any case)."""
        return user_id.lower() in self._mapped_keys

    def _person(self, user_id: str, email: str | None) -> str | None:
        """How a PagerDuty user is named to the stages: by the `users:` key that maps their id (the
        key as written, which the plan maps), honoured before their e-mail (a shared desk address
        may be another Slack account's, or no Slack account's); otherwise by their e-mail,
        lower-cased (None: none usable)."""
        key = self._mapped_keys.get(user_id.lower())
        if key is not None:
            return key
        address = (email or "").strip()
        return address.lower() if is_email(address) else None

    def _read(self, ids: Sequence[str], since: datetime | None = None,
              until: datetime | None = None) -> tuple[list[Any], dict[str, str]]:
        """The on-call entries of these schedules, a hundred a request, and, by schedule id, why
        each schedule that could not be read was not.

        A request that fails for something one of its schedules may cause (``_about_one_schedule``)
        is split in halves, each asked again, level by level, until the schedule at fault is alone:
        only it fails. A half is asked once (its batch had the retries, and a schedule at fault
        answers the same every time), and a level's halves at once (``concurrency``): one schedule
        at fault among a hundred costs at most 2 * ceil(log2(100)) = 14 calls more, two about twice
        that. A failed batch is not narrowed down, and fails as a whole as it did before, when:
        the error is about the request (a refused key, a rate limit, a timeout, an answer that does
        not fit); every part of a level of four or more fails alike (a key without the right
        scope, an outage: not one schedule); stopping; the batch's ``NARROWING_CALLS`` are spent;
        or one more level of calls (``timeout`` each) could not end within half the pass deadline
        from the read's start: the pass's writes need the rest.
        """
        deadline = time.monotonic() + self.pass_deadline / 2
        timeout = self.client.api.policy.timeout
        entries: list[Any] = []
        unread: dict[str, str] = {}
        found: list[str] = []  # schedules narrowed down to, alone
        spent: Counter[int] = Counter()  # narrowing calls, by batch

        def ask(batch: list[str], retry: bool) -> list[Any] | SourceError:
            try:
                return self.client.on_calls(batch, since, until, retry=retry)
            except SourceError as exc:
                return exc

        # (schedule ids, which batch they are part of): the batches themselves, asked with
        # retries, then the halves of those that failed, each asked once; a level's calls at once
        level = [(list(ids[i:i + BATCH]), i) for i in range(0, len(ids), BATCH)]
        first = True
        while level:  # bounded: two halves of each part that failed the level before, within NARROWING_CALLS
            if len(level) == 1:
                answers = [ask(level[0][0], first)]
            else:
                with ThreadPoolExecutor(max_workers=min(self.concurrency, len(level)),
                                        thread_name_prefix="pagerduty-oncalls") as pool:
                    answers = list(pool.map(ask, [batch for batch, _ in level], [first] * len(level)))
            failed = [(batch, origin, got) for (batch, origin), got in zip(level, answers)
                      if isinstance(got, SourceError)]
            entries += [entry for got in answers if not isinstance(got, SourceError) for entry in got]
            asked = Counter(origin for _, origin in level)
            failing = Counter(origin for _, origin, _ in failed)
            split: list[tuple[list[str], int]] = []
            for batch, origin, error in failed:
                why: str | None = None
                if len(batch) > 1 and _about_one_schedule(error):
                    rounds = -(-(len(split) + 2) // self.concurrency)  # of `concurrency` calls at once
                    alike = not first and asked[origin] >= 4 and failing[origin] == asked[origin]
                    why = ("every part of the batch fails alike: the error is not one schedule's" if alike
                           else "stopping" if STOPPING.is_set()
                           else "no time left in the pass" if time.monotonic() + rounds * timeout > deadline
                           else f"the {NARROWING_CALLS} calls a batch may take for it are spent"
                           if spent[origin] + 2 > NARROWING_CALLS
                           else None)
                    if why is None:
                        split += [(batch[:len(batch) // 2], origin), (batch[len(batch) // 2:], origin)]
                        spent[origin] += 2
                        continue
                if why is not None:
                    message = (f"{error} (asked for with {len(batch) - 1} other schedules, one of which may be the "
                               f"one at fault; not narrowed down: {why})")
                elif not first and len(batch) == 1 and _about_one_schedule(error):
                    message = f"{error} (this schedule alone: the others asked for with it were read)"
                    found.append(batch[0])
                else:
                    message = str(error)
                unread.update(dict.fromkeys(batch, message))
            level, first = split, False
        if spent:
            log.warning("pagerduty.oncalls_narrowed", calls=sum(spent.values()), at_fault=found, unread=len(unread))
        return entries, unread

    def _confirm(self, ref: str, schedule: _Schedule, at: datetime | None) -> list[_User] | ReadFailure:
        try:
            return self.client.schedule_users(schedule.id, at or self._now())
        except SourceNotFound:
            return ReadFailure(ref, "no such schedule in PagerDuty (check the name or id)")
        except SourceError as exc:
            return ReadFailure(ref, str(exc))

    def _boundaries(self, refs: list[str], start: datetime, end: datetime) -> Mapping[str, list[datetime]]:
        schedules = {r: s for r, s in self._resolve(refs).items() if not isinstance(s, ReadFailure)}
        raw, unread = self._read(sorted({s.id for s in schedules.values()}), start, end)
        if unread:
            log.warning("pagerduty.forecast_unread", schedules=len(unread), error=next(iter(unread.values())),
                        effect="no handoff foreseen for them: their groups are synced every interval")
        entries, odd = _entries(raw)
        schedules = {r: s for r, s in schedules.items() if s.id not in unread and s.id not in odd and None not in odd}
        edges: dict[str, set[datetime]] = {s.id: set() for s in schedules.values()}
        for entry in entries:
            if entry.schedule is not None and entry.schedule.id in edges:
                edges[entry.schedule.id].update(t for t in (entry.start, entry.end) if t is not None)
        return {ref: sorted(edges[s.id]) for ref, s in schedules.items()}

    def stretches(self, refs: Sequence[str], start: datetime,
                  end: datetime) -> dict[str, list[Stretch] | ReadFailure]:
        """From each schedule's final layer (which also covers schedules in no escalation policy),
        its users' e-mails from the schedule's users over the same window: two calls each."""
        def one(ref: str, schedule: _Schedule) -> list[Stretch] | ReadFailure:
            try:
                entries = self.client.final_schedule(schedule.id, start, end)
                emails_needed = any(e.user is None or not self._mapped(e.user.id) for e in entries)
                users = {u.id: u for u in self.client.schedule_users(schedule.id, start, end)} if emails_needed else {}
            except SourceError as exc:
                return ReadFailure(ref, str(exc))
            pieces: list[tuple[datetime, datetime, str | None]] = []
            for e in entries:
                user = users.get(e.user.id) if e.user is not None else None
                person = None if e.user is None else self._person(e.user.id, user.email if user is not None else None)
                if person is None:
                    who = e.user.id if e.user is not None else "?"
                    return ReadFailure(ref, f"PagerDuty's final schedule names user {who}, whose e-mail its "
                                            "schedule users do not give")
                pieces.append((e.start, e.end or end, person))
            return stretches(pieces, start, end)

        resolved = self._resolve(list(dict.fromkeys(refs)))
        out: dict[str, list[Stretch] | ReadFailure] = {r: s for r, s in resolved.items() if isinstance(s, ReadFailure)}
        todo = [(r, s) for r, s in resolved.items() if not isinstance(s, ReadFailure)]
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="pagerduty-shifts") as pool:
            out.update(zip([r for r, _ in todo], pool.map(lambda pair: one(*pair), todo)))
        return out

    # --- taking a shift from Slack: overrides ---------------------------------------------------
    def _schedule(self, ref: str) -> _Schedule:
        """The one schedule a write names; raises (``SourceAuthError`` included) when it cannot tell."""
        found = _match(ref, self._catalog.get())
        if found is None:
            found = _match(ref, self._catalog.get(refresh_if_older=60))
        if isinstance(found, ReadFailure):
            raise SourceError(f"PagerDuty schedule {ref!r}: {found.error}")
        if found is None:
            raise SourceNotFound(f"PagerDuty: no such schedule {ref!r} (check the name or id)", 404)
        return found

    def _email(self, user_id: str) -> str:
        """A user's e-mail as PagerDuty gives it (maybe empty), kept an hour once usable."""
        with self._emails_lock:
            kept = self._emails.get(user_id)
        if kept is not None and time.monotonic() - kept[0] < USER_AGE:
            return kept[1]
        email = (self.client.user(user_id).email or "").strip()
        if is_email(email):
            with self._emails_lock:
                self._emails[user_id] = (time.monotonic(), email)
        return email

    def members(self, ref: str) -> dict[str, str] | ReadFailure:
        """The users of the schedule's layers (those not ended): lower-cased e-mail (or the `users:`
        key that maps the user id, whose e-mail is then not read) -> user id."""
        schedule = self._resolve([ref])[ref]
        if isinstance(schedule, ReadFailure):
            return schedule
        now = self._now()
        try:
            layers = self.client.layers(schedule.id)
        except SourceNotFound:
            return ReadFailure(ref, "no such schedule in PagerDuty (check the name or id)")
        except SourceError as exc:
            return ReadFailure(ref, str(exc))
        ids = list(dict.fromkeys(u.user.id for layer in layers if layer.end is None or layer.end > now
                                 for u in layer.users))

        def email(user_id: str) -> str | ReadFailure:
            try:
                return self._email(user_id)
            except SourceNotFound:
                return ReadFailure(ref, f"the schedule's layers name user {user_id}, whom PagerDuty does not know")
            except SourceError as exc:
                return ReadFailure(ref, str(exc))

        unmapped = [i for i in ids if not self._mapped(i)]
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(unmapped) or 1)),
                                thread_name_prefix="pagerduty-members") as pool:
            emails = dict(zip(unmapped, pool.map(email, unmapped)))
        out: dict[str, str] = {}
        for user_id in ids:
            got = emails.get(user_id, "")
            if isinstance(got, ReadFailure):
                return got
            person = self._person(user_id, got)
            if person is None:
                return ReadFailure(ref, f"PagerDuty gives user {user_id} of the schedule's layers no usable e-mail")
            out.setdefault(person, user_id)
        return out

    def create_override(self, ref: str, user_id: str, start: datetime, end: datetime) -> str:
        """An override of the whole schedule (every layer); sent once. Its id."""
        return self.client.create_override(self._schedule(ref).id, user_id, start, end)

    def overrides_of(self, ref: str, user_id: str, now: datetime) -> list[Override]:
        """The user's overrides in the schedule that end after ``now`` (and begin within 90 days)."""
        listed = self.client.overrides(self._schedule(ref).id, now, now + OVERRIDE_SPAN)
        mine = [Override(o.id, o.user.id, o.start, o.end) for o in listed if o.user.id == user_id and o.end > now]
        return sorted(mine, key=lambda o: (o.start, o.end, o.id))

    def delete_override(self, ref: str, override_id: str) -> None:
        """Delete one override: PagerDuty truncates one under way to now (200 rather than 204),
        which is done all the same. Gone already counts as done; so does a refusal (400: PagerDuty
        will not remove a past override) of one that no longer reaches past now: a retry whose
        first attempt truncated it, the answer lost on the way."""
        schedule = self._schedule(ref)
        try:
            self.client.delete_override(schedule.id, override_id)
        except SourceNotFound:
            log.info("pagerduty.override_already_gone", schedule=schedule.id, override=override_id)
        except SourceError as exc:
            if exc.status != 400 or self._reaches_past_now(schedule.id, override_id):
                raise
            log.info("pagerduty.override_already_ended", schedule=schedule.id, override=override_id)

    def _reaches_past_now(self, schedule_id: str, override_id: str) -> bool:
        now = self._now()
        return any(o.id == override_id and o.end > now
                   for o in self.client.overrides(schedule_id, now, now + OVERRIDE_SPAN))

    def next_handoff(self, refs: Sequence[str], after: datetime) -> datetime | None:
        return self.forecast.next_handoff(refs, after)

    def observe(self, reads: Mapping[str, OnCall | ReadFailure], at: datetime) -> None:
        self.forecast.observe(reads, at)

    def close(self) -> None:
        self.client.close()


def _entries(raw: list[Any]) -> tuple[list[_Entry], dict[str | None, str]]:
    """The entries that fit the contract, and, by schedule id (None: whose, nobody can tell),
    why the others do not."""
    good: list[_Entry] = []
    odd: dict[str | None, str] = {}
    for item in raw:
        try:
            entry = _Entry.model_validate(item)
        except ValidationError as exc:
            schedule = item.get("schedule") if isinstance(item, dict) else None
            sid = schedule.get("id") if isinstance(schedule, dict) and isinstance(schedule.get("id"), str) else None
            odd.setdefault(sid, f"at oncalls[].{first_error(exc)}")
            continue
        if entry.schedule is None:  # asked for by schedule: an entry of no schedule could be anyone's
            odd.setdefault(None, "an entry names no schedule")
            continue
        good.append(entry)
    return good, odd


def _about_one_schedule(exc: SourceError) -> bool:
    """Whether a failed ``/oncalls`` request may be about one of the schedules it names: a 403 (a
    schedule of a team the key may not see), a 404 (one deleted since it was listed), a 5xx (one
    PagerDuty cannot render). Not a 401 (the key), a 429 (the account's rate limit), nor a failure
    without a status (a timeout, a dropped connection, an answer that does not fit): those are
    about the request, and asking again in pieces would only add to them."""
    return exc.status in (403, 404) or (exc.status is not None and exc.status >= 500)


def _quote(value: str) -> str:
    return quote(value, safe="")


def _match(ref: str, schedules: list[_Schedule]) -> _Schedule | ReadFailure | None:
    by_id = [s for s in schedules if s.id == ref]
    if by_id:
        return by_id[0]
    by_name = [s for s in schedules if s.label == ref]
    if len(by_name) > 1:
        return ReadFailure(ref, f"PagerDuty has {len(by_name)} schedules named {ref!r}: name it by id")
    return by_name[0] if by_name else None



def build(secrets: PagerDutySecrets, config: Config, clock: Clock, observer: ApiObserver | None) -> PagerDutySource:
    return PagerDutySource(PagerDutyClient(secrets, config.file.retry, observer=observer), config.file.concurrency,
                           clock.now, user_map=config.file.users, pass_deadline=config.file.pass_deadline)


SPEC = ProviderSpec("pagerduty", load, build, credentials="PAGERDUTY_API_TOKEN",
                    urls="PAGERDUTY_API_URL (EU accounts: https://api.eu.pagerduty.com)")
