"""Slack's Socket Mode on loopback: the WebSocket end that ``apps.connections.open`` points at.

Speaks the documented frames: ``hello`` on connect, envelopes (``slash_commands``,
``events_api``, ``interactive``) pushed by the test or benchmark, acks carrying the envelope id
(and, for commands, the response payload), and ``disconnect`` asking the client to reconnect.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve


class SocketModeServer:
    def __init__(self, host: str = "127.0.0.1"):
        self._server = serve(self._handle, host, 0, ping_interval=None)
        self._thread = threading.Thread(target=self._server.serve_forever, name="socket-mode", daemon=True)
        self._lock = threading.Lock()
        self._tickets: set[str] = set()
        self._connections: list[ServerConnection] = []
        self._acks: dict[str, dict[str, Any]] = {}
        self._waiting: dict[str, threading.Event] = {}
        self.connects = 0

    @property
    def port(self) -> int:
        return int(self._server.socket.getsockname()[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.close()
            except Exception:
                pass
        self._server.shutdown()

    def issue_url(self) -> str:
        ticket = uuid.uuid4().hex
        with self._lock:
            self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id=A0EMULATE1"

    def _handle(self, conn: ServerConnection) -> None:
        path = conn.request.path if conn.request else ""
        ticket = path.split("ticket=", 1)[1].split("&", 1)[0] if "ticket=" in path else ""
        with self._lock:
            valid = ticket in self._tickets
            self._tickets.discard(ticket)  # each URL is good for one connection
        if not path.startswith("/link") or not valid:
            conn.close(code=4001, reason="invalid ticket")
            return
        conn.send(json.dumps({"type": "hello", "num_connections": 1,
                              "debug_info": {"host": "applink-emulator", "build_number": 10,
                                             "approximate_connection_time": 18060},
                              "connection_info": {"app_id": "A0EMULATE1"}}))
        with self._lock:
            self._connections.append(conn)
            self.connects += 1
        try:
            for raw in conn:
                try:
                    data = json.loads(raw)
                except ValueError:
                    continue
                eid = data.get("envelope_id") if isinstance(data, dict) else None
                if eid:
                    with self._lock:
                        event = self._waiting.get(eid)
                        if event is not None:  # a late ack for an abandoned envelope is dropped
                            self._acks[eid] = data
                    if event:
                        event.set()
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if conn in self._connections:
                    self._connections.remove(conn)

    def wait_connected(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._connections:
                    return True
            time.sleep(0.02)
        return False

    def send(self, kind: str, payload: dict[str, Any], timeout: float = 5.0) -> dict[str, Any] | None:
        """Push one envelope to the newest connection and wait for its ack (None: no ack in time)."""
        if not self.wait_connected(timeout):
            return None
        eid = str(uuid.uuid4())
        event = threading.Event()
        with self._lock:
            self._waiting[eid] = event
            conn = self._connections[-1]
        envelope = {"envelope_id": eid, "type": kind, "accepts_response_payload": kind == "slash_commands",
                    "payload": payload, "retry_attempt": 0, "retry_reason": ""}
        try:
            conn.send(json.dumps(envelope))
            event.wait(timeout)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._waiting.pop(eid, None)
                ack = self._acks.pop(eid, None)
        return ack

    def disconnect_all(self, reason: str = "refresh_requested") -> None:
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.send(json.dumps({"type": "disconnect", "reason": reason,
                                      "debug_info": {"host": "applink-emulator"}}))
            except ConnectionClosed:
                pass
            with self._lock:  # the client is told to go: new envelopes go to its next connection
                if conn in self._connections:
                    self._connections.remove(conn)
