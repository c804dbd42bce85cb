"""Two `slackgenie run` replicas, one writer (issue 23), end to end: the Slack and Opsgenie emulators
and the Kubernetes API emulator shared by two processes that tell their Slack writes apart by their
bot tokens and their API-server calls by their Kubernetes tokens (each allowed exactly what
deploy/kubernetes' Role grants). Every write in the Slack emulator's log comes from the lease
holder; kill -9 of the holder -> the other writes the next change within the lease's duration and
a pass; SIGTERM -> hand-over within 2 s; the API server unreachable (requests held unanswered) ->
the holder stops writing before its lease can lapse and nobody writes until it is back; each
change is announced exactly once across a hand-over; a take button pressed on both replicas makes
one override; /oncall is answered by both throughout. The measured numbers are printed (-s)."""

from __future__ import annotations

import json
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from slackgenie_emulators import Emulators
from slackgenie_emulators.injector import form_body, signed_headers, slash_command
from slackgenie_emulators.kubernetes import KubernetesEmulator, slackgenie_role
from slackgenie_emulators.sample import BOT_TOKEN, DEMO_START

from conftest import output, spawn, write_config
from test_lease import wait_until
from test_operations import free_port

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
OTHER_TOKEN = "xoxb-2222222222-emulated-replica-b"
DURATION = 5
INTERVAL = 2
WRITES = {"usergroups.users.update", "usergroups.update", "usergroups.create", "usergroups.enable",
          "usergroups.disable", "chat.postMessage", "conversations.setTopic", "conversations.open"}
ROLE = slackgenie_role("slackgenie", "slackgenie", "slackgenie-state")  # deploy/kubernetes' Role


@dataclass(frozen=True)
class Write:
    token: str
    method: str
    at: float  # time.monotonic()


class Replica:
    def __init__(self, name: str, token: str, emu: Emulators, tmp_path: Path, config: str):
        self.name, self.token, self.port = name, token, free_port()
        self.kube_token = f"kube-token-{name}"
        emu.kubernetes.add_token(self.kube_token, rules=ROLE)
        self.cwd = tmp_path / name
        self.cwd.mkdir()
        write_config(self.cwd, config)
        env = {**emu.env(), "SLACK_BOT_TOKEN": token, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "HOSTNAME": name,
               "KUBECONFIG": str(emu.kubeconfig(self.cwd, token=self.kube_token))}
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

    def _post(self, body: str) -> httpx.Response:
        r = httpx.post(self.base + "/slack/events", content=body, timeout=10,
                       headers=signed_headers(SIGNING_SECRET, body, "application/x-www-form-urlencoded"))
        assert r.status_code == 200
        return r

    def command(self, emu: Emulators, text: str, user: str, key: str) -> str:
        """A slash command as Slack sends it: the ack's text (later answers go to ``key``'s response_url)."""
        return str(self._post(form_body(slash_command(text, user, emu.slack.response_url(key)))).json()["text"])

    def oncall(self, emu: Emulators, key: str) -> str:
        return self.command(emu, "delivery-support", "U00000002", key)

    def press(self, emu: Emulators, user: str, action: dict[str, Any], key: str) -> str:
        """Press a button of an ephemeral message, as Slack sends it (a signed block_actions payload);
        the answer posted to ``key``'s response_url."""
        payload = {"type": "block_actions", "user": {"id": user, "team_id": "T0EMULATE1"},
                   "team": {"id": "T0EMULATE1"}, "api_app_id": "A0EMULATE1", "token": "legacy-verification-token",
                   "trigger_id": "1.2", "container": {"type": "message", "is_ephemeral": True},
                   "response_url": emu.slack.response_url(key),
                   "actions": [{**action, "block_id": "b", "type": "button", "action_ts": "1700000000.1"}]}
        self._post(form_body({"payload": json.dumps(payload)}))
        answer = response(emu, key, lambda text: not text.endswith("\u2026"))
        assert answer is not None, f"no answer to the button on {self.name} within 20 s"
        return answer

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=20)
        out, err = output(self.cwd, self.name)
        return out + err


def response(emu: Emulators, key: str, done: Callable[[str], bool] = lambda text: True) -> str | None:
    """The last answer posted to ``key``'s response_url once ``done`` says it is final (20 s at most)."""
    found: list[str] = []

    def answered() -> bool:
        with emu.slack.state.lock:
            got = [str(r.get("text", "")) for r in emu.slack.state.responses.get(key, [])]
        found[:] = got[-1:]
        return bool(got) and done(got[-1])

    return found[0] if wait_until(answered, 20) is not None else None


