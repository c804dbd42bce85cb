"""Finding a schedule by id or by name in a provider's list: one rule for every provider.

An id wins; a name must be unique (two schedules of one name is a failed read naming the fix,
never a guess); neither: None (the caller says it does not exist). ``Catalog`` keeps the list an
hour, and looks for a name it lacks in a list at most a minute old (a schedule created since)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from slackgenie.core.model import ReadFailure
from slackgenie.sources.caches import Kept
from slackgenie.sources.http import SourceError

T = TypeVar("T")

CATALOG_AGE = 3600.0  # seconds a schedule list (names -> ids) is kept
FRESH = 60.0  # a name not in the kept list is looked for in a list at most this old


def find(ref: str, schedules: Sequence[T], id_of: Callable[[T], str], name_of: Callable[[T], str],
         title: str) -> T | ReadFailure | None:
    by_id = [s for s in schedules if id_of(s) == ref]
    if by_id:
        return by_id[0]
    by_name = [s for s in schedules if name_of(s) == ref]
    if len(by_name) > 1:
        return ReadFailure(ref, f"{title} has {len(by_name)} schedules named {ref!r}: name it by id")
    return by_name[0] if by_name else None


class Catalog(Generic[T]):
    """A provider's schedule list (``fetch``), kept ``CATALOG_AGE``; ``missing`` says a schedule
    it does not hold is not there (and what to check)."""

    def __init__(self, fetch: Callable[[], list[T]], id_of: Callable[[T], str], name_of: Callable[[T], str],
                 title: str, missing: str, timer: Callable[[], float] = time.monotonic):
        self._kept = Kept(fetch, CATALOG_AGE, timer)
        self._id_of, self._name_of, self.title, self.missing = id_of, name_of, title, missing

    def all(self) -> list[T]:
        """Every schedule (raises ``SourceError`` when the list cannot be read)."""
        return self._kept.get()

    def find(self, ref: str) -> T | ReadFailure | None:
        """The schedule ``ref`` names, a failure (two of that name), or None; raises ``SourceError``."""
        found = find(ref, self._kept.get(), self._id_of, self._name_of, self.title)
        if found is None:  # a schedule created since: look again, in a list at most a minute old
            found = find(ref, self._kept.get(refresh_if_older=FRESH), self._id_of, self._name_of, self.title)
        return found

    def resolve(self, ref: str) -> T | ReadFailure:
        """The schedule ``ref`` names, or why it cannot be read (the list's error, or ``missing``)."""
        return self.resolve_all([ref])[ref]

    def resolve_all(self, refs: Sequence[str]) -> dict[str, T | ReadFailure]:
        """Each reference's schedule, or why not; a list that cannot be read fails them all alike
        (read once, not once per reference)."""
        try:
            found = {ref: self.find(ref) for ref in refs}
        except SourceError as exc:
            return {ref: ReadFailure(ref, str(exc)) for ref in refs}
        return {ref: v if v is not None else ReadFailure(ref, self.missing) for ref, v in found.items()}
