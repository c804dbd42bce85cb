"""``JsmSource``: who is on call in JSM Ops schedules, through ``JsmClient``. It keeps the schedule
list (names -> ids), each account's Jira user, and recent answers (see the package's docstring for
when one is read again); it forecasts handoffs from timelines, and takes shifts as overrides,
remembering the edges of those it wrote (a forecast read before them does not know them).
Escalation levels (``escalation:N:policy`` references) are answered like schedules
(``escalations.py`` finds and reads the policies)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone

import structlog

from slackgenie.core.model import OnCall, ReadFailure, ScheduleInfo
from slackgenie.core.shifts import Stretch, stretches
from slackgenie.sources.base import LevelView, Override
from slackgenie.sources.caches import TimedMap
from slackgenie.sources.catalog import Catalog
from slackgenie.sources.forecast import ShiftForecast
from slackgenie.sources.http import SourceError, SourceNotFound
from slackgenie.sources.identity import UserKeys, is_email
from slackgenie.sources.jsm.client import JsmClient, _utc
from slackgenie.sources.jsm.escalations import Escalations, Level, Readers
from slackgenie.sources.jsm.wire import _Period, _Schedule, _User
from slackgenie.sources.levels import People, around, levels_of, split_asked
from slackgenie.sources.reads import read
from slackgenie.sources.workers import Workers

log = structlog.get_logger("slackgenie.jsm")

PEOPLE_AGE = 86400.0  # seconds an account's e-mail is kept
NO_SUCH_SCHEDULE = "no such schedule in JSM Ops (check the name or id)"
# How far around a window a level's ``next`` / ``previous`` reads its schedule's timeline, and how
# far back "previous" looks for the stretch before the one at an instant.
AROUND = timedelta(days=35)
BACK = (timedelta(days=2), timedelta(days=16), timedelta(days=93))

Periods = dict[str, list[_Period] | ReadFailure]


def _days(start: datetime, end: datetime) -> int:
    """The whole days a timeline read needs to cover ``start`` to ``end``."""
    return max(1, int((end - start).total_seconds() // 86400) + 1)


class JsmSource:
    provider = "jsm"

    def __init__(self, client: JsmClient, concurrency: int = 8, recheck: float = 300.0,
                 now: Callable[[], datetime] | None = None, monotonic: Callable[[], float] = time.monotonic,
                 mapped: Iterable[str] = ()):
        self.client = client
        self._keys = UserKeys(mapped)  # an account id among the ``users:`` keys is that person, before its e-mail
        self.recheck = recheck
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._workers = Workers(concurrency, "jsm")
        self._catalog = Catalog(client.schedules, lambda s: s.id, lambda s: s.name, "JSM Ops",
                                "no such schedule in JSM Ops (check the name or id; the API user must be able to see it)")
        self._people: TimedMap[str, _User] = TimedMap(PEOPLE_AGE)  # account id -> Jira's user
        # ref -> (read at, answer), kept ``recheck`` seconds on the clock of answers' ages (simulated in benchmarks)
        self._answers: TimedMap[str, tuple[datetime, OnCall]] = TimedMap(recheck, timer=monotonic)
        # schedule id -> the starts and ends of overrides written here, which the forecast read
        # before them does not foresee: no answer is kept across one, and the daemon wakes at each
        self._written: dict[str, set[datetime]] = {}
        self._lock = threading.Lock()
        self.forecast = ShiftForecast(self._boundaries, self._now)
        self.escalations = Escalations(client, self._catalog.all, self._workers)
        self._readers = Readers(self._people_of, self._next, self._previous)

    def _find(self, ref: str) -> _Schedule | ReadFailure:
        """The schedule a reference names (an id, or an exact name), from the kept list."""
        return self._catalog.resolve(ref)

    def catalog(self) -> list[ScheduleInfo]:
        return [ScheduleInfo(s.id, s.name, None, s.enabled) for s in self._catalog.all()]

    # --- who is on call ----------------------------------------------------------------------
    def on_calls(self, refs: Sequence[str], at: datetime | None = None) -> dict[str, OnCall | ReadFailure]:
        """Schedules: each read (or its recent answer kept). Levels: their policies read, the
        schedules behind them read with the others, then each level's recipient."""
        wanted = list(dict.fromkeys(refs))
        levels = levels_of(wanted)
        if not levels:
            return self._on_calls(wanted, at)
        return self._with_levels(wanted, self.escalations.levels(levels), at)

    def _with_levels(self, wanted: list[str], asked: Mapping[str, Level | ReadFailure],
                     at: datetime | None) -> dict[str, OnCall | ReadFailure]:
        plain, behind = split_asked(wanted, asked)
        # a schedule behind a level that a group also names (by name or id) is read once
        named = {schedule.id: ref for ref in plain if not isinstance(schedule := self._find(ref), ReadFailure)}
        reads = self._on_calls(list(dict.fromkeys(plain + [s for s in behind if s not in named])), at)
        schedules = {**reads, **{sid: reads[ref] for sid, ref in named.items()}}
        levels = self.escalations.on_calls(asked, schedules, self._readers, at)
        return {ref: levels[ref] if ref in levels else reads[ref] for ref in wanted}

    def level(self, ref: str, at: datetime | None = None) -> LevelView | ReadFailure:
        """One level for `check`: its recipient, and who it is now (the policy read afresh)."""
        level = self.escalations.levels([ref])[ref]
        if isinstance(level, ReadFailure):
            return level
        return self.escalations.view(level, self._with_levels([ref], {ref: level}, at)[ref])

    def _people_of(self, ref: str, accounts: Sequence[str]) -> People | ReadFailure:
        """Who these accounts are, as ``on_calls`` names people (``needs_mapping`` where hidden)."""
        people = self._people_for(accounts) if accounts else {}
        got = self._who(ref, list(accounts), people)
        return got if isinstance(got, ReadFailure) else People(*got)

    def _next(self, schedule_id: str, at: datetime | None) -> OnCall | ReadFailure:
        """Who is on call next in the schedule (``next-on-calls``); kept like an on-call answer
        (it changes only at a handoff)."""
        return self._between_handoffs("next", schedule_id, at, self._read_next)

    def _previous(self, schedule_id: str, at: datetime | None) -> OnCall | ReadFailure:
        """Who was on call before; kept like an on-call answer (it changes only at a handoff)."""
        return self._between_handoffs("previous", schedule_id, at, self._read_previous)

    def _between_handoffs(self, kind: str, schedule_id: str, at: datetime | None,
                          read_: Callable[[str, datetime | None], OnCall | ReadFailure]) -> OnCall | ReadFailure:
        if at is not None:
            return read_(schedule_id, at)
        now, key = self._now(), f"{kind}\x00{schedule_id}"
        kept = self._kept(schedule_id, now, key)
        if kept is not None:
            return kept
        got = read_(schedule_id, None)
        if isinstance(got, OnCall):
            self._answers.put(key, (now, got))
        return got

    def _read_next(self, schedule_id: str, at: datetime | None) -> OnCall | ReadFailure:
        found = self._find(schedule_id)
        if isinstance(found, ReadFailure):
            return found
        ids = read(schedule_id, lambda: self.client.next_on_call_ids(found.id, at), NO_SUCH_SCHEDULE)
        if isinstance(ids, ReadFailure):
            return ids
        return self._answer(schedule_id, found, ids, self._people_for(ids) if ids else {})

    def _read_previous(self, schedule_id: str, at: datetime | None) -> OnCall | ReadFailure:
        """Who was on call in the schedule before those on call at ``at``: JSM Ops serves no
        "previous on-call", so the schedule's final timeline (overrides included) is read back,
        further until a stretch before is found (``BACK``)."""
        found = self._find(schedule_id)
        if isinstance(found, ReadFailure):
            return found
        at = at or self._now()
        after = at + timedelta(seconds=1)
        accounts: frozenset[str] = frozenset()
        for back in BACK:
            periods = read(schedule_id, lambda: self.client.periods(found.id, at - back, _days(at - back, after)),
                           NO_SUCH_SCHEDULE)
            if isinstance(periods, ReadFailure):
                return periods
            pieces: list[tuple[datetime, datetime, str | None]] = []
            for p in periods:
                r = p.responder
                if r is not None and r.type == "noone":
                    continue
                if r is None or r.type != "user" or not r.id:
                    return ReadFailure(schedule_id, f"schedule {found.name!r} has a team or an escalation in its "
                                                    "timeline: its previous on-call cannot be read as people")
                pieces.append((_utc(p.startDate), _utc(p.endDate), r.id))
            before = around(stretches(pieces, at - back, after), "previous", at, after, at - back, after)
            if before:
                accounts = before[0].people
                break
        ids = sorted(accounts)
        return self._answer(schedule_id, found, ids, self._people_for(ids) if ids else {})

    def _on_calls(self, refs: Sequence[str], at: datetime | None = None) -> dict[str, OnCall | ReadFailure]:
        now = self._now()
        results: dict[str, OnCall | ReadFailure] = {}
        to_read: list[str] = []
        for ref in dict.fromkeys(refs):
            kept = self._kept(ref, now) if at is None else None
            if kept is not None:
                results[ref] = kept
            else:
                to_read.append(ref)
        if not to_read:
            return results
        ids = dict(zip(to_read, self._workers.map(lambda r: self._read_ids(r, at), to_read)))
        people = self._people_for({a for v in ids.values() if isinstance(v, tuple) for a in v[1]
                                   if not is_email(a)})
        for ref, got in ids.items():
            answer = got if isinstance(got, ReadFailure) else self._answer(ref, *got, people)
            results[ref] = answer
            if at is None and isinstance(answer, OnCall):
                self._answers.put(ref, (now, answer))
        return results

    def _kept(self, ref: str, now: datetime, key: str | None = None) -> OnCall | None:
        """The answer kept for ``ref`` (under ``key``: a level's next or previous on-call), if read
        less than ``recheck`` seconds ago and neither a handoff foreseen nor an override written
        here since."""
        cached = self._answers.get(key or ref)
        if (cached is not None and self.forecast.unchanged_since(ref, cached[0], now)
                and not self._written_within(cached[1].schedule_id, cached[0], now)):
            return cached[1]
        return None

    def _answer(self, ref: str, schedule: _Schedule, accounts: list[str],
                people: dict[str, _User] | ReadFailure) -> OnCall | ReadFailure:
        """Who the schedule's on-call accounts are: their ``users:`` keys, else their e-mails."""
        got = self._who(ref, accounts, people)
        if isinstance(got, ReadFailure):
            return got
        return OnCall(ref, schedule.id, schedule.name, got[0], schedule.enabled, got[1])

    def _who(self, ref: str, accounts: list[str], people: dict[str, _User] | ReadFailure,
             ) -> tuple[frozenset[str], tuple[tuple[str, str], ...]] | ReadFailure:
        """Accounts as people (their ``users:`` keys, else e-mails, else account ids) and those
        whose e-mail is hidden (to map)."""
        if accounts and isinstance(people, ReadFailure):
            return ReadFailure(ref, people.error)
        known = people if isinstance(people, dict) else {}
        usernames: set[str] = set()
        unmapped: list[tuple[str, str]] = []
        for account in accounts:
            if is_email(account):  # the legacy onCallRecipients shape: already an e-mail
                usernames.add(account.lower())
                continue
            user = known[account]
            person = self._keys.person(account, user.emailAddress)
            if person is None and user.emailAddress is not None:
                return ReadFailure(ref, f"Jira's user API gave account {account} an e-mail that is not one")
            if person is None:
                who = f"Atlassian account {account}" + (f" ({user.displayName})" if user.displayName else "")
                unmapped.append((account, f"{who} does not show its e-mail (profile privacy)"))
            usernames.add(person or account)
        return frozenset(usernames), tuple(unmapped)

    def _read_ids(self, ref: str, at: datetime | None) -> tuple[_Schedule, list[str]] | ReadFailure:
        found = self._find(ref)
        if isinstance(found, ReadFailure):
            return found
        return read(ref, lambda: (found, self.client.on_call_ids(found.id, at)), NO_SUCH_SCHEDULE)

    def _people_for(self, accounts: Iterable[str]) -> dict[str, _User] | ReadFailure:
        """Each account's Jira user, kept or in bulk. A failed lookup fails the read, and so does
        an account the answer leaves out (``user/bulk`` drops what it does not return, silently):
        a person whose e-mail could not be fetched is neither 'nobody' nor someone to drop. Only
        answers are kept, never an absence."""
        known = {a: user for a in accounts if (user := self._people.get(a)) is not None}
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
            for account in missing:
                self._people.put(account, found[account])
                known[account] = found[account]
        return known

    # --- handoffs and shifts: each schedule's final timeline -------------------------------------
    def _periods(self, refs: Iterable[str], start: datetime, end: datetime) -> Periods:
        """Each schedule's final timeline (overrides included) over ``start``..``end``."""
        days = _days(start, end)

        def one(ref: str) -> list[_Period] | ReadFailure:
            found = self._find(ref)
            if isinstance(found, ReadFailure):
                return found
            return read(ref, lambda: self.client.periods(found.id, start, days))

        wanted = list(dict.fromkeys(refs))
        return dict(zip(wanted, self._workers.map(one, wanted)))

    def _boundaries(self, refs: list[str], start: datetime, end: datetime) -> Mapping[str, list[datetime]]:
        edges: dict[str, list[datetime]] = {}
        for ref, got in self._periods(refs, start, end).items():
            if isinstance(got, ReadFailure):
                log.warning("jsm.timeline_failed", schedule=ref, error=got.error)
            else:
                edges[ref] = sorted({_utc(t) for p in got for t in (p.startDate, p.endDate)})
        return edges

    def stretches(self, refs: Sequence[str], start: datetime,
                  end: datetime) -> dict[str, list[Stretch] | ReadFailure]:
        """From each schedule's final timeline; users' account ids become e-mails as in
        ``on_calls`` (a hidden e-mail: the account id). A user who cannot be looked up fails it.
        A level (its policy as last read): the stretches of the schedule behind it, or of the
        people after or before them (``next``, ``previous``: a wider timeline); a user over the
        whole window; a team cannot be read as people."""
        wanted = list(dict.fromkeys(refs))
        levels = levels_of(wanted)
        if not levels:
            return self._schedule_stretches(wanted, start, end)
        asked = self.escalations.levels(levels, fresh=False)
        plain = [r for r in wanted if r not in asked]
        margin = AROUND if any(isinstance(v, Level) and v.notify in ("next", "previous") for v in asked.values()) \
            else timedelta(0)
        behind = list(dict.fromkeys(v.schedule for v in asked.values() if isinstance(v, Level) and v.schedule))
        wide = self._schedule_stretches(behind, start - margin, end + margin) if behind else {}
        out = self._schedule_stretches(plain, start, end) if plain else {}
        for ref, level in asked.items():
            out[ref] = self._level_stretches(ref, level, wide, start, end, margin)
        return {ref: out[ref] for ref in wanted}

    def _level_stretches(self, ref: str, level: Level | ReadFailure, wide: Mapping[str, list[Stretch] | ReadFailure],
                         start: datetime, end: datetime, margin: timedelta) -> list[Stretch] | ReadFailure:
        if isinstance(level, ReadFailure):
            return level
        if level.schedule is None:  # a user (a team fails): the same people over the whole window
            got = self._with_levels([ref], {ref: level}, None)[ref]
            if isinstance(got, ReadFailure):
                return got
            return [Stretch(start, end, got.usernames)] if got.usernames else []
        found = wide.get(level.schedule)
        if found is None or isinstance(found, ReadFailure):
            error = found.error if isinstance(found, ReadFailure) else "not read"
            return ReadFailure(ref, f"schedule {self.escalations.named(level.rule).recipient.label!r}: {error}")
        if level.notify in ("next", "previous"):
            return around(found, "next" if level.notify == "next" else "previous", start, end,
                          start - margin, end + margin)
        return [Stretch(max(s.start, start), min(s.end, end), s.people) for s in found
                if s.end > start and s.start < end]

    def _schedule_stretches(self, refs: Sequence[str], start: datetime,
                            end: datetime) -> dict[str, list[Stretch] | ReadFailure]:
        read_ = self._periods(refs, start, end)
        accounts = {p.responder.id for got in read_.values() if not isinstance(got, ReadFailure) for p in got
                    if p.responder is not None and p.responder.type == "user" and p.responder.id}
        people = self._people_for(accounts) if accounts else {}
        return {ref: got if isinstance(got, ReadFailure) else self._stretches(ref, got, people, start, end)
                for ref, got in read_.items()}

    def _stretches(self, ref: str, periods: list[_Period], people: dict[str, _User] | ReadFailure,
                   start: datetime, end: datetime) -> list[Stretch] | ReadFailure:
        pieces: list[tuple[datetime, datetime, str | None]] = []
        for p in periods:
            r = p.responder
            if r is not None and r.type == "noone":
                continue
            who: str | None
            if r is None or r.type != "user":  # a team or an escalation: someone, not a person
                who = (r.name or r.id or r.type) if r is not None else "someone"
            elif isinstance(people, ReadFailure) or not r.id:
                return ReadFailure(ref, people.error if isinstance(people, ReadFailure)
                                   else "a timeline period names a user without an id")
            else:
                who = self._identity(r.id, people[r.id])
            pieces.append((_utc(p.startDate), _utc(p.endDate), who))
        return stretches(pieces, start, end)

    # --- taking a shift from Slack: overrides ---------------------------------------------------
    def members(self, ref: str) -> dict[str, str] | ReadFailure:
        """The users in the schedule's rotations (the schedule list with ``expand=rotation``):
        the identity ``on_calls`` gives (the lower-cased e-mail; the account id where Jira hides
        it) -> the Atlassian account id. Teams and escalations are not persons: left out."""
        found = self._find(ref)
        if isinstance(found, ReadFailure):
            return found
        rotations = read(ref, lambda: self.client.rotations(found))
        if isinstance(rotations, ReadFailure):
            return rotations
        if rotations is None:
            return ReadFailure(ref, NO_SUCH_SCHEDULE)
        accounts = list(dict.fromkeys(p.id for r in rotations for p in r.participants if p.type == "user" and p.id))
        people = self._people_for(accounts) if accounts else {}
        if isinstance(people, ReadFailure):
            return ReadFailure(ref, people.error)
        out: dict[str, str] = {}
        for account in accounts:
            out.setdefault(self._identity(account, people[account]), account)
        return out

    def _identity(self, account: str, user: _User) -> str:
        """Who an account is, as ``on_calls`` names them: its ``users:`` key, else its lower-cased
        e-mail, else (hidden or not an e-mail) the account id."""
        return self._keys.person(account, user.emailAddress) or account

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
        self._answers.drop_where(lambda kept: kept[1].schedule_id == schedule_id)
        with self._lock:
            kept = {t for t in self._written.get(schedule_id, set()) | {_utc(e) for e in edges} if t > horizon}
            if kept:
                self._written[schedule_id] = kept
            else:
                self._written.pop(schedule_id, None)

    def _plain(self, refs: Sequence[str]) -> list[str]:
        """Schedules as they are: a level as the schedule behind it (its policy as last read: no
        call); a user or a team has no handoff foreseen."""
        wanted = list(dict.fromkeys(refs))
        levels = levels_of(wanted)
        if not levels:
            return wanted
        known = self.escalations.levels(levels, fresh=False, read_missing=False)
        behind = [v.schedule for v in known.values() if isinstance(v, Level) and v.schedule is not None]
        return list(dict.fromkeys([r for r in wanted if r not in known] + behind))

    def next_handoff(self, refs: Sequence[str], after: datetime) -> datetime | None:
        """Each schedule's timeline; a level's: the schedule's behind it (a policy edited since is
        caught by the regular interval)."""
        refs = self._plain(refs)
        foreseen = self.forecast.next_handoff(refs, after)
        with self._lock:
            if not self._written:
                return foreseen
        ids = {found.id for ref in refs if not isinstance(found := self._find(ref), ReadFailure)}
        with self._lock:
            written = [t for i in ids for t in self._written.get(i, ()) if t > after]
        return min([t for t in (foreseen, *written) if t is not None], default=None)

    def observe(self, reads: Mapping[str, OnCall | ReadFailure], at: datetime) -> None:
        """Schedules' answers check their forecast; so does a level's that is a schedule's own
        on-call (``default``), under the schedule's id."""
        levels = levels_of(list(reads))
        known = self.escalations.levels(levels, fresh=False, read_missing=False) if levels else {}
        checked = {ref: got for ref, got in reads.items() if ref not in known}
        for ref, level in known.items():
            if isinstance(level, Level) and level.schedule is not None and level.notify == "default":
                checked.setdefault(level.schedule, reads[ref])
        self.forecast.observe(checked, at)

    def close(self) -> None:
        self._workers.close()
        self.client.close()
