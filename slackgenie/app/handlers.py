"""One named function per Bolt listener: `/oncall`, the take buttons, mentions and the App Home.
Handlers know nothing of transports; ``bolt.create_app`` registers them.

Every acknowledgement is built from the snapshot on the request's own thread; anything slow (a
live lookup, `/oncall me`, a take, a mention's reply, the App Home) goes to the lookup pool and
is answered through ``response_url``, ``say`` or ``views.publish``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from slack_bolt import Ack, Respond, Say
from slack_sdk import WebClient

from slackgenie.app.answers import NeedsLookup, answer
from slackgenie.app.home import home_blocks
from slackgenie.app.live import LiveLookup, LookupPool
from slackgenie.app.names import find_in_sentence
from slackgenie.app.personal import Personal
from slackgenie.app.query import HELP, Query, parse
from slackgenie.app.render import Message
from slackgenie.app.snapshot import SnapshotKeeper
from slackgenie.app.take import Taking
from slackgenie.slack.text import escape
from slackgenie.telemetry.logging import redact

log = structlog.get_logger("slackgenie.app")

TIMED_OUT = Message(text=":hourglass: The schedule's provider did not answer in time; try again in a minute.")
# A take past the deadline goes on: it may still be made, and asking again must not be the advice.
TAKE_TIMED_OUT = Message(text=":hourglass: The schedule's provider is slow: your shift may still be taken in a "
                              "moment. `/oncall me` shows your shifts; a second take of the same shift makes no "
                              "second override.")
TOO_MANY_LOOKUPS = ":hourglass: Too many lookups at once; try again in a minute."
_MENTION = re.compile(r"<@[A-Z0-9]+(\|[^>]*)?>")
_HELP = re.compile(r"\bhelp\b", re.I)
_NEXT = re.compile(r"\bnext\b", re.I)


@dataclass(frozen=True)
class Handlers:
    """The listeners, over what they answer from; Bolt passes each only the arguments it names."""

    keeper: SnapshotKeeper
    live: LiveLookup
    now: Callable[[], datetime]
    pool: LookupPool
    personal: Personal
    taking: Taking

    def oncall(self, ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        """`/oncall …`: answered from the snapshot in the ack, or acked at once and answered later."""
        query = parse(command.get("text", ""))
        user = str(command.get("user_id") or "")
        if query.kind in ("me", "take", "give-back"):
            self._for_the_asker(ack, query, user, respond)
            log.info("app.oncall", user=user, text=command.get("text", ""), live=True)
            return
        result = answer(query, self.keeper.get(), self.now())
        if isinstance(result, NeedsLookup):
            self._look_up(ack, result, respond)
        else:
            ack(**result.scrubbed_ack(redact))
        log.info("app.oncall", user=command.get("user_id"), text=command.get("text", ""),
                 live=isinstance(result, NeedsLookup))

    def _for_the_asker(self, ack: Ack, query: Query, user: str, respond: Respond) -> None:
        """`/oncall me`, `take` and `give-back`: about the asker, so never from the snapshot alone."""
        work: dict[str, tuple[Callable[[], Message], str]] = {
            "me": (lambda: self.personal.me(user, self.keeper.get(), query.public), "Looking up your shifts\u2026"),
            "take": (lambda: self.taking.offer(user, query.name, self.keeper.get()), "Checking the schedule\u2026"),
            "give-back": (lambda: self.taking.give_back(user, query.name, self.keeper.get()),
                          "Giving your shift back\u2026"),
        }
        job, waiting = work[query.kind]
        if self.pool.submit((query.kind, user, query.name), job, _replacing(respond), timeout=TIMED_OUT) == "busy":
            ack(response_type="ephemeral", text=TOO_MANY_LOOKUPS)
        else:
            ack(response_type="ephemeral", text=waiting)

    def _look_up(self, ack: Ack, need: NeedsLookup, respond: Respond) -> None:
        """A name the snapshot holds no answer for: asked of its provider, answered later."""
        def look_up() -> Message:
            return self.live.answer(need, self.keeper.get(), self.now())

        state = self.pool.submit(("oncall", need.query.kind, need.query.public, need.match.kind, need.match.key),
                                 look_up, _replacing(respond), timeout=TIMED_OUT)
        if state == "busy":
            ack(response_type="ephemeral", text=TOO_MANY_LOOKUPS)
        else:
            ack(response_type="ephemeral", text=f"Looking up *{escape(need.match.key)}*\u2026")

    def take_confirmed(self, ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        """The take's "Take the shift" button: the override is made off the ack's path."""
        ack()
        clicker = str((body.get("user") or {}).get("id") or "")
        value = str(action.get("value") or "")

        def reply(message: Message) -> None:
            respond(replace_original=True, text=redact(message.text), blocks=[])

        respond(replace_original=True, text="Creating the override\u2026", blocks=[])
        if self.pool.submit(("take", clicker, value), lambda: self.taking.confirm(clicker, value, self.keeper.get()),
                            reply, timeout=TAKE_TIMED_OUT) == "busy":
            reply(Message(text=":hourglass: Too many requests at once; nothing was changed. Try again in a minute."))

    def take_cancelled(self, ack: Ack, respond: Respond) -> None:
        ack()
        respond(replace_original=True, text="Cancelled; nothing was changed.", blocks=[])

    def mention(self, event: dict[str, Any], say: Say) -> None:
        """A mention ("@slackgenie who is on call for payments?"), answered in its thread."""
        text = _MENTION.sub(" ", event.get("text", "")).strip()

        def reply(message: Message) -> None:
            say(text=redact(message.text), blocks=redact(message.blocks) or None,
                thread_ts=event.get("thread_ts") or event.get("ts"))

        if self.pool.submit(("mention", event.get("channel"), event.get("ts")), lambda: self._mentioned(text), reply,
                            timeout=TIMED_OUT) == "busy":
            reply(Message(text=":hourglass: Too many questions at once; ask again in a minute."))

    def _mentioned(self, text: str) -> Message:
        snapshot = self.keeper.get()
        if _HELP.search(text):
            return Message(text=HELP)
        match = find_in_sentence(text, snapshot)
        kind = "next" if _NEXT.search(text) else "one"
        query = Query(kind, match.key) if match else Query("all")
        found = answer(query, snapshot, self.now())
        return self.live.answer(found, snapshot, self.now()) if isinstance(found, NeedsLookup) else found

    def home_opened(self, event: dict[str, Any], client: WebClient) -> None:
        """The App Home tab, published when it is opened. On a timeout none is: the one the person has stays."""
        if event.get("tab", "home") != "home":
            return

        def publish(message: Message) -> None:
            client.views_publish(user_id=event["user"], view={"type": "home", "blocks": redact(message.blocks)})

        def compose() -> Message:
            snapshot = self.keeper.get()
            return Message(text="", blocks=home_blocks(snapshot, self.now(),
                                                       self.personal.home_shifts(event["user"], snapshot)))

        if self.pool.submit(("home", event.get("user")), compose, publish) == "busy":
            log.warning("app.home_not_published", reason="too much slow work at once", user=event.get("user"))


def _replacing(respond: Respond) -> Callable[[Message], None]:
    """A reply through ``response_url`` that replaces the "Looking up…" the ack said."""
    def reply(message: Message) -> None:
        respond(replace_original=True, **redact(message.as_ack()))
    return reply
