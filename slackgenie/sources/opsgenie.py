"""Opsgenie: a few typed calls over its REST API v2, and the on-call source built on them."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Annotated, Any

import httpx
import structlog
from pydantic import (AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, StrictBool, StringConstraints,
                      ValidationError)

from slackgenie.core.clock import Clock
from slackgenie.settings import Config, required_secret, url_var
from slackgenie.sources.forecast import Forecast
from slackgenie.core.model import OnCall, ReadFailure, ScheduleInfo
from slackgenie.retry import ApiObserver, RetryPolicy
from slackgenie.core.rotation import Override, ScheduleModel, overrides_from_api, schedule_from_api
from slackgenie.core.shifts import Stretch, stretches
from slackgenie.sources.base import Override as TakenOverride
from slackgenie.sources.base import ProviderSpec
from slackgenie.sources.http import (ApiClient, Dialect, SourceAuthError, SourceError, SourceNotFound,
                                     SourceUnavailable, first_error)

log = structlog.get_logger("slackgenie.opsgenie")

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)

# Opsgenie's errors are the sources' errors (the names stay for readers of older code).
OpsgenieError = SourceError
OpsgenieAuthError = SourceAuthError
OpsgenieNotFound = SourceNotFound
OpsgenieUnavailable = SourceUnavailable


def _envelope(status: int, body: Any) -> None:
    if not isinstance(body, dict) or "data" not in body:
        raise SourceError(f"Opsgenie: HTTP {status} without an Opsgenie envelope (is OPSGENIE_API_URL right?)", status)


DIALECT = Dialect(
    api="opsgenie", title="Opsgenie", auth_fix="check OPSGENIE_API_KEY and its access rights",
    message=lambda body: body.get("message") if isinstance(body, dict) else None,
    ok=_envelope,
    # Opsgenie sends no Retry-After: the window it names is how long a throttle lasts.
    window_header="X-RateLimit-Period-In-Sec",
)


class OpsgenieClient:
    """A few typed calls over Opsgenie's REST API v2. Thread-safe; the key never leaves the header."""

    def __init__(self, base_url: str, api_key: SecretStr, policy: RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None, observer: ApiObserver | None = None):
        self.api = ApiClient(base_url, DIALECT, {"Authorization": f"GenieKey {api_key.get_secret_value()}"},
                             policy, transport, observer)

    def __repr__(self) -> str:
        return f"OpsgenieClient(base_url={self.api.base_url!r})"

    def throttled_for(self) -> float:
        return self.api.throttled_for()

    def close(self) -> None:
        self.api.close()

    def list_on_calls(self, at: datetime | None = None) -> list[dict[str, Any]]:
        """Who is on call in every schedule, flattened to usernames: one request."""
        data = self.api.get("listOnCalls", "/v2/schedules/on-calls", {"flat": "true", **_date(at)})["data"]
        if not isinstance(data, list):
            raise SourceError("Opsgenie: list on-calls answered without a list")
        return data

    def schedule_on_calls(self, ref: str, at: datetime | None = None) -> dict[str, Any]:
        params = {"scheduleIdentifierType": _ident_type(ref), "flat": "true", **_date(at)}
        data = self.api.get("getOnCalls", f"/v2/schedules/{_quote(ref)}/on-calls", params)["data"]
        if not isinstance(data, dict):
            raise SourceError(f"Opsgenie: on-calls of {ref!r} answered without an object")
        return data

    def list_overrides(self, schedule_id: str) -> list[dict[str, Any]]:
        params = {"scheduleIdentifierType": "id"}
        data = self.api.get("listOverrides", f"/v2/schedules/{_quote(schedule_id)}/overrides", params)["data"]
        if not isinstance(data, list):
            raise SourceError("Opsgenie: list overrides answered without a list")
        return data

    # --- overrides, the schedule named by id or name as in ``schedule_on_calls`` ----------------
    def schedule_overrides(self, ref: str) -> Any:
        """``GET /v2/schedules/{ref}/overrides``: the whole answer, for the caller to validate."""
        return self.api.get("listOverrides", f"/v2/schedules/{_quote(ref)}/overrides",
                            {"scheduleIdentifierType": _ident_type(ref)})

    def create_override(self, ref: str, body: dict[str, Any]) -> Any:
        """``POST /v2/schedules/{ref}/overrides``, sent once: a repeated create makes two overrides."""
        return self.api.call("createOverride", "POST", f"/v2/schedules/{_quote(ref)}/overrides",
                             {"scheduleIdentifierType": _ident_type(ref)}, body, retry=False)

    def delete_override(self, ref: str, alias: str) -> None:
        """``DELETE /v2/schedules/{ref}/overrides/{alias}``; retried (deleting twice is harmless).
        Any 2xx is done: the contract's answer (``SuccessResponse``) need not carry ``data``."""
        try:
            self.api.call("deleteOverride", "DELETE", f"/v2/schedules/{_quote(ref)}/overrides/{_quote(alias)}",
                          {"scheduleIdentifierType": _ident_type(ref)})
        except SourceError as exc:
            if type(exc) is SourceError and exc.status is not None and 200 <= exc.status < 300:
                return
            raise

    def list_schedules(self, rotations: bool = False) -> list[dict[str, Any]]:
        data = self.api.get("listSchedules", "/v2/schedules", {"expand": "rotation"} if rotations else {})["data"]
        if not isinstance(data, list):
            raise SourceError("Opsgenie: list schedules answered without a list")
        return data


