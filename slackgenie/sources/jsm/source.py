"""``JsmSource``: who is on call in JSM Ops schedules, through ``JsmClient``. It keeps the schedule
list (names -> ids), each account's Jira user, and recent answers (see the package's docstring for
when one is read again); it forecasts handoffs from timelines, and takes shifts as overrides,
remembering the edges of those it wrote (a forecast read before them does not know them)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import structlog

from slackgenie.core.clock import Clock
from slackgenie.core.model import OnCall, ReadFailure, ScheduleInfo
from slackgenie.core.shifts import Stretch, stretches
from slackgenie.retry import ApiObserver, Stop
from slackgenie.sources.base import Override
from slackgenie.sources.forecast import ShiftForecast
from slackgenie.sources.catalog import find
from slackgenie.sources.http import Kept, SourceError, SourceNotFound, is_email
from slackgenie.sources.jsm.client import JsmClient, _utc
from slackgenie.sources.base import SourceOptions
from slackgenie.sources.jsm.settings import JsmOptions, JsmSecrets
from slackgenie.sources.jsm.wire import _Period, _Schedule, _User

log = structlog.get_logger("slackgenie.jsm")

CATALOG_AGE = 3600.0  # seconds the schedule list (names -> ids) is kept
PEOPLE_AGE = 86400.0  # seconds an account's e-mail is kept


def _match(ref: str, schedules: list[_Schedule]) -> _Schedule | ReadFailure | None:
    return find(ref, schedules, lambda s: s.id, lambda s: s.name, "JSM Ops")


def _days(start: datetime, end: datetime) -> int:
    """The whole days a timeline read needs to cover ``start`` to ``end``."""
    return max(1, int((end - start).total_seconds() // 86400) + 1)


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
            kept = self._kept(ref, now) if at is None else None
            if kept is not None:
                results[ref] = kept
            else:
                to_read.append(ref)
        if not to_read:
            return results
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="jsm") as pool:
            ids = dict(zip(to_read, pool.map(lambda r: self._read_ids(r, at), to_read)))
        people = self._people_for({a for v in ids.values() if isinstance(v, tuple) for a in v[1]
                                   if not is_email(a)})
        for ref, got in ids.items():
            answer = got if isinstance(got, ReadFailure) else self._answer(ref, *got, people)
            results[ref] = answer
            if at is None and isinstance(answer, OnCall):
                with self._lock:
                    self._answers[ref] = (now, self._monotonic(), answer)
        return results

    def _kept(self, ref: str, now: datetime) -> OnCall | None:
        """The answer kept for ``ref``, if read less than ``recheck`` seconds ago and neither a
        handoff foreseen nor an override written here since."""
        with self._lock:
            cached = self._answers.get(ref)
        if (cached is not None and self._monotonic() - cached[1] < self.recheck
                and self.forecast.unchanged_since(ref, cached[0], now)
                and not self._written_within(cached[2].schedule_id, cached[0], now)):
            return cached[2]
        return None

    def _answer(self, ref: str, schedule: _Schedule, accounts: list[str],
                people: dict[str, _User] | ReadFailure) -> OnCall | ReadFailure:
        """Who the schedule's on-call accounts are: their ``users:`` keys, else their e-mails."""
        known: dict[str, _User] = {}
        if accounts and isinstance(people, ReadFailure):
            return ReadFailure(ref, people.error)
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
            return ReadFailure(ref, bad)
        return OnCall(ref, schedule.id, schedule.name, frozenset(usernames), schedule.enabled, tuple(unmapped))

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
        days = _days(start, end)

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
        days = _days(start, end)

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


def build(secrets: JsmSecrets, options: SourceOptions, clock: Clock, observer: ApiObserver | None,
          stop: Stop) -> JsmSource:
    recheck = options.block.recheck if isinstance(options.block, JsmOptions) else JsmOptions().recheck
    return JsmSource(JsmClient(secrets, options.retry, observer=observer, stop=stop), options.concurrency,
                     recheck, clock.now, clock.monotonic, mapped=options.users)
