"""What every stage may know of the state file: the facts that make side effects happen once.

The store itself is the engine's (``engine/state.py``: a file and its locks) or, with
``leader_election`` on, a Kubernetes ConfigMap (``kube/store.py``); both hold the same JSON
(``encoded``) and change it the same way (``applied``). The Slack target's announcements and the
app's takes record facts through ``Facts``; the engine's passes also hold the pass lock
(``FactStore``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import Protocol


class StateNotSaved(Exception):
    """A fact could not be recorded: the side effect it guards must not be carried out."""


class LockUnavailable(StateNotSaved):
    """A lock file cannot be opened or locked (a read-only volume, a filesystem without locks):
    nothing can be recorded, but it is no sign of another process."""


class Busy(Exception):
    """Another process held the pass lock for longer than we may wait."""


Changes = dict[str, "str | None"]  # key -> new value, or None to forget it


class Facts(Protocol):
    """Facts shared by every process that could repeat a side effect. Each change is saved before
    it returns, or raises ``StateNotSaved``."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str, keep_until: datetime | None = None) -> None: ...

    def claim(self, key: str, value: str, keep_until: datetime | None = None) -> bool: ...

    def change(self, changes: Changes, keep_until: datetime | None = None) -> None: ...

    def swap(self, key: str, decide: Callable[[str | None], str | None],
             keep_until: datetime | None = None) -> str | None: ...

    def drop(self, forget: Callable[[str], bool]) -> None: ...

    def change_if(self, seen: Mapping[str, str | None], changes: Changes,
                  keep_until: datetime | None = None) -> bool: ...


class FactStore(Facts, Protocol):
    """The facts and the pass lock: what the engine is handed."""

    def exclusive(self, timeout: float) -> AbstractContextManager[None]:
        """Hold the pass lock for a whole pass (``Busy`` after ``timeout`` seconds of waiting)."""
        ...


class Changing:
    """The changes every store offers, each one transaction (``_transaction``: read what is held,
    apply ``decide``'s changes, save; again when someone else changed it in between): the file
    store and the ConfigMap store differ only in their transaction."""

    def _transaction(self, decide: Callable[[dict[str, str]], Changes | None],
                     keep_until: datetime | None) -> bool:
        """True when ``decide`` changed something (and it was saved); ``StateNotSaved`` if it was not."""
        raise NotImplementedError

    def put(self, key: str, value: str, keep_until: datetime | None = None) -> None:
        """Record one fact, saved before this returns; ``StateNotSaved`` if it could not be."""
        self.change({key: value}, keep_until)

    def claim(self, key: str, value: str, keep_until: datetime | None = None) -> bool:
        """Record ``key`` only if no process has yet: True for the one caller that did."""
        return self._transaction(lambda facts: {key: value} if key not in facts else None, keep_until)

    def swap(self, key: str, decide: Callable[[str | None], str | None], keep_until: datetime | None = None
             ) -> str | None:
        """Atomically, across processes: ``decide`` sees the fact as the store holds it and says its
        new value (the same, or None, to leave it); the value it saw last is returned (``decide`` is
        asked again when another process changed the store in between)."""
        seen: list[str | None] = [None]

        def changes(facts: dict[str, str]) -> Changes | None:
            seen[0] = facts.get(key)
            new = decide(facts.get(key))
            return {key: new} if new is not None and new != facts.get(key) else None

        self._transaction(changes, keep_until)
        return seen[0]

    def drop(self, forget: Callable[[str], bool]) -> None:
        """Forget the facts whose keys ``forget`` picks, and save."""
        self._transaction(lambda facts: {k: None for k in facts if forget(k)} or None, None)

    def change(self, changes: Changes, keep_until: datetime | None = None) -> None:
        """Several facts at once, all saved or none."""
        self._transaction(lambda facts: changes, keep_until)

    def change_if(self, seen: Mapping[str, str | None], changes: Changes,
                  keep_until: datetime | None = None) -> bool:
        """``changes`` only while each key of ``seen`` still holds what it says there (nobody, no
        other replica, changed it since it was seen): True when they were made. A record this
        process wrote is cleared so, never one another process wrote over it."""
        return self._transaction(lambda facts: changes if all(facts.get(k) == v for k, v in seen.items()) else None,
                                 keep_until)


# --- the stored form, the same in a file and in a ConfigMap --------------------------------------

def decoded(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """The facts and their expiries from their stored JSON (``ValueError``, ``TypeError`` or
    ``AttributeError`` when it is not that)."""
    loaded = json.loads(text)
    facts = {str(k): str(v) for k, v in loaded.get("facts", {}).items()}
    expires = {str(k): str(v) for k, v in (loaded.get("expires") or {}).items() if k in facts}
    return facts, expires


def encoded(facts: dict[str, str], expires: dict[str, str]) -> str:
    return json.dumps({"version": 2, "facts": facts, "expires": expires}, indent=1, sort_keys=True)


def applied(facts: dict[str, str], expires: dict[str, str], changes: Changes | None, keep_until: datetime | None,
            now: datetime) -> tuple[dict[str, str], dict[str, str]] | None:
    """The facts and expiries after ``changes`` (each new value kept until ``keep_until``, if
    given), with every fact whose expiry passed by ``now`` dropped; None when nothing changes."""
    at_now = now.astimezone(timezone.utc).isoformat()
    expired = [k for k, at in expires.items() if at < at_now]
    if not changes and not expired:
        return None
    facts, expires = dict(facts), dict(expires)
    for k in expired:
        facts.pop(k, None)
        expires.pop(k, None)
    for k, v in (changes or {}).items():
        expires.pop(k, None)
        if v is None:
            facts.pop(k, None)
        else:
            facts[k] = v
            if keep_until is not None:
                expires[k] = keep_until.astimezone(timezone.utc).isoformat()
    return facts, expires
