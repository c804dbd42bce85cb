"""Opsgenie's REST API v2: a few typed calls, the key only ever in the header."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from slackgenie.core.durations import iso_utc
from slackgenie.core.ids import UUID
from slackgenie.retry import ApiObserver, RetryPolicy, Stop
from slackgenie.sources.http import ApiClient, Dialect, SourceError


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
    """A few typed calls over Opsgenie's REST API v2. Thread-safe; the key never leaves the header.

    Opsgenie throttles each request domain on its own (CONTRACTS §1.2): who-is-on-call
    (``Schedule-oncalls``) apart from the configuration (schedules, overrides, teams, users,
    escalations). Each has its own client, so a rate limit that outlasted the retries in one
    holds back only that domain's requests: a throttled escalation policy does not fail the
    schedules' own reads, nor the reverse."""

    def __init__(self, base_url: str, api_key: SecretStr, policy: RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None, observer: ApiObserver | None = None,
                 stop: Stop | None = None):
        headers = {"Authorization": f"GenieKey {api_key.get_secret_value()}"}
        self.api = ApiClient(base_url, DIALECT, headers, policy, transport, observer, stop=stop)  # Configuration
        self.oncalls = ApiClient(base_url, DIALECT, headers, policy, transport, observer, stop=stop)

    def __repr__(self) -> str:
        return f"OpsgenieClient(base_url={self.api.base_url!r})"

    def throttled_for(self) -> float:
        """Seconds before who-is-on-call may be asked again after a rate limit outlasted the retries."""
        return self.oncalls.throttled_for()

    def close(self) -> None:
        self.api.close()
        self.oncalls.close()

    def list_on_calls(self, at: datetime | None = None) -> list[dict[str, Any]]:
        """Who is on call in every schedule, flattened to usernames: one request."""
        answer = self.oncalls.get("listOnCalls", "/v2/schedules/on-calls", {"flat": "true", **_date(at)})
        return _data(answer, list, "list on-calls")

    def schedule_on_calls(self, ref: str, at: datetime | None = None) -> dict[str, Any]:
        params = {"scheduleIdentifierType": _ident_type(ref), "flat": "true", **_date(at)}
        return _data(self.oncalls.get("getOnCalls", f"/v2/schedules/{_quote(ref)}/on-calls", params), dict,
                     f"on-calls of {ref!r}")

    def list_overrides(self, schedule_id: str) -> list[dict[str, Any]]:
        params = {"scheduleIdentifierType": "id"}
        return _data(self.api.get("listOverrides", f"/v2/schedules/{_quote(schedule_id)}/overrides", params), list,
                     "list overrides")

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
        answer = self.api.get("listSchedules", "/v2/schedules", {"expand": "rotation"} if rotations else {})
        return _data(answer, list, "list schedules")


    # --- escalation levels: policies, teams, users and the next on-call ---------------------------
    def list_escalations(self) -> list[Any]:
        """``GET /v2/escalations``: every policy in one request (no paging, no filters)."""
        return _data(self.api.get("listEscalations", "/v2/escalations"), list, "list escalations")

    def escalation(self, ref: str) -> Any:
        """``GET /v2/escalations/{ref}`` (by id or name): the whole answer, for the caller to validate."""
        return self.api.get("getEscalation", f"/v2/escalations/{_quote(ref)}", {"identifierType": _ident_type(ref)})

    def team(self, ref: str) -> Any:
        """``GET /v2/teams/{ref}`` (by id or name), with its members and their roles: the whole answer."""
        return self.api.get("getTeam", f"/v2/teams/{_quote(ref)}", {"identifierType": _ident_type(ref)})

    def user(self, ref: str) -> Any:
        """``GET /v2/users/{ref}`` (by id or username): the whole answer."""
        return self.api.get("getUser", f"/v2/users/{_quote(ref)}")

    def next_on_calls(self, ref: str, at: datetime | None = None) -> Any:
        """``GET /v2/schedules/{ref}/next-on-calls?flat=true``: the whole answer."""
        params = {"scheduleIdentifierType": _ident_type(ref), "flat": "true", **_date(at)}
        return self.oncalls.get("getNextOnCalls", f"/v2/schedules/{_quote(ref)}/next-on-calls", params)


def _data(answer: Any, kind: type[list[Any]] | type[dict[str, Any]], what: str) -> Any:
    """The ``data`` of an answer (its envelope checked already: ``_envelope``), a list or an object."""
    data = answer["data"]
    if not isinstance(data, kind):
        raise SourceError(f"Opsgenie: {what} answered without {'a list' if kind is list else 'an object'}")
    return data


def _ident_type(ref: str) -> str:
    return "id" if UUID.match(ref) else "name"


def _quote(value: str) -> str:
    return quote(value, safe="")


def _date(at: datetime | None) -> dict[str, str]:
    if at is None:
        return {}
    return {"date": iso_utc(at).replace("Z", ".000Z")}  # Opsgenie's own examples give milliseconds