def _ident_type(ref: str) -> str:
    return "id" if UUID_RE.match(ref) else "name"


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _utc_z(at: datetime) -> str:
    """An instant as Opsgenie's override API takes it: ISO-8601 in UTC with ``Z`` (naive: UTC)."""
    at = at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _date(at: datetime | None) -> dict[str, str]:
    if at is None:
        return {}
    return {"date": at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")}


class OpsgenieSource:
    """Who should be on call: one bulk read, per-schedule reads only where the bulk read falls
    short. Handoffs are foreseen from the rotations (one read for all schedules) run forward
    with the rotation maths, checked against every pass's answers (see ``handoffs.Forecast``)."""

    provider = "opsgenie"

    def __init__(self, client: OpsgenieClient, concurrency: int = 8,
                 now: Callable[[], datetime] | None = None):
        self.client = client
        self.concurrency = concurrency
        self.forecast = Forecast(self.schedules, now or (lambda: datetime.now(timezone.utc)),
                                 fetch_overrides=self.overrides)

    def next_handoff(self, refs: Sequence[str], after: datetime) -> datetime | None:
        return self.forecast.next_handoff(refs, after)

    def observe(self, reads: Mapping[str, OnCall | ReadFailure], at: datetime) -> None:
        self.forecast.observe(reads, at)

    def stretches(self, refs: Sequence[str], start: datetime,
                  end: datetime) -> dict[str, list[Stretch] | ReadFailure]:
        """From the rotations (the forecast's read) with each schedule's overrides read afresh
        (one call each, ``concurrency`` at a time), run forward with the rotation maths."""
        models = self.forecast.models()
        wanted = list(dict.fromkeys(refs))
        found = {ref: models[ref] for ref in wanted if ref in models}

        def walk(ref: str) -> list[Stretch] | ReadFailure:
            try:
                return _walk(replace(found[ref], overrides=self.overrides(found[ref].id)), start, end)
            except SourceError as exc:
                return ReadFailure(ref, str(exc))
            except Exception as exc:  # a rotation the maths cannot run: no answer, never "always covered"
                return ReadFailure(ref, f"its rotations cannot be run forward: {type(exc).__name__}: {exc}")

        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(found))),
                                thread_name_prefix="opsgenie-shifts") as pool:
            walked = dict(zip(found, pool.map(walk, found)))
        missing = ReadFailure("", "no such schedule in Opsgenie's schedule list (or the list could not be read)")
        return {ref: walked[ref] if ref in walked else replace(missing, subject=ref) for ref in wanted}

    def catalog(self) -> list[ScheduleInfo]:
        """The schedules the forecast read (no extra call while it is fresh)."""
        models = self.forecast.models()
        if not models:
            return [ScheduleInfo(s["id"], s["name"], ((s.get("ownerTeam") or {}).get("name")),
                                 bool(s.get("enabled", True))) for s in self.client.list_schedules()]
        return [ScheduleInfo(m.id, m.name, (m.owner_team or {}).get("name") if m.owner_team else None, m.enabled)
                for key, m in models.items() if key == m.id]

    def close(self) -> None:
        self.client.close()

    def on_calls(self, refs: Sequence[str], at: datetime | None = None) -> dict[str, OnCall | ReadFailure]:
        wanted = list(dict.fromkeys(refs))
        results: dict[str, OnCall | ReadFailure] = {}
        try:
            entries = self.client.list_on_calls(at)
        except (OpsgenieAuthError, OpsgenieUnavailable) as exc:
            # A bad key, or a rate limit that outlasted the retries, fails every read alike:
            # asking each schedule too would only add load on the same limit.
            if exc.status in (401, 429):
                return {ref: ReadFailure(ref, str(exc)) for ref in wanted}
            log.warning("opsgenie.list_on_calls_failed", error=str(exc), fallback="per-schedule reads")
            entries = []
        except OpsgenieError as exc:
            log.warning("opsgenie.list_on_calls_failed", error=str(exc), fallback="per-schedule reads")
            entries = []
        # An entry whose _parent cannot be read belongs to no schedule we can name: the schedules
        # it might be are read one by one below, like any schedule the bulk answer left out.
        parents = [(e, p) for e in entries if (p := _parent(e)) is not None]
        by_id: dict[str, list[object]] = {}
        by_name: dict[str, list[object]] = {}
        for e, p in parents:
            by_id.setdefault(p.id, []).append(e)
            by_name.setdefault(p.name, []).append(e)
        missing = []
        for ref in wanted:
            found = by_id.get(ref) or by_name.get(ref)
            if not found:
                missing.append(ref)
            elif len(found) > 1:  # two answers for one schedule, or two schedules of one name: no guess
                results[ref] = ReadFailure(ref, f"Opsgenie's answer holds {len(found)} entries for {ref!r} "
                                                "(two schedules of that name? name it by id)")
            else:
                results[ref] = _on_call(ref, found[0])
        if missing:
            # One schedule first: if Opsgenie throttles it, the others are not asked this pass.
            results[missing[0]] = self._one(missing[0], at)
            if self.client.throttled_for() > 0:
                error = f"not read: Opsgenie is rate-limiting ({self.client.throttled_for():.0f} s more)"
                results.update({ref: ReadFailure(ref, error) for ref in missing[1:]})
                return results
        if len(missing) > 1:
            with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="opsgenie") as pool:
                futures = {ref: pool.submit(self._one, ref, at) for ref in missing[1:]}
                results.update({ref: future.result() for ref, future in futures.items()})
        return results

    def schedules(self) -> list[ScheduleModel]:
        """Every schedule with its rotations: one request, for forecasting handoffs. A schedule
        that cannot be read (an unknown time zone, a rotation without a start) costs only its
        own forecast: its groups are still synced every interval."""
        out = []
        for raw in self.client.list_schedules(rotations=True):
            try:
                out.append(schedule_from_api(raw))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                name = raw.get("name") if isinstance(raw, dict) else None
                log.warning("opsgenie.schedule_unreadable", schedule=name, error=f"{type(exc).__name__}: {exc}",
                            effect="no handoff forecast for it; synced every interval")
        return out

    def overrides(self, schedule_id: str) -> list[Override]:
        """One schedule's overrides: one request."""
        return overrides_from_api(self.client.list_overrides(schedule_id))

    # --- taking a shift from Slack: overrides ---------------------------------------------------
    def members(self, ref: str) -> dict[str, str] | ReadFailure:
        """The users in the schedule's rotations, from the rotations the forecast read: lower-cased
        username (the identity ``on_calls`` gives) -> the username as Opsgenie spells it. Team and
        escalation participants are not persons: left out."""
        model = self.forecast.models().get(ref)
        if model is None:
            return ReadFailure(ref, "no such schedule in Opsgenie's schedule list (or the list could not be read)")
        out: dict[str, str] = {}
        for rotation in model.rotations:
            for participant in rotation.participants:
                try:
                    user = _Recipient.model_validate(participant)
                except ValidationError:
                    continue
                if user.type == "user" and user.username is not None:
                    out.setdefault(user.username.lower(), user.username)
        return out

    def create_override(self, ref: str, user_id: str, start: datetime, end: datetime) -> str:
        """An override of every rotation, under an alias of our own making; sent once."""
        body = {"alias": f"slackgenie-{uuid.uuid4().hex}", "user": {"type": "user", "username": user_id},
                "startDate": _utc_z(start), "endDate": _utc_z(end)}
        answer = self.client.create_override(ref, body)
        try:
            return _Created.model_validate(answer).data.alias
        except ValidationError as exc:
            raise SourceError(f"Opsgenie: the create-override answer is malformed at {first_error(exc)}") from None

    def overrides_of(self, ref: str, user_id: str, now: datetime) -> list[TakenOverride]:
        """The user's overrides in the schedule that end after ``now``, in order of start (one read)."""
        try:
            listed = _OverrideList.model_validate(self.client.schedule_overrides(ref)).data
        except ValidationError as exc:
            raise SourceError(f"Opsgenie: the list-overrides answer is malformed at {first_error(exc)}") from None
        wanted = user_id.lower()
        mine = [TakenOverride(o.alias, o.user.username, o.start, o.end) for o in listed
                if o.user.type == "user" and o.user.username is not None and o.user.username.lower() == wanted
                and o.end > now]
        return sorted(mine, key=lambda o: (o.start, o.end, o.id))

    def delete_override(self, ref: str, override_id: str) -> None:
        """Delete one override; one already gone (a retry after a lost answer) counts as done."""
        try:
            self.client.delete_override(ref, override_id)
        except SourceNotFound:
            log.info("opsgenie.override_already_gone", schedule=ref, alias=override_id)

    def _one(self, ref: str, at: datetime | None) -> OnCall | ReadFailure:
        try:
            return _on_call(ref, self.client.schedule_on_calls(ref, at))
        except OpsgenieNotFound:
            return ReadFailure(ref, "no such schedule in Opsgenie (check the name or id)")
        except OpsgenieError as exc:
            return ReadFailure(ref, str(exc))
        except Exception as exc:  # a malformed answer is a failed read, never "nobody"
            return ReadFailure(ref, f"unexpected answer: {type(exc).__name__}")


