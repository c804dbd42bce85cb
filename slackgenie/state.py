"""A small JSON file of facts that must survive a restart (what was announced, which topic was set)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import structlog

log = structlog.get_logger("slackgenie.state")


class StateStore:
    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()
        self._data: dict[str, str] = {}
        if path is not None and path.is_file():
            try:
                loaded = json.loads(path.read_text())
                self._data = {str(k): str(v) for k, v in loaded.get("facts", {}).items()}
            except (ValueError, AttributeError, OSError) as exc:
                log.warning("state.unreadable", file=str(path), error=str(exc))

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._data.get(key)

    def put(self, key: str, value: str) -> None:
        """Record and save at once: callers record *before* acting, so a crash can lose an
        announcement but never repeat one."""
        with self._lock:  # held while writing too: a newer state never loses to an older one
            self._data[key] = value
            if self.path is None:
                return
            try:
                tmp = self.path.with_name(self.path.name + ".tmp")
                tmp.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_text(json.dumps({"version": 1, "facts": self._data}, indent=1, sort_keys=True))
                tmp.replace(self.path)
            except OSError as exc:
                log.warning("state.not_saved", file=str(self.path), error=exc.strerror)
