"""`slackgenie run` and `serve`: the daemon, with its web face (/metrics, /healthz, /readyz and,
for the Slack app over HTTP, /slack/events) and the Slack app beside it. ``serve`` runs the same
loop read-only: the app answers from its passes, and no group is written."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable

import structlog

from slackgenie.app.runner import AppSupervisor
from slackgenie.core.clock import Clock
from slackgenie.core.model import PassReport
from slackgenie.engine.daemon import Daemon
from slackgenie.engine.oneshot import exit_now
from slackgenie.ops.report import render
from slackgenie.ops.web import Health, WebServer, make_app
from slackgenie.settings import Config
from slackgenie.wiring import Service, build

log = structlog.get_logger("slackgenie")

EXIT_USAGE = 2


def run_daemon(config: Config, clock: Clock, bind: str, port: int, read_only: bool) -> int:
    service = build(config, clock=clock)
    health = Health(interval=config.file.interval, pass_deadline=config.file.pass_deadline)
    app = _app(service, health, read_only)
    daemon = service.daemon(_on_report(service, health, app), read_only=read_only)
    daemon.install_signal_handlers()
    release = _elect(service, daemon) if not read_only else None
    web = None
    if port:
        web = _web(service, health, app, bind, port)
        if web is None:
            service.close()
            return EXIT_USAGE
    if app is not None:
        app.start()
    try:
        code = daemon.run()
    finally:
        if release is not None:
            release()
        if app is not None:
            app.stop()
        if web is not None:
            web.stop()
    exit_now(code)


def _elect(service: Service, daemon: Daemon) -> Callable[[], None] | None:
    """leader_election: the lease loop started; on becoming the holder, a pass at once (it writes);
    on SIGTERM/SIGINT the lease given up as soon as the writes in flight end (not after the pass),
    so another replica takes over within a second or two. Returns what finishes the release."""
    lease = service.lease
    if lease is None:
        return None
    lease.listen(lambda leading: daemon.wake("lease") if leading else None)
    releasing = threading.Thread(target=lease.release, name="lease-release", daemon=True)

    def stop(signum: int, frame: object) -> None:
        daemon.request_stop(signum, frame)
        if not releasing.is_alive() and releasing.ident is None:
            releasing.start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    lease.start()

    def finish() -> None:
        if releasing.ident is None:
            lease.release()
        else:
            releasing.join(timeout=lease.request_timeout + 2.0)

    return finish


def _app(service: Service, health: Health, read_only: bool) -> AppSupervisor | None:
    """The Slack app, when it has a way in: a signing secret (HTTP) or an app token (Socket Mode)."""
    secrets = service.config.secrets
    if not (secrets.slack_signing_secret or secrets.slack_app_token):
        return None
    app = AppSupervisor(service, secrets.slack_app_token.get_secret_value() if secrets.slack_app_token else None,
                        read_only=read_only)
    health.app_started = lambda: app.app is not None
    return app


def _on_report(service: Service, health: Health, app: AppSupervisor | None) -> Callable[[PassReport], None]:
    def on_report(report: PassReport) -> None:
        if app is not None:  # who is on call now, at once: the app answers from it, and is ready
            app.refresh(report, next_too=False)
        health.record(report)
        print(render(report), flush=True)
        if app is not None:  # who is next: one read per handoff instant, concurrently, off the ack path
            app.refresh(report)
        if report.ran and report.at is None:
            service.watch_gaps()

    return on_report


def _web(service: Service, health: Health, app: AppSupervisor | None, bind: str, port: int) -> WebServer | None:
    """The web face, listening; None (said why) when the address cannot be had."""
    mounts = {"/slack/events": app.wsgi} if app is not None and not service.config.secrets.slack_app_token else {}
    try:
        web = WebServer(make_app(service.metrics, health, mounts), bind, port).start()
    except OSError as exc:
        print(f"slackgenie: cannot listen on {bind}:{port}: {exc.strerror}", file=sys.stderr)
        return None
    log.info("web.listening", address=bind, port=web.port, paths=[*mounts, "/metrics", "/healthz", "/readyz"])
    return web
