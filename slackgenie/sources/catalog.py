"""Finding a schedule by id or by name in a provider's list: one rule for every provider.

An id wins; a name must be unique (two schedules of one name is a failed read naming the fix,
never a guess); neither: None (the caller says it does not exist)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from slackgenie.core.model import ReadFailure

T = TypeVar("T")


def find(ref: str, schedules: Sequence[T], id_of: Callable[[T], str], name_of: Callable[[T], str],
         title: str) -> T | ReadFailure | None:
    by_id = [s for s in schedules if id_of(s) == ref]
    if by_id:
        return by_id[0]
    by_name = [s for s in schedules if name_of(s) == ref]
    if len(by_name) > 1:
        return ReadFailure(ref, f"{title} has {len(by_name)} schedules named {ref!r}: name it by id")
    return by_name[0] if by_name else None
