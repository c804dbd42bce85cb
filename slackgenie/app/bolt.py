"""The Bolt app: `/oncall`, mentions and the App Home. Handlers know nothing of transports.

Every answer is built from the snapshot on the ack path; only a name the snapshot holds no
answer for goes to the lookup pool, which asks the schedule's provider and replies through
``response_url``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from slack_bolt import Ack, App, Respond, Say
from slack_sdk import WebClient

from slackgenie.app.answers import HELP, Message, NeedsLookup, Query, answer, find_in_sentence, home_blocks, parse
from slackgenie.app.live import LiveLookup, LookupPool
from slackgenie.app.personal import Personal
from slackgenie.app.take import CANCEL, CONFIRM, Taking
from slackgenie.app.snapshot import SnapshotKeeper
from slackgenie.slack.text import escape
from slackgenie.telemetry.logging import redact

log = structlog.get_logger("slackgenie.app")
TIMED_OUT = Message(text=":hourglass: The schedule's provider did not answer in time; try again in a minute.")
# A take past the deadline goes on: it may still be made, and asking again must not be the advice.
TAKE_TIMED_OUT = Message(text=":hourglass: The schedule's provider is slow: your shift may still be taken in a "
                              "moment. `/oncall me` shows your shifts; a second take of the same shift makes no "
                              "second override.")


def create_app(client: WebClient, keeper: SnapshotKeeper, live: LiveLookup, now: Callable[[], datetime],
               signing_secret: str | None, pool: LookupPool, personal: Personal, taking: Taking) -> App:
    """Acknowledgements are built from the snapshot on the request's own thread, with nothing
    slow on that path (``process_before_response``: no worker pool to queue behind, no polling
    for the ack); anything slow (a live lookup, a mention's reply, the App Home) goes to ``pool``."""
    bolt_log = logging.getLogger("slackgenie.bolt")
    # Bolt also reads SLACK_BOT_TOKEN itself and warns that the given client's token wins: it does.
    bolt_log.addFilter(lambda record: "will be unused" not in record.getMessage())
    app = App(client=client, signing_secret=signing_secret or "socket-mode-needs-no-signing-secret",
              process_before_response=True, logger=bolt_log,
              token_verification_enabled=False,  # done before, by check_token, telling refusal from outage
              # Over HTTP, signed.py has checked the signature (and the body's size and shape)
              # before Bolt sees a request; Socket Mode has none to check. Once is enough.
              request_verification_enabled=False)

    @app.command("/oncall")
    def on_oncall(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        query = parse(command.get("text", ""))
        user = str(command.get("user_id") or "")
        personal_work: dict[str, tuple[Callable[[], Message], str]] = {
            "me": (lambda: personal.me(user, keeper.get(), query.public), "Looking up your shifts\u2026"),
            "take": (lambda: taking.offer(user, query.name, keeper.get()), "Checking the schedule\u2026"),
            "give-back": (lambda: taking.give_back(user, query.name, keeper.get()), "Giving your shift back\u2026"),
        }
        if query.kind in personal_work:
            work, waiting = personal_work[query.kind]

            def reply_personal(message: Message) -> None:
                respond(replace_original=True, **redact(message.as_ack()))

            if pool.submit((query.kind, user, query.name), work, reply_personal, timeout=TIMED_OUT) == "busy":
                ack(response_type="ephemeral", text=":hourglass: Too many lookups at once; try again in a minute.")
            else:
                ack(response_type="ephemeral", text=waiting)
            log.info("app.oncall", user=user, text=command.get("text", ""), live=True)
            return
        result = answer(query, keeper.get(), now())
        if isinstance(result, NeedsLookup):
            need = result

            def look_up() -> Message:
                return live.answer(need, keeper.get(), now())

            def reply(message: Message) -> None:
                respond(replace_original=True, **redact(message.as_ack()))

            state = pool.submit(("oncall", need.query.kind, need.query.public, need.match.kind, need.match.key),
                                look_up, reply, timeout=TIMED_OUT)
            if state == "busy":
                ack(response_type="ephemeral", text=":hourglass: Too many lookups at once; try again in a minute.")
            else:
                ack(response_type="ephemeral", text=f"Looking up *{escape(need.match.key)}*\u2026")
        else:
            ack(**result.scrubbed_ack(redact))
        log.info("app.oncall", user=command.get("user_id"), text=command.get("text", ""),
                 live=isinstance(result, NeedsLookup))

    @app.action(CONFIRM)
    def on_take_confirmed(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        clicker = str((body.get("user") or {}).get("id") or "")
        value = str(action.get("value") or "")

        def reply(message: Message) -> None:
            respond(replace_original=True, text=redact(message.text), blocks=[])

        respond(replace_original=True, text="Creating the override\u2026", blocks=[])
        if pool.submit(("take", clicker, value), lambda: taking.confirm(clicker, value, keeper.get()), reply,
                       timeout=TAKE_TIMED_OUT) == "busy":
            reply(Message(text=":hourglass: Too many requests at once; nothing was changed. Try again in a minute."))

    @app.action(CANCEL)
    def on_take_cancelled(ack: Ack, respond: Respond) -> None:
        ack()
        respond(replace_original=True, text="Cancelled; nothing was changed.", blocks=[])

    @app.event("app_mention")
    def on_mention(event: dict[str, Any], say: Say) -> None:
        text = re.sub(r"<@[A-Z0-9]+(\|[^>]*)?>", " ", event.get("text", "")).strip()

        def compose() -> Message:
            snapshot = keeper.get()
            if re.search(r"\bhelp\b", text, re.I):
                return Message(text=HELP)
            match = find_in_sentence(text, snapshot)
            kind = "next" if re.search(r"\bnext\b", text, re.I) else "one"
            query = Query(kind, match.key) if match else Query("all")
            found = answer(query, snapshot, now())
            return live.answer(found, snapshot, now()) if isinstance(found, NeedsLookup) else found

        def reply(message: Message) -> None:
            say(text=redact(message.text), blocks=redact(message.blocks) or None,
                thread_ts=event.get("thread_ts") or event.get("ts"))

        if pool.submit(("mention", event.get("channel"), event.get("ts")), compose, reply, timeout=TIMED_OUT) == "busy":
            reply(Message(text=":hourglass: Too many questions at once; ask again in a minute."))

    @app.event("app_home_opened")
    def on_home(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return

        def publish(message: Message) -> None:
            client.views_publish(user_id=event["user"], view={"type": "home", "blocks": redact(message.blocks)})

        # No Home is published on a timeout: the one the person has stays.
        def compose_home() -> Message:
            snapshot = keeper.get()
            return Message(text="", blocks=home_blocks(snapshot, now(), personal.home_shifts(event["user"], snapshot)))

        if pool.submit(("home", event.get("user")), compose_home, publish) == "busy":
            log.warning("app.home_not_published", reason="too much slow work at once", user=event.get("user"))

    return app
