"""`/oncall` under load: acknowledgements never wait behind slow work; lookups are bounded,
shared per name and answered within their deadline."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from slackgenie.app.render import Message
from slackgenie.app.live import LookupPool
from slackgenie_emulators import Emulators

from test_app import Daemon, SIGNING_SECRET, uid
from test_operations import wait_for


def test_one_lookup_in_flight_per_name_answers_everyone_who_asked() -> None:
    pool = LookupPool(workers=2, queue=2, deadline=30)
    release = threading.Event()
    calls: list[str] = []
    replies: list[str] = []

    def work() -> Message:
        calls.append("x")
        release.wait(10)
        return Message(text="answer")

    try:
        assert pool.submit("payments", work, lambda m: replies.append(m.text)) == "started"
        assert pool.submit("payments", work, lambda m: replies.append(m.text)) == "joined"
        release.set()
        assert wait_for(lambda: len(replies) == 2, 10)
    finally:
        pool.close()
    assert calls == ["x"] and replies == ["answer", "answer"]


def test_beyond_its_bound_the_pool_says_busy_at_once() -> None:
    pool = LookupPool(workers=1, queue=1, deadline=30)
    release = threading.Event()
    try:
        assert pool.submit("a", lambda: (release.wait(10), Message(text="a"))[1], lambda m: None) == "started"
        assert pool.submit("b", lambda: Message(text="b"), lambda m: None) == "started"  # queued
        assert pool.submit("c", lambda: Message(text="c"), lambda m: None) == "busy"
        release.set()
        assert wait_for(lambda: pool.in_flight() == 0, 10)
        assert pool.submit("c", lambda: Message(text="c"), lambda m: None) == "started"  # room again
    finally:
        pool.close()


def test_a_lookup_past_its_deadline_is_answered_and_its_late_result_dropped() -> None:
    pool = LookupPool(workers=1, queue=0, deadline=0.5)
    release = threading.Event()
    replies: list[str] = []
    try:
        pool.submit("slow", lambda: (release.wait(10), Message(text="late"))[1], lambda m: replies.append(m.text),
                    timeout=Message(text="did not answer in time"))
        assert wait_for(lambda: len(replies) == 1, 10)
        assert "did not answer in time" in replies[0]
        release.set()
        assert wait_for(lambda: pool.in_flight() == 0, 5)
    finally:
        pool.close()
    assert replies == [replies[0]]  # the late answer is not sent as well


def test_acks_do_not_wait_behind_live_lookups(emulators: Emulators, tmp_path: Path) -> None:
    og = emulators.opsgenie.state
    extras = [f"Extra {i}_schedule" for i in range(12)]
    for name in extras:  # schedules no group uses: each name asked for is a live lookup
        og.add_schedule(name, "UTC", rotations=[{"name": "Daily", "type": "daily", "startDate": "2026-11-02T09:00:00Z",
                                                "participants": [{"type": "user", "username": "heidi@example.com"}]}])
    daemon = Daemon(emulators, tmp_path, {"SLACK_SIGNING_SECRET": SIGNING_SECRET})
    try:
        gate = threading.Event()
        emulators.opsgenie.inject(r"/on-calls$", kind="latency", delay=2.0)  # every provider read is slow now (the tests allow 3 s an attempt)

        def ask(i: int) -> httpx.Response:
            gate.wait(5)
            text = extras[i % 12] if i < 24 else "delivery-support"  # 24 lookups (12 names twice), 8 snapshot answers
            return daemon.command(text, key=f"k{i}")

        with ThreadPoolExecutor(max_workers=32) as pool:
            futures = [pool.submit(ask, i) for i in range(32)]
            gate.set()
            answers = [f.result() for f in futures]
        lookups_answered_meanwhile = sum(1 for i in range(24) if emulators.slack.state.responses.get(f"k{i}"))
        assert all(r.status_code == 200 for r in answers)
        assert all("Looking up" in r.json()["text"] for r in answers[:24])
        assert all(f"<@{uid(emulators, 'carol@example.com')}>" in r.json()["text"] for r in answers[24:])
        # every ack (the snapshot's answers too) came back while the 2 s reads were still going on
        assert lookups_answered_meanwhile == 0
        # and every asker, the second asker of each name too, gets the lookup's answer
        assert wait_for(lambda: all(emulators.slack.state.responses.get(f"k{i}") for i in range(24)), 40)
        reply = emulators.slack.state.responses["k12"][0]
        assert f"<@{uid(emulators, 'heidi@example.com')}>" in reply["text"] and reply["replace_original"] is True
    finally:
        emulators.opsgenie.clear_faults()
        daemon.stop()


def test_work_whose_askers_were_answered_is_not_started() -> None:
    pool = LookupPool(workers=1, queue=2, deadline=0.5)
    release = threading.Event()
    ran: list[str] = []
    try:
        pool.submit("a", lambda: (release.wait(10), ran.append("a"), Message(text="a"))[2], lambda m: None)
        pool.submit("b", lambda: (ran.append("b"), Message(text="b"))[1], lambda m: None)  # waits behind a
        assert wait_for(lambda: pool.in_flight() == 0, 10)  # both past their deadline
        release.set()
        assert wait_for(lambda: ran == ["a"], 10)
        time_limit = threading.Event()
        time_limit.wait(0.5)
    finally:
        pool.close()
    assert ran == ["a"]  # b's asker was answered at the deadline: b was never run


def test_a_home_tab_is_never_replaced_by_a_timeout() -> None:
    pool = LookupPool(workers=1, queue=0, deadline=0.3)
    release = threading.Event()
    published: list[Message] = []
    try:
        pool.submit("home", lambda: (release.wait(10), Message(text="", blocks=[{"type": "x"}]))[1], published.append)
        assert wait_for(lambda: pool.in_flight() == 0, 10)
        release.set()
        time_limit = threading.Event()
        time_limit.wait(0.5)
    finally:
        pool.close()
    assert published == []  # neither a blank Home at the deadline nor the late one
