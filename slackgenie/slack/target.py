"""The Slack target: who IS in each group, and how to change it. The only place that interprets
Slack's answers to a pass's reads and writes; the reconciler sees values and sentences."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from slackgenie.core.model import ActualGroup, GroupEdit
from slackgenie.slack.client import error_code
from slackgenie.slack.delivery import OPEN, NotTheWriter, WriteGate, gated
from slackgenie.slack.directory import Directory
from slackgenie.slack.errors import about_people, explain
from slackgenie.slack.pacer import Pacer
from slackgenie.slack.usergroups import edit_group, list_groups, set_members


@dataclass(frozen=True)
class Throttled:
    """Slack's rate limit refused a write: it can be made in about ``seconds``."""

    seconds: float


@dataclass(frozen=True)
class PeopleRefused:
    """Slack refused a write because of some of the people in it, without saying which. Their
    cached ids are dropped already: look them up afresh and write once more (once)."""

    code: str

    @property
    def message(self) -> str:
        return f"Slack refused the update: {explain(self.code)}"

    def naming(self, people: Iterable[str]) -> str:
        """Why the group failed when Slack refuses the people it holds even after a fresh look-up."""
        who = "Slack does not say who: check " + ", ".join(sorted(people))
        return f"Slack refused the update, also with everyone looked up afresh: {explain(self.code, who)}"


@dataclass(frozen=True)
class Refused:
    """Slack refused a write to the group itself: why, and the fix."""

    message: str


class GroupsUnreadable(Exception):
    """``usergroups.list`` gave no answer to trust; the message says why."""


WRITE = "usergroups.users.update"


class SlackTarget:
    def __init__(self, client: WebClient, directory: Directory, pacer: Pacer | None = None, gate: WriteGate = OPEN):
        self.client = client
        self.directory = directory
        self.pacer = pacer or Pacer()
        self.gate = gate  # asked right before each write: only the lease holder writes (leader_election)

    def write_slot(self, deadline: float) -> bool:
        """Wait for Slack's rate tier to allow a membership write, and take it; False if it would
        not before ``deadline`` (monotonic): the write is then queued, not failed."""
        return self.pacer.take(WRITE, deadline)

    def writes_per_window(self) -> int:
        return self.pacer.per_window(WRITE) or 20

    def queued_eta(self, position: int) -> float:
        """About when the ``position``-th write waiting for the rate limit (from 0) can be made."""
        return self.pacer.delay(WRITE) + (position // self.writes_per_window()) * self.pacer.window

    def backlog_explains(self, writes: int) -> float:
        """How long a wait the rate limit itself explains for this many writes: the backlog at the
        tier, and three windows more."""
        return (writes // self.writes_per_window() + 3) * self.pacer.window

    def groups(self, team: str | None = None) -> dict[str, ActualGroup]:
        """Every user group of a workspace (None: the token's own) with its members, by handle: one
        ``usergroups.list``."""
        try:
            return list_groups(self.client, team)
        except SlackApiError as exc:
            raise GroupsUnreadable(describe(exc)) from None
        except Exception as exc:  # connection failures after retries
            raise GroupsUnreadable(f"{type(exc).__name__}: {exc}") from None

    def edit(self, group_id: str | None, handle: str, edit: GroupEdit, team: str | None = None) -> str | Throttled | Refused:
        """One write to the group itself: its id (a created group's new one), ``Throttled`` when
        Slack's rate limit held it back, else why not (``Refused``)."""
        try:
            with gated(self.gate):
                return edit_group(self.client, group_id, handle, edit, team)
        except NotTheWriter as exc:
            return Refused(str(exc))
        except SlackApiError as exc:
            if exc.response is not None and exc.response.status_code == 429:
                return Throttled(max(self.pacer.delay(WRITE), self.pacer.window / 2))
            verb = {"create": "the creation", "update": "the group's update", "enable": "enabling the group",
                    "disable": "disabling the group"}[edit.kind]
            return Refused(f"Slack refused {verb}: {describe(exc)}")
        except Exception as exc:
            return Refused(f"{edit.kind} failed: {type(exc).__name__}: {exc}")

    def set_members(self, group_id: str, members: Iterable[str],
                    team: str | None = None) -> str | Throttled | PeopleRefused | None:
        """Write one group's members: None when Slack took it, ``Throttled`` when its rate limit
        held the write back for longer than the retries may wait, ``PeopleRefused`` when Slack
        refused some of the people in it (a cached id may have gone stale), else why not."""
        members = frozenset(members)
        try:
            with gated(self.gate):
                set_members(self.client, group_id, members, team)
        except NotTheWriter as exc:
            return str(exc)
        except SlackApiError as exc:
            if exc.response is not None and exc.response.status_code == 429:
                # Slack refused a write the pacer allowed: wait at least half a window before asking again
                return Throttled(max(self.pacer.delay(WRITE), self.pacer.window / 2))
            code = error_code(exc)
            if about_people(code):
                # A cached id may have gone stale (an account deactivated or replaced, or one that
                # left the workspace): Slack does not say whose, so nobody in the write is trusted.
                self.directory.forget(members)
                return PeopleRefused(code)
            return f"Slack refused the update: {describe(exc)}"
        except Exception as exc:
            return f"update failed: {type(exc).__name__}: {exc}"
        return None


def describe(exc: SlackApiError) -> str:
    response = exc.response
    if response is not None and response.status_code == 429:
        return "ratelimited (HTTP 429) after retries"
    code = error_code(exc)
    if code == "missing_scope" and response is not None:
        return f"missing_scope (needs {response.get('needed')})"
    return explain(code)
