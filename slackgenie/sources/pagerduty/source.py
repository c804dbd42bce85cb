"""PagerDuty as an ``OnCallSource``: schedules by id or name, who is on call in them (read in
batches, see ``batches``), their foreseen handoffs and shifts, and overrides taken from Slack;
escalation levels (``escalation:N:policy`` references) read like schedules (``escalations``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import structlog

from slackgenie.core.model import OnCall, ReadFailure, ScheduleInfo
from slackgenie.core.shifts import Stretch, stretches
from slackgenie.sources.base import LevelView, Override
from slackgenie.sources.caches import TimedMap
from slackgenie.sources.catalog import Catalog
from slackgenie.sources.forecast import ShiftForecast
from slackgenie.sources.http import SourceError, SourceNotFound
from slackgenie.sources.identity import UserKeys, is_email
from slackgenie.sources.pagerduty.batches import read_in_batches
from slackgenie.sources.levels import levels_of
from slackgenie.sources.pagerduty.client import PagerDutyClient
from slackgenie.sources.pagerduty.escalations import Escalations
from slackgenie.sources.pagerduty.wire import Entry, Schedule, User
from slackgenie.sources.reads import read
from slackgenie.sources.validate import Malformed, fit
from slackgenie.sources.workers import Workers

log = structlog.get_logger("slackgenie.pagerduty")

USER_AGE = 3600.0  # how long a user's e-mail is kept (members)
OVERRIDE_SPAN = timedelta(days=90)  # how far ahead overrides_of looks
NO_SUCH_SCHEDULE = "no such schedule in PagerDuty (check the name or id)"


class PagerDutySource:
    provider = "pagerduty"

    def __init__(self, client: PagerDutyClient, concurrency: int = 8, now: Callable[[], datetime] | None = None,
                 user_map: Mapping[str, str] | None = None, pass_deadline: float = 60.0):
        self.client = client
        self.pass_deadline = pass_deadline
        self._workers = Workers(concurrency, "pagerduty")
        # `users:` keys: one that is a PagerDuty user id names that person, before their e-mail
        self._keys = UserKeys(user_map or {})
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._catalog = Catalog(client.schedules, lambda s: s.id, lambda s: s.label, "PagerDuty",
                                "no such schedule in PagerDuty (check the name or id; the API key must be able to "
                                "see it)")
        self.forecast = ShiftForecast(self._boundaries, self._now, max_age=timedelta(hours=1))
        self._emails: TimedMap[str, str] = TimedMap(USER_AGE)  # user id -> e-mail as given (a usable one)
        self.escalations = Escalations(client, self._workers, self._person, pass_deadline)

    def _resolve(self, refs: Sequence[str]) -> dict[str, Schedule | ReadFailure]:
        """Each reference's schedule (an id or an exact name), from the kept list; or why not."""
        return self._catalog.resolve_all(refs)

    def catalog(self) -> list[ScheduleInfo]:
        return [ScheduleInfo(s.id, s.label, s.teams[0].summary if s.teams else None) for s in self._catalog.all()]

    def on_calls(self, refs: Sequence[str], at: datetime | None = None) -> dict[str, OnCall | ReadFailure]:
        """Schedules: ``/oncalls`` by schedule. Levels: their policies read afresh, then ``/oncalls``
        by policy (``escalations``)."""
        wanted = list(dict.fromkeys(refs))
        levels = levels_of(wanted)
        if not levels:
            return self._on_calls(wanted, at)
        plain = [r for r in wanted if r not in levels]
        found = self._on_calls(plain, at) if plain else {}
        found.update(self.escalations.on_calls(self.escalations.levels(levels), at))
        return {ref: found[ref] for ref in wanted}

    def level(self, ref: str, at: datetime | None = None) -> LevelView | ReadFailure:
        """One level for `check`: its targets, and who each is now (the policy read afresh)."""
        level = self.escalations.levels([ref])[ref]
        return level if isinstance(level, ReadFailure) else self.escalations.view(level, at)

    def _on_calls(self, refs: Sequence[str], at: datetime | None = None) -> dict[str, OnCall | ReadFailure]:
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
                results[ref] = ReadFailure(ref, odd.get(schedule.id) or odd[None])
        by_schedule: dict[str, list[User]] = {}
        for entry in entries:
            if entry.schedule is not None:  # a permanent on-call of an escalation rule is no schedule's
                by_schedule.setdefault(entry.schedule.id, []).append(entry.user)
        empty = [ref for ref, s in ok.items() if s.id not in by_schedule and ref not in results]
        if empty:  # confirm "nobody" with the schedule itself (it may be in no escalation policy)
            confirmed = dict(zip(empty, self._workers.map(lambda r: self._confirm(r, ok[r], at), empty)))
            for ref, got in confirmed.items():
                if isinstance(got, ReadFailure):
                    results[ref] = got
                else:
                    by_schedule[ok[ref].id] = got
        for ref, schedule in ok.items():
            if ref not in results:
                results[ref] = self._on_call(ref, schedule, by_schedule.get(schedule.id, []))
        return results

    def _on_call(self, ref: str, schedule: Schedule, listed: list[User]) -> OnCall | ReadFailure:
        """Who the schedule's entries name, each once, as ``on_calls`` names them."""
        users: dict[str, User] = {}
        for u in listed:  # once per person, whatever the levels
            if u.id not in users or (not users[u.id].email and u.email):
                users[u.id] = u
        # With include[]=users every user carries an e-mail: one without is an answer that
        # does not fit (a reference instead of a user), never a person to leave out (unless
        # `users:` names them by id: then the e-mail is not needed).
        people = {u.id: self._person(u.id, u.email) for u in users.values()}
        odd_users = [u for u in users.values() if people[u.id] is None]
        if odd_users:
            u = odd_users[0]
            return ReadFailure(ref, f"PagerDuty's answer gives user {u.id} ({u.name or u.summary or '?'}) "
                                    "no usable e-mail")
        usernames = frozenset(p for p in people.values() if p is not None)
        return OnCall(ref, schedule.id, schedule.label, usernames, True)

    def _mapped(self, user_id: str) -> bool:
        """Whether `users:` has an entry for this PagerDuty user id (in any case)."""
        return self._keys.mapped(user_id) is not None

    def _person(self, user_id: str, email: str | None) -> str | None:
        """How a PagerDuty user is named to the stages: their `users:` key, else their e-mail,
        lower-cased (None: none usable); see ``identity.UserKeys``."""
        return self._keys.person(user_id, email)

    def _read(self, ids: Sequence[str], since: datetime | None = None,
              until: datetime | None = None) -> tuple[list[Any], dict[str, str]]:
        """The on-call entries of these schedules and, by schedule id, why each one that could
        not be read was not (``batches.read_in_batches``)."""
        return read_in_batches(self.client, ids, since, until, self._workers, self.pass_deadline)

    def _confirm(self, ref: str, schedule: Schedule, at: datetime | None) -> list[User] | ReadFailure:
        return read(ref, lambda: self.client.schedule_users(schedule.id, at or self._now()), NO_SUCH_SCHEDULE)

    def _boundaries(self, refs: list[str], start: datetime, end: datetime) -> Mapping[str, list[datetime]]:
        """The forecast's read: each schedule's (and level's) shift starts and ends in the window."""
        levels = levels_of(refs)
        found = self.escalations.boundaries(levels, start, end) if levels else {}
        plain = [r for r in refs if r not in levels]
        return {**self._schedule_boundaries(plain, start, end), **found} if plain else found

    def _schedule_boundaries(self, refs: list[str], start: datetime, end: datetime) -> Mapping[str, list[datetime]]:
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
        its users' e-mails from the schedule's users over the same window: two calls each. Levels
        (their policies as last read): their ``/oncalls`` entries over the window."""
        wanted = list(dict.fromkeys(refs))
        levels = levels_of(wanted)
        plain = [r for r in wanted if r not in levels]
        out = self._schedule_stretches(plain, start, end) if plain else {}
        if levels:
            out.update(self.escalations.stretches(self.escalations.levels(levels, fresh=False), start, end))
        return {ref: out[ref] for ref in wanted}

    def _schedule_stretches(self, refs: Sequence[str], start: datetime,
                            end: datetime) -> dict[str, list[Stretch] | ReadFailure]:
        resolved = self._resolve(list(dict.fromkeys(refs)))
        out: dict[str, list[Stretch] | ReadFailure] = {r: s for r, s in resolved.items() if isinstance(s, ReadFailure)}
        todo = [(r, s) for r, s in resolved.items() if not isinstance(s, ReadFailure)]
        out.update(zip([r for r, _ in todo], self._workers.map(lambda pair: self._stretches(*pair, start, end), todo)))
        return out

    def _stretches(self, ref: str, schedule: Schedule, start: datetime, end: datetime) -> list[Stretch] | ReadFailure:
        def both() -> tuple[list[Any], dict[str, User]]:
            entries = self.client.final_schedule(schedule.id, start, end)
            emails_needed = any(e.user is None or not self._mapped(e.user.id) for e in entries)
            users = {u.id: u for u in self.client.schedule_users(schedule.id, start, end)} if emails_needed else {}
            return entries, users

        got = read(ref, both)
        if isinstance(got, ReadFailure):
            return got
        entries, users = got
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

    # --- taking a shift from Slack: overrides ---------------------------------------------------
    def _schedule(self, ref: str) -> Schedule:
        """The one schedule a write names; raises (``SourceAuthError`` included) when it cannot tell."""
        found = self._catalog.find(ref)
        if isinstance(found, ReadFailure):
            raise SourceError(f"PagerDuty schedule {ref!r}: {found.error}")
        if found is None:
            raise SourceNotFound(f"PagerDuty: no such schedule {ref!r} (check the name or id)", 404)
        return found

    def _email(self, user_id: str) -> str:
        """A user's e-mail as PagerDuty gives it (maybe empty), kept an hour once usable."""
        kept = self._emails.get(user_id)
        if kept is not None:
            return kept
        email = (self.client.user(user_id).email or "").strip()
        if is_email(email):
            self._emails.put(user_id, email)
        return email

    def members(self, ref: str) -> dict[str, str] | ReadFailure:
        """The users of the schedule's layers (those not ended): lower-cased e-mail (or the `users:`
        key that maps the user id, whose e-mail is then not read) -> user id."""
        schedule = self._catalog.resolve(ref)
        if isinstance(schedule, ReadFailure):
            return schedule
        now = self._now()
        layers = read(ref, lambda: self.client.layers(schedule.id), NO_SUCH_SCHEDULE)
        if isinstance(layers, ReadFailure):
            return layers
        ids = list(dict.fromkeys(u.user.id for layer in layers if layer.end is None or layer.end > now
                                 for u in layer.users))
        unknown = "the schedule's layers name user {}, whom PagerDuty does not know"
        unmapped = [i for i in ids if not self._mapped(i)]
        emails = dict(zip(unmapped, self._workers.map(
            lambda user_id: read(ref, lambda: self._email(user_id), unknown.format(user_id)), unmapped)))
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
        self._workers.close()
        self.client.close()


def _entries(raw: list[Any]) -> tuple[list[Entry], dict[str | None, str]]:
    """The entries that fit the contract, and, by schedule id (None: whose, nobody can tell),
    why the others do not."""
    good: list[Entry] = []
    odd: dict[str | None, str] = {}
    for item in raw:
        try:
            entry = fit(Entry, item, "PagerDuty's on-call answer is", at="oncalls[].")
        except Malformed as exc:
            schedule = item.get("schedule") if isinstance(item, dict) else None
            sid = schedule.get("id") if isinstance(schedule, dict) and isinstance(schedule.get("id"), str) else None
            odd.setdefault(sid, str(exc))
            continue
        if entry.schedule is None:  # asked for by schedule: an entry of no schedule could be anyone's
            odd.setdefault(None, "PagerDuty's on-call answer is malformed: an entry names no schedule")
            continue
        good.append(entry)
    return good, odd
