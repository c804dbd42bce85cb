"""Logging in one place: structlog, configured once, with secrets redacted by one processor."""

from __future__ import annotations

import io
from urllib.parse import quote
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, TextIO

import structlog

TOKEN_RE = re.compile(r"\b(xox[abprse]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+)")
GENIEKEY_RE = re.compile(r"(GenieKey\s+)\S+", re.I)
REDACTED = "[REDACTED]"


class Redactor:
    """A structlog processor that removes known secret values and anything shaped like a token."""

    def __init__(self, secrets: Iterable[str] = ()):
        self.secrets: list[str] = []
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Each secret, and the forms it travels in (URL-encoded; base64 without its padding)."""
        for secret in secrets:
            if not secret or len(secret) < 6:
                continue
            for form in {secret, quote(secret, safe=""), secret.rstrip("=")}:
                if len(form) >= 6 and form not in self.secrets:
                    self.secrets.append(form)
        self.secrets.sort(key=len, reverse=True)  # the longest first: no half-redacted secret

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, REDACTED)
            value = TOKEN_RE.sub(REDACTED, value)
            return GENIEKEY_RE.sub(r"\1" + REDACTED, value)
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self.scrub(v) for v in value]
        if isinstance(value, BaseException):
            return self.scrub(f"{type(value).__name__}: {value}")
        return value

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        return {k: self.scrub(v) for k, v in event_dict.items()}


REDACTOR = Redactor()


def redact(value: Any) -> Any:
    """The process's one redaction: known secrets and anything shaped like one, removed."""
    return REDACTOR.scrub(value)


class RedactingStream(io.TextIOBase):
    """stdout and stderr as the process sees them: every write redacted, so that a plan, a
    status table, a check list or a traceback can print no secret, whatever text it carries."""

    def __init__(self, inner: TextIO):
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(REDACTOR.scrub(text))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.inner.encoding


def redact_output() -> None:
    """Put ``RedactingStream`` in front of stdout and stderr (once)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, RedactingStream):
            continue
        if isinstance(stream, io.TextIOWrapper):
            # Under LANG=C a name with an accent must not turn a report into a traceback.
            stream.reconfigure(errors="backslashreplace")
        setattr(sys, name, RedactingStream(stream))


def configure_logging(secrets: Iterable[str] = (), level: str | None = None, fmt: str | None = None,
                      env: Mapping[str, str] | None = None) -> None:
    """LOG_LEVEL (default info) and LOG_FORMAT (json | console; default: console on a terminal)."""
    env = os.environ if env is None else env
    REDACTOR.add(*secrets)
    redact_output()
    level_name = (level or env.get("LOG_LEVEL") or "info").upper()
    numeric = getattr(logging, level_name, logging.INFO)
    fmt = (fmt or env.get("LOG_FORMAT") or ("console" if sys.stderr.isatty() else "json")).lower()
    renderer: Any = (structlog.processors.JSONRenderer() if fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            REDACTOR,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries log through the standard library: keep them quiet and scrubbed too.
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr,
                        format="%(levelname)s %(name)s %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_StdlibRedaction(numeric))


class _StdlibRedaction(logging.Filter):
    """Libraries' log records, redacted, and on one line: an exception a library logs (Bolt, for
    a request it could not handle) is named, not dumped as a traceback into the log stream,
    unless LOG_LEVEL is debug."""

    def __init__(self, level: int = logging.INFO):
        super().__init__()
        self.debug = level <= logging.DEBUG

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None and not self.debug:
            exc = record.exc_info[1]
            message += f" ({type(exc).__name__}: {exc})"
            record.exc_info, record.exc_text = None, None
        record.msg = REDACTOR.scrub(message.replace("\n", " "))
        record.args = ()
        return True
