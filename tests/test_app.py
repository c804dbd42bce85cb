"""The Slack app end to end: signed requests over HTTP, and envelopes over Socket Mode, to `slackgenie run`."""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from slackgenie_emulators import Emulators
from slackgenie_emulators.injector import (app_home_opened, app_mention, form_body, json_body, signed_headers,
                                           slash_command)

from conftest import SECRETS, output, spawn, write_config
from test_operations import free_port, wait_for

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
APP_TOKEN = "xapp-1-A0EMULATE1-1111-emulatorapptoken"


class Daemon:
    def __init__(self, emu: Emulators, tmp_path: Path, env: dict[str, str], command: str = "run"):
        self.emu = emu
        self.port = free_port()
        self.tmp_path = tmp_path
        write_config(tmp_path, emu.org.config_yaml.replace("interval: 60", "interval: 1"))
        self.proc = spawn([sys.executable, "-m", "slackgenie", command, "--bind", "127.0.0.1", "--port", str(self.port)],
                          {**emu.env(), **env}, tmp_path, "daemon")
        self.base = f"http://127.0.0.1:{self.port}"
        assert wait_for(self._ready, 30), self.stop()

    def _ready(self) -> bool:
        try:
            return httpx.get(self.base + "/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=15)
        out, err = output(self.tmp_path, "daemon")
        return out + err

    def command(self, text: str, key: str = "k", secret: str = SIGNING_SECRET, timestamp: int | None = None,
                user: str = "U00000002") -> httpx.Response:
        body = form_body(slash_command(text, user, self.emu.slack.response_url(key)))
        headers = signed_headers(secret, body, "application/x-www-form-urlencoded", timestamp)
        return httpx.post(self.base + "/slack/events", content=body, headers=headers, timeout=10)

    def event(self, payload: dict) -> httpx.Response:
        body = json_body(payload)
        return httpx.post(self.base + "/slack/events", content=body,
                          headers=signed_headers(SIGNING_SECRET, body, "application/json"), timeout=10)


@pytest.fixture
def http_app(emulators: Emulators, tmp_path: Path) -> Iterator[Daemon]:
    emulators.opsgenie.state.add_schedule("Security_schedule", "UTC", team="Platform", rotations=[{
        "name": "Weekly", "type": "weekly", "startDate": "2026-11-02T09:00:00Z",
        "participants": [{"type": "user", "username": "heidi@example.com"}]}])
    daemon = Daemon(emulators, tmp_path, {"SLACK_SIGNING_SECRET": SIGNING_SECRET})
    yield daemon
    output = daemon.stop()
    assert not any(s in output for s in (*SECRETS, SIGNING_SECRET))


def uid(emu: Emulators, email: str) -> str:
    return emu.slack.state.user_by_email(email).id


def test_oncall_answers_now_and_next_from_the_snapshot(http_app: Daemon, emulators: Emulators) -> None:
    r = http_app.command("delivery-support")
    assert r.status_code == 200
    body = r.json()
    assert body["response_type"] == "ephemeral"
    assert f"<@{uid(emulators, 'carol@example.com')}>" in body["text"]  # on call now
    assert f"<@{uid(emulators, 'dana.lead@example.com')}>" in body["text"]  # always a member
    assert body["blocks"][0]["type"] == "section"

    nxt = http_app.command("next @Delivery-Suport").json()  # '@', case and a typo forgiven
    assert f"<@{uid(emulators, 'alice@example.com')}>" in nxt["text"]
    handoff = int(datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc).timestamp())
    assert f"<!date^{handoff}^" in nxt["text"]  # rendered in the asker's own time zone by Slack

    payments = http_app.command("next payments").json()["text"]  # by Opsgenie team name
    assert f"<@{uid(emulators, 'grace@example.com')}>" in payments  # the override that starts at 09:00

    everything = http_app.command("").json()["text"]
    assert all(f"@{h}" in everything for h in ("delivery-support", "payments-oncall", "platform-oncall"))
    assert "public" in http_app.command("help").json()["text"]
    assert http_app.command("public payments-oncall").json()["response_type"] == "in_channel"
    unknown = http_app.command("nosuchteam").json()["text"]
    assert "I don't know *nosuchteam*" in unknown and "@delivery-support" in unknown
    assert emulators.opsgenie.calls(r"/on-calls") >= 1


def test_a_name_outside_the_snapshot_is_looked_up_in_a_lazy_listener(http_app: Daemon, emulators: Emulators) -> None:
    r = http_app.command("security", key="lazy")
    assert r.status_code == 200 and "Looking up *Security_schedule*" in r.json()["text"]
    assert wait_for(lambda: emulators.slack.state.responses.get("lazy"), 10)
    reply = emulators.slack.state.responses["lazy"][0]
    assert f"<@{uid(emulators, 'heidi@example.com')}>" in reply["text"] and reply["replace_original"] is True


