"""Lists read page by page, written once for every provider: offset paging (PagerDuty's ``more``)
and link paging (JSM Ops' ``links.next``, Jira's ``nextPage``: only the number the link names is
read, the request goes to the same host as before).

A list is read whole or not at all: a page that says more follow but holds nothing, a link that
does not move on, or a list that does not end within its bound of pages raises ``PartialAnswer``
(a failed read, never a list taken for the whole)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

from slackgenie.sources.http import SourceError

T = TypeVar("T")


class PartialAnswer(SourceError):
    """A paged list that could be read only in part."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page: its entries, whether the server says another follows, and where that one starts
    when the server names it (a link's offset; None: just past this page)."""

    values: list[T]
    more: bool
    next_start: int | None = None


@dataclass(frozen=True)
class Listing:
    """A paged list, and how its errors name it: ``"{title}: {answer} did not end within …"``."""

    title: str  # "PagerDuty", "JSM Ops", "Jira user API"
    answer: str  # "the on-call answer", "the schedule list", "user/bulk"
    items: str  # "on-calls", "schedules", "users"
    limit: int  # pages at most
    link: str = "next page"  # what names the next page: "links.next", "nextPage"
    stuck: str | None = None  # the error when a page repeats the one before (None: not looked for)


def pages(listing: Listing, fetch: Callable[[int], Page[T]]) -> Iterator[list[T]]:
    """Each page's entries, the first page at 0: ``fetch(start)`` reads the page at ``start``."""
    start = 0
    previous: list[T] | None = None
    for _ in range(listing.limit):
        page = fetch(start)
        if page.more and not page.values:
            raise PartialAnswer(f"{listing.title}: an empty page of {listing.items} says more follow")
        if listing.stuck is not None and page.values == previous:
            raise PartialAnswer(f"{listing.title}: {listing.stuck}")
        yield page.values
        if not page.more:
            return
        following = page.next_start if page.next_start is not None else start + len(page.values)
        if following <= start:
            raise PartialAnswer(f"{listing.title}: {listing.answer}'s {listing.link} does not move on")
        previous, start = page.values, following
    raise PartialAnswer(f"{listing.title}: {listing.answer} did not end within {listing.limit} pages")


def every(listing: Listing, fetch: Callable[[int], Page[T]]) -> list[T]:
    """Every page's entries, in one list."""
    return [item for values in pages(listing, fetch) for item in values]


def start_named(link: str | None, name: str) -> int | None:
    """The integer a link's query names (``offset``, ``startAt``); None where it names none."""
    try:
        value = parse_qs(urlsplit(link or "").query).get(name)
        return int(value[0]) if value else None
    except (ValueError, TypeError):
        return None
