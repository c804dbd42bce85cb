"""Several providers behind the one interface, addressed by schedule key (``provider:ref``).

The stages never ask which provider a schedule lives in: they hold keys, and this splits each
call by provider, asks the providers at once, and joins the answers under the same keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

import structlog

from slackgenie.core.model import OnCall, ReadFailure, ScheduleInfo, describe_key, parse_level, schedule_key, split_key
from slackgenie.core.shifts import Stretch
from slackgenie.core.model import PROVIDER_TITLES
from slackgenie.sources.base import (Escalating, Forecasting, LevelView, Look, Looking, NamingAnyone, OnCallSource,
                                     Override, SaysWhereToTake, ShiftTaking)
from slackgenie.sources.workers import Workers

log = structlog.get_logger("slackgenie.sources")
T = TypeVar("T")


class Unable(Exception):
    """The schedule's provider lacks the capability asked of it (the message says so)."""


class RoutedSource:
    """An ``OnCallSource`` over keys, made of one source per provider, with the capabilities of
    the providers that have them: a forecast where a provider gives none is "not foreseen" (the
    interval is the safety net) or a failed read of its shifts; a take where a provider cannot
    take one raises ``Unable``."""

    provider = "routed"

    def __init__(self, sources: Mapping[str, OnCallSource]):
        self.sources = dict(sources)
        # the providers asked at once, by up to four callers at a time (a pass, heads-ups, the app…)
        self._workers = Workers(4 * len(self.sources), "providers")

    def _split(self, keys: Sequence[str]) -> dict[str, list[str]]:
        by: dict[str, list[str]] = {}
        for key in dict.fromkeys(keys):
            provider, ref = split_key(key)
            by.setdefault(provider, []).append(ref)
        return by

    def _each(self, by: Mapping[str, T], fn: Callable[[OnCallSource, T], object]) -> dict[str, object]:
        """``fn`` for each provider in ``by``, concurrently when there are several."""
        asked = [(p, v) for p, v in by.items() if p in self.sources]
        return dict(zip([p for p, _ in asked], self._workers.map(lambda pv: fn(self.sources[pv[0]], pv[1]), asked)))

    def on_calls(self, keys: Sequence[str], at: datetime | None = None) -> dict[str, OnCall | ReadFailure]:
        by = self._split(keys)
        out: dict[str, OnCall | ReadFailure] = {}
        answers = self._each(by, lambda source, refs: source.on_calls(refs, at))
        for provider, refs in by.items():
            got = answers.get(provider)
            for ref in refs:
                key = schedule_key(provider, ref)
                read = got.get(ref) if isinstance(got, dict) else None
                if read is None:
                    out[key] = ReadFailure(key, f"no {provider} source is configured" if got is None
                                           else "the provider gave no answer for it")
                elif isinstance(read, OnCall):
                    out[key] = OnCall(key, read.schedule_id, read.schedule_name, read.usernames, read.enabled,
                                      read.needs_mapping)
                else:
                    out[key] = ReadFailure(key, read.error)
        return out

    def _forecasting(self, by: Mapping[str, T]) -> dict[str, T]:
        return {p: v for p, v in by.items() if isinstance(self.sources.get(p), Forecasting)}

    def next_handoff(self, keys: Sequence[str], after: datetime) -> datetime | None:
        by = self._forecasting(self._split(keys))
        found = [t for t in self._each(by, lambda s, refs: _forecast(s).next_handoff(refs, after)).values()
                 if isinstance(t, datetime)]
        return min(found) if found else None

    def observe(self, reads: Mapping[str, OnCall | ReadFailure], at: datetime) -> None:
        by: dict[str, dict[str, OnCall | ReadFailure]] = {}
        for key, read in reads.items():
            provider, ref = split_key(key)
            by.setdefault(provider, {})[ref] = read
        for provider, theirs in self._forecasting(by).items():
            try:
                _forecast(self.sources[provider]).observe(theirs, at)
            except Exception as exc:  # a forecast is an optimisation: never let it stop a pass
                log.warning("sources.observe_failed", provider=provider, error=f"{type(exc).__name__}: {exc}")

    def stretches(self, keys: Sequence[str], start: datetime,
                  end: datetime) -> dict[str, list[Stretch] | ReadFailure]:
        by = self._split(keys)
        answers = self._each(self._forecasting(by), lambda source, refs: _forecast(source).stretches(refs, start, end))
        out: dict[str, list[Stretch] | ReadFailure] = {}
        for provider, refs in by.items():
            got = answers.get(provider)
            for ref in refs:
                key = schedule_key(provider, ref)
                found = got.get(ref) if isinstance(got, dict) else None
                out[key] = found if found is not None else ReadFailure(key, (
                    "the provider gave no answer for it" if provider in answers or provider not in self.sources
                    else f"{PROVIDER_TITLES.get(provider, provider)} gives no forecast of who is on call when"))
        return out

    def catalog(self) -> list[ScheduleInfo]:
        """Every provider's schedules, ids and names given as keys (a provider that cannot be
        read shows none: the app falls back to the names in the config)."""
        out: list[ScheduleInfo] = []
        for provider, source in self.sources.items():
            try:
                infos = source.catalog()
            except Exception as exc:
                log.warning("sources.catalog_failed", provider=provider, error=f"{type(exc).__name__}: {exc}")
                continue
            out += [ScheduleInfo(schedule_key(provider, i.id), i.name, i.team, i.enabled) for i in infos]
        return out

    # --- overrides, by key: each goes to its provider's source, if it can take shifts ----------
    def source_of(self, key: str) -> tuple[OnCallSource, str]:
        """(the provider's source, the reference) for one schedule key; KeyError: none configured."""
        provider, ref = split_key(key)
        return self.sources[provider], ref

    def cannot_take(self, key: str) -> str | None:
        """Why shifts cannot be taken from Slack in this schedule (None: they can)."""
        provider, ref = split_key(key)
        source = self.sources.get(provider)
        if parse_level(ref) is not None:
            return (f"{describe_key(key)} is a level of an escalation policy, not a schedule: take the shift in the "
                    "schedule it notifies (its group's /oncall names it), or change the policy itself")
        if isinstance(source, ShiftTaking):
            return None
        if isinstance(source, SaysWhereToTake):
            return source.where_to_take(ref)
        return (f"{PROVIDER_TITLES.get(provider, provider)} schedules cannot be changed from Slack: take the shift in "
                f"{PROVIDER_TITLES.get(provider, provider)} itself")

    def look(self, key: str, start: datetime) -> Look | ReadFailure | None:
        """The schedule read whole and described, where its provider can (None: it cannot)."""
        source, ref = self.source_of(key)
        return source.look(ref, start) if isinstance(source, Looking) else None

    def level(self, key: str, at: datetime | None = None) -> LevelView | ReadFailure:
        """An escalation level described for `check`: its recipients and who each is now."""
        provider, ref = split_key(key)
        source = self.sources.get(provider)
        if not isinstance(source, Escalating):
            return ReadFailure(key, f"{PROVIDER_TITLES.get(provider, provider)} has no escalation policies here")
        return source.level(ref, at)

    def outsider_id(self, key: str, identities: frozenset[str]) -> str | None:
        """Someone outside this schedule's rotations, named as its provider would (None: it cannot)."""
        source, _ = self.source_of(key)
        return source.outsider_id(identities) if isinstance(source, NamingAnyone) else None

    def _taking(self, key: str) -> tuple[ShiftTaking, str]:
        source, ref = self.source_of(key)
        if not isinstance(source, ShiftTaking):
            raise Unable(self.cannot_take(key))
        return source, ref

    def members(self, key: str) -> dict[str, str] | ReadFailure:
        source, ref = self._taking(key)
        return source.members(ref)

    def create_override(self, key: str, user_id: str, start: datetime, end: datetime) -> str:
        source, ref = self._taking(key)
        return source.create_override(ref, user_id, start, end)

    def overrides_of(self, key: str, user_id: str, now: datetime) -> list[Override]:
        source, ref = self._taking(key)
        return source.overrides_of(ref, user_id, now)

    def delete_override(self, key: str, override_id: str) -> None:
        source, ref = self._taking(key)
        source.delete_override(ref, override_id)

    def catalog_of(self, provider: str) -> list[ScheduleInfo]:
        """One provider's schedules as it names them (raises its errors): for `check`."""
        return self.sources[provider].catalog()

    def close(self) -> None:
        self._workers.close()
        for source in self.sources.values():
            source.close()


def _forecast(source: OnCallSource) -> Forecasting:
    assert isinstance(source, Forecasting)  # _forecasting kept only those
    return source