def _walk(model: ScheduleModel, start: datetime, end: datetime) -> list[Stretch]:
    """Who the model puts on call within ``start``..``end``, stretch by stretch. People are
    usernames, as in the on-call answer; a team or escalation participant is named by its name."""
    pieces: list[tuple[datetime, datetime, str | None]] = []
    t = start
    for _ in range(100_000):  # bounded: each step moves to the schedule's next change
        if t >= end:
            return stretches(pieces, start, end)
        following = model.next_change(t)
        following = end if following is None or following > end else following
        if following <= t:
            raise ValueError(f"no change after {t.isoformat()} moves time on")
        for _rotation, participant, _override in model.on_call(t):
            who = participant.get("username") or participant.get("name") or participant.get("id")
            pieces.append((t, following, str(who).lower() if who else None))  # as identities are matched
        t = following
    raise ValueError("too many changes to follow")


# --- the typed boundary: Opsgenie's flat on-call answer, as the contract documents it ---------
# A name or username: no control characters (a NUL or a line break is nobody's username, and
# would forge lines in the printed plan).
Name = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=512, pattern=r"^[^\x00-\x1f\x7f]+$")]


class _Parent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Name
    name: Name
    enabled: StrictBool = True


class _FlatOnCalls(BaseModel):
    """``GET /v2/schedules/{id}/on-calls?flat=true`` (and each item of the bulk list)."""

    model_config = ConfigDict(extra="ignore")
    parent: _Parent = Field(alias="_parent")
    recipients: list[Name] = Field(alias="onCallRecipients")


