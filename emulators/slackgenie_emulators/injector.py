"""Slack's side of the Slack app's conversation: signed slash commands and events, as Slack sends them.

HTTP mode: a form (slash commands) or JSON (events) body, signed with the app's signing secret
(``v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")``). Socket Mode: the same payloads go into
envelopes on the emulator's WebSocket (see ``socket_mode.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
import uuid
from typing import Any

from slackgenie_emulators.slack import TEAM_ID


def signature(secret: str, timestamp: str, body: str) -> str:
    return "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: str, content_type: str, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature(secret, ts, body)}


def slash_command(text: str, user_id: str, response_url: str, channel_id: str = "C0EMULATE1") -> dict[str, str]:
    return {"token": "legacy-verification-token", "team_id": TEAM_ID, "team_domain": "emulated",
            "channel_id": channel_id, "channel_name": "general", "user_id": user_id, "user_name": "asker",
            "command": "/oncall", "text": text, "api_app_id": "A0EMULATE1", "is_enterprise_install": "false",
            "response_url": response_url, "trigger_id": f"{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:12]}"}


def form_body(fields: dict[str, str]) -> str:
    return urllib.parse.urlencode(fields)


def event_callback(event: dict[str, Any]) -> dict[str, Any]:
    return {"token": "legacy-verification-token", "team_id": TEAM_ID, "api_app_id": "A0EMULATE1",
            "event": event, "type": "event_callback", "event_id": "Ev" + uuid.uuid4().hex[:10].upper(),
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": "U0BOT", "is_bot": True}]}


def app_mention(text: str, user_id: str, channel: str, ts: str | None = None) -> dict[str, Any]:
    return event_callback({"type": "app_mention", "user": user_id, "text": text, "channel": channel,
                           "ts": ts or f"{time.time():.6f}", "event_ts": f"{time.time():.6f}"})


def app_home_opened(user_id: str) -> dict[str, Any]:
    return event_callback({"type": "app_home_opened", "user": user_id, "channel": "D0EMULATE1", "tab": "home",
                           "event_ts": f"{time.time():.6f}"})


def json_body(payload: dict[str, Any]) -> str:
    return json.dumps(payload)
