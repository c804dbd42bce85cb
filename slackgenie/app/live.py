"""Live answers for names the snapshot knows but holds no on-call answer for, and the bounded
pool they (and every other slow piece of work for the app) run on, off the acknowledgement's path."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime

import structlog

from slackgenie.app.answers import NeedsLookup, answer
from slackgenie.app.query import Query
from slackgenie.app.render import Message
from slackgenie.app.snapshot import ScheduleState, Snapshot
from slackgenie.core.model import OnCall, ReadFailure, ref_title, split_key
from slackgenie.core.plan import map_identity
from slackgenie.slack.directory import Directory
from slackgenie.sources.base import OnCallSource

log = structlog.get_logger("slackgenie.app")


class LiveLookup:
    def __init__(self, source: OnCallSource, directory: Directory, user_map: dict[str, str]):
        self.source = source
        self.directory = directory
        self.user_map = user_map

    def answer(self, need: NeedsLookup, snapshot: Snapshot, now: datetime) -> Message:
        schedules = dict(snapshot.schedules)
        for ref in need.match.schedules:
            state = schedules.get(ref) or ScheduleState(ref, ref_title(split_key(ref)[1]), configured=False)
            read = self.source.on_calls([state.ref]).get(state.ref) or ReadFailure(ref, "no answer")
            if isinstance(read, OnCall):
                state = replace(state, on_call=tuple(sorted(read.usernames)), as_of=now, error=None, configured=True)
            else:
                state = replace(state, error=read.error, configured=True)
            schedules[ref] = state
        slack_ids = dict(snapshot.slack_ids)
        for username in {u for ref in need.match.schedules for u in schedules[ref].on_call or ()} - set(slack_ids):
            resolution = self.directory.resolve(map_identity(username, self.user_map))
            if resolution.user is not None:
                slack_ids[username] = resolution.user.id
        live = replace(snapshot, schedules=schedules, slack_ids=slack_ids)
        result = answer(Query(need.query.kind, need.match.key, need.query.public), live, now)
        assert isinstance(result, Message)
        return result


class LookupPool:
    """Slow work for the app (live lookups, mentions, the App Home), on its own threads, never on
    the path of an acknowledgement: at most ``workers`` at once and ``queue`` more waiting (beyond
    that: busy, said at once), one in flight per key (a second asker joins the first), and each
    answered within ``deadline`` seconds (a late result is dropped; the answer says so, where the
    work has a ``timeout`` message). Work whose askers were already answered is not started."""

    def __init__(self, workers: int = 8, queue: int = 32, deadline: float = 20.0, joiners: int = 64):
        self.workers, self.limit, self.deadline, self.joiners = workers, workers + queue, deadline, joiners
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="app-lookup")
        self._replies = ThreadPoolExecutor(max_workers=2, thread_name_prefix="app-reply")  # never the timer's
        self._slots = threading.BoundedSemaphore(self.limit)  # work submitted and not yet done, stale or not
        self._lock = threading.Lock()
        self._waiting: dict[Hashable, list[Callable[[Message], None]]] = {}  # key -> who to answer
        self._started: dict[Hashable, tuple[float, object, Message | None]] = {}  # key -> (when, token, timeout)
        self._closed = False
        self._stop = threading.Event()
        self._timer = threading.Thread(target=self._expire, name="app-lookup-deadline", daemon=True)
        self._timer.start()

    def submit(self, key: Hashable, work: Callable[[], Message], reply: Callable[[Message], None],
               timeout: Message | None = None) -> str:
        """'started', 'joined' (the same key is in flight: ``reply`` gets its answer) or 'busy'."""
        token = object()
        with self._lock:
            if self._closed:
                return "busy"
            if key in self._waiting:
                if len(self._waiting[key]) >= self.joiners:
                    return "busy"
                self._waiting[key].append(reply)
                return "joined"
            if not self._slots.acquire(blocking=False):
                return "busy"
            self._waiting[key] = [reply]
            self._started[key] = (time.monotonic(), token, timeout)
        try:
            self._pool.submit(self._run, key, token, work)
        except RuntimeError:  # shut down meanwhile
            self._slots.release()
            with self._lock:
                self._waiting.pop(key, None)
                self._started.pop(key, None)
            return "busy"
        return "started"

    def _run(self, key: Hashable, token: object, work: Callable[[], Message]) -> None:
        try:
            with self._lock:
                current = self._started.get(key)
            if current is None or current[1] is not token:
                return  # its askers were answered at the deadline: nobody waits for this any more
            try:
                message = work()
            except Exception as exc:
                log.warning("app.lookup_failed", error=f"{type(exc).__name__}: {exc}")
                message = Message(text=":warning: That lookup failed; try again in a minute.")
            self._finish(key, token, message)
        finally:
            self._slots.release()

    def _finish(self, key: Hashable, token: object, message: Message | None) -> None:
        with self._lock:
            current = self._started.get(key)
            if current is None or current[1] is not token:
                return  # already answered (at its deadline), or a newer asker's
            replies = self._waiting.pop(key, [])
            self._started.pop(key, None)
        if message is None:
            log.warning("app.work_dropped", reason="past its deadline", key=str(key[0]) if isinstance(key, tuple) else "")
            return
        for reply in replies:
            self._replies.submit(self._send, reply, message)

    @staticmethod
    def _send(reply: Callable[[Message], None], message: Message) -> None:
        try:
            reply(message)
        except Exception as exc:
            log.warning("app.reply_failed", error=f"{type(exc).__name__}: {exc}")

    def _expire(self) -> None:
        while not self._stop.wait(0.5):
            now = time.monotonic()
            with self._lock:
                late = [(k, token, timeout) for k, (t, token, timeout) in self._started.items()
                        if now - t > self.deadline]
            for key, token, timeout in late:
                self._finish(key, token, timeout)

    def in_flight(self) -> int:
        with self._lock:
            return len(self._waiting)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._replies.shutdown(wait=False)
