"""The one duration grammar and the one formatter.

A duration is written as days, hours and minutes in that order, each optional but at least
one given: ``7d``, ``48h``, ``30m``, ``1h30m``, ``1d 12h`` (ASCII digits only; spaces between
the parts are allowed). Each caller says which units it takes and its range, and words its own
error: ``heads_up`` takes ``h``/``m`` from 1 minute to 1 day, ``--gaps`` ``d``/``h`` up to 90 days,
``/oncall take`` ``h``/``m``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_GRAMMAR = re.compile(r"\s*(?:(\d{1,4})\s*d)?\s*(?:(\d{1,4})\s*h)?\s*(?:(\d{1,4})\s*m)?\s*", re.ASCII)
_UNITS = {"d": 0, "h": 1, "m": 2}


def parse_duration(text: str, *, units: str = "dhm", least: timedelta = timedelta(0),
                   most: timedelta = timedelta(days=366)) -> timedelta | None:
    """The duration ``text`` writes, or None when it is not one: not the grammar, a unit not in
    ``units``, no part at all, or outside ``least``..``most`` (both included)."""
    m = _GRAMMAR.fullmatch(text)
    if m is None or not any(m.groups()):
        return None
    if any(m.group(_UNITS[u] + 1) is not None for u in _UNITS if u not in units):
        return None
    days, hours, minutes = (int(g or 0) for g in m.groups())
    value = timedelta(days=days, hours=hours, minutes=minutes)
    return value if least <= value <= most else None


def format_duration(span: timedelta) -> str:
    """``2d 3h`` from a day on, ``1h 05m`` below (minutes rounded down; never negative)."""
    minutes = max(0, int(span.total_seconds() // 60))
    if minutes >= 1440:
        return f"{minutes // 1440}d {minutes % 1440 // 60}h"
    return f"{minutes // 60}h {minutes % 60:02d}m"


def iso_utc(at: datetime) -> str:
    """``2026-12-24T18:00:00Z``: an instant as the vendors' APIs and our state records write it."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_minute(at: datetime) -> str:
    """``2026-12-24 18:00 UTC``: an instant as operators read it (status, check, Slack's fallback text)."""
    return f"{at.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"
