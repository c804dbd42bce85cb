"""Carrying the app: keeping its snapshot fresh after each pass, and serving it over HTTP or Socket Mode."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import structlog
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler

from slackgenie.app.bolt import create_app
from slackgenie.app.live import LiveLookup
from slackgenie.app.signed import WSGIApp, signed_only
from slackgenie.app.snapshot import Snapshot, SnapshotKeeper
from slackgenie.model import OnCall, PassReport, ReadFailure
from slackgenie.plan import map_identity
from slackgenie.service import Service

log = structlog.get_logger("slackgenie.app")

NEXT_TTL = 3600.0


class SlackApp:
    def __init__(self, service: Service):
        self.service = service
        config = service.config
        self.keeper = SnapshotKeeper(config.syncs, config.file.users)
        live = LiveLookup(service.opsgenie, service.reconciler.directory, config.file.users)
        signing = config.secrets.slack_signing_secret
        self.bolt = create_app(service.slack, self.keeper, live, service.clock.now,
                               signing.get_secret_value() if signing else None)
        self._next: dict[datetime, tuple[float, dict[str, OnCall | ReadFailure]]] = {}
        self._lock = threading.Lock()
        self._socket: SocketModeHandler | None = None

    # --- the snapshot -------------------------------------------------------------------
    def refresh(self, report: PassReport) -> Snapshot:
        """Fold a pass into the snapshot, with each schedule's next handoff and who comes on then.

        Who comes on is Opsgenie's own answer at that instant (overrides included): one bulk
        read per distinct handoff instant, remembered for an hour.
        """
        service = self.service
        refs = service.schedule_refs
        forecast = service.forecast
        models = forecast.models()
        until = {ref: forecast.next_handoff([ref], report.started) for ref in refs}
        next_reads: dict[str, OnCall | ReadFailure] = {}
        with self._lock:
            now = time.monotonic()
            self._next = {t: v for t, v in self._next.items() if now - v[0] < NEXT_TTL and t > report.started}
            wanted = sorted({t for t in until.values() if t is not None and t not in self._next})
        if wanted:
            with ThreadPoolExecutor(max_workers=service.config.file.concurrency) as pool:
                for t in wanted:
                    reads = service.reconciler.source.on_calls([r for r in refs if until[r] == t], pool, t)
                    if not any(isinstance(r, ReadFailure) for r in reads.values()):
                        with self._lock:
                            self._next[t] = (time.monotonic(), reads)
                    next_reads.update(reads)
        with self._lock:
            for ref, handoff in until.items():
                if handoff is not None and handoff in self._next and ref in self._next[handoff][1]:
                    next_reads[ref] = self._next[handoff][1][ref]
        now_on = {u for r in report.reads.values() if isinstance(r, OnCall) for u in r.usernames}
        next_on = {u for r in next_reads.values() if isinstance(r, OnCall) for u in r.usernames}
        people = now_on | next_on | {u for s in service.config.syncs for u in s.users}
        directory = service.reconciler.directory
        user_map = service.config.file.users
        # The pass already looked up who is on call now; only who comes on next may be new.
        unknown = {i for i in (map_identity(u, user_map) for u in next_on - now_on) if directory.peek(i) is None}
        if unknown:  # off the request path, and cached for the passes to come
            with ThreadPoolExecutor(max_workers=service.config.file.concurrency) as pool:
                directory.resolve_many(unknown, pool)
        slack_ids = {}
        for username in people:
            user = directory.peek(map_identity(username, user_map))
            if user is not None:
                slack_ids[username] = user.id
        return self.keeper.update(report, models, next_reads, until, slack_ids)

    # --- transports -------------------------------------------------------------------
    def wsgi(self) -> WSGIApp:
        """The HTTP endpoint (``/slack/events``): only small, correctly signed requests reach Bolt."""
        secret = self.service.config.secrets.slack_signing_secret
        if secret is None:
            raise ValueError("the HTTP endpoint needs SLACK_SIGNING_SECRET")
        return signed_only(SlackRequestHandler(self.bolt, path="/slack/events"), secret.get_secret_value())

    def start_socket_mode(self, app_token: str) -> None:
        self._socket = SocketModeHandler(self.bolt, app_token)
        self._socket.connect()
        log.info("app.socket_mode_connected")

    def stop(self) -> None:
        if self._socket is not None:
            self._socket.close()
