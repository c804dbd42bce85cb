"""What both emulators share: a loopback HTTP server, a settable clock, a request log and faults.

The emulators are real HTTP servers on 127.0.0.1 so that the real clients (slack_sdk's
WebClient, our httpx Opsgenie client) talk to them over real sockets.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Callable
from typing import Any


class Clock:
    """The emulator's idea of now: real time, optionally frozen or shifted. Thread-safe."""

    def __init__(self, frozen_at: datetime | None = None):
        self._lock = threading.Lock()
        self._frozen = frozen_at
        self._offset = timedelta()

    def now(self) -> datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return datetime.now(timezone.utc) + self._offset

    def set(self, at: datetime, *, frozen: bool = True) -> None:
        with self._lock:
            if frozen:
                self._frozen = at
            else:
                self._frozen = None
                self._offset = at - datetime.now(timezone.utc)

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            if self._frozen is not None:
                self._frozen += timedelta(seconds=seconds)
            else:
                self._offset += timedelta(seconds=seconds)
        return self.now()


class RateWindow:
    """A rolling-window rate limit: at most ``limit`` requests per ``window`` seconds."""

    def __init__(self, limit: int, window: float = 60.0):
        self.limit, self.window = limit, window
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 if this request is allowed, else the seconds until one would be."""
        now = time.monotonic()
        with self._lock:
            while self._times and now - self._times[0] >= self.window:
                self._times.popleft()
            if len(self._times) >= self.limit:  # a limit of 0: nothing is ever allowed
                return self.window - (now - self._times[0]) if self._times else self.window
            self._times.append(now)
            return 0.0


@dataclass
class Fault:
    """One injected misbehaviour for requests whose path matches ``pattern``.

    kind: ``status`` (answer ``status`` with ``retry_after``; with ``body``, that raw text
    instead of the API's own error, as a misbehaving proxy would), ``drop`` (close the
    connection without answering: nothing was done), ``lost`` (carry the request out, then close
    the connection without answering: done, but the client cannot know), ``after`` (carry the
    request out, then answer as ``status`` does: a gateway's 504 in front of a done request), ``latency`` (sleep ``delay`` seconds, then answer normally)
    ``transform`` (answer normally, with the JSON body passed through ``transform`` first:
    a careless API's answer, one field wrong) or ``drip`` (send the status line and headers at
    once, then the body one byte every ``delay`` seconds: a server that never quite stops).
    ``times`` is how many requests it hits (None: until removed).
    """

    pattern: str
    kind: str = "status"
    status: int = 503
    retry_after: float | None = None
    delay: float = 0.0
    body: str | None = None
    transform: Callable[[Any], Any] | None = None
    times: int | None = None
    hits: int = 0
    method: str | None = None  # only requests of this HTTP method (None: any)

    def matches(self, path: str, method: str = "GET") -> bool:
        return re.search(self.pattern, path) is not None and self.method in (None, method)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    json: Any
    headers: dict[str, str]
    raw_body: bytes
    query_all: dict[str, list[str]] = field(default_factory=dict)  # every value of a repeated parameter

    def args(self, name: str) -> list[str]:
        """Every value of a repeated query parameter (``schedule_ids[]=a&schedule_ids[]=b``)."""
        return list(self.query_all.get(name, []))

    def arg(self, name: str, default: str | None = None) -> str | None:
        """A parameter from the JSON body, the form body or the query string (Slack takes all three)."""
        if isinstance(self.json, dict) and name in self.json:
            value = self.json[name]
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, list):
                return ",".join(str(v) for v in value)
            return value if isinstance(value, str) else json.dumps(value)
        if name in self.form:
            return self.form[name]
        return self.query.get(name, default)


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    params: dict[str, str]
    status: int
    at: float


class EmulatorServer:
    """Base class: subclasses implement ``handle(request) -> Response``."""

    name = "emulator"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, clock: Clock | None = None):
        self.clock = clock or Clock()
        self._faults: list[Fault] = []
        self._log: list[LoggedRequest] = []
        self._lock = threading.RLock()
        self._httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # idle keep-alive connections must not hold up stop()
        self._thread: threading.Thread | None = None
        self._in_flight = 0
        self.max_in_flight = 0
        self.arrivals: list[tuple[float, str]] = []  # (time.time(), path) as each request arrives  # the most requests served at once: shows whether a client reads concurrently

    # --- lifecycle ---------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- faults and the request log ---------------------------------------------------
    def inject(self, pattern: str, **kwargs: Any) -> Fault:
        fault = Fault(pattern=pattern, **kwargs)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str, method: str = "GET") -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(path, method) and (fault.times is None or fault.hits < fault.times):
                    fault.hits += 1
                    return fault
        return None

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()
            self.arrivals.clear()
            self.max_in_flight = 0

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def calls(self, pattern: str = "") -> int:
        """How many requests reached the server whose path matches ``pattern`` (a regex)."""
        return sum(1 for r in self.requests if re.search(pattern, r.path))

    def _record(self, request: Request, status: int) -> None:
        params = {**request.query, **request.form}
        if isinstance(request.json, dict):
            params.update({k: str(v) for k, v in request.json.items()})
        with self._lock:
            self._log.append(LoggedRequest(request.method, request.path, params, status, time.time()))

    # --- subclasses ---------------------------------------------------------------------
    def handle(self, request: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    def fault_response(self, fault: Fault, request: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError


def _make_handler(server: EmulatorServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def _serve(self) -> None:
            with server._lock:
                server.arrivals.append((time.time(), urllib.parse.urlsplit(self.path).path))
            server._enter()
            try:
                self._serve_one()
            finally:
                server._leave()

        def _serve_one(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            form: dict[str, str] = {}
            body_json: Any = None
            if ctype == "application/x-www-form-urlencoded":
                form = dict(urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            elif ctype == "application/json" and raw:
                try:
                    body_json = json.loads(raw)
                except ValueError:
                    body_json = None
            request = Request(
                method=self.command,
                path=parsed.path,
                query=dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)),
                form=form,
                json=body_json,
                headers={k.lower(): v for k, v in self.headers.items()},
                raw_body=raw,
                query_all=_multi(parsed.query),
            )
            fault = server._take_fault(parsed.path, self.command)
            if fault is not None and fault.kind == "lost":  # carried out, then the answer is lost
                server._record(request, server.handle(request).status)
                self.close_connection = True
                return
            if fault is not None and fault.kind == "after":  # carried out, then a gateway's error page
                server.handle(request)
                fault = replace(fault, kind="status")
            if fault is not None and fault.kind == "drop":
                server._record(request, 0)
                self.close_connection = True
                return
            if fault is not None and fault.kind == "latency":
                time.sleep(fault.delay)
                fault = None
            if fault is not None and fault.kind == "drip":
                response = server.handle(request)
                server._record(request, response.status)
                self._write(response, drip=fault.delay)
                return
            if fault is not None and fault.kind == "transform" and fault.transform is not None:
                response = server.handle(request)
                response.body = fault.transform(response.body)
            elif fault is None:
                response = server.handle(request)
            elif fault.body is not None:
                response = Response(fault.status, fault.body, content_type="text/html; charset=utf-8")
            else:
                response = server.fault_response(fault, request)
            server._record(request, response.status)
            self._write(response)

        def _write(self, response: Response, drip: float = 0.0) -> None:
            if isinstance(response.body, (bytes, str)):
                payload = response.body.encode() if isinstance(response.body, str) else response.body
            else:
                payload = json.dumps(response.body).encode()
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.end_headers()
            if not drip:
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (a refused upload, a timeout)
                return
            self.wfile.flush()
            deadline = time.monotonic() + 600  # bounded, whatever the client does
            for i in range(len(payload)):
                if time.monotonic() > deadline:
                    break
                try:
                    self.wfile.write(payload[i:i + 1])
                    self.wfile.flush()
                except OSError:
                    break  # the client gave up: that is the point
                time.sleep(drip)
            self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler


def _multi(query: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        out.setdefault(key, []).append(value)
    return out


def parse_time(value: str) -> datetime:
    """ISO-8601 with 'Z' or an offset ('+02:00'); naive values are taken as UTC."""
    dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
