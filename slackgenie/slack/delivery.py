"""Posting a message exactly once: telling "surely not posted" from "may have been posted", and
settling the second by looking in the conversation, never by posting again blind.

Each message Slackgenie posts for a side effect (an announcement, a heads-up DM) carries a mark
in its message metadata (``event_type: slackgenie_post``, ``event_payload.id``): a hash of what
it announces, the same on every attempt. When an attempt ends without an answer that says what
happened, the conversation's latest messages are read (``conversations.history``, one page, once
per pass and attempt: Slack allows some apps one such read a minute) and the mark is looked for.

- Surely not posted: an answer from Slack that says so: an error code other than
  ``internal_error``/``fatal_error``/``request_timeout``, an HTTP 4xx, an HTTP 503 (an outage at
  Slack's door, not a half-done request), a refused connection.
- May have been posted: no answer (a timeout, a connection dropped after the request was sent),
  ``internal_error``, ``fatal_error``, ``request_timeout``, or another 5xx (a gateway's 502 or 504
  may stand in front of a post that was made).
"""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from http.client import HTTPException
from typing import Any, Protocol
from urllib.error import HTTPError, URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from slackgenie.slack.client import error_code, gate_for_retries

EVENT_TYPE = "slackgenie_post"
LOOK_BACK = 900.0  # seconds before the attempt that the look starts (our clock may run ahead of Slack's)
LOOK_AHEAD = 3600.0  # and after it: Slack's clock may run ahead, or it was still working on the post
GIVE_UP_LOOKING = 3600.0  # a look failing for a passing reason is tried again for this long
UNCERTAIN_CODES = frozenset({"internal_error", "fatal_error", "request_timeout"})
HISTORY_SCOPES = {"C": "channels:history", "G": "groups:history", "D": "im:history"}


class WriteGate(Protocol):
    """Whether this process may write to Slack now (with ``leader_election``: only the lease
    holder, while its lease is valid by a margin: ``kube/lease.py``). Asked right before each
    write, since a pass may outlast the lease."""

    def may_write(self) -> bool: ...

    def writing(self) -> AbstractContextManager[bool]:
        """Around one write: yields whether it may be made; the write counts as in flight until the end."""
        ...


class _Open:
    """The gate of a process that is the only writer (no ``leader_election``): always open."""

    def may_write(self) -> bool:
        return True

    def writing(self) -> AbstractContextManager[bool]:
        return nullcontext(True)


OPEN: WriteGate = _Open()


class NotTheWriter(Exception):
    """The gate was shut: the write was not sent (surely not made)."""

    def __init__(self) -> None:
        super().__init__("not written: this replica does not hold the lease (leader_election); the holder writes")


@contextmanager
def gated(gate: WriteGate) -> Iterator[None]:
    """One write through ``gate``: ``NotTheWriter`` (nothing sent) when it is shut."""
    with gate.writing() as allowed:
        if not allowed:
            raise NotTheWriter()
        with gate_for_retries(gate.may_write):  # and each retry of it, when it is one
            yield


def mark(*parts: str) -> str:
    """The same mark for the same message, on every attempt and in every process."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def maybe_done(exc: BaseException) -> bool:
    """Whether Slack may have carried the call out although it did not say so."""
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code if exc.response is not None else None
        if status is not None and status >= 500:
            return status != 503  # a gateway's 502/504 or a bare 500 may follow a post that was made
        return error_code(exc) in UNCERTAIN_CODES
    if isinstance(exc, HTTPError):
        return exc.code >= 500 and exc.code != 503
    if isinstance(exc, URLError):
        return not isinstance(exc.reason, ConnectionRefusedError)  # refused: nothing was sent
    if isinstance(exc, ConnectionRefusedError):
        return False
    return isinstance(exc, (TimeoutError, socket.timeout, ConnectionError, HTTPException, OSError))


def post(client: WebClient, channel: str, text: str, the_mark: str, gate: WriteGate = OPEN, **extra: Any) -> str:
    """Post with the mark in the message's metadata, through ``gate`` (``NotTheWriter``: not
    sent); the message's ts."""
    with gated(gate):
        response = client.chat_postMessage(channel=channel, text=text,
                                           metadata={"event_type": EVENT_TYPE, "event_payload": {"id": the_mark}},
                                           **extra)
    return str(response.get("ts") or "")


class CannotLook(Exception):
    """The conversation could not be read: whether the message was posted is not known.
    ``lasting``: a look again will not tell either (a missing scope, a busy conversation); else
    the look may be tried again by a later pass."""

    def __init__(self, reason: str, fix: str = "", lasting: bool = False):
        super().__init__(reason)
        self.reason, self.fix, self.lasting = reason, fix, lasting


def was_posted(client: WebClient, channel: str, the_mark: str, attempted_at: float) -> bool:
    """Whether a message with ``the_mark`` is in ``channel`` around ``attempted_at`` (epoch
    seconds); ``CannotLook`` when that cannot be told (no history scope, a failed read, more
    messages in that stretch than one page holds)."""
    try:
        page = client.conversations_history(channel=channel, oldest=f"{attempted_at - LOOK_BACK:.6f}",
                                            latest=f"{attempted_at + LOOK_AHEAD:.6f}", inclusive=True,
                                            limit=100, include_all_metadata=True)
    except SlackApiError as exc:
        code = error_code(exc)
        if code == "missing_scope":
            needed = HISTORY_SCOPES.get(channel[:1], "channels:history")
            raise CannotLook(f"Slack said {code}", f"add {needed} to the Slack app so Slackgenie can check",
                             lasting=True) from None
        raise CannotLook(f"Slack said {code}", lasting=code in ("channel_not_found", "not_in_channel")) from None
    except Exception as exc:
        raise CannotLook(type(exc).__name__) from None
    messages = page.get("messages") or []
    if any(_marked(m, the_mark) for m in messages if isinstance(m, Mapping)):
        return True
    if page.get("has_more"):
        raise CannotLook("more messages in that stretch than one read holds", lasting=True)
    return False


def _marked(message: Mapping[str, Any], the_mark: str) -> bool:
    metadata = message.get("metadata")
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            return False
    if not isinstance(metadata, Mapping) or metadata.get("event_type") != EVENT_TYPE:
        return False
    payload = metadata.get("event_payload")
    return isinstance(payload, Mapping) and payload.get("id") == the_mark
