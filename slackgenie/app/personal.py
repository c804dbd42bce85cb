"""The app's answers for the person asking: `/oncall me` and the App Home's "your shifts"
(taking a shift is take.py's). The asker is read from Slack (``users.info``, cached) and matched to
the providers' people by e-mail and the ``users:`` map (``people.identities``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

import structlog

from slackgenie.app.home import NOT_FOUND_ME, MyShifts, mine, my_shifts
from slackgenie.app.render import Message
from slackgenie.app.snapshot import Snapshot
from slackgenie.engine.people import HORIZON, GroupShift, ShiftBook, identities, merged
from slackgenie.core.plan import map_identity
from slackgenie.slack.directory import Directory

log = structlog.get_logger("slackgenie.app")


class Personal:
    def __init__(self, book: ShiftBook, directory: Directory, now: Callable[[], datetime]):
        self.book, self.directory, self._now = book, directory, now

    def _who(self, user_id: str) -> frozenset[str]:
        return identities(self.directory.user_by_id(user_id), self.book.config.file.users)

    def me(self, user_id: str, snapshot: Snapshot, public: bool = False) -> Message:
        who = self._who(user_id)
        if not who:
            return Message(text=NOT_FOUND_ME)
        now = self._now()
        shifts, failed = self.book.mine(who, now)
        log.info("app.me", user=user_id, shifts=len(shifts), unread=len(failed))
        return mine(merged(shifts), failed, self._knowing(snapshot, shifts), now, HORIZON, public)

    def _knowing(self, snapshot: Snapshot, shifts: list[GroupShift]) -> Snapshot:
        """The snapshot, knowing the Slack ids of those who hand over (to mention them)."""
        user_map = self.book.config.file.users
        slack_ids = dict(snapshot.slack_ids)
        for person in {p for g in shifts for p in g.shift.after} - set(slack_ids):
            try:
                found = self.directory.resolve(map_identity(person, user_map))
            except Exception:  # named by e-mail instead: the answer is still right
                continue
            if found.user is not None:
                slack_ids[person] = found.user.id
        return replace(snapshot, slack_ids=slack_ids)

    def home_shifts(self, user_id: str, snapshot: Snapshot) -> MyShifts:
        """The App Home's "your shifts" (``home_blocks`` fits them to the tab)."""
        try:
            who = self._who(user_id)
            if not who:
                return MyShifts(notes=(NOT_FOUND_ME,))
            now = self._now()
            shifts, failed = self.book.mine(who, now)
            return my_shifts(merged(shifts), failed, self._knowing(snapshot, shifts), now, HORIZON)
        except Exception as exc:  # the rest of the Home is still worth showing
            log.warning("app.home_shifts_failed", user=user_id, error=f"{type(exc).__name__}: {exc}")
            return MyShifts(notes=(":warning: your shifts could not be read just now; open the tab again in a minute",))
