"""Two `slackgenie run` replicas, one writer (issue 23), end to end: the Slack and Opsgenie emulators
and a Kubernetes API (tests/test_lease.py's stand-in) shared by two processes that tell their Slack
writes apart by their bot tokens. Every write in the Slack emulator's log comes from the lease
holder; kill -9 of the holder -> the other writes the next change within the lease's duration and
a pass; SIGTERM -> hand-over within 2 s; the API server unreachable -> the holder stops writing
before its lease can lapse and nobody writes until it is back; a change is announced once across a
hand-over; /oncall is answered by both throughout. The measured numbers are printed (-s)."""

from __future__ import annotations

import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from slackgenie_emulators import Emulators
from slackgenie_emulators.injector import form_body, signed_headers, slash_command
from slackgenie_emulators.sample import BOT_TOKEN

from conftest import output, spawn, write_config
from test_lease import FakeKube, wait_until
from test_operations import free_port

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
OTHER_TOKEN = "xoxb-2222222222-emulated-replica-b"
DURATION = 5
INTERVAL = 2
WRITES = {"usergroups.users.update", "usergroups.update", "usergroups.create", "usergroups.enable",
          "usergroups.disable", "chat.postMessage", "conversations.setTopic", "conversations.open"}


@dataclass(frozen=True)
class Write:
    token: str
    method: str
    at: float  # time.monotonic()


class Replica:
    def __init__(self, name: str, token: str, emu: Emulators, kube: FakeKube, tmp_path: Path, config: str):
        self.name, self.token, self.port = name, token, free_port()
        self.cwd = tmp_path / name
        self.cwd.mkdir()
        write_config(self.cwd, config)
        env = {**emu.env(), "SLACK_BOT_TOKEN": token, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "HOSTNAME": name,
               "KUBECONFIG": str(kube.kubeconfig(self.cwd))}
        self.proc = spawn([sys.executable, "-m", "slackgenie", "run", "--bind", "127.0.0.1", "--port", str(self.port)],
                          env, self.cwd, name)
        self.base = f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> httpx.Response | None:
        try:
            return httpx.get(self.base + path, timeout=3)
        except httpx.TransportError:
            return None

    def leader(self) -> bool:
        r = self.get("/metrics")
        return r is not None and re.search(r"^slackgenie_leader 1\.0$", r.text, re.M) is not None

    def oncall(self, emu: Emulators, key: str) -> str:
        body = form_body(slash_command("delivery-support", "U00000002", emu.slack.response_url(key)))
        r = httpx.post(self.base + "/slack/events", content=body, timeout=10,
                       headers=signed_headers(SIGNING_SECRET, body, "application/x-www-form-urlencoded"))
        assert r.status_code == 200
        return str(r.json()["text"])

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=20)
        out, err = output(self.cwd, self.name)
        return out + err


@pytest.fixture
def cluster(emulators: Emulators, tmp_path: Path) -> Iterator[tuple[Emulators, FakeKube, list[Replica], list[Write]]]:
    emulators.slack.state.add_token(OTHER_TOKEN)
    emulators.slack.state.add_channel("oncall")
    writes: list[Write] = []
    lock = threading.Lock()
    serve = emulators.slack.handle

    def tagged(request: Any) -> Any:  # each write, with the token that made it
        method = request.path[len("/api/"):] if request.path.startswith("/api/") else ""
        auth = request.headers.get("authorization", "")
        if method in WRITES:
            with lock:
                writes.append(Write(auth[7:].strip(), method, time.monotonic()))
        return serve(request)

    emulators.slack.handle = tagged  # type: ignore[method-assign]
    config = (emulators.org.config_yaml.replace("interval: 60", f"interval: {INTERVAL}")
              .replace("  - usergroup: delivery-support\n", "  - usergroup: delivery-support\n    announce: \"#oncall\"\n")
              + f"leader_election: {{lease: slackgenie, duration: {DURATION}}}\n")
    with FakeKube() as kube:
        replicas = [Replica("replica-a", BOT_TOKEN, emulators, kube, tmp_path, config),
                    Replica("replica-b", OTHER_TOKEN, emulators, kube, tmp_path, config)]
        try:
            assert wait_until(lambda: all((r.get("/readyz") or httpx.Response(503)).status_code == 200
                                          for r in replicas), 40)
            assert wait_until(lambda: sum(r.leader() for r in replicas) == 1, 20)
            yield emulators, kube, replicas, writes
        finally:
            for r in replicas:
                r.stop()


def holder_of(replicas: list[Replica]) -> tuple[Replica, Replica]:
    leaders = [r for r in replicas if r.leader()]
    assert len(leaders) == 1
    return leaders[0], next(r for r in replicas if r is not leaders[0])


def empty_group(emu: Emulators, handle: str = "delivery-support") -> None:
    """Someone empties the group in Slack: the writer puts its members back at its next pass."""
    with emu.slack.state.lock:
        group = emu.slack.state.group_by_handle(handle)
        assert group is not None
        group.users = []


