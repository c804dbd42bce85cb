"""What can go wrong reading a feed: one hierarchy, so that a caller catches ``FeedError`` and
counts the feed's schedules as unreadable (never as "nobody")."""

from __future__ import annotations


class FeedError(Exception):
    """A feed that cannot be read: its schedules are unreadable, never "nobody"."""


class FeedUnreadable(FeedError):
    """The bytes are not a calendar this reader can trust."""


class PersonUnreadable(FeedError):
    """An event whose person cannot be read; names the event (UID and start) and the fix."""

    def __init__(self, uid: str, start: str, problem: str, fix: str):
        self.uid, self.start = uid, start
        super().__init__(f"event {uid!r} starting {start}: {problem}; {fix}")


class FeedTooComplex(FeedError):
    """Expanding the feed's recurrences would take more than the bounds allow."""
