"""A small JSON file of facts that must survive a restart (what was announced, which topic was
set), and the lock that lets one pass at a time, across processes, act on it.

The lock is ``fcntl.flock`` on a file beside the state (stdlib; Slackgenie runs on Linux under
systemd, cron and Kubernetes): two overlapping ``sync`` runs, or ``sync`` beside ``run``, take
turns for read -> plan -> write -> notify, and the second reads the facts the first recorded.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog

log = structlog.get_logger("slackgenie.state")


class Busy(Exception):
    """Another process held the pass lock for longer than we may wait."""


class StateStore:
    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()
        self._data: dict[str, str] = {}
        self.refresh()

    def refresh(self) -> None:
        """Read the facts again from the file (another process may have recorded some)."""
        if self.path is None or not self.path.is_file():
            return
        try:
            loaded = json.loads(self.path.read_text())
            data = {str(k): str(v) for k, v in loaded.get("facts", {}).items()}
        except (ValueError, AttributeError, OSError) as exc:
            log.warning("state.unreadable", file=str(self.path), error=str(exc))
            return
        with self._lock:
            self._data = data

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._data.get(key)

    def put(self, key: str, value: str) -> None:
        """Record and save at once."""
        with self._lock:  # held while writing too: a newer state never loses to an older one
            self._data[key] = value
            self._save()

    def drop(self, forget: Callable[[str], bool]) -> None:
        """Forget the facts whose keys ``forget`` picks, and save."""
        with self._lock:
            gone = [k for k in self._data if forget(k)]
            for k in gone:
                del self._data[k]
            if gone:
                self._save()

    def _save(self) -> None:  # the caller holds self._lock
        if self.path is None:
            return
        try:
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"version": 1, "facts": self._data}, indent=1, sort_keys=True))
            tmp.replace(self.path)
        except OSError as exc:
            log.warning("state.not_saved", file=str(self.path), error=exc.strerror)

    @contextmanager
    def exclusive(self, timeout: float) -> Iterator[None]:
        """Hold the pass lock (waiting at most ``timeout`` seconds), with the facts re-read."""
        if self.path is None:
            yield
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise Busy(f"another Slackgenie pass held {lock_path} for over {timeout:.0f} s") from None
                    time.sleep(0.05)
            try:
                self.refresh()
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
