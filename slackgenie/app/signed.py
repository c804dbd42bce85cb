"""The door of ``/slack/events``: refuse cheaply what Slack did not send, before Bolt sees it.

Bolt reads and parses the whole body before it checks the signature, so an unsigned request of
any size costs memory and a traceback per malformed request. Here a request is read only when
its declared length is small (Slack's payloads are a few KiB), and handed to Bolt only when its
signature is good: 405, 411, 413, 400 and 401 otherwise, with a one-line log and no parsing.
"""

from __future__ import annotations

import io
import json
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from slack_sdk.signature import SignatureVerifier

log = structlog.get_logger("slackgenie.app")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Slack's largest payloads (a modal's view_submission, an event with a long message) stay far
# below this; anything larger is not from Slack.
MAX_BODY = 512 * 1024


def signed_only(inner: WSGIApp, signing_secret: str, max_body: int = MAX_BODY) -> WSGIApp:
    verifier = SignatureVerifier(signing_secret)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def refuse(status: str, why: str) -> Iterable[bytes]:
            log.info("app.request_refused", status=status.split()[0], reason=why)
            body = b'{"error": "' + why.encode() + b'"}'
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]

        if environ.get("REQUEST_METHOD") != "POST":
            return refuse("405 Method Not Allowed", "POST only")
        raw_length = str(environ.get("CONTENT_LENGTH") or "").strip()
        if not raw_length.isdigit():
            return refuse("411 Length Required", "a Content-Length is required")
        length = int(raw_length)
        if length > max_body:
            return refuse("413 Content Too Large", f"body over {max_body} bytes")
        timestamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") or "")
        signature = str(environ.get("HTTP_X_SLACK_SIGNATURE") or "")
        if not timestamp.isdigit() or len(timestamp) > 12 or not signature.startswith("v0="):
            return refuse("401 Unauthorized", "missing or malformed signature headers")
        body = environ["wsgi.input"].read(length)
        if len(body) != length:
            return refuse("400 Bad Request", "body shorter than its Content-Length")
        try:
            valid = verifier.is_valid(body, timestamp, signature)
        except (ValueError, UnicodeDecodeError):
            valid = False
        if not valid:
            return refuse("401 Unauthorized", "invalid or expired signature")
        if not _well_formed(body, str(environ.get("CONTENT_TYPE") or "")):
            return refuse("400 Bad Request", "signed, but not a Slack payload")
        environ["wsgi.input"] = io.BytesIO(body)
        return inner(environ, start_response)

    return app


def _well_formed(body: bytes, content_type: str) -> bool:
    """The shapes Slack sends: a JSON object (events), or a form (commands) whose ``payload``,
    if any, is a JSON object with a ``type`` (interactions). Anything else would only make Bolt
    fail with a traceback."""
    try:
        if content_type.split(";")[0].strip().lower() == "application/json":
            data = json.loads(body)
            return isinstance(data, dict) and isinstance(data.get("event", {}), dict)
        form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        if "payload" in form:
            payload = json.loads(form["payload"][0])
            return isinstance(payload, dict) and isinstance(payload.get("type"), str)
        return True
    except (ValueError, UnicodeDecodeError):
        return False
