"""Opsgenie as an on-call source: who should be on call (one bulk read, per-schedule reads only
where it falls short), handoffs and stretches foreseen from the rotations, and shifts taken as
overrides."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import structlog

from slackgenie.core.model import OnCall, ReadFailure, ScheduleInfo
from slackgenie.core.rotation import Override, ScheduleModel
from slackgenie.core.shifts import Stretch, stretches
from slackgenie.sources.base import Override as TakenOverride
from slackgenie.sources.http import SourceAuthError, SourceError, SourceNotFound, SourceUnavailable
from slackgenie.sources.opsgenie.client import OpsgenieClient
from slackgenie.sources.opsgenie.forecast import Forecast
from slackgenie.sources.opsgenie.wire import (created_alias, listed_overrides, on_call_from_api, overrides_from_api,
                                              parent_of, schedule_from_api, schedule_info, utc_z)
from slackgenie.sources.reads import read
from slackgenie.sources.workers import Workers

log = structlog.get_logger("slackgenie.opsgenie")


class OpsgenieSource:
    """Who should be on call: one bulk read, per-schedule reads only where the bulk read falls
    short. Handoffs are foreseen from the rotations (one read for all schedules) run forward
    with the rotation maths, checked against every pass's answers (see ``forecast.Forecast``)."""

    provider = "opsgenie"

    def __init__(self, client: OpsgenieClient, concurrency: int = 8,
                 now: Callable[[], datetime] | None = None):
        self.client = client
        self._workers = Workers(concurrency, "opsgenie")
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

        walked = dict(zip(found, self._workers.map(walk, found)))
        missing = ReadFailure("", "no such schedule in Opsgenie's schedule list (or the list could not be read)")
        return {ref: walked[ref] if ref in walked else replace(missing, subject=ref) for ref in wanted}

    def catalog(self) -> list[ScheduleInfo]:
        """The schedules the forecast read (no extra call while it is fresh)."""
        models = self.forecast.models()
        if not models:
            return [schedule_info(s) for s in self.client.list_schedules()]
        return [ScheduleInfo(m.id, m.name, (m.owner_team or {}).get("name") if m.owner_team else None, m.enabled)
                for key, m in models.items() if key == m.id]

    def close(self) -> None:
        self._workers.close()
        self.client.close()

    def on_calls(self, refs: Sequence[str], at: datetime | None = None) -> dict[str, OnCall | ReadFailure]:
        wanted = list(dict.fromkeys(refs))
        try:
            entries = self._listed(at)
        except SourceError as exc:
            # A bad key, or a rate limit that outlasted the retries, fails every read alike:
            # asking each schedule too would only add load on the same limit.
            return {ref: ReadFailure(ref, str(exc)) for ref in wanted}
        results, missing = _matched(wanted, entries)
        results.update(self._read_each(missing, at))
        return results

    def _listed(self, at: datetime | None) -> list[dict[str, Any]]:
        """The bulk on-call answer; empty when it failed (every schedule is then read one by
        one), except for a bad key or a rate limit (401, 429): those are raised."""
        try:
            return self.client.list_on_calls(at)
        except (SourceAuthError, SourceUnavailable) as exc:
            if exc.status in (401, 429):
                raise
            log.warning("opsgenie.list_on_calls_failed", error=str(exc), fallback="per-schedule reads")
        except SourceError as exc:
            log.warning("opsgenie.list_on_calls_failed", error=str(exc), fallback="per-schedule reads")
        return []

    def _read_each(self, missing: list[str], at: datetime | None) -> dict[str, OnCall | ReadFailure]:
        """The schedules the bulk answer left out, read one by one."""
        results: dict[str, OnCall | ReadFailure] = {}
        if missing:
            # One schedule first: if Opsgenie throttles it, the others are not asked this pass.
            results[missing[0]] = self._one(missing[0], at)
            if self.client.throttled_for() > 0:
                error = f"not read: Opsgenie is rate-limiting ({self.client.throttled_for():.0f} s more)"
                results.update({ref: ReadFailure(ref, error) for ref in missing[1:]})
                return results
        results.update(zip(missing[1:], self._workers.map(lambda ref: self._one(ref, at), missing[1:])))
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
    def outsider_id(self, identities: frozenset[str]) -> str | None:
        """An Opsgenie username is its user's e-mail: anyone with one can be named in an override."""
        return min((e for e in identities if "@" in e), default=None)

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
                if participant.kind == "user" and participant.name:
                    out.setdefault(participant.name.lower(), participant.name)
        return out

    def create_override(self, ref: str, user_id: str, start: datetime, end: datetime) -> str:
        """An override of every rotation, under an alias of our own making; sent once."""
        body = {"alias": f"slackgenie-{uuid.uuid4().hex}", "user": {"type": "user", "username": user_id},
                "startDate": utc_z(start), "endDate": utc_z(end)}
        return created_alias(self.client.create_override(ref, body))

    def overrides_of(self, ref: str, user_id: str, now: datetime) -> list[TakenOverride]:
        """The user's overrides in the schedule that end after ``now``, in order of start (one read)."""
        listed = listed_overrides(self.client.schedule_overrides(ref))
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
        return read(ref, lambda: on_call_from_api(ref, self.client.schedule_on_calls(ref, at)),
                    "no such schedule in Opsgenie (check the name or id)")


def _matched(wanted: list[str], entries: list[dict[str, Any]]) -> tuple[dict[str, OnCall | ReadFailure], list[str]]:
    """The schedules the bulk answer holds, read from it, and those it left out (``missing``)."""
    # An entry whose _parent cannot be read belongs to no schedule we can name: the schedules
    # it might be are read one by one, like any schedule the bulk answer left out.
    parents = [(e, p) for e in entries if (p := parent_of(e)) is not None]
    by_id: dict[str, list[object]] = {}
    by_name: dict[str, list[object]] = {}
    for e, p in parents:
        by_id.setdefault(p.id, []).append(e)
        by_name.setdefault(p.name, []).append(e)
    results: dict[str, OnCall | ReadFailure] = {}
    missing = []
    for ref in wanted:
        found = by_id.get(ref) or by_name.get(ref)
        if not found:
            missing.append(ref)
        elif len(found) > 1:  # two answers for one schedule, or two schedules of one name: no guess
            results[ref] = ReadFailure(ref, f"Opsgenie's answer holds {len(found)} entries for {ref!r} "
                                            "(two schedules of that name? name it by id)")
        else:
            results[ref] = on_call_from_api(ref, found[0])
    return results, missing


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
            who = participant.key
            pieces.append((t, following, who.lower() if who else None))  # as identities are matched
        t = following
    raise ValueError("too many changes to follow")