class _Recipient(BaseModel):
    """A rotation participant or an override's user: ``{type, id?, username?}`` (teams: ``name``)."""

    model_config = ConfigDict(extra="ignore")
    type: Name
    username: Name | None = None


class _AliasOnly(BaseModel):
    model_config = ConfigDict(extra="ignore")
    alias: Name


class _Created(BaseModel):
    """``POST /v2/schedules/{id}/overrides``: ``{data: {alias}}``."""

    model_config = ConfigDict(extra="ignore")
    data: _AliasOnly


class _ListedOverride(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    alias: Name
    user: _Recipient
    start: AwareDatetime = Field(alias="startDate")
    end: AwareDatetime = Field(alias="endDate")


class _OverrideList(BaseModel):
    """``GET /v2/schedules/{id}/overrides``: ``{data: [{_parent, alias, user, startDate, endDate, rotations}]}``."""

    model_config = ConfigDict(extra="ignore")
    data: list[_ListedOverride]


def _parent(entry: object) -> _Parent | None:
    try:
        return _Parent.model_validate(entry.get("_parent")) if isinstance(entry, dict) else None
    except ValidationError:
        return None


def _on_call(ref: str, entry: object) -> OnCall | ReadFailure:
    """An answer that does not fit the contract is a failed read of this schedule: never a
    person (``None`` is nobody's username), never "nobody"."""
    try:
        answer = _FlatOnCalls.model_validate(entry)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(answer)"
        return ReadFailure(ref, f"Opsgenie's on-call answer is malformed at {where}: {first['msg']}")
    return OnCall(schedule=ref, schedule_id=answer.parent.id, schedule_name=answer.parent.name,
                  usernames=frozenset(answer.recipients), enabled=answer.parent.enabled)


DEFAULT_URL = "https://api.opsgenie.com"


@dataclass(frozen=True)
class OpsgenieSecrets:
    api_key: SecretStr
    api_url: str

    def values(self) -> list[str]:
        return [self.api_key.get_secret_value()]


def load(env: Mapping[str, str]) -> OpsgenieSecrets:
    key = required_secret(env, "OPSGENIE_API_KEY", "an Opsgenie API key with read access")
    return OpsgenieSecrets(SecretStr(key), url_var(env, "OPSGENIE_API_URL", DEFAULT_URL).rstrip("/"))


def build(secrets: OpsgenieSecrets, config: Config, clock: Clock, observer: ApiObserver | None) -> OpsgenieSource:
    client = OpsgenieClient(secrets.api_url, secrets.api_key, config.file.retry, observer=observer)
    return OpsgenieSource(client, config.file.concurrency, clock.now)


SPEC = ProviderSpec("opsgenie", load, build, credentials="OPSGENIE_API_KEY",
                    urls="OPSGENIE_API_URL (EU accounts: https://api.eu.opsgenie.com)")