def test_forged_or_stale_signatures_are_refused(http_app: Daemon, emulators: Emulators) -> None:
    forged = http_app.command("delivery-support", key="forged", secret="not-the-secret")
    stale = http_app.command("delivery-support", key="stale", timestamp=int(time.time()) - 600)
    assert forged.status_code == 401 and stale.status_code == 401
    assert "carol" not in forged.text + stale.text
    time.sleep(0.5)
    assert "forged" not in emulators.slack.state.responses and "stale" not in emulators.slack.state.responses


def test_an_opsgenie_outage_gives_an_honest_stale_answer(http_app: Daemon, emulators: Emulators) -> None:
    emulators.opsgenie.inject(r".", status=503)
    before = emulators.opsgenie.calls("")
    assert wait_for(lambda: emulators.opsgenie.calls("") > before + 4, 20)  # a pass ran into the outage
    assert wait_for(lambda: "could not be read" in http_app.command("delivery-support").json()["text"], 20)
    text = http_app.command("delivery-support").json()["text"]
    assert f"<@{uid(emulators, 'carol@example.com')}>" in text and "last known answer" in text
    assert "nobody" not in text


def test_mentions_answer_in_the_thread_and_home_tab_lists_groups(http_app: Daemon, emulators: Emulators) -> None:
    channel = emulators.slack.state.channel("payments").id
    r = http_app.event(app_mention("<@U00000001> who is on call for payments?", "U00000002", channel, ts="1700000000.000100"))
    assert r.status_code == 200
    assert wait_for(lambda: any(m.get("thread_ts") == "1700000000.000100" for m in emulators.slack.state.messages), 10)
    reply = next(m for m in emulators.slack.state.messages if m.get("thread_ts") == "1700000000.000100")
    assert f"<@{uid(emulators, 'dave@example.com')}>" in reply["text"]
    assert http_app.event(app_home_opened("U00000003")).status_code == 200
    assert wait_for(lambda: "U00000003" in emulators.slack.state.views, 10)
    home = str(emulators.slack.state.views["U00000003"]["blocks"])
    assert all(f"@{h}" in home for h in ("delivery-support", "payments-oncall", "platform-oncall"))


def test_socket_mode_answers_the_same(emulators: Emulators, tmp_path: Path) -> None:
    emulators.slack.state.add_token(APP_TOKEN, "app")
    daemon = Daemon(emulators, tmp_path, {"SLACK_APP_TOKEN": APP_TOKEN}, command="serve")
    try:
        socket = emulators.slack.socket
        assert socket.wait_connected(10)
        ack = socket.send("slash_commands", slash_command("delivery-support", "U00000002",
                                                          emulators.slack.response_url("sm")))
        assert ack is not None and f"<@{uid(emulators, 'carol@example.com')}>" in ack["payload"]["text"]
        socket.disconnect_all()  # Slack asks for a refresh: the client reconnects with a new URL
        assert wait_for(lambda: socket.connects >= 2, 15)
        ack = socket.send("slash_commands", slash_command("next payments", "U00000002",
                                                          emulators.slack.response_url("sm2")))
        assert ack is not None and f"<@{uid(emulators, 'grace@example.com')}>" in ack["payload"]["text"]
        channel = emulators.slack.state.channel("delivery").id
        assert socket.send("events_api", app_mention("<@U00000001> who's on call for delivery?", "U00000002",
                                                     channel, ts="1700000001.000200")) is not None
        assert wait_for(lambda: any(m.get("thread_ts") == "1700000001.000200" for m in emulators.slack.state.messages), 10)
        assert emulators.slack.calls(r"usergroups\.users\.update") == 0  # serve never writes
        assert emulators.slack.calls(r"apps\.connections\.open") >= 2
    finally:
        output = daemon.stop()
    assert APP_TOKEN not in output


def test_serve_without_app_credentials_is_a_config_error(emulators: Emulators, tmp_path: Path) -> None:
    from conftest import run_cli

    write_config(tmp_path, emulators.org.config_yaml)
    result = run_cli(["serve"], emulators.env(), tmp_path)
    assert result.code == 2 and "SLACK_SIGNING_SECRET" in result.err
    assert emulators.slack.calls("") == 0


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc")


def _raw_post(port: int, headers: dict[str, str], body_size: int, seconds: float = 20) -> str:
    """POST ``body_size`` bytes as fast as the server takes them; the status line it answers."""
    head = "POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    chunk = b"x" * 65536
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall((head + f"Content-Length: {body_size}\r\n\r\n").encode())
        deadline = time.monotonic() + seconds
        sent = 0
        try:
            while sent < body_size and time.monotonic() < deadline:
                sent += conn.send(chunk[:body_size - sent])
        except OSError:
            pass  # the server stopped reading: expected
        try:
            return conn.recv(200).decode(errors="replace").split("\r\n")[0]
        except OSError as exc:
            return f"(connection closed: {exc})"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to read peak memory")