def hand_over(emu: Emulators, username: str) -> None:
    """An override from now: delivery-support's on-call changes (announced once)."""
    schedule = emu.opsgenie.state.schedule("Delivery Support_schedule", by="name")
    assert schedule is not None
    now = emu.clock.now()
    emu.opsgenie.state.add_override(schedule, username, now - timedelta(hours=1), now + timedelta(days=2))


def announcements(emu: Emulators) -> list[str]:
    channel = emu.slack.state.channel("oncall")
    assert channel is not None
    with emu.slack.state.lock:
        return [m.get("text") or "" for m in emu.slack.state.messages if m["channel"] == channel.id]


def first_write(writes: list[Write], token: str, after: float) -> float | None:
    return next((w.at for w in list(writes) if w.token == token and w.at >= after), None)


def test_one_writer_and_kill_9_of_it(cluster: tuple[Emulators, FakeKube, list[Replica], list[Write]]) -> None:
    emu, kube, replicas, writes = cluster
    holder, other = holder_of(replicas)
    time.sleep(INTERVAL + 1)  # the holder's first passes write what the groups lack
    assert writes and {w.token for w in writes} == {holder.token}, writes
    for i, r in enumerate(replicas):  # both answer /oncall
        assert "delivery-support" in r.oncall(emu, f"before-{i}")

    hand_over(emu, "alice@example.com")
    assert wait_until(lambda: len(announcements(emu)) >= 1, 3 * INTERVAL + 5), announcements(emu)
    time.sleep(INTERVAL)
    told = announcements(emu)
    assert len(told) == len(set(told)), "\n---\n".join(told)  # each change once, however many passes saw it

    holder.proc.send_signal(signal.SIGKILL)
    holder.proc.wait(timeout=10)
    died = time.monotonic()
    empty_group(emu)
    assert wait_until(lambda: first_write(writes, other.token, died) is not None, DURATION + INTERVAL + 10)
    taken = first_write(writes, other.token, died)
    assert taken is not None
    print(f"\nkill -9 -> first write of the new holder: {taken - died:.2f} s (duration {DURATION} s, "
          f"interval {INTERVAL} s)")
    assert taken - died <= DURATION + INTERVAL + 2
    assert all(w.token == holder.token for w in writes if w.at < died - 0.5)
    assert all(w.token == other.token for w in writes if w.at > died + 0.5)
    assert other.leader()
    assert "delivery-support" in other.oncall(emu, "after")
    time.sleep(INTERVAL + 1)
    assert announcements(emu) == told  # the new holder does not announce a change again


def test_sigterm_hands_over_at_once_and_an_unreachable_api_server_stops_every_write(
        cluster: tuple[Emulators, FakeKube, list[Replica], list[Write]]) -> None:
    emu, kube, replicas, writes = cluster
    holder, other = holder_of(replicas)
    time.sleep(INTERVAL + 1)
    # Steady state: API-server calls per minute per replica (the holder's renewals and its state
    # reads; the follower's polls), over 10 s.
    start = time.monotonic()
    time.sleep(10)
    calls = kube.calls(start)
    print(f"\nAPI-server calls in 10 s, both replicas: {len(calls)} "
          f"({', '.join(f'{m}: {n}' for m, n in sorted(_by_method(calls).items()))})")

    stopped = time.monotonic()
    holder.proc.send_signal(signal.SIGTERM)
    assert wait_until(other.leader, 5)
    leader_after = time.monotonic() - stopped
    empty_group(emu)
    assert wait_until(lambda: first_write(writes, other.token, stopped) is not None, INTERVAL + 5)
    wrote = first_write(writes, other.token, stopped)
    assert wrote is not None
    print(f"SIGTERM -> new holder seen (its /metrics): {leader_after:.2f} s; its first write "
          f"(the group emptied after the signal): {wrote - stopped:.2f} s")
    assert holder.proc.wait(timeout=15) == 0
    assert leader_after <= 2.5
    assert all(w.token == other.token for w in writes if w.at > stopped + 0.5)

    # The API server goes away: the holder stops writing before its lease could lapse, and nobody
    # writes until it is back.
    kube.down = True
    cut = time.monotonic()
    time.sleep(DURATION)
    empty_group(emu)
    emptied = time.monotonic()
    time.sleep(DURATION)
    assert not [w for w in writes if w.at > emptied], "a replica wrote without a lease it could renew"
    last = max((w.at for w in writes if w.at > cut), default=cut)
    print(f"API server down: last write {last - cut:.2f} s after the cut (the gate shuts by "
          f"{DURATION * 2 / 3:.2f} s)")
    assert last - cut <= DURATION * 2 / 3 + 0.5
    kube.down = False
    back = time.monotonic()
    assert wait_until(lambda: first_write(writes, other.token, back) is not None, DURATION + INTERVAL + 5)
    assert "delivery-support" in other.oncall(emu, "back")


def _by_method(calls: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in calls:
        counts[c.method] = counts.get(c.method, 0) + 1
    return counts
