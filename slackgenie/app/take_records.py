"""What the state file holds about takes, so each happens once across processes:

- ``take:<nonce>``: the button was used (one press, one take);
- ``taking:<schedule>:<person>``: a create of this person's in this schedule is on its way (or
  got no answer): another waits ``IN_FLIGHT``, and a later one looks for its override first;
- ``override:<schedule>:<id>``: an override made here, the only kind give-back ends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from slackgenie.core.facts import Facts, StateNotSaved

log = structlog.get_logger("slackgenie.app")

KEEP_RECORDS = timedelta(days=2)  # a take's records are kept this long after its shift ends
IN_FLIGHT = timedelta(minutes=2)  # a create without an answer yet holds back another this long
UNDER_WAY = "\x00under way"  # claim_taking: another create is on its way


def taking_key(key: str, user_id: str) -> str:
    return f"taking:{key}:{user_id}"


def override_key(key: str, override_id: str) -> str:
    return f"override:{key}:{override_id}"


class TakeRecords:
    def __init__(self, state: Facts, now: Callable[[], datetime]):
        self.state, self._now = state, now

    def used(self, once: str) -> bool:
        return self.state.get(once) is not None

    def use(self, once: str, user: str, keep: datetime) -> bool:
        """Record the press before any write (False: it was used already). Raises ``StateNotSaved``."""
        return self.state.claim(once, user, keep)

    def release(self, once: str) -> None:
        """Let the button work again (nothing was done). Not saved: it stays used, the safe way."""
        try:
            self.state.drop(lambda k: k == once)
        except StateNotSaved as exc:
            log.warning("app.take_release_not_recorded", error=str(exc))

    def claim_taking(self, taking: str, start: datetime, end: datetime, keep: datetime) -> str | None:
        """Claim the right to create: ``UNDER_WAY`` when another create of this person's in
        this schedule began under ``IN_FLIGHT`` ago; else the record of an earlier attempt that
        got no answer (or None), replaced by this one's. Raises ``StateNotSaved``."""
        now = self._now().timestamp()
        ours = json.dumps({"at": now, "s": start.timestamp(), "e": end.timestamp()})

        def decide(old: str | None) -> str:
            return old if old is not None and now - _attempted_at(old) < IN_FLIGHT.total_seconds() else ours

        old = self.state.swap(taking, decide, keep)
        if old is not None and now - _attempted_at(old) < IN_FLIGHT.total_seconds():
            return UNDER_WAY
        return old

    def settled(self, taking: str) -> None:
        """The create's outcome is known: the next take of this person in this schedule may go."""
        try:
            self.state.drop(lambda k: k == taking)
        except StateNotSaved as exc:  # it only holds the next take back for IN_FLIGHT
            log.warning("app.take_not_recorded", error=str(exc))

    def made(self, key: str, override_id: str, user: str, taking: str, keep: datetime) -> None:
        """The override was made here (give-back may end it); the next take may go. Raises ``StateNotSaved``."""
        self.state.change({override_key(key, override_id): user, taking: None}, keep)

    def attempt(self, key: str, user_id: str) -> str | None:
        """The record of a create of this person's in this schedule whose answer was lost, if any."""
        return self.state.get(taking_key(key, user_id))

    def made_here(self, key: str, override_id: str, user: str) -> bool:
        return self.state.get(override_key(key, override_id)) == user

    def given_back(self, key: str, override_id: str, user_id: str) -> None:
        """The override is gone: its records go too (kept, they only cost a line)."""
        try:
            self.state.drop(lambda k: k in (override_key(key, override_id), taking_key(key, user_id)))
        except StateNotSaved as exc:
            log.warning("app.give_back_not_recorded", error=str(exc))


def _attempted_at(record: str) -> float:
    try:
        return float(json.loads(record)["at"])
    except (ValueError, KeyError, TypeError):
        return 0.0  # unreadable: taken as long past


def same_span(record: str | None, start: datetime, end: datetime) -> bool:
    """Whether an earlier attempt's record asked for this span (its start within five minutes,
    as a shift under way starts at the press; its end within one): an override found for it may
    be the one that attempt made."""
    if record is None or record == UNDER_WAY:
        return False
    try:
        asked = json.loads(record)
        return abs(float(asked["s"]) - start.timestamp()) <= 60 * 5 and abs(float(asked["e"]) - end.timestamp()) <= 60
    except (ValueError, KeyError, TypeError):
        return False