def test_unsigned_big_or_malformed_requests_are_refused_before_parsing(http_app: Daemon) -> None:
    before = _peak_rss_kib(http_app.proc.pid)
    status = _raw_post(http_app.port, {"Content-Type": "application/x-www-form-urlencoded"}, 60 * 1024 * 1024)
    assert " 413 " in status or "closed" in status, status
    grown_mib = (_peak_rss_kib(http_app.proc.pid) - before) / 1024
    assert grown_mib < 16, f"peak memory grew by {grown_mib:.1f} MiB for an unsigned 60 MiB POST"
    url = http_app.base + "/slack/events"
    bad_stamp = httpx.post(url, content=b"token=x&text=hi", timeout=5, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": "abc",
        "X-Slack-Signature": "v0=00"})
    unsigned_json = httpx.post(url, content=b'{"type": "event_callback", ', timeout=5,
                               headers={"Content-Type": "application/json"})
    not_utf8 = httpx.post(url, content=b"\xff\xfe\xfd", timeout=5, headers={
        "X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64})
    assert bad_stamp.status_code == unsigned_json.status_code == not_utf8.status_code == 401
    assert httpx.get(url, timeout=5).status_code == 405
    assert http_app.command("delivery-support").status_code == 200  # Slack's own requests still work
    log = http_app.stop()
    assert "Traceback" not in log and "app.request_refused" in log


def test_an_opsgenie_error_echoing_the_key_is_not_shown_in_slack(http_app: Daemon, emulators: Emulators) -> None:
    key = emulators.env()["OPSGENIE_API_KEY"]
    body = json.dumps({"message": f"Bad request from GenieKey {key}", "took": 0, "requestId": "r"})
    emulators.opsgenie.inject(r"on-calls", status=400, body=body)
    assert wait_for(lambda: "could not be read" in http_app.command("delivery-support").json()["text"], 20)
    answers = [http_app.command(q).json() for q in ("delivery-support", "", "next payments")]
    assert all(key not in json.dumps(a) for a in answers)
    assert "Bad request" in json.dumps(answers)
    assert key not in http_app.stop()


def test_a_bad_app_token_leaves_the_app_off_and_the_sync_on(emulators: Emulators, tmp_path: Path) -> None:
    port = free_port()
    write_config(tmp_path, emulators.org.config_yaml.replace("interval: 60", "interval: 1"))
    proc = spawn([sys.executable, "-m", "slackgenie", "run", "--bind", "127.0.0.1", "--port", str(port)],
                 {**emulators.env(), "SLACK_APP_TOKEN": "xapp-1-A0WRONG-0000-notatoken"}, tmp_path, "daemon")
    try:
        assert wait_for(lambda: emulators.slack.state.emails_of("platform-oncall") == ["ivan@example.com"], 20)
        assert wait_for(lambda: "app.start_failed" in output(tmp_path, "daemon")[1], 10)
        assert proc.poll() is None
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 503 and "Slack app" in ready.json()["reason"]
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    err = output(tmp_path, "daemon")[1]
    assert "SLACK_APP_TOKEN" in err and "invalid_auth" in err and "Traceback" not in err
    assert "xapp-1-A0WRONG-0000-notatoken" not in err


def test_slack_unreachable_at_start_is_retried_not_called_invalid(emulators: Emulators, tmp_path: Path) -> None:
    emulators.slack.inject(r"auth\.test", status=503, times=12)  # the first checks meet an outage (the token-kind probe takes some)
    daemon = Daemon(emulators, tmp_path, {"SLACK_SIGNING_SECRET": SIGNING_SECRET})
    try:
        assert http_ok(daemon.command("delivery-support"))
        err = output(tmp_path, "daemon")[1]
        assert "app.start_failed" in err and "HTTP 503" in err and "refused" not in err
        assert "app.started" in err
    finally:
        daemon.stop()


def http_ok(response: httpx.Response) -> bool:
    return response.status_code == 200 and "<@" in response.json()["text"]


def test_a_live_lookup_during_an_opsgenie_outage_still_answers(http_app: Daemon, emulators: Emulators) -> None:
    emulators.opsgenie.inject(r"on-calls", status=503)
    r = http_app.command("security", key="lazy-down")
    assert r.status_code == 200 and "Looking up" in r.json()["text"]
    assert wait_for(lambda: emulators.slack.state.responses.get("lazy-down"), 20)  # it used to never arrive
    reply = emulators.slack.state.responses["lazy-down"][0]["text"]
    assert "could not be read" in reply and "nobody" not in reply


def test_signed_garbage_is_refused_without_a_traceback(http_app: Daemon) -> None:
    url = http_app.base + "/slack/events"
    bodies = [(b'{"type": "event_callback", ', "application/json"), (b"[1, 2]", "application/json"),
              (b'{"type": "event_callback", "event": "x"}', "application/json"),
              (b"payload=%7Bnot+json", "application/x-www-form-urlencoded"),
              (b"payload=%5B1%5D", "application/x-www-form-urlencoded")]
    for body, ctype in bodies:
        r = httpx.post(url, content=body, headers=signed_headers(SIGNING_SECRET, body.decode(), ctype), timeout=5)
        assert r.status_code == 400, (body, r.status_code)
    assert http_app.command("delivery-support").status_code == 200
    log = http_app.stop()
    assert "Traceback" not in log
