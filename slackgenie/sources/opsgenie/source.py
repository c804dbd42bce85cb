"""Opsgenie as an on-call source: who should be on call (one bulk read, per-schedule reads only
where it falls short), handoffs and stretches foreseen from the rotations, and shifts taken as
overrides."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import structlog

from slackgenie.core.model import OnCall, ReadFailure, ScheduleInfo
from slackgenie.core.rotation import Override, ScheduleModel
from slackgenie.core.shifts import Stretch, stretches
from slackgenie.sources.base import LevelView
from slackgenie.sources.base import Override as TakenOverride
from slackgenie.sources.http import SourceAuthError, SourceError, SourceNotFound, SourceUnavailable
from slackgenie.sources.levels import around, levels_of, split_asked
from slackgenie.sources.opsgenie.client import OpsgenieClient
from slackgenie.sources.opsgenie.escalations import Escalations, Level
from slackgenie.sources.opsgenie.forecast import Forecast
from slackgenie.sources.opsgenie.wire import (created_alias, listed_overrides, on_call_from_api, overrides_from_api,
                                              parent_of, schedule_from_api, schedule_info, utc_z)
from slackgenie.sources.reads import read
from slackgenie.sources.workers import Workers

log = structlog.get_logger("slackgenie.opsgenie")
# How far around a window a level's ``next`` / ``previous`` reads its schedule, and how far back
# "previous" looks for the stretch before the one at an instant.
AROUND = timedelta(days=35)
BACK = (timedelta(days=2), timedelta(days=16), timedelta(days=93))


class OpsgenieSource:
    """Who should be on call: one bulk read, per-schedule reads only where the bulk read falls
    short. Handoffs are foreseen from the rotations (one read for all schedules) run forward
    with the rotation maths, checked against every pass's answers (see ``forecast.Forecast``)."""

    provider = "opsgenie"

    def __init__(self, client: OpsgenieClient, concurrency: int = 8,
                 now: Callable[[], datetime] | None = None):
        self.client = client
        self._workers = Workers(concurrency, "opsgenie")
        self._now = now or (lambda: datetime.now(timezone.utc))
        self.forecast = Forecast(self.schedules, self._now, fetch_overrides=self.overrides)
        self.escalations = Escalations(client, self._now)

    def next_handoff(self, refs: Sequence[str], after: datetime) -> datetime | None:
        """Schedules: their forecast. A level: the forecast of the schedule behind it (as the
        policy was last read); a user or a team has no handoff foreseen."""
        wanted = list(dict.fromkeys(refs))
        levels = levels_of(wanted)
        known = self.escalations.levels(levels, fresh=False, read_missing=False)
        behind = [level.schedule for level in known.values() if isinstance(level, Level) and level.schedule is not None]
        return self.forecast.next_handoff([r for r in wanted if r not in levels] + behind, after)

    def observe(self, reads: Mapping[str, OnCall | ReadFailure], at: datetime) -> None:
        """Schedules' answers check their forecast; so does a level's that is a schedule's own
        on-call (``default``), under the schedule's id."""
        levels = levels_of(list(reads))
        known = self.escalations.levels(levels, fresh=False, read_missing=False) if levels else {}
        checked = {ref: read for ref, read in reads.items() if ref not in known}
        for ref, level in known.items():
            if isinstance(level, Level) and level.schedule is not None and level.notify == "default":
                checked.setdefault(level.schedule, reads[ref])
        self.forecast.observe(checked, at)

    def level(self, ref: str, at: datetime | None = None) -> LevelView | ReadFailure:
        """One level for `check`: its recipient, and who it is now (the policy read afresh)."""
        level = self.escalations.levels([ref])[ref]
        if isinstance(level, ReadFailure):
            return level
        return self.escalations.view(level, self._with_levels([ref], {ref: level}, at)[ref])

    def stretches(self, refs: Sequence[str], start: datetime,
                  end: datetime) -> dict[str, list[Stretch] | ReadFailure]:
        """From the rotations (the forecast's read) with each schedule's overrides read afresh
        (one call each, ``concurrency`` at a time), run forward with the rotation maths. A level
        (its policy as last read): the stretches of the schedule behind it, or of the people
        before or after them (``next``, ``previous``); a user or a team over the whole window."""
        wanted = list(dict.fromkeys(refs))
        levels = levels_of(wanted)
        if not levels:
            return self._stretches(wanted, start, end)
        asked = self.escalations.levels(levels, fresh=False)
        plain = [r for r in wanted if r not in asked]
        margin = AROUND if any(isinstance(v, Level) and v.notify in ("next", "previous") for v in asked.values()) \
            else timedelta(0)
        behind = [v.schedule for v in asked.values() if isinstance(v, Level) and v.schedule is not None]
        # one read of each schedule, whether a group names it, a level stands on it, or both
        wide = self._stretches(list(dict.fromkeys(plain + behind)), start - margin, end + margin)
        out: dict[str, list[Stretch] | ReadFailure] = {ref: _within(wide[ref], start, end) for ref in plain}
        for ref, level in asked.items():
            out[ref] = self._level_stretches(ref, level, wide, start, end, margin)
        return {ref: out[ref] for ref in wanted}

    def _level_stretches(self, ref: str, level: Level | ReadFailure, wide: Mapping[str, list[Stretch] | ReadFailure],
                         start: datetime, end: datetime, margin: timedelta) -> list[Stretch] | ReadFailure:
        if isinstance(level, ReadFailure):
            return level
        if level.schedule is None:  # a user or a team: the same people over the whole window
            read = self._with_levels([ref], {ref: level}, None)[ref]
            if isinstance(read, ReadFailure):
                return read
            return [Stretch(start, end, read.usernames)] if read.usernames else []
        found = wide.get(level.schedule)
        if found is None or isinstance(found, ReadFailure):
            error = found.error if isinstance(found, ReadFailure) else "not read"
            return ReadFailure(ref, f"schedule {level.rule.recipient.label!r}: {error}")
        if level.notify == "next":
            return around(found, "next", start, end, start - margin, end + margin)
        if level.notify == "previous":
            return around(found, "previous", start, end, start - margin, end + margin)
        return _within(found, start, end)

    def _stretches(self, refs: Sequence[str], start: datetime,
                   end: datetime) -> dict[str, list[Stretch] | ReadFailure]:
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

        one = {m.id: ref for ref, m in found.items()}  # a schedule named by its name and its id: walked once
        walked_once = dict(zip(one.values(), self._workers.map(walk, list(one.values()))))
        missing = ReadFailure("", "no such schedule in Opsgenie's schedule list (or the list could not be read)")
        out: dict[str, list[Stretch] | ReadFailure] = {}
        for ref in wanted:
            got = walked_once[one[found[ref].id]] if ref in found else missing
            out[ref] = replace(got, subject=ref) if isinstance(got, ReadFailure) else got
        return out

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
        """Schedules: one bulk read (per-schedule reads where it falls short). Levels: their
        policies read (one request), the schedules behind them read in the same bulk read, then
        each level's recipient (``escalations.Escalations``)."""
        wanted = list(dict.fromkeys(refs))
        levels = levels_of(wanted)
        if not levels:
            return self._on_calls(wanted, at)
        return self._with_levels(wanted, self.escalations.levels(levels), at)

    def _with_levels(self, wanted: list[str], asked: Mapping[str, Level | ReadFailure],
                     at: datetime | None) -> dict[str, OnCall | ReadFailure]:
        plain, behind = split_asked(wanted, asked)
        schedules = list(dict.fromkeys(plain + behind))
        reads = self._on_calls(schedules, at) if schedules else {}
        found = self.escalations.on_calls(asked, reads, self._previous, at,
                                          lambda fn, items: self._workers.map(fn, items))
        return {ref: found[ref] if ref in found else reads[ref] for ref in wanted}

    def _previous(self, ref: str, at: datetime | None) -> OnCall | ReadFailure:
        """Who was on call in the schedule before those on call at ``at``: Opsgenie serves no
        "previous on-call", so the rotations (the forecast's read) with the schedule's overrides
        (read afresh) are run back, further until a stretch before is found (``BACK``)."""
        at = at or self._now()
        model = self.forecast.models().get(ref)
        if model is None:
            return ReadFailure(ref, "no such schedule in Opsgenie's schedule list (or the list could not be read): "
                                    "its previous on-call cannot be worked out")
        if any(p.kind not in ("user", "none") for r in model.rotations for p in r.participants):
            return ReadFailure(ref, f"schedule {model.name!r} has a team or an escalation in its rotations: its "
                                    "previous on-call cannot be read as people")
        try:
            model = replace(model, overrides=self.overrides(model.id))
            after = at + timedelta(seconds=1)
            people: frozenset[str] = frozenset()
            for back in BACK:
                found = around(_walk(model, at - back, after), "previous", at, after, at - back, after)
                if found:
                    people = found[0].people
                    break
        except SourceError as exc:
            return ReadFailure(ref, str(exc))
        except Exception as exc:  # a rotation the maths cannot run: no answer, never "nobody"
            return ReadFailure(ref, f"its rotations cannot be run back: {type(exc).__name__}: {exc}")
        return OnCall(schedule=ref, schedule_id=model.id, schedule_name=model.name, usernames=people,
                      enabled=model.enabled)

    def _on_calls(self, refs: Sequence[str], at: datetime | None = None) -> dict[str, OnCall | ReadFailure]:
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


def _within(found: list[Stretch] | ReadFailure, start: datetime, end: datetime) -> list[Stretch] | ReadFailure:
    """Stretches read over a wider window, as they are within ``start``..``end``."""
    if isinstance(found, ReadFailure):
        return found
    return stretches([(s.start, s.end, who) for s in found for who in s.people], start, end)


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
