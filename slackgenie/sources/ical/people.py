"""Who an event puts on call: each ATTENDEE's ``mailto:`` address, or the person a SUMMARY names
(through a pattern's ``person`` group, and the ``users:`` names). One that cannot be read fails
the feed (``PersonUnreadable``), never "nobody"."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal
from urllib.parse import unquote

import icalendar

from slackgenie.sources.ical.errors import PersonUnreadable
from slackgenie.sources.ical.ics import listed, start_text, uid_of

PersonFrom = Literal["attendee", "summary"]
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


class People:
    def __init__(self, person: PersonFrom, pattern: re.Pattern[str] | None, users: Mapping[str, str]):
        if person not in ("attendee", "summary"):
            raise ValueError(f"person must be attendee or summary, not {person!r}")
        if pattern is not None and "person" not in pattern.groupindex:
            raise ValueError(f"the pattern {pattern.pattern!r} has no (?P<person>...) group")
        self.person, self.pattern = person, pattern
        self._users = dict(users)
        folded: dict[str, list[str]] = {}
        for key in users:
            folded.setdefault(key.strip().casefold(), []).append(users[key])
        self._folded = {k: v[0] for k, v in folded.items() if len(v) == 1}  # a name two keys differ by case only: exact only

    def of(self, event: icalendar.Component) -> frozenset[str]:
        return self._attendees(event) if self.person == "attendee" else self._summary(event)

    def _attendees(self, event: icalendar.Component) -> frozenset[str]:
        fix = "give each event an ATTENDEE with a mailto: address, or read people from the title " \
              "(person: summary, with a pattern)"
        values = listed(event.get("ATTENDEE"))
        if not values:
            raise PersonUnreadable(uid_of(event), start_text(event), "it has no ATTENDEE", fix)
        out: set[str] = set()
        for value in values:
            text = str(value).strip()
            address = unquote(text[len("mailto:"):]).strip().lower() if text.lower().startswith("mailto:") else ""
            if not EMAIL.fullmatch(address):
                raise PersonUnreadable(uid_of(event), start_text(event),
                                       f"its ATTENDEE {text!r} is not a mailto: e-mail address", fix)
            out.add(address)
        return frozenset(out)

    def _summary(self, event: icalendar.Component) -> frozenset[str]:
        summary = str(event.get("SUMMARY", "")).strip()
        name = summary
        if self.pattern is not None:
            found = self.pattern.search(summary)
            name = (found.group("person") or "").strip() if found is not None else ""
            if not name:
                raise PersonUnreadable(uid_of(event), start_text(event),
                                       f"its title {summary!r} does not match the pattern {self.pattern.pattern!r}",
                                       "correct the pattern, or the event's title")
        if not name:
            raise PersonUnreadable(uid_of(event), start_text(event), "it has no title (SUMMARY)",
                                   "give the event a title naming who is on call")
        mapped = self._users.get(name, self._folded.get(name.casefold()))
        if mapped is not None and mapped.strip():
            mapped = mapped.strip()
            return frozenset({mapped.lower() if "@" in mapped else mapped})
        if EMAIL.fullmatch(name):
            return frozenset({name.lower()})
        raise PersonUnreadable(uid_of(event), start_text(event),
                               f"its person {name!r} is neither an e-mail nor a name under 'users:'",
                               f"add '{name}: <their Slack e-mail>' under 'users:'")
