"""A loopback emulator of the Slack Web API methods Slackgenie uses.

Wire contract as documented: ``/api/<method>``; GET query, POST form and POST JSON all accepted;
token as ``Authorization: Bearer`` or a ``token`` field; HTTP 200 with ``{"ok": false, "error"}``
for API errors; HTTP 429 + ``Retry-After`` for throttling, per method tier; cursor pagination
with ``""`` as the end marker; ``x-oauth-scopes`` on authenticated answers.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from slackgenie_emulators.base import Clock, EmulatorServer, Fault, RateWindow, Request, Response
from slackgenie_emulators.socket_mode import SocketModeServer

TEAM_ID = "T0EMULATE1"
OTHER_TEAM_ID = "T0ELSEWHR1"  # another workspace of the same organisation

# method -> (rate tier as requests per minute, scope a bot token needs or None)
METHODS: dict[str, tuple[int, str | None]] = {
    "auth.test": (600, None),
    "users.list": (20, "users:read"),
    "users.info": (100, "users:read"),
    "users.lookupByEmail": (50, "users:read.email"),
    "usergroups.list": (20, "usergroups:read"),
    "usergroups.users.list": (20, "usergroups:read"),
    "usergroups.users.update": (20, "usergroups:write"),
    "usergroups.create": (20, "usergroups:write"),
    "usergroups.update": (20, "usergroups:write"),
    "usergroups.enable": (20, "usergroups:write"),
    "usergroups.disable": (20, "usergroups:write"),
    "chat.postMessage": (60, "chat:write"),
    "chat.postEphemeral": (100, "chat:write"),
    "conversations.setTopic": (20, "channels:write.topic"),
    "conversations.info": (50, "channels:read"),
    "conversations.list": (20, "channels:read"),
    "conversations.open": (50, "im:write"),
    "conversations.history": (50, None),  # Tier 3; the scope depends on the channel (see _history)
    "views.publish": (100, None),
    "apps.connections.open": (100, None),
}

DEFAULT_SCOPES = [
    "usergroups:read", "usergroups:write", "users:read", "users:read.email",
    "chat:write", "channels:read", "channels:write.topic", "commands", "app_mentions:read", "im:write",
    "channels:history", "groups:history", "im:history",
]


@dataclass
class SlackUserRecord:
    id: str
    name: str
    email: str | None
    real_name: str
    deleted: bool = False
    is_bot: bool = False
    tz: str = "Europe/London"
    guest: str | None = None  # "multi" (is_restricted) or "single" (also is_ultra_restricted)
    # False: an account of the organisation that is not (or no longer) a member of this
    # workspace. Ids are organisation-wide, so users.info and users.lookupByEmail still find it;
    # users.list (this workspace's people) does not list it, and a group write naming it is
    # refused with failed_for_some_users ("User(s) are not in the workspace where this usergroup
    # exists", the method reference).
    in_workspace: bool = True

    def as_json(self) -> dict[str, Any]:
        team = TEAM_ID if self.in_workspace else OTHER_TEAM_ID
        profile: dict[str, Any] = {"real_name": self.real_name, "display_name": self.name,
                                   "real_name_normalized": self.real_name, "display_name_normalized": self.name,
                                   "team": team}
        if self.email:
            profile["email"] = self.email
        return {"id": self.id, "team_id": team, "name": self.name, "deleted": self.deleted,
                "real_name": self.real_name, "tz": self.tz, "tz_label": self.tz, "tz_offset": 0,
                "profile": profile, "is_bot": self.is_bot, "is_app_user": False,
                "is_admin": False, "is_owner": False, "is_restricted": self.guest is not None,
                "is_ultra_restricted": self.guest == "single", "updated": 1700000000, "color": "9f69e7"}


@dataclass
class UserGroupRecord:
    id: str
    handle: str
    name: str
    users: list[str] = field(default_factory=list)
    description: str = ""
    date_delete: int = 0
    date_update: int = 1700000000
    updated_by: str = "U0000ADMIN"
    # How many members Slack takes in this group: more answer subteam_max_users_exceeded. Slack
    # publishes no number; None: no cap.
    max_users: int | None = None

    def as_json(self, include_users: bool, include_count: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id, "team_id": TEAM_ID, "is_usergroup": True, "is_subteam": True,
            "name": self.name, "description": self.description, "handle": self.handle,
            "is_external": False, "date_create": 1700000000, "date_update": self.date_update,
            "date_delete": self.date_delete, "auto_type": None, "auto_provision": False,
            "enterprise_subteam_id": "", "created_by": "U0000ADMIN", "updated_by": self.updated_by,
            "deleted_by": None, "prefs": {"channels": [], "groups": []},
        }
        if include_users:
            data["users"] = list(self.users)
        if include_count:
            data["user_count"] = len(self.users)
        return data


@dataclass
class ChannelRecord:
    id: str
    name: str
    topic: str = ""
    members: list[str] = field(default_factory=list)
    is_archived: bool = False
    is_private: bool = False
    bot_member: bool = True  # whether the app's bot user is in the channel
    im_user: str | None = None  # a direct message between the app and this user (a D… id)


@dataclass
class TokenRecord:
    kind: str  # bot | user | app
    user_id: str
    scopes: list[str]


class SlackState:
    """The workspace the emulator serves."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.users: dict[str, SlackUserRecord] = {}
        self.groups: dict[str, UserGroupRecord] = {}
        self.channels: dict[str, ChannelRecord] = {}
        self.messages: list[dict[str, Any]] = []
        self.group_updates: list[tuple[float, str, list[str]]] = []  # (emulator time, group id, users)
        self.views: dict[str, dict[str, Any]] = {}  # user id -> published App Home view
        self.responses: dict[str, list[dict[str, Any]]] = {}  # response_url id -> what was posted there
        self.tokens: dict[str, TokenRecord] = {}
        self.admins_only_edit_groups = False  # a workspace setting: only admins (user tokens) edit groups
        self.free_plan = False  # user groups need a paid plan: every usergroups.* answers plan_upgrade_required
        self._ids = itertools.count(1)
        self.bot_user_id = self.add_user("slackgenie", None, "Slackgenie", is_bot=True).id

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    def add_token(self, token: str, kind: str = "bot", scopes: list[str] | None = None, user_id: str | None = None) -> None:
        with self.lock:
            self.tokens[token] = TokenRecord(kind, user_id or self.bot_user_id,
                                             list(DEFAULT_SCOPES if scopes is None else scopes))

    def add_user(self, name: str, email: str | None, real_name: str = "", *, deleted: bool = False,
                 is_bot: bool = False, tz: str = "Europe/London", guest: str | None = None) -> SlackUserRecord:
        with self.lock:
            user = SlackUserRecord(self._next_id("U"), name, email, real_name or name, deleted, is_bot, tz, guest)
            self.users[user.id] = user
            return user

    def add_group(self, handle: str, name: str | None = None, users: list[str] | None = None,
                  disabled: bool = False) -> UserGroupRecord:
        with self.lock:
            group = UserGroupRecord(self._next_id("S"), handle, name or handle, list(users or []),
                                    date_delete=1700000001 if disabled else 0)
            self.groups[group.id] = group
            return group

    def add_channel(self, name: str, topic: str = "", *, private: bool = False,
                    bot_member: bool = True) -> ChannelRecord:
        with self.lock:
            channel = ChannelRecord(self._next_id("C"), name, topic, is_private=private, bot_member=bot_member)
            self.channels[channel.id] = channel
            return channel

    def user_by_email(self, email: str) -> SlackUserRecord | None:
        with self.lock:
            return next((u for u in self.users.values() if u.email and u.email.lower() == email.lower()), None)

    def group_by_handle(self, handle: str) -> UserGroupRecord | None:
        with self.lock:
            return next((g for g in self.groups.values() if g.handle == handle), None)

    def members_of(self, handle: str) -> list[str]:
        group = self.group_by_handle(handle)
        return sorted(group.users) if group else []

    def emails_of(self, handle: str) -> list[str]:
        return sorted((self.users[u].email or self.users[u].name) for u in self.members_of(handle))

    def channel(self, ref: str) -> ChannelRecord | None:
        with self.lock:
            ref = ref.lstrip("#")
            return self.channels.get(ref) or next((c for c in self.channels.values() if c.name == ref), None)