Cluster = tuple[Emulators, KubernetesEmulator, list[Replica], list[Write]]


@pytest.fixture
def cluster(emulators: Emulators, tmp_path: Path) -> Iterator[Cluster]:
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
    replicas = [Replica("replica-a", BOT_TOKEN, emulators, tmp_path, config),
                Replica("replica-b", OTHER_TOKEN, emulators, tmp_path, config)]
    try:
        assert wait_until(lambda: all((r.get("/readyz") or httpx.Response(503)).status_code == 200
                                      for r in replicas), 40)
        assert wait_until(lambda: sum(r.leader() for r in replicas) == 1, 20)
        yield emulators, emulators.kubernetes, replicas, writes
    finally:
        if emulators.kubernetes.outage is not None:
            emulators.kubernetes.up()
        for r in replicas:
            r.stop()


def holder_of(replicas: list[Replica]) -> tuple[Replica, Replica]:
    leaders = [r for r in replicas if r.leader()]
    assert len(leaders) == 1
    return leaders[0], next(r for r in replicas if r is not leaders[0])


def uid(emu: Emulators, email: str) -> str:
    user = emu.slack.state.user_by_email(email)
    assert user is not None
    return user.id


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


def changes(emu: Emulators) -> list[tuple[str, ...]]:
    """Each announcement's membership lines (the next-handoff line left out)."""
    return [tuple(line for line in text.splitlines() if not line.startswith("Next handoff: "))
            for text in announcements(emu)]


def first_write(writes: list[Write], token: str, after: float) -> float | None:
    return next((w.at for w in list(writes) if w.token == token and w.at >= after), None)


def per_minute(kube: KubernetesEmulator, token: str, since: float, seconds: float) -> str:
    calls = kube.log(token, since=since)
    verbs: dict[str, int] = {}
    for c in calls:
        key = f"{c.verb} {c.resource}"
        verbs[key] = verbs.get(key, 0) + 1
    return f"{len(calls) * 60 / seconds:.0f}/min ({', '.join(f'{k}: {n}' for k, n in sorted(verbs.items()))})"


def test_one_writer_each_change_announced_once_and_kill_9_of_it(cluster: Cluster) -> None:
    emu, kube, replicas, writes = cluster
    holder, other = holder_of(replicas)
    alice, bob, carol, dana = (uid(emu, f"{n}@example.com") for n in ("alice", "bob", "carol", "dana.lead"))
    # The group held bob and dana; at 08:58 carol is on call (Delivery's daily turns, test_people's
    # header): the holder's first pass corrects it and announces that change (the first sight of
    # the group: what it held is what was last told).
    corrected = (f"*@delivery-support* is now <@{carol}>, <@{dana}>.", f"On call: <@{carol}>", f"Off call: <@{bob}>")
    assert wait_until(lambda: len(announcements(emu)) >= 1, 2 * INTERVAL + 5), writes
    time.sleep(INTERVAL + 1)  # more passes: nothing more to write or tell
    assert writes and {w.token for w in writes} == {holder.token}, writes
    assert changes(emu) == [corrected]
    nine = int((DEMO_START + timedelta(minutes=2)).timestamp())  # carol's turn ends at 09:00
    assert announcements(emu)[0] == "\n".join(corrected) + (
        f"\nNext handoff: <!date^{nine}^{{date_short_pretty}} {{time}}|2026-11-23 09:00 UTC>")
    assert emu.slack.state.emails_of("delivery-support") == ["carol@example.com", "dana.lead@example.com"]
    for i, r in enumerate(replicas):  # both answer /oncall
        assert "delivery-support" in r.oncall(emu, f"before-{i}")

    hand_over(emu, "alice@example.com")  # a second change: carol -> alice
    handed = (f"*@delivery-support* is now <@{alice}>, <@{dana}>.", f"On call: <@{alice}>", f"Off call: <@{carol}>")
    assert wait_until(lambda: len(announcements(emu)) >= 2, 3 * INTERVAL + 5), announcements(emu)
    time.sleep(INTERVAL)
    assert changes(emu) == [corrected, handed]  # each change once, however many passes saw it
    told = announcements(emu)

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
    assert wait_until(lambda: emu.slack.state.emails_of("delivery-support") == ["alice@example.com",
                                                                                 "dana.lead@example.com"], 5)
    time.sleep(INTERVAL + 1)
    # The new holder put the members back without telling anyone again: the ConfigMap says alice
    # and dana were announced already.
    assert announcements(emu) == told


