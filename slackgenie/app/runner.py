"""Carrying the app: keeping its snapshot fresh after each pass, and serving it over HTTP or Socket Mode."""

from __future__ import annotations

import threading
import time
from concurrent.futures import wait
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import structlog
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler

from slackgenie.app.bolt import create_app
from slackgenie.app.live import LiveLookup, LookupPool
from slackgenie.app.personal import Personal
from slackgenie.app.take import Taking
from slackgenie.app.signed import WSGIApp, signed_only
from slackgenie.slack.client import error_code, make_web_client
from slackgenie.slack import probe
from slackgenie.slack.errors import token_refused
from slackgenie.app.snapshot import Snapshot, SnapshotKeeper
from slackgenie.core.model import OnCall, PassReport, ReadFailure
from slackgenie.engine.people import ShiftBook
from slackgenie.core.plan import map_identity
from slackgenie.wiring import Service

log = structlog.get_logger("slackgenie.app")

NEXT_TTL = 3600.0


class AppUnavailable(Exception):
    """The app cannot start now: the reason says whether a person must act."""


def check_token(client: WebClient) -> None:
    """``auth.test`` with the app's token, told apart: refused (a person must act) or unreachable."""
    try:
        client.auth_test()
    except SlackApiError as exc:
        code = error_code(exc)
        if token_refused(code):
            raise AppUnavailable(f"Slack refused SLACK_BOT_TOKEN ({code}): replace it") from None
        raise AppUnavailable(f"Slack could not check the token ({code})") from None
    except Exception as exc:
        raise AppUnavailable(f"Slack could not be reached ({type(exc).__name__})") from None


def _workspace_names(service: Service, client: WebClient) -> dict[str, str]:
    """Where the groups span several workspaces of an organisation: their names (one
    ``auth.teams.list`` when the app starts); an id stands for a name Slack does not give."""
    kind = service.token_kind
    if len(service.config.workspaces) < 2 or kind is None or not kind.org:
        return {}
    found = probe.workspaces(client)
    return found if isinstance(found, dict) else {}


