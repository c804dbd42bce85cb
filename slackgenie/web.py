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

from slackgenie.metrics import Metrics
from slackgenie.model import PassReport

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass
class Health:
    """What the probes answer from. Updated by the daemon; read by the web thread."""

    interval: float
    started: float = field(default_factory=time.time)
    heartbeat: float = field(default_factory=time.time)
    last_pass_end: float | None = None
    last_pass_total_failure: bool = False
    last_pass_groups: int = 0
    last_pass_failed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def beat(self) -> None:
        self.heartbeat = time.time()

    def record(self, report: PassReport) -> None:
        failed = sum(1 for o in report.outcomes if not o.ok)
        with self._lock:
            self.last_pass_end = time.time()
            self.last_pass_groups = len(report.outcomes)
            self.last_pass_failed = failed
            self.last_pass_total_failure = bool(report.outcomes) and failed == len(report.outcomes)

    def live(self) -> tuple[bool, dict[str, Any]]:
        stale = time.time() - self.heartbeat
        return stale < 60, {"loop_heartbeat_age_seconds": round(stale, 3)}

    def ready(self) -> tuple[bool, dict[str, Any]]:
        """Ready: the last pass finished recently (within 2 intervals + 30 s) and was not a total failure."""
        with self._lock:
            if self.last_pass_end is None:
                return False, {"reason": "no pass has finished yet"}
            age = time.time() - self.last_pass_end
            info = {"last_pass_age_seconds": round(age, 3), "groups": self.last_pass_groups,
                    "failed_groups": self.last_pass_failed}
            if age > 2 * self.interval + 30:
                return False, {**info, "reason": "the last pass finished too long ago"}
            if self.last_pass_total_failure:
                return False, {**info, "reason": "every group failed in the last pass"}
            return True, info


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
    """waitress in a background thread."""

    def __init__(self, app: WSGIApp, host: str, port: int, threads: int = 8):
        self._server = create_server(app, host=host, port=port, threads=threads, ident="slackgenie")
        self._thread = threading.Thread(target=self._server.run, name="web", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.effective_port)  # type: ignore[union-attr]

    def start(self) -> WebServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.close()