def test_sigterm_hands_over_at_once_and_an_unreachable_api_server_stops_every_write(cluster: Cluster) -> None:
    emu, kube, replicas, writes = cluster
    holder, other = holder_of(replicas)
    time.sleep(INTERVAL + 1)
    # Steady state: API-server calls per minute per replica (the holder's renewals and its state
    # reads; the follower's polls and its state reads), over 10 s.
    start = time.monotonic()
    time.sleep(10)
    print(f"\nAPI-server calls at duration {DURATION} s, interval {INTERVAL} s: holder "
          f"{per_minute(kube, holder.kube_token, start, 10)}; follower {per_minute(kube, other.kube_token, start, 10)}")
    assert {(e.verb, e.resource) for e in kube.log(other.kube_token, since=start)} <= {
        ("get", "leases"), ("get", "configmaps")}  # a follower only reads
    assert ("update", "leases") in {(e.verb, e.resource) for e in kube.log(holder.kube_token, since=start)}
    assert all(e.status in (200, 201) for e in kube.log(since=start))  # the Role allows all of it

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
    released = [e for e in kube.log(holder.kube_token, verb="update", since=stopped) if e.status == 200]
    assert released, "the holder did not give the lease back"

    # The API server goes away (every request held unanswered, as in a partition): the holder
    # stops writing before its lease could lapse, and nobody writes until it is back.
    kube.down("hang")
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
    kube.up()
    back = time.monotonic()
    assert wait_until(lambda: first_write(writes, other.token, back) is not None, DURATION + INTERVAL + 5)
    assert "delivery-support" in other.oncall(emu, "back")


def test_a_take_button_pressed_on_both_replicas_makes_one_override(cluster: Cluster) -> None:
    """bob asks on one replica for an hour of delivery-support; Slack delivers his press of the
    button to both (a double click, a retry landing on the other pod): the Opsgenie emulator holds
    one override for bob on that schedule, one answer says it is done and the other that the
    button was used."""
    emu, kube, replicas, writes = cluster
    bob = uid(emu, "bob@example.com")
    schedule = emu.opsgenie.state.schedule("Delivery Support_schedule", by="name")
    assert schedule is not None
    assert replicas[0].command(emu, "take 1h delivery-support", bob, "ask") == "Checking the schedule\u2026"
    offer = response(emu, "ask")
    assert offer is not None and offer.startswith("Take the on-call shift in @delivery-support"), offer
    with emu.slack.state.lock:
        blocks = emu.slack.state.responses["ask"][-1]["blocks"]
    button = next(e for b in blocks if b["type"] == "actions" for e in b["elements"]
                  if e["action_id"] == "take_confirm")

    answers: list[str] = ["", ""]
    barrier = threading.Barrier(2)

    def press(i: int) -> None:
        barrier.wait(timeout=10)
        answers[i] = replicas[i].press(emu, bob, button, f"press-{i}")

    threads = [threading.Thread(target=press, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=40)
        assert not t.is_alive()
    assert sorted(a.split(" ", 1)[0] for a in answers) == [":white_check_mark:", "This"], answers
    assert "This button was used already; `/oncall me` shows your shifts." in answers
    with emu.opsgenie.state.lock:
        bobs = [o for o in schedule.overrides if o.user.get("username") == "bob@example.com"]
        every = list(schedule.overrides)
    assert len(bobs) == 1 and every == bobs, every  # one override: bob's, for the hour he asked
    # from the press to an hour after the ask, cut to the minute (take_request's rule)
    assert bobs[0].end_date.second == 0 and bobs[0].start_date >= DEMO_START
    assert timedelta(minutes=59) < bobs[0].end_date - bobs[0].start_date <= timedelta(hours=1)
    assert len([r for r in emu.opsgenie.requests if r.method == "POST"]) == 1
    # and the holder alone puts bob in the group, once the providers' clock (frozen at 08:58:00)
    # reaches his override's start (the processes' clocks run on from 08:58:00)
    emu.clock.set(DEMO_START + timedelta(minutes=1))
    holder, _ = holder_of(replicas)
    assert wait_until(lambda: emu.slack.state.emails_of("delivery-support") == ["bob@example.com",
                                                                                 "dana.lead@example.com"], 3 * INTERVAL + 5)
    assert {w.token for w in writes} == {holder.token}
