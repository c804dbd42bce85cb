"""The Bolt app: the listeners of handlers.py registered, each under what it answers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from slack_bolt import App
from slack_sdk import WebClient

from slackgenie.app.handlers import Handlers
from slackgenie.app.live import LiveLookup, LookupPool
from slackgenie.app.personal import Personal
from slackgenie.app.snapshot import SnapshotKeeper
from slackgenie.app.take import CANCEL, CONFIRM, Taking


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
    handlers = Handlers(keeper, live, now, pool, personal, taking)
    app.command("/oncall")(handlers.oncall)
    app.action(CONFIRM)(handlers.take_confirmed)
    app.action(CANCEL)(handlers.take_cancelled)
    app.event("app_mention")(handlers.mention)
    app.event("app_home_opened")(handlers.home_opened)
    return app