class ApiError(Exception):
    def __init__(self, code: str, **extra: Any):
        super().__init__(code)
        self.code, self.extra = code, extra


class SlackEmulator(EmulatorServer):
    name = "slack-emulator"

    def __init__(self, state: SlackState | None = None, clock: Clock | None = None,
                 host: str = "127.0.0.1", port: int = 0, rate_limits: bool = False, window: float = 60.0):
        super().__init__(host, port, clock)
        self.state = state or SlackState()
        self._windows: dict[str, RateWindow] = {}
        if rate_limits:
            self.enable_rate_limits(window=window)
        self._handlers: dict[str, Callable[[Request, TokenRecord], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "users.list": self._users_list,
            "users.info": self._users_info,
            "users.lookupByEmail": self._lookup_by_email,
            "usergroups.list": self._usergroups_list,
            "usergroups.users.list": self._usergroups_users_list,
            "usergroups.users.update": self._usergroups_users_update,
            "usergroups.create": self._usergroups_create,
            "usergroups.update": self._usergroups_update,
            "usergroups.enable": lambda r, t: self._set_enabled(r, True),
            "usergroups.disable": lambda r, t: self._set_enabled(r, False),
            "chat.postMessage": self._post_message,
            "chat.postEphemeral": self._post_ephemeral,
            "conversations.setTopic": self._set_topic,
            "conversations.info": self._conversation_info,
            "conversations.list": self._conversations_list,
            "conversations.open": self._conversations_open,
            "conversations.history": self._history,
            "views.publish": self._views_publish,
            "apps.connections.open": self._connections_open,
        }
        self._socket = SocketModeServer(host)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def enable_rate_limits(self, window: float = 60.0, per_minute: dict[str, int] | None = None) -> None:
        """Throttle each method to its documented tier (requests per ``window`` seconds)."""
        for method, (tier, _) in METHODS.items():
            self._windows[method] = RateWindow((per_minute or {}).get(method, tier), window)

    def set_rate_limit(self, method: str, limit: int, window: float = 60.0) -> None:
        self._windows[method] = RateWindow(limit, window)

    def fault_response(self, fault: Fault, request: Request) -> Response:
        if fault.status == 429:
            return Response(429, {"ok": False, "error": "ratelimited"},
                            {"Retry-After": str(int(fault.retry_after if fault.retry_after is not None else 1))})
        return Response(fault.status, "<html><body>Service Unavailable</body></html>", content_type="text/html")

    def start(self) -> SlackEmulator:
        super().start()
        self._socket.start()
        return self

    def stop(self) -> None:
        self._socket.stop()
        super().stop()

    @property
    def socket(self) -> SocketModeServer:
        return self._socket

    def response_url(self, key: str) -> str:
        """A local stand-in for a slash command's response_url; what is posted there lands in state.responses."""
        return f"{self.url}/commands/{key}"

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/commands/") and request.method == "POST":
            key = request.path[len("/commands/"):]
            with self.state.lock:
                self.state.responses.setdefault(key, []).append(request.json if isinstance(request.json, dict) else {})
            return Response(200, "ok", content_type="text/plain")
        if not request.path.startswith("/api/"):
            return Response(404, {"ok": False, "error": "unknown_method"})
        method = request.path[len("/api/"):]
        handler = self._handlers.get(method)
        if handler is None:
            return Response(200, {"ok": False, "error": "unknown_method",
                                  "response_metadata": {"messages": [f"[ERROR] unknown method: {method}"]}})
        token_value = _bearer(request) or request.arg("token")
        if not token_value:
            return Response(200, {"ok": False, "error": "not_authed"})
        with self.state.lock:
            token = self.state.tokens.get(token_value)
        if token is None:
            return Response(200, {"ok": False, "error": "invalid_auth"})
        headers = {"x-oauth-scopes": ",".join(token.scopes), "x-accepted-oauth-scopes": METHODS[method][1] or ""}
        window = self._windows.get(method)
        if window is not None:
            wait = window.take()
            if wait > 0:
                return Response(429, {"ok": False, "error": "ratelimited"},
                                {"Retry-After": str(max(1, int(wait + 0.999))), **headers})
        needed = METHODS[method][1]
        if needed and needed not in token.scopes:
            return Response(200, {"ok": False, "error": "missing_scope", "needed": needed,
                                  "provided": ",".join(token.scopes)}, headers)
        try:
            if method.startswith("usergroups.") and self.state.free_plan:
                raise ApiError("plan_upgrade_required")
            body = handler(request, token)
        except ApiError as exc:
            body = {"ok": False, "error": exc.code, **exc.extra}
        return Response(200, body, headers)

    # --- methods -------------------------------------------------------------------------
    def _auth_test(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        user = self.state.users.get(token.user_id)
        body = {"ok": True, "url": "https://emulated.slack.com/", "team": "Emulated Workspace",
                "user": user.name if user else "unknown", "team_id": TEAM_ID, "user_id": token.user_id,
                "is_enterprise_install": False}
        if token.kind == "bot":
            body["bot_id"] = "B0EMULATE1"
        return body

    def _users_list(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        limit = _int(req.arg("limit"), 0)
        cursor = req.arg("cursor") or ""
        with self.state.lock:  # this workspace's people, deactivated accounts included (deleted: true)
            users = sorted((u for u in self.state.users.values() if u.in_workspace), key=lambda u: u.id)
        start = 0
        if cursor:
            try:
                start = int(base64.b64decode(cursor).decode().removeprefix("offset:"))
            except ValueError:
                raise ApiError("invalid_cursor") from None
        size = min(limit, 1000) if limit > 0 else len(users)
        page = users[start:start + size]
        nxt = start + size
        next_cursor = base64.b64encode(f"offset:{nxt}".encode()).decode() if nxt < len(users) else ""
        return {"ok": True, "members": [u.as_json() for u in page], "cache_ts": int(self.clock.now().timestamp()),
                "response_metadata": {"next_cursor": next_cursor}}

    def _users_info(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        uid = _required(req, "user")
        user = self.state.users.get(uid)
        if user is None:
            raise ApiError("user_not_found")
        return {"ok": True, "user": user.as_json()}

    def _lookup_by_email(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        email = _required(req, "email")
        user = self.state.user_by_email(email)
        if user is None or user.deleted:  # deactivated accounts are not found by e-mail
            raise ApiError("users_not_found")
        return {"ok": True, "user": user.as_json()}

    def _usergroups_list(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        include_users = _flag(req.arg("include_users"))
        include_disabled = _flag(req.arg("include_disabled"))
        include_count = _flag(req.arg("include_count"))
        with self.state.lock:
            groups = [g.as_json(include_users, include_count) for g in self.state.groups.values()
                      if include_disabled or not g.date_delete]
        return {"ok": True, "usergroups": groups}

    def _group(self, req: Request) -> UserGroupRecord:
        gid = _required(req, "usergroup")
        group = self.state.groups.get(gid)
        if group is None:
            raise ApiError("no_such_subteam")
        return group

    def _usergroups_users_list(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        group = self._group(req)
        if group.date_delete and not _flag(req.arg("include_disabled")):
            raise ApiError("no_such_subteam")
        return {"ok": True, "users": list(group.users)}

    def _check_may_edit(self, token: TokenRecord) -> None:
        if self.state.admins_only_edit_groups and token.kind != "user":
            raise ApiError("permission_denied")

    def _usergroups_users_update(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        group = self._group(req)
        self._check_may_edit(token)
        raw = req.arg("users")
        ids = [u.strip() for u in (raw or "").split(",") if u.strip()]
        if not ids:
            raise ApiError("no_users_provided")
        with self.state.lock:
            # Slack refuses the whole update, and the group is left as it was, when an id is no
            # user, or a deactivated one or a guest (guests cannot be members of user groups)...
            bad = [u for u in ids if u not in self.state.users or self.state.users[u].deleted
                   or self.state.users[u].guest is not None]
            if bad:
                raise ApiError("invalid_users")
            # ... when one is a user of the organisation outside this workspace (Slack's answer
            # does not say which: the method reference documents no more than the code) ...
            if any(not self.state.users[u].in_workspace for u in ids):
                raise ApiError("failed_for_some_users")
            # ... and when there are more people than the group may hold.
            if group.max_users is not None and len(set(ids)) > group.max_users:
                raise ApiError("subteam_max_users_exceeded")
            group.users = list(dict.fromkeys(ids))
            now = self.clock.now().timestamp()
            self.state.group_updates.append((now, group.id, list(group.users)))
            group.date_update = int(now)
            group.updated_by = token.user_id
            return {"ok": True, "usergroup": group.as_json(True, _flag(req.arg("include_count")))}

    def _usergroups_create(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        name = _required(req, "name")
        handle = req.arg("handle") or name.lower().replace(" ", "-")
        self._check_may_edit(token)
        with self.state.lock:
            if any(g.name == name for g in self.state.groups.values()):
                raise ApiError("name_already_exists")
            if self.state.group_by_handle(handle):
                raise ApiError("handle_already_exists")
            group = self.state.add_group(handle, name)
            group.description = req.arg("description") or ""
            return {"ok": True, "usergroup": group.as_json(False)}

    def _usergroups_update(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        group = self._group(req)
        self._check_may_edit(token)
        with self.state.lock:
            for key in ("name", "handle", "description"):
                if req.arg(key) is not None:
                    setattr(group, key, req.arg(key))
            return {"ok": True, "usergroup": group.as_json(False)}

    def _set_enabled(self, req: Request, enabled: bool) -> dict[str, Any]:
        group = self._group(req)
        with self.state.lock:
            group.date_delete = 0 if enabled else int(self.clock.now().timestamp())
            return {"ok": True, "usergroup": group.as_json(False)}

    def _channel(self, req: Request, member: bool = False) -> ChannelRecord:
        """The channel named by ``channel``: a private one the bot is not in does not exist for it;
        ``member``: the call needs the bot in the channel (posting, setting the topic)."""
        channel = self.state.channel(_required(req, "channel"))
        if channel is None or (channel.is_private and not channel.bot_member):
            raise ApiError("channel_not_found")
        if channel.is_archived:
            raise ApiError("is_archived")
        if member and not channel.bot_member:
            raise ApiError("not_in_channel")
        return channel

    def _post_message(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        channel = self._channel(req, member="chat:write.public" not in token.scopes)
        text, blocks = req.arg("text"), req.arg("blocks")
        if not text and not blocks:
            raise ApiError("no_text")
        metadata = req.arg("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                raise ApiError("invalid_metadata_format") from None
        if metadata is not None and (not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str)
                                     or not isinstance(metadata.get("event_payload", {}), dict)):
            raise ApiError("invalid_metadata_schema")
        with self.state.lock:
            ts = f"{self.clock.now().timestamp():.6f}"
            while any(m["ts"] == ts and m["channel"] == channel.id for m in self.state.messages):
                ts = f"{float(ts) + 0.000001:.6f}"  # a message's ts is unique in its channel
            message: dict[str, Any] = {"type": "message", "user": token.user_id, "text": text or "", "ts": ts}
            if metadata is not None:
                message["metadata"] = metadata
            self.state.messages.append({"channel": channel.id, "thread_ts": req.arg("thread_ts"), **message})
        return {"ok": True, "channel": channel.id, "ts": ts, "message": message}

    def _history(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        """The latest messages first, within ``oldest``..``latest``; ``metadata`` only with
        ``include_all_metadata`` (as Slack does); the scope of the channel's kind."""
        channel = self._channel(req)
        needed = "im:history" if channel.im_user else ("groups:history" if channel.is_private else "channels:history")
        if needed not in token.scopes:
            raise ApiError("missing_scope", needed=needed, provided=",".join(token.scopes))
        if channel.is_private and not channel.im_user and not channel.bot_member:
            raise ApiError("channel_not_found")
        oldest, latest = float(req.arg("oldest") or 0), float(req.arg("latest") or 1e12)
        inclusive = _flag(req.arg("inclusive"))
        limit = min(max(_int(req.arg("limit"), 100), 1), 999)
        with_metadata = _flag(req.arg("include_all_metadata"))
        with self.state.lock:
            found = [dict(m) for m in self.state.messages if m["channel"] == channel.id and "ephemeral_to" not in m
                     and (oldest <= float(m["ts"]) <= latest if inclusive else oldest < float(m["ts"]) < latest)]
        found.sort(key=lambda m: float(m["ts"]), reverse=True)
        page = [{k: v for k, v in m.items() if k not in ("channel", "thread_ts") and (with_metadata or k != "metadata")}
                for m in found[:limit]]
        return {"ok": True, "messages": page, "has_more": len(found) > limit, "pin_count": 0,
                "channel_actions_ts": None, "channel_actions_count": 0,
                "response_metadata": {"next_cursor": ""}}

    def _post_ephemeral(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        channel = self._channel(req)
        user = _required(req, "user")
        if not req.arg("text") and not req.arg("blocks"):
            raise ApiError("no_text")
        ts = f"{self.clock.now().timestamp():.6f}"
        with self.state.lock:
            self.state.messages.append({"channel": channel.id, "ephemeral_to": user, "text": req.arg("text"), "ts": ts})
        return {"ok": True, "message_ts": ts}

    def _set_topic(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        channel = self._channel(req, member=True)
        topic = req.arg("topic")
        if topic is None:
            raise ApiError("invalid_arguments",
                           response_metadata={"messages": ["[ERROR] missing required field: topic"]})
        if len(topic) > 250:
            raise ApiError("too_long")
        with self.state.lock:
            channel.topic = topic
        return {"ok": True, "channel": self._channel_json(channel)}

    def _conversations_open(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        """A 1:1 direct message with one user (the only kind Slackgenie opens), made once and
        resumed after: the same D… id each time."""
        users = [u.strip() for u in (req.arg("users") or "").split(",") if u.strip()]
        if not users:
            raise ApiError("users_list_not_supplied")
        if len(users) > 1:
            raise ApiError("method_not_supported_for_channel_type")  # a group DM: not emulated
        with self.state.lock:
            user = self.state.users.get(users[0])
            if user is None:
                raise ApiError("user_not_found")
            if user.deleted:
                raise ApiError("user_disabled")
            if user.is_bot:
                raise ApiError("cannot_dm_bot")
            channel = next((c for c in self.state.channels.values() if c.im_user == user.id), None)
            if channel is None:
                channel = ChannelRecord(self.state._next_id("D"), "", is_private=True, im_user=user.id)
                self.state.channels[channel.id] = channel
        return {"ok": True, "channel": {"id": channel.id}}

    def dms_to(self, user_id: str) -> list[dict[str, Any]]:
        """The messages the app sent to one user in its direct message with them."""
        with self.state.lock:
            ims = {c.id for c in self.state.channels.values() if c.im_user == user_id}
            return [m for m in self.state.messages if m["channel"] in ims]

    def _conversation_info(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        return {"ok": True, "channel": self._channel_json(self._channel(req))}

    def _conversations_list(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        limit = min(max(_int(req.arg("limit"), 100), 1), 1000)
        cursor = req.arg("cursor") or ""
        try:
            start = int(base64.b64decode(cursor).decode().removeprefix("offset:")) if cursor else 0
        except ValueError:
            raise ApiError("invalid_cursor") from None
        types = {t.strip() for t in (req.arg("types") or "public_channel").split(",") if t.strip()}
        if not types <= {"public_channel", "private_channel", "mpim", "im"}:
            raise ApiError("invalid_types")
        if "private_channel" in types and "groups:read" not in token.scopes:
            raise ApiError("missing_scope", needed="groups:read", provided=",".join(token.scopes))
        with self.state.lock:
            channels = sorted((c for c in self.state.channels.values() if c.im_user is None
                               if (("private_channel" in types and c.bot_member) if c.is_private
                                   else "public_channel" in types)), key=lambda c: c.id)
            if _flag(req.arg("exclude_archived")):
                channels = [c for c in channels if not c.is_archived]
        page = channels[start:start + limit]
        nxt = start + limit
        return {"ok": True, "channels": [self._channel_json(c) for c in page],
                "response_metadata": {"next_cursor": base64.b64encode(f"offset:{nxt}".encode()).decode()
                                      if nxt < len(channels) else ""}}

    def _views_publish(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        user = _required(req, "user_id")
        raw = req.arg("view")
        try:
            view = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            raise ApiError("invalid_arguments") from None
        if not isinstance(view, dict) or view.get("type") != "home":
            raise ApiError("invalid_arguments")
        if len(view.get("blocks") or []) > 100:
            raise ApiError("view_too_large")
        with self.state.lock:
            self.state.views[user] = view
        return {"ok": True, "view": {"id": "V0EMULATE1", "type": "home", "blocks": view.get("blocks", [])}}

    def _connections_open(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        if token.kind != "app":
            raise ApiError("not_allowed_token_type")
        if req.method != "POST":
            raise ApiError("insecure_request")
        return {"ok": True, "url": self._socket.issue_url()}

    def _channel_json(self, c: ChannelRecord) -> dict[str, Any]:
        return {"id": c.id, "name": c.name, "is_channel": not c.is_private, "is_group": False,
                "is_private": c.is_private, "is_member": c.bot_member, "is_archived": c.is_archived,
                "created": 1700000000, "creator": "U0000ADMIN",
                "topic": {"value": c.topic, "creator": "U0000ADMIN", "last_set": int(self.clock.now().timestamp())},
                "purpose": {"value": "", "creator": "", "last_set": 0}}


def _bearer(req: Request) -> str | None:
    auth = req.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def _required(req: Request, name: str) -> str:
    value = req.arg(name)
    if not value:
        raise ApiError("invalid_arguments", response_metadata={"messages": [f"[ERROR] missing required field: {name}"]})
    return value


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default
