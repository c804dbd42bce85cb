"""The daemon's HTTP face: /metrics, /healthz and /readyz on one port, served by waitress.

waitress is a production-grade, pure-Python WSGI server that runs in a thread of the daemon,
so one process syncs, answers probes and (with the Slack app) serves Slack's requests. Other
WSGI apps (the Slack app's /slack/events) mount beside these paths.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from waitress.server import create_server

from slackgenie.app.signed import MAX_BODY
from slackgenie.environment import ConfigError
from slackgenie.telemetry.metrics import Metrics
from slackgenie.core.model import PassReport

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
DEFAULT_PORT = 3000


def listen_address(port: int | None, bind: str | None, env: Mapping[str, str]) -> tuple[str, int]:
    """(address, port) to serve on: ``--bind``/``--port``, else $BIND_ADDRESS and $PORT (or
    $METRICS_PORT), else all addresses on 3000; port 0: serve nothing."""
    raw: int | str = port if port is not None else (env.get("PORT") or env.get("METRICS_PORT") or DEFAULT_PORT)
    try:
        number = int(raw)
        if not 0 <= number <= 65535:
            raise ValueError
    except ValueError:
        raise ConfigError("environment", "PORT", f"{raw!r} is not a port number",
                          "set PORT (or --port) to a number from 1 to 65535, or 0 to serve nothing") from None
    return bind or env.get("BIND_ADDRESS") or "0.0.0.0", number


@dataclass
class Health:
    """What the probes answer from. Updated by the daemon; read by the web thread. Monotonic time.

    Live: a pass has completed (whatever its result) within ``interval + 3 * pass_deadline``
    of the previous one, or of the start: a loop that stopped turning gets restarted.
    Ready: a first pass has completed, so there is a snapshot to answer from — also when that
    pass could not read Opsgenie (the app then says so): an outage must not take the only
    replica out of its Service — and the Slack app, if configured, has started. How well the
    groups are synced is for metrics and alerts.
    """

    interval: float
    pass_deadline: float = 60.0
    started: float = field(default_factory=time.monotonic)
    last_pass_end: float | None = None
    last_pass_groups: int = 0
    last_pass_failed: int = 0
    app_started: Callable[[], bool] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, report: PassReport) -> None:
        if not report.ran:
            return  # a pass that could not even start (the lock was held) is no sign of life
        failed = sum(1 for o in report.outcomes if not o.ok)
        with self._lock:
            self.last_pass_end = time.monotonic()
            self.last_pass_groups = len(report.outcomes)
            self.last_pass_failed = failed

    @property
    def live_limit(self) -> float:
        return self.interval + 3 * self.pass_deadline

    def live(self) -> tuple[bool, dict[str, Any]]:
        with self._lock:
            since = time.monotonic() - (self.last_pass_end if self.last_pass_end is not None else self.started)
        info = {"seconds_since_pass_completed": round(since, 3), "limit_seconds": self.live_limit}
        if since > self.live_limit:
            return False, {**info, "reason": "no pass has completed in time: the loop is stuck"}
        return True, info

    def ready(self) -> tuple[bool, dict[str, Any]]:
        with self._lock:
            if self.last_pass_end is None:
                return False, {"reason": "no pass has completed yet"}
            if self.app_started is not None and not self.app_started():
                return False, {"reason": "the Slack app has not started (see the app.start_failed log)"}
            return True, {"last_pass_age_seconds": round(time.monotonic() - self.last_pass_end, 3),
                          "groups": self.last_pass_groups, "failed_groups": self.last_pass_failed}


def make_app(metrics: Metrics, health: Health, mounts: Mapping[str, WSGIApp] | None = None) -> WSGIApp:
    mounts = mounts or {}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        for prefix, sub in mounts.items():
            if path == prefix or path.startswith(prefix + "/"):
                return sub(environ, start_response)
        if path == "/metrics":
            body = metrics.exposition()
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
            return [body]
        if path in ("/healthz", "/readyz"):
            ok, info = health.live() if path == "/healthz" else health.ready()
            body = json.dumps({"ok": ok, **info}).encode()
            start_response("200 OK" if ok else "503 Service Unavailable",
                           [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        body = b'{"error": "not found"}'
        start_response("404 Not Found", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return app


class WebServer:
    """waitress in a background thread, with limits set for what it serves: probes, a scrape and
    Slack's small signed requests (a larger body is refused before it is read)."""

    def __init__(self, app: WSGIApp, host: str, port: int, threads: int = 8):
        self._server = create_server(
            app, host=host, port=port, threads=threads, ident="slackgenie",
            max_request_body_size=MAX_BODY,  # waitress's default is 1 GiB
            max_request_header_size=64 * 1024,
            connection_limit=200,
            channel_timeout=30,  # an idle or dripping client is dropped after 30 s
            cleanup_interval=10,
        )
        self._thread = threading.Thread(target=self._server.run, name="web", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.effective_port)  # type: ignore[union-attr]

    def start(self) -> WebServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.close()
