"""What every stage may know of the state file: the facts that make side effects happen once.

The store itself (a file, a lock) is the engine's (``engine/state.py``); the Slack target's
announcements and the app's takes record facts through this small interface.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol


class StateNotSaved(Exception):
    """A fact could not be recorded: the side effect it guards must not be carried out."""


class LockUnavailable(StateNotSaved):
    """A lock file cannot be opened or locked (a read-only volume, a filesystem without locks):
    nothing can be recorded, but it is no sign of another process."""


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
