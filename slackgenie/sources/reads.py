"""One schedule's read, or the failed read it ends in: the same for every provider."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from slackgenie.core.model import ReadFailure
from slackgenie.sources.http import SourceError, SourceNotFound

T = TypeVar("T")


def read(ref: str, call: Callable[[], T], missing: str | None = None) -> T | ReadFailure:
    """``call()``; or the failed read of ``ref``: ``missing`` for a 404 (where it is given), the
    error's own words for any other ``SourceError``, and for anything else an unexpected answer (a
    malformed answer is a failed read, never "nobody")."""
    try:
        return call()
    except SourceNotFound as exc:
        return ReadFailure(ref, missing if missing is not None else str(exc))
    except SourceError as exc:
        return ReadFailure(ref, str(exc))
    except Exception as exc:
        return ReadFailure(ref, f"unexpected answer: {type(exc).__name__}")