class SlackApp:
    def __init__(self, service: Service, read_only: bool = False):
        config = service.config
        self.read_only = read_only  # `serve`: the passes after a take only read (never a group, a DM, a post)
        # With a user token for the writes (admin-only workspaces), the app speaks with its own bot token.
        app_bot = config.secrets.slack_app_bot_token
        client = service.slack if app_bot is None else make_web_client(
            app_bot, config.secrets.slack_api_url, config.file.retry, observer=service.metrics, stop=service.stop)
        check_token(client)
        self.service = service
        self.keeper = SnapshotKeeper(config.syncs, config.file.users, _workspace_names(service, client))
        live = LiveLookup(service.source, service.directory, config.file.users)
        signing = config.secrets.slack_signing_secret
        self.pool = LookupPool(workers=max(4, config.file.concurrency), deadline=config.file.retry.budget + 5)
        self.book = ShiftBook(config, service.source, service.clock.now, service.clock.monotonic)
        personal = Personal(self.book, service.directory, service.clock.now)
        taking = Taking(config, service.source, service.directory, service.clock.now, self.sync_soon, service.state)
        self.bolt = create_app(client, self.keeper, live, service.clock.now,
                               signing.get_secret_value() if signing else None, self.pool, personal, taking)
        self._next: dict[datetime, tuple[float, dict[str, OnCall | ReadFailure]]] = {}
        self._lock = threading.Lock()
        self._socket: SocketModeHandler | None = None
        self.syncs: list[threading.Thread] = []  # passes run after a take (tests join them)

    def sync_soon(self) -> None:
        """A pass now (after a shift was taken or given back), on its own thread; the snapshot follows."""
        self.book.forget()

        def run() -> None:
            try:
                self.refresh(self.service.run_pass(dry_run=self.read_only))
            except Exception as exc:
                log.warning("app.sync_after_take_failed", error=f"{type(exc).__name__}: {exc}")

        thread = threading.Thread(target=run, name="take-sync", daemon=True)
        self.syncs = [t for t in self.syncs if t.is_alive()] + [thread]  # bounded by those running
        thread.start()

    # --- the snapshot -------------------------------------------------------------------
    def refresh(self, report: PassReport, next_too: bool = True) -> Snapshot:
        """Fold a pass into the snapshot, with each schedule's next handoff and who comes on then.

        The snapshot is published first with what is known (who is next: "not known yet" where
        it was never read); then, with ``next_too``, who comes on at each distinct handoff
        instant is read (the provider's own answer at that instant, overrides included),
        concurrently, within ``pass_deadline``, remembered for an hour, and published again.
        """
        service = self.service
        refs = service.schedule_keys
        catalog = service.source.catalog()
        service.source.next_handoff(refs, report.started)  # one forecast read for all of them
        until = {ref: service.source.next_handoff([ref], report.started) for ref in refs}
        with self._lock:
            now = time.monotonic()
            self._next = {t: v for t, v in self._next.items() if now - v[0] < NEXT_TTL and t > report.started}
            wanted = sorted({t for t in until.values() if t is not None and t not in self._next})
        snapshot = self.keeper.update(report, catalog, self._known_next(until), until, self._slack_ids(report, {}))
        if not next_too or not wanted:
            return snapshot
        config = service.config.file
        # on the service's own pool (each call bounded by its deadline): none made per refresh
        futures = {t: service.lookups.submit(service.source.on_calls, [r for r in refs if until[r] == t], t)
                   for t in wanted}
        done, _ = wait(futures.values(), timeout=config.pass_deadline)
        for t, future in futures.items():
            if future not in done or future.exception() is not None:
                continue
            reads = future.result()
            if not any(isinstance(r, ReadFailure) for r in reads.values()):
                with self._lock:
                    self._next[t] = (time.monotonic(), reads)
        next_reads = self._known_next(until)
        unknown = {i for i in (map_identity(u, config.users) for r in next_reads.values() if isinstance(r, OnCall)
                               for u in r.usernames) if service.directory.peek(i) is None}
        if unknown:  # off the request path, and cached for the passes to come
            service.resolve_many(unknown)
        return self.keeper.update(report, catalog, next_reads, until, self._slack_ids(report, next_reads))

    def _known_next(self, until: dict[str, datetime | None]) -> dict[str, OnCall | ReadFailure]:
        with self._lock:
            return {ref: self._next[t][1][ref] for ref, t in until.items()
                    if t is not None and t in self._next and ref in self._next[t][1]}

    def _slack_ids(self, report: PassReport, next_reads: dict[str, OnCall | ReadFailure]) -> dict[str, str]:
        """Slack ids the directory already knows for everyone the snapshot names."""
        config = self.service.config
        people = ({u for r in report.reads.values() if isinstance(r, OnCall) for u in r.usernames}
                  | {u for r in next_reads.values() if isinstance(r, OnCall) for u in r.usernames}
                  | {u for s in config.syncs for u in s.users})
        out = {}
        for username in people:
            user = self.service.directory.peek(map_identity(username, config.file.users))
            if user is not None:
                out[username] = user.id
        return out

    # --- transports -------------------------------------------------------------------
    def wsgi(self) -> WSGIApp:
        """The HTTP endpoint (``/slack/events``): only small, correctly signed requests reach Bolt."""
        secret = self.service.config.secrets.slack_signing_secret
        if secret is None:
            raise ValueError("the HTTP endpoint needs SLACK_SIGNING_SECRET")
        return signed_only(SlackRequestHandler(self.bolt, path="/slack/events"), secret.get_secret_value())

    def start_socket_mode(self, app_token: str) -> None:
        socket = SocketModeHandler(self.bolt, app_token)
        try:
            socket.connect()
        except SlackApiError as exc:
            code = error_code(exc)
            raise AppUnavailable(f"Slack refused SLACK_APP_TOKEN for Socket Mode ({code})") from None
        self._socket = socket
        log.info("app.socket_mode_connected")

    def stop(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self.pool.close()


class AppSupervisor:
    """Starts the Slack app beside the sync, and keeps trying: a bad app token or Slack being
    unreachable at start leaves the app off, loudly, while the groups go on being synced."""

    def __init__(self, service: Service, app_token: str | None, first_retry: float = 2.0, max_retry: float = 300.0,
                 read_only: bool = False):
        self.service = service
        self.read_only = read_only
        self.app_token = app_token
        self.first_retry, self.max_retry = first_retry, max_retry
        self._app: SlackApp | None = None
        self._http: WSGIApp | None = None
        self._last: PassReport | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._start, name="app-start", daemon=True)

    @property
    def app(self) -> SlackApp | None:
        with self._lock:
            return self._app

    def start(self) -> AppSupervisor:
        self._thread.start()
        return self

    def _start(self) -> None:
        wait = self.first_retry
        while not self._stop.is_set():
            try:
                app = SlackApp(self.service, read_only=self.read_only)
                http = app.wsgi() if self.app_token is None else None
                if self.app_token is not None:
                    app.start_socket_mode(self.app_token)
            except Exception as exc:
                reason = str(exc) if isinstance(exc, AppUnavailable) else f"{type(exc).__name__}: {exc}"
                log.error("app.start_failed", error=reason, retry_in=wait, sync="continues")
                self._stop.wait(wait)
                wait = min(wait * 2, self.max_retry)
                continue
            # Answer from the latest pass before being seen as started (readiness, HTTP): who is
            # on call now at once; who is next follows, read concurrently, without holding it up.
            with self._lock:
                last = self._last
            if last is not None:
                self._refresh(app, last, next_too=False)
            with self._lock:
                self._app, self._http = app, http
                newer = self._last if self._last is not last else None
            log.info("app.started", transport="socket mode" if self.app_token else "http")
            latest = newer or last
            if latest is not None:
                self._refresh(app, latest)
            return

    def refresh(self, report: PassReport, next_too: bool = True) -> None:
        with self._lock:
            self._last = report
            app = self._app
        if app is not None:
            self._refresh(app, report, next_too)

    @staticmethod
    def _refresh(app: SlackApp, report: PassReport, next_too: bool = True) -> None:
        try:
            app.refresh(report, next_too)
        except Exception as exc:  # the app's snapshot must never stop the sync
            log.warning("app.snapshot_failed", error=f"{type(exc).__name__}: {exc}")

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self._lock:
            http = self._http
        if http is not None:
            return http(environ, start_response)
        body = b'{"error": "the Slack app is starting"}'
        start_response("503 Service Unavailable", [("Content-Type", "application/json"),
                                                   ("Content-Length", str(len(body))), ("Retry-After", "5")])
        return [body]

    def stop(self) -> None:
        self._stop.set()
        app = self.app
        if app is not None:
            app.stop()
