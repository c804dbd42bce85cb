"""Direct messages (the heads-ups): a person found in Slack, their DM opened, a message posted
with its mark and looked for after a lost answer (``slack/delivery.py``). Slack's answers are
read here into what the sender needs to know: ``NotSent`` (surely not sent; whether retrying can
help) or ``Unconfirmed`` (it may have been sent: look before sending again)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from slack_sdk import WebClient

from slackgenie.core.headsups import lead_text
from slackgenie.core.model import Resolution, describe_key
from slackgenie.core.plan import map_identity
from slackgenie.core.shifts import Shift
from slackgenie.slack.client import error_code
from slackgenie.slack.delivery import OPEN, NotTheWriter, WriteGate, gated, maybe_done, post, was_posted
from slackgenie.slack.directory import Directory
from slackgenie.slack.text import date_token, mention

# Slack's answers that no retry will change: recorded, so the next passes do not try again.
FINAL = frozenset({"user_not_found", "user_disabled", "cannot_dm_bot", "account_inactive", "user_not_visible"})
SCOPE_FIX = " (add im:write and chat:write to the app, then reinstall it)"


class NotSent(Exception):
    """Surely not sent. ``code``: Slack's code (or what stands for one); ``final``: no retry will
    change it; ``fix``: what a person must do, if Slack said (`` (add …)``), else ""."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code, self.final = code, code in FINAL
        self.fix = SCOPE_FIX if code == "missing_scope" else ""

    @property
    def why(self) -> str:
        if self.code == NOT_THE_WRITER:
            return "this replica no longer holds the lease (leader_election): the holder sends it"
        return f"Slack said {self.code}{self.fix}"


NOT_THE_WRITER = "not_the_writer"  # the write gate was shut: nothing was sent (not Slack's code)


class Unconfirmed(Exception):
    """The post's answer was lost: it may have been sent. ``code``: what stands for the answer."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class DirectMessages:
    def __init__(self, client: WebClient, directory: Directory, users: Mapping[str, str], gate: WriteGate = OPEN):
        self.client, self.directory, self.users = client, directory, users
        self.gate = gate  # asked right before each write: only the lease holder sends heads-ups

    def find(self, person: str) -> Resolution:
        """A provider's person as a Slack user (through the ``users:`` map)."""
        return self.directory.resolve(map_identity(person, self.users))

    def open(self, user_id: str) -> str:
        """The DM's channel; ``NotSent`` when it cannot be opened (repeatable: nothing was sent)."""
        try:
            with gated(self.gate):
                return str(self.client.conversations_open(users=user_id)["channel"]["id"])
        except NotTheWriter:
            raise NotSent(NOT_THE_WRITER) from None
        except Exception as exc:
            raise NotSent(error_code(exc)) from None

    def was_sent(self, channel: str, the_mark: str, attempted: float) -> bool:
        """Whether the marked message is in the DM (``delivery.CannotLook`` when that cannot be told)."""
        return was_posted(self.client, channel, the_mark, attempted)

    def send(self, channel: str, text: str, the_mark: str) -> None:
        try:
            post(self.client, channel, text, the_mark, self.gate, unfurl_links=False)
        except NotTheWriter:
            raise NotSent(NOT_THE_WRITER) from None
        except Exception as exc:
            if maybe_done(exc):
                raise Unconfirmed(error_code(exc)) from None
            raise NotSent(error_code(exc)) from None

    def heads_up_text(self, shift: Shift, groups: tuple[str, ...], now: datetime) -> str:
        handles = ", ".join(f"@{g}" for g in groups)
        before = [mention(self.directory, p, self.users) for p in sorted(shift.after)]
        handover = f"You take over from {', '.join(before)}." if before else "Nobody is on call just before you."
        return (f":alarm_clock: Heads-up: your on-call shift in {handles} starts {date_token(shift.start)} "
                f"(in about {lead_text(shift.start - now)}) and runs until {'at least ' if shift.open_end else ''}"
                f"{date_token(shift.end)}.\n"
                f"Schedule: {describe_key(shift.schedule)}. {handover}")
