"""A small JSON file of facts that must survive a restart and be seen by every process that
could repeat a side effect (what was announced, which heads-ups and takes were done), and the
lock that lets one pass at a time, across processes, act on it.

Exactly once rests on three rules, all kept here:

- **Every change is a read-modify-write under a cross-process lock** (``fcntl.flock`` on
  ``<state>.facts-lock``, held only for the few milliseconds of one change): the file is read
  again, the change is applied to what it holds, and the result is written back. Two processes
  (``run`` with its app beside a cron ``sync``) never erase each other's facts, and memory is
  never replaced by an older file: it only ever holds what the file held or was saved as.
- **A fact that cannot be saved is an error** (``StateNotSaved``), never a warning: the caller
  does not carry out the side effect the fact guards, and the pass fails loudly.
- **Saving is durable**: a temporary file, ``fsync``, ``rename``, then ``fsync`` of the folder,
  so a crash or a power cut leaves the old file or the new one, never half of one.

The pass lock (``exclusive``) is another file (``<state>.lock``), held for a whole pass: two
overlapping ``sync`` runs, or ``sync`` beside ``run``, take turns for read -> plan -> write ->
notify. The app's records (takes) need only the short facts lock, so a take never waits for a
pass.

Facts may carry an expiry (``keep_until``): they are dropped by the first change after it, so
the file stays small however long Slackgenie runs.

This is the default store. With ``leader_election`` on, the facts live in a ConfigMap instead
(``kube/store.py``: the same JSON, the same rules); both meet ``core.facts.FactStore``.
"""

from __future__ import annotations

import fcntl
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import structlog

from slackgenie.core.facts import Busy, Changes, Changing, LockUnavailable, StateNotSaved, applied, decoded, encoded

log = structlog.get_logger("slackgenie.engine.state")

LOCK_WAIT = 5.0  # seconds a change may wait for another process's change (each holds it for milliseconds)


class StateStore(Changing):
    """The state file: ``core.facts.Facts``, kept in a file that every process shares."""

    def __init__(self, path: Path | None, now: Callable[[], datetime] | None = None):
        # Resolved once: a process that names a symlink and one that names its target share one
        # file and one lock, and a save replaces the target, never the link.
        self.path = path.resolve() if path is not None else None
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._lock = threading.Lock()  # one change at a time in this process (flock is per open file)
        self._facts: dict[str, str] = {}
        self._expires: dict[str, str] = {}
        self._seen: tuple[int, int, int, int] | None = None  # the file's (inode, mtime, ctime, size) when last read
        self.problem: str | None = None  # why the file could not be read, while it cannot
        with self._lock:
            self._reload()

    # --- reading ------------------------------------------------------------------------
    def get(self, key: str) -> str | None:
        """The fact as the file holds it now (read again when another process changed it)."""
        with self._lock:
            self._reload()
            return self._facts.get(key)

    def keys(self) -> list[str]:
        with self._lock:
            self._reload()
            return list(self._facts)

    def refresh(self) -> None:
        with self._lock:
            self._reload()

    def _signature(self) -> tuple[int, int, int, int] | None:
        assert self.path is not None
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)

    def _reload(self, always: bool = False) -> None:  # the caller holds self._lock
        """Read the file if it changed since it was last read (``always``: in any case, as a
        change does under the lock). A file that cannot be read keeps ``problem`` set: every
        change then fails (never written over blind)."""
        if self.path is None:
            return
        try:
            signature = self._signature()
            if signature is None:
                self._facts, self._expires, self._seen, self.problem = {}, {}, None, None
                return
            if signature == self._seen and self.problem is None and not always:
                return
            if not self.path.is_file():
                raise ValueError("it is not a regular file")
            facts, expires = decoded(self.path.read_text())
        except (ValueError, AttributeError, TypeError, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if self.problem != reason:
                log.error("state.unreadable", file=str(self.path), error=reason,
                          effect="announcements, heads-ups and takes stop until it is fixed or removed")
            self.problem = reason
            return
        self._facts, self._expires, self._seen, self.problem = facts, expires, signature, None

    # --- changing -----------------------------------------------------------------------
    def _transaction(self, decide: Callable[[dict[str, str]], Changes | None], keep_until: datetime | None) -> bool:
        with self._lock, self._file_lock():
            self._reload(always=True)
            if self.problem is not None:
                raise StateNotSaved(f"the state file {self.path} cannot be read ({self.problem}): fix or remove it")
            changes = decide(self._facts)
            after = applied(self._facts, self._expires, changes, keep_until, self._now())
            if after is None:
                return False
            facts, expires = after
            self._save(facts, expires)  # raises StateNotSaved: memory keeps what the file holds
            self._facts, self._expires = facts, expires
            return bool(changes)

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        if self.path is None:
            yield
            return
        with _flocked(self.path.with_name(self.path.name + ".facts-lock"), LOCK_WAIT, StateNotSaved):
            yield

    def _save(self, facts: dict[str, str], expires: dict[str, str]) -> None:
        """Durably: a temporary file, fsync, rename, fsync of the folder."""
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        body = encoded(facts, expires).encode()
        try:
            tmp.parent.mkdir(parents=True, exist_ok=True)
            with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
            folder = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
            self._seen = self._signature()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            log.error("state.not_saved", file=str(self.path), error=reason,
                      effect="the side effect it guards is not carried out")
            raise StateNotSaved(f"the state file {self.path} could not be saved ({reason})") from None

    # --- the pass lock ------------------------------------------------------------------
    @contextmanager
    def exclusive(self, timeout: float) -> Iterator[None]:
        """Hold the pass lock (waiting at most ``timeout`` seconds)."""
        if self.path is None:
            yield
            return
        with _flocked(self.path.with_name(self.path.name + ".lock"), timeout, Busy):
            yield


@contextmanager
def _flocked(lock_path: Path, timeout: float, busy: type[Exception]) -> Iterator[None]:
    """``flock`` on ``lock_path``, waiting at most ``timeout`` seconds for another process (then
    ``busy``); ``LockUnavailable`` when the lock cannot be had at all."""
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise LockUnavailable(f"cannot open the lock {lock_path} ({exc.strerror or type(exc).__name__})") from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise busy(f"another Slackgenie process held {lock_path} for over {timeout:.0f} s") from None
                time.sleep(random.uniform(0.001, 0.01))  # short and jittered: a steady poll can starve behind others
            except OSError as exc:  # ENOLCK and the like: this filesystem gives no locks
                raise LockUnavailable(f"cannot lock {lock_path} ({exc.strerror or type(exc).__name__})") from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
