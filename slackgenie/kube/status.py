"""The API server's answers read once for every caller: an object (``_preload_content=False``)
and the ``Status`` body of a refusal (LEASE.md §2.1)."""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.exceptions import ApiException  # type: ignore[import-untyped]


def status_of(exc: ApiException) -> dict[str, Any]:
    """The ``Status`` object of a refusal; {} where the body is none (a proxy's HTML page)."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        status = json.loads(body) if body else {}
    except ValueError:
        return {}
    return status if isinstance(status, dict) else {}


def reason_of(exc: ApiException) -> str:
    """``NotFound``, ``Conflict``, ``Forbidden``…, else the HTTP reason."""
    return str(status_of(exc).get("reason") or exc.reason or "")


def message_of(exc: ApiException) -> str:
    """The server's own words, at most 300 characters."""
    return str(status_of(exc).get("message") or exc.reason or "no message")[:300]


def said(exc: ApiException, message: bool = False) -> str:
    """``403 Forbidden`` (with ``message``: ``403 Forbidden: <the server's words>``)."""
    return f"{exc.status} {reason_of(exc)}" + (f": {message_of(exc)}" if message else "")


def object_of(answer: Any) -> dict[str, Any]:
    """The JSON object of an answer read raw (its connection released); ValueError if it is none."""
    try:
        body = json.loads(answer.data)
    finally:
        answer.release_conn()
    if not isinstance(body, dict):
        raise ValueError("not a Kubernetes object")
    return body
