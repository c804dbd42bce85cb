"""The Bolt app: `/oncall`, mentions and the App Home. Handlers know nothing of transports.

Every answer is built from the snapshot on the ack path; only a name the snapshot holds no
answer for goes to a lazy listener, which asks the schedule's provider and replies through ``response_url``.
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
from slackgenie.app.live import LiveLookup
from slackgenie.app.snapshot import SnapshotKeeper, escape
from slackgenie.observe import redact

log = structlog.get_logger("slackgenie.app")


def create_app(client: WebClient, keeper: SnapshotKeeper, live: LiveLookup, now: Callable[[], datetime],
               signing_secret: str | None) -> App:
    bolt_log = logging.getLogger("slackgenie.bolt")
    # Bolt also reads SLACK_BOT_TOKEN itself and warns that the given client's token wins: it does.
    bolt_log.addFilter(lambda record: "will be unused" not in record.getMessage())
    app = App(client=client, signing_secret=signing_secret or "socket-mode-needs-no-signing-secret",
              process_before_response=False, logger=bolt_log,
              token_verification_enabled=False)  # done before, by check_token, telling refusal from outage

    def ack_oncall(ack: Ack, command: dict[str, Any]) -> None:
        query = parse(command.get("text", ""))
        result = answer(query, keeper.get(), now())
        if isinstance(result, NeedsLookup):
            ack(response_type="ephemeral", text=f"Looking up *{escape(result.match.key)}*\u2026")
        else:
            ack(**redact(result.as_ack()))
        log.info("app.oncall", user=command.get("user_id"), text=command.get("text", ""),
                 live=isinstance(result, NeedsLookup))

    def lookup_oncall(command: dict[str, Any], respond: Respond) -> None:
        query = parse(command.get("text", ""))
        result = answer(query, keeper.get(), now())
        if isinstance(result, NeedsLookup):  # the same decision the ack made (see answers.answer)
            message = live.answer(result, keeper.get(), now())
            respond(replace_original=True, **redact(message.as_ack()))

    app.command("/oncall")(ack=ack_oncall, lazy=[lookup_oncall])

    @app.event("app_mention")
    def on_mention(event: dict[str, Any], say: Say) -> None:
        text = re.sub(r"<@[A-Z0-9]+(\|[^>]*)?>", " ", event.get("text", "")).strip()
        snapshot = keeper.get()
        if re.search(r"\bhelp\b", text, re.I):
            message = Message(text=HELP)
        else:
            match = find_in_sentence(text, snapshot)
            kind = "next" if re.search(r"\bnext\b", text, re.I) else "one"
            query = Query(kind, match.key) if match else Query("all")
            found = answer(query, snapshot, now())
            message = live.answer(found, snapshot, now()) if isinstance(found, NeedsLookup) else found
        say(text=redact(message.text), blocks=redact(message.blocks) or None,
            thread_ts=event.get("thread_ts") or event.get("ts"))

    @app.event("app_home_opened")
    def on_home(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        client.views_publish(user_id=event["user"],
                             view={"type": "home", "blocks": redact(home_blocks(keeper.get(), now()))})

    return app
