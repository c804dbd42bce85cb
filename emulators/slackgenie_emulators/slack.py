"""A loopback emulator of the Slack Web API methods Slackgenie uses.

Wire contract as documented: ``/api/<method>``; GET query, POST form and POST JSON all accepted;
token as ``Authorization: Bearer`` or a ``token`` field; HTTP 200 with ``{"ok": false, "error"}``
for API errors; HTTP 429 + ``Retry-After`` for throttling, per method tier; cursor pagination
with ``""`` as the end marker; ``x-oauth-scopes`` on authenticated answers.

One workspace by default (``SlackState()``: every existing behaviour). The same state can also be an
Enterprise Grid organisation (``SlackState(enterprise_id=...)`` and ``add_workspace``; the builder and a
sample are in ``slack_grid``): several workspaces, organisation-wide user ids, an org-level token that
must name the workspace (``team_id``) where Slack's method references say "required if org token is
used", ``auth.teams.list``. References in comments: GRID = ../shared/specs/slack/ENTERPRISE-GRID.md,
REF = the method reference files (slack-api-ref/methods/*.json), CONTRACTS = ../shared/specs/CONTRACTS.md.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
from dataclasses import dataclass, field, replace
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
    "auth.teams.list": (20, None),  # Tier 2, no scope (REF auth.teams.list; GRID §1.3)
}

# With an org-level token these methods act in the workspace named by ``team_id`` ("required if org
# token is used", REF of each; GRID §2), and this is Slack's answer when it is missing. usergroups.create
# and usergroups.disable document target_team_must_be_specified_in_org_context ("No target team was
# specified but the team in context is an org"); the others document missing_argument. The reference of
# usergroups.users.list documents neither: GRID §3 lists missing_argument for usergroups.* as a whole.
ORG_TEAM_REQUIRED: dict[str, str] = {
    "usergroups.list": "missing_argument",
    "usergroups.users.list": "missing_argument",
    "usergroups.users.update": "missing_argument",
    "usergroups.create": "target_team_must_be_specified_in_org_context",
    "usergroups.update": "missing_argument",
    "usergroups.enable": "missing_argument",
    "usergroups.disable": "target_team_must_be_specified_in_org_context",
    "users.list": "missing_argument",
    "conversations.list": "missing_argument",
}
# A team_id that is no workspace of the organisation: usergroups.create and usergroups.disable document
# target_team_not_on_org, usergroups.list invalid_team ("Cannot find subteam team."). The other
# references are silent: they answer team_access_not_granted, the generic code for a workspace the
# token may not act in (GRID §3), as for a workspace of the org the app was not added to.
ORG_TEAM_UNKNOWN: dict[str, str] = {
    "usergroups.create": "target_team_not_on_org",
    "usergroups.disable": "target_team_not_on_org",
    "usergroups.list": "invalid_team",
}
NOT_GRANTED = "team_access_not_granted"
# The errors a workspace being migrated into an organisation gives to every call (GRID §3, from the
# reference's common errors, methods/_errors/common.json: "intermittently unavailable").
MIGRATION_ERRORS = ("team_added_to_org", "org_login_required")
# Slack's limit on a group's description: 140 characters, no newlines (Slack strips them) [field:
# kubernetes/community #5682; the references document description_too_long but no number].
DESCRIPTION_LIMIT = 140
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")

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
    # The workspaces this account is a member of. Ids are organisation-wide, so users.info and
    # users.lookupByEmail find an account whatever its workspaces; users.list (one workspace's
    # people) lists it only there, and a group write naming it in a workspace it is not in is refused
    # with failed_for_some_users ("User(s) are not in the workspace where this usergroup exists", REF
    # usergroups.users.update; GRID §7).
    teams: set[str] = field(default_factory=set)
    # The workspace ``in_workspace`` speaks of: the state's first workspace for add_user, the first
    # one listed for an organisation's person (None: in no workspace).
    home: str | None = TEAM_ID

    @property
    def in_workspace(self) -> bool:
        """Whether the account is a member of its home workspace (False: an account of the organisation
        that is not, or no longer, a member of it)."""
        return self.home is not None and self.home in self.teams

    @in_workspace.setter
    def in_workspace(self, value: bool) -> None:
        if self.home is None:
            raise ValueError(f"{self.id} has no home workspace")
        if value:
            self.teams.add(self.home)
        else:
            self.teams.discard(self.home)

    def team(self, enterprise: EnterpriseRecord | None) -> str:
        """The ``team_id`` the user object carries: its home workspace while a member there, else one of
        its workspaces; an organisation's person in none carries the organisation's id (a user's
        ``team_id`` may be an ``E…``, GRID §4.1)."""
        if self.in_workspace:
            return self.home or TEAM_ID
        if self.teams:
            return sorted(self.teams)[0]
        return enterprise.id if enterprise is not None else OTHER_TEAM_ID

    def as_json(self, enterprise: EnterpriseRecord | None = None) -> dict[str, Any]:
        team = self.team(enterprise)
        profile: dict[str, Any] = {"real_name": self.real_name, "display_name": self.name,
                                   "real_name_normalized": self.real_name, "display_name_normalized": self.name,
                                   "team": team}
        if self.email:
            profile["email"] = self.email
        body = {"id": self.id, "team_id": team, "name": self.name, "deleted": self.deleted,
                "real_name": self.real_name, "tz": self.tz, "tz_label": self.tz, "tz_offset": 0,
                "profile": profile, "is_bot": self.is_bot, "is_app_user": False,
                "is_admin": False, "is_owner": False, "is_restricted": self.guest is not None,
                "is_ultra_restricted": self.guest == "single", "updated": 1700000000, "color": "9f69e7"}
        if enterprise is not None:  # the organisation's view of the person (spec-2020 objs_enterprise_user; GRID §4.1)
            body["enterprise_user"] = {"id": self.id, "enterprise_id": enterprise.id,
                                       "enterprise_name": enterprise.name, "is_admin": False, "is_owner": False,
                                       "teams": sorted(self.teams)}
        return body


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
    team_id: str = TEAM_ID  # the workspace the group belongs to (GRID §5)
    channels: list[str] = field(default_factory=list)  # default channels (prefs.channels)
    # "" for a workspace's own group; an organisation-level (IdP) group's id otherwise [unverified, GRID §5].
    enterprise_subteam_id: str = ""
    created_by: str = "U0000ADMIN"
    deleted_by: str | None = None

    def as_json(self, include_users: bool, include_count: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id, "team_id": self.team_id, "is_usergroup": True, "is_subteam": True,
            "name": self.name, "description": self.description, "handle": self.handle,
            "is_external": False, "date_create": 1700000000, "date_update": self.date_update,
            "date_delete": self.date_delete, "auto_type": None, "auto_provision": False,
            "enterprise_subteam_id": self.enterprise_subteam_id, "created_by": self.created_by,
            "updated_by": self.updated_by, "deleted_by": self.deleted_by,
            "prefs": {"channels": list(self.channels), "groups": []},
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
    team_id: str = TEAM_ID  # its workspace: names are unique per workspace, ids across the organisation


@dataclass
class TokenRecord:
    kind: str  # bot | user | app
    user_id: str
    scopes: list[str]
    # A workspace token's workspace (team_id arguments are ignored with it, GRID §1.1). Within one call
    # the emulator hands its handler a copy whose team_id is the workspace that call acts in (for an
    # org-level token: the team_id argument, or None where the method takes none).
    team_id: str | None = None
    enterprise_install: bool = False  # an org-wide install: auth.test says is_enterprise_install (GRID §1.2)


@dataclass
class WorkspaceRecord:
    """One workspace (team): its plan and settings."""

    id: str
    name: str
    domain: str
    free_plan: bool = False  # user groups need a paid plan: every usergroups.* answers plan_upgrade_required
    admins_only_edit_groups: bool = False  # only admins (user tokens) edit groups: permission_denied
    # A code from MIGRATION_ERRORS while the workspace moves into an organisation: every call acting in
    # it gets that answer (intermittently, GRID §3; here until cleared, so tests are deterministic).
    migration_error: str | None = None
    # How many default channels usergroups.update takes before too_many_linked_channels (REF documents
    # the code, no number): None, no cap.
    max_linked_channels: int | None = None


@dataclass
class EnterpriseRecord:
    """An Enterprise Grid organisation and its org-wide app."""

    id: str
    name: str
    domain: str
    granted: set[str] = field(default_factory=set)  # the workspaces the org-wide app was added to (GRID §1.1)
    # What auth.test says as team_id for an org-level token: public fixtures disagree (null, or a T…,
    # GRID §1.2 [unverified]); the note's illustration has the organisation's E… id, the default here.
    org_token_team_id: str | None = None
    # Whether users.lookupByEmail refuses an org-level token with enterprise_is_restricted ("called with
    # an inappropriate enterprise-level token", REF users.lookupByEmail): [unverified] (GRID §2), off here.
    lookup_by_email_restricted: bool = False


@dataclass(frozen=True)
class SlackCall:
    """One Web API call as the emulator understood it: the call log tests read."""

    method: str
    params: dict[str, str]  # every argument but the token, as sent (team_id among them when sent)
    workspace: str | None  # the workspace it acted in (None: none, e.g. an org-level users.info)
    token_kind: str | None  # bot | user | app, "org" for an org-level token; None: no known token
    ok: bool
    error: str | None
    status: int
    at: float  # emulator time

    @property
    def team_id(self) -> str | None:
        return self.params.get("team_id")


class SlackState:
    """The workspace the emulator serves, or an Enterprise Grid organisation of several.

    ``SlackState()`` is one workspace (``TEAM_ID``), outside any organisation. With ``enterprise_id``
    it is an organisation: people get organisation-wide ``W…`` ids, ``add_workspace`` adds workspaces
    (the first one is the *home* workspace that the single-workspace helpers below speak of), and
    ``add_token(..., org=True)`` issues an org-level token. ``team_id=None`` starts with no workspace.
    """

    def __init__(self, *, team_id: str | None = TEAM_ID, team_name: str = "Emulated Workspace",
                 enterprise_id: str | None = None, enterprise_name: str = "") -> None:
        self.lock = threading.RLock()
        self.users: dict[str, SlackUserRecord] = {}
        self.groups: dict[str, UserGroupRecord] = {}
        self.channels: dict[str, ChannelRecord] = {}
        self.messages: list[dict[str, Any]] = []
        self.group_updates: list[tuple[float, str, list[str]]] = []  # (emulator time, group id, users)
        self.views: dict[str, dict[str, Any]] = {}  # user id -> published App Home view
        self.responses: dict[str, list[dict[str, Any]]] = {}  # response_url id -> what was posted there
        self.tokens: dict[str, TokenRecord] = {}
        self.workspaces: dict[str, WorkspaceRecord] = {}
        self.enterprise: EnterpriseRecord | None = None
        if enterprise_id is not None:
            name = enterprise_name or enterprise_id
            self.enterprise = EnterpriseRecord(enterprise_id, name, _domain(name), org_token_team_id=enterprise_id)
        self.home_team: str | None = None
        self._ids = itertools.count(1)
        self.bot_user_id = self.add_user("slackgenie", None, "Slackgenie", is_bot=True).id
        if team_id is not None:
            self.add_workspace(team_id, team_name, domain="emulated" if team_id == TEAM_ID else None)

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    # --- the home workspace's settings (the single-workspace API) -----------------------------
    def _home(self) -> WorkspaceRecord:
        if self.home_team is None:
            raise ValueError("this organisation has no workspace yet")
        return self.workspaces[self.home_team]

    @property
    def admins_only_edit_groups(self) -> bool:
        """A workspace setting: only admins (user tokens) edit groups."""
        return self._home().admins_only_edit_groups

    @admins_only_edit_groups.setter
    def admins_only_edit_groups(self, value: bool) -> None:
        self._home().admins_only_edit_groups = value

    @property
    def free_plan(self) -> bool:
        """User groups need a paid plan: every usergroups.* answers plan_upgrade_required."""
        return self._home().free_plan

    @free_plan.setter
    def free_plan(self, value: bool) -> None:
        self._home().free_plan = value

    # --- building ----------------------------------------------------------------------------
    def add_workspace(self, team_id: str, name: str, *, domain: str | None = None, free_plan: bool = False,
                      granted: bool = True, admins_only_edit_groups: bool = False) -> WorkspaceRecord:
        """A workspace; in an organisation, ``granted`` says whether the org-wide app was added to it."""
        with self.lock:
            if team_id in self.workspaces:
                raise ValueError(f"workspace {team_id} exists")
            workspace = WorkspaceRecord(team_id, name, domain or _domain(name), free_plan, admins_only_edit_groups)
            self.workspaces[team_id] = workspace
            if self.home_team is None:
                self.home_team = team_id
                self.users[self.bot_user_id].home = team_id
            self.users[self.bot_user_id].teams.add(team_id)
            if self.enterprise is not None and granted:
                self.enterprise.granted.add(team_id)
            return workspace

    def add_token(self, token: str, kind: str = "bot", scopes: list[str] | None = None, user_id: str | None = None,
                  *, team_id: str | None = None, org: bool = False) -> None:
        """A token: a workspace token of ``team_id`` (default: the home workspace), or with ``org`` the
        org-level token of an app installed on the whole organisation."""
        with self.lock:
            if org and self.enterprise is None:
                raise ValueError("an org-level token needs an organisation (SlackState(enterprise_id=...))")
            team = None if org or kind == "app" else (team_id or self.home_team)
            if team is not None and team not in self.workspaces:
                raise ValueError(f"no workspace {team}")
            self.tokens[token] = TokenRecord(kind, user_id or self.bot_user_id,
                                             list(DEFAULT_SCOPES if scopes is None else scopes), team, org)

    def add_user(self, name: str, email: str | None, real_name: str = "", *, deleted: bool = False,
                 is_bot: bool = False, tz: str = "Europe/London", guest: str | None = None,
                 teams: list[str] | None = None, prefix: str | None = None) -> SlackUserRecord:
        """A person: a member of ``teams`` (default: the home workspace). In an organisation ids are
        ``W…`` (global ids may also begin with ``U``: ``prefix``, GRID §4.1)."""
        with self.lock:
            member_of = [self.home_team] if teams is None and self.home_team else list(teams or [])
            unknown = [t for t in member_of if t not in self.workspaces]
            if unknown:
                raise ValueError(f"no workspace {unknown[0]}")
            kind = prefix or ("W" if self.enterprise is not None else "U")
            home = member_of[0] if member_of else (None if self.enterprise is not None else TEAM_ID)
            user = SlackUserRecord(self._next_id(kind), name, email, real_name or name, deleted, is_bot, tz, guest,
                                   teams=set(member_of), home=home)
            self.users[user.id] = user
            return user

    def add_group(self, handle: str, name: str | None = None, users: list[str] | None = None,
                  disabled: bool = False, *, team_id: str | None = None, description: str = "",
                  channels: list[str] | None = None, max_users: int | None = None) -> UserGroupRecord:
        """A user group of workspace ``team_id`` (default: the home workspace)."""
        with self.lock:
            team = team_id or self.home_team or TEAM_ID
            if team not in self.workspaces:
                raise ValueError(f"no workspace {team}")
            group = UserGroupRecord(self._next_id("S"), handle, name or handle, list(users or []),
                                    description=description, date_delete=1700000001 if disabled else 0,
                                    max_users=max_users, team_id=team, channels=list(channels or []))
            self.groups[group.id] = group
            return group

    def add_channel(self, name: str, topic: str = "", *, private: bool = False,
                    bot_member: bool = True, team_id: str | None = None) -> ChannelRecord:
        with self.lock:
            team = team_id or self.home_team or TEAM_ID
            if team not in self.workspaces:
                raise ValueError(f"no workspace {team}")
            channel = ChannelRecord(self._next_id("C"), name, topic, is_private=private, bot_member=bot_member,
                                    team_id=team)
            self.channels[channel.id] = channel
            return channel

    # --- reading -------------------------------------------------------------------------------
    def user_by_email(self, email: str) -> SlackUserRecord | None:
        with self.lock:
            return next((u for u in self.users.values() if u.email and u.email.lower() == email.lower()), None)

    def group_by_handle(self, handle: str, team_id: str | None = None) -> UserGroupRecord | None:
        """The group with this handle (in workspace ``team_id``; None: in any workspace, the first made)."""
        with self.lock:
            return next((g for g in self.groups.values()
                         if g.handle == handle and team_id in (None, g.team_id)), None)

    def groups_in(self, team_id: str) -> list[UserGroupRecord]:
        """Workspace ``team_id``'s groups, disabled ones included, oldest first."""
        with self.lock:
            return [g for g in self.groups.values() if g.team_id == team_id]

    def members_of(self, handle: str, team_id: str | None = None) -> list[str]:
        group = self.group_by_handle(handle, team_id)
        return sorted(group.users) if group else []

    def emails_of(self, handle: str, team_id: str | None = None) -> list[str]:
        return sorted((self.users[u].email or self.users[u].name) for u in self.members_of(handle, team_id))

    def people_of(self, team_id: str) -> list[SlackUserRecord]:
        """Workspace ``team_id``'s members (what users.list with that team lists), by id."""
        with self.lock:
            return sorted((u for u in self.users.values() if team_id in u.teams), key=lambda u: u.id)

    def channel(self, ref: str, team_id: str | None = None) -> ChannelRecord | None:
        """The channel with this id, or this name (``#`` optional) in workspace ``team_id`` (None: any)."""
        with self.lock:
            ref = ref.lstrip("#")
            return self.channels.get(ref) or next((c for c in self.channels.values()
                                                   if c.name == ref and team_id in (None, c.team_id)), None)


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
        # Slack limits each method per workspace (CONTRACTS §3.1): a workspace other than the home one,
        # or an org-level call naming none, gets its own window, made like the home one on first use.
        self._team_windows: dict[tuple[str, str], RateWindow] = {}
        self._calls: list[SlackCall] = []
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
            "usergroups.enable": lambda r, t: self._set_enabled(r, t, True),
            "usergroups.disable": lambda r, t: self._set_enabled(r, t, False),
            "chat.postMessage": self._post_message,
            "chat.postEphemeral": self._post_ephemeral,
            "conversations.setTopic": self._set_topic,
            "conversations.info": self._conversation_info,
            "conversations.list": self._conversations_list,
            "conversations.open": self._conversations_open,
            "conversations.history": self._history,
            "views.publish": self._views_publish,
            "apps.connections.open": self._connections_open,
            "auth.teams.list": self._auth_teams_list,
        }
        self._socket = SocketModeServer(host)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def enable_rate_limits(self, window: float = 60.0, per_minute: dict[str, int] | None = None) -> None:
        """Throttle each method to its documented tier (requests per ``window`` seconds)."""
        for method, (tier, _) in METHODS.items():
            self._windows[method] = RateWindow((per_minute or {}).get(method, tier), window)
        self._team_windows.clear()

    def set_rate_limit(self, method: str, limit: int, window: float = 60.0) -> None:
        self._windows[method] = RateWindow(limit, window)
        for key in [k for k in self._team_windows if k[0] == method]:
            del self._team_windows[key]

    def _window(self, method: str, scope: str | None) -> RateWindow | None:
        home = self._windows.get(method)
        if home is None or scope is None or scope == self.state.home_team:
            return home
        with self.state.lock:
            return self._team_windows.setdefault((method, scope), RateWindow(home.limit, home.window))

    # --- the call log ----------------------------------------------------------------------
    def api_calls(self, method: str | None = None, workspace: str | None = None) -> list[SlackCall]:
        """The Web API calls served since the last reset_log, oldest first (of ``method``, acting in
        ``workspace``, when given)."""
        with self.state.lock:
            return [c for c in self._calls if method in (None, c.method) and workspace in (None, c.workspace)]

    def reset_log(self) -> None:
        super().reset_log()
        with self.state.lock:
            self._calls.clear()

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
        token_value = _bearer(request) or request.arg("token")
        with self.state.lock:
            token = self.state.tokens.get(token_value or "")
        team, refusal = self._workspace_of(method, request, token)
        response = self._serve(method, request, token_value, token, team, refusal)
        body = response.body if isinstance(response.body, dict) else {}
        kind = None if token is None else ("org" if token.enterprise_install else token.kind)
        params = {k: v for k in _arg_names(request) if k != "token" and (v := request.arg(k)) is not None}
        with self.state.lock:
            self._calls.append(SlackCall(method, params, team, kind, body.get("ok") is True, body.get("error"),
                                         response.status, self.clock.now().timestamp()))
        return response

    def _serve(self, method: str, request: Request, token_value: str | None, token: TokenRecord | None,
               team: str | None, refusal: str | None) -> Response:
        handler = self._handlers.get(method)
        if handler is None:
            return Response(200, {"ok": False, "error": "unknown_method",
                                  "response_metadata": {"messages": [f"[ERROR] unknown method: {method}"]}})
        if not token_value:
            return Response(200, {"ok": False, "error": "not_authed"})
        if token is None:
            return Response(200, {"ok": False, "error": "invalid_auth"})
        headers = {"x-oauth-scopes": ",".join(token.scopes), "x-accepted-oauth-scopes": METHODS[method][1] or ""}
        scope = team if team is not None or not token.enterprise_install else (
            self.state.enterprise.id if self.state.enterprise else None)
        window = self._window(method, scope)
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
            if refusal is not None:
                raise ApiError(refusal)
            workspace = self.state.workspaces.get(team) if team is not None else None
            if workspace is not None and workspace.migration_error:
                raise ApiError(workspace.migration_error)
            if method.startswith("usergroups.") and workspace is not None and workspace.free_plan:
                # usergroups.update documents paid_teams_only with plan_upgrade_required's very text;
                # the other usergroups.* document plan_upgrade_required (REF).
                raise ApiError("paid_teams_only" if method == "usergroups.update" else "plan_upgrade_required")
            body = handler(request, replace(token, team_id=team))
        except ApiError as exc:
            body = {"ok": False, "error": exc.code, **exc.extra}
        return Response(200, body, headers)

    def _workspace_of(self, method: str, req: Request, token: TokenRecord | None) -> tuple[str | None, str | None]:
        """The workspace a call acts in, or Slack's refusal of the workspace it names.

        A workspace token acts in its own workspace whatever ``team_id`` says (ignored, GRID §1.1); an
        app-level token in none. An org-level token acts in the ``team_id`` it sends to the methods
        that take one (ORG_TEAM_REQUIRED), which must be a workspace of the organisation the app was
        added to; the methods that take none act organisation-wide (users.info: ids are global;
        chat.*, conversations.info/setTopic/open/history: channel ids are unique in the org, GRID §2).
        """
        if token is None or token.kind == "app":
            return None, None
        if not token.enterprise_install:
            return token.team_id or self.state.home_team, None
        if method not in ORG_TEAM_REQUIRED:
            return None, None
        team = req.arg("team_id")
        if not team:
            return None, ORG_TEAM_REQUIRED[method]
        enterprise = self.state.enterprise
        if team not in self.state.workspaces or enterprise is None:
            return None, ORG_TEAM_UNKNOWN.get(method, NOT_GRANTED)
        if team not in enterprise.granted:  # GRID §1.3, §3: the org admin has not added the app there
            return None, NOT_GRANTED
        return team, None

    # --- methods -------------------------------------------------------------------------
    def _auth_test(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        """Who the token is (REF auth.test). An org-level token: the organisation's URL and name,
        ``enterprise_id``, ``is_enterprise_install: true`` and ``team_id`` as EnterpriseRecord says
        (GRID §1.2); a workspace token inside an organisation carries ``enterprise_id`` too."""
        user = self.state.users.get(token.user_id)
        enterprise = self.state.enterprise
        body: dict[str, Any]
        if token.enterprise_install and enterprise is not None:
            body = {"ok": True, "url": f"https://{enterprise.domain}.enterprise.slack.com/", "team": enterprise.name,
                    "user": user.name if user else "unknown", "team_id": enterprise.org_token_team_id,
                    "user_id": token.user_id}
        else:
            workspace = self.state.workspaces.get(token.team_id or "")
            body = {"ok": True, "url": f"https://{workspace.domain if workspace else 'emulated'}.slack.com/",
                    "team": workspace.name if workspace else "Emulated Workspace",
                    "user": user.name if user else "unknown", "team_id": token.team_id or TEAM_ID,
                    "user_id": token.user_id}
        if enterprise is not None:
            body["enterprise_id"] = enterprise.id
        body["is_enterprise_install"] = token.enterprise_install
        if token.kind == "bot":
            body["bot_id"] = "B0EMULATE1"
        return body

    def _auth_teams_list(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        """The workspaces an org-wide app was added to, paged (REF auth.teams.list: ``limit`` 1-1000,
        default 100; ``cursor``; ``include_icon``; invalid_limit, invalid_cursor). For a workspace token
        the reference is silent; slack_sdk's docstring says "the workspaces a token can access": its own."""
        raw_limit = req.arg("limit")
        try:
            limit = int(raw_limit) if raw_limit not in (None, "") else 100
        except ValueError:
            raise ApiError("invalid_limit") from None
        if not 1 <= limit <= 1000:
            raise ApiError("invalid_limit")
        start = _offset(req.arg("cursor"))
        with self.state.lock:
            enterprise = self.state.enterprise
            ids = (sorted(enterprise.granted) if token.enterprise_install and enterprise is not None
                   else [t for t in [token.team_id or self.state.home_team] if t is not None])
            teams = [self.state.workspaces[t] for t in ids]
        page = teams[start:start + limit]
        items: list[dict[str, Any]] = []
        for w in page:
            item: dict[str, Any] = {"id": w.id, "name": w.name}
            if _flag(req.arg("include_icon")):
                item["icon"] = {**{f"image_{n}": f"https://emulated.slack.com/icons/{w.id}_{n}.png"
                                   for n in (34, 44, 68, 88, 102, 132, 230)}, "image_default": True}
            items.append(item)
        return {"ok": True, "teams": items, "response_metadata": {"next_cursor": _cursor(start + limit, len(teams))}}

    def _users_list(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        limit = _int(req.arg("limit"), 0)
        cursor = req.arg("cursor") or ""
        with self.state.lock:  # this workspace's people, deactivated accounts included (deleted: true)
            users = self.state.people_of(token.team_id or TEAM_ID)
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
        return {"ok": True, "members": [u.as_json(self.state.enterprise) for u in page],
                "cache_ts": int(self.clock.now().timestamp()),
                "response_metadata": {"next_cursor": next_cursor}}

    def _users_info(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        uid = _required(req, "user")
        user = self.state.users.get(uid)
        if user is None:
            raise ApiError("user_not_found")
        return {"ok": True, "user": user.as_json(self.state.enterprise)}

    def _lookup_by_email(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        enterprise = self.state.enterprise
        if token.enterprise_install and enterprise is not None and enterprise.lookup_by_email_restricted:
            raise ApiError("enterprise_is_restricted")
        email = _required(req, "email")
        user = self.state.user_by_email(email)
        if user is None or user.deleted:  # deactivated accounts are not found by e-mail
            raise ApiError("users_not_found")
        return {"ok": True, "user": user.as_json(enterprise)}

    def _usergroups_list(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        include_users = _flag(req.arg("include_users"))
        include_disabled = _flag(req.arg("include_disabled"))
        include_count = _flag(req.arg("include_count"))
        with self.state.lock:  # the workspace's own groups
            groups = [g.as_json(include_users, include_count) for g in self.state.groups_in(token.team_id or TEAM_ID)
                      if include_disabled or not g.date_delete]
        return {"ok": True, "usergroups": groups}

    def _group(self, req: Request, token: TokenRecord) -> UserGroupRecord:
        """The group named by ``usergroup`` in the call's workspace: one of another workspace does not
        exist there (no_such_subteam, GRID §2)."""
        gid = _required(req, "usergroup")
        group = self.state.groups.get(gid)
        if group is None or group.team_id != (token.team_id or TEAM_ID):
            raise ApiError("no_such_subteam")
        return group

    def _usergroups_users_list(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        group = self._group(req, token)
        if group.date_delete and not _flag(req.arg("include_disabled")):
            raise ApiError("no_such_subteam")
        return {"ok": True, "users": list(group.users)}

    def _check_may_edit(self, token: TokenRecord) -> None:
        """A workspace that lets only some people manage groups refuses bot tokens (REF usergroups.*:
        permission_denied; GRID §5: a bot token works only when the setting is "everyone")."""
        workspace = self.state.workspaces.get(token.team_id or "")
        if workspace is not None and workspace.admins_only_edit_groups and token.kind != "user":
            raise ApiError("permission_denied")

    def _usergroups_users_update(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        group = self._group(req, token)
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
            # ... when one is a user of the organisation outside the group's workspace (Slack's answer
            # does not say which: the method reference documents no more than the code; whether
            # Slack applies the rest is [unverified], GRID §7: the safe assumption, nothing) ...
            if any(group.team_id not in self.state.users[u].teams for u in ids):
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
        """A new group in the call's workspace (REF usergroups.create): ``name`` and ``handle`` unique
        there ("already in use on this workspace"), ``description``, default ``channels``."""
        name = _required(req, "name")
        handle = req.arg("handle") or name.lower().replace(" ", "-")
        self._check_may_edit(token)
        team = token.team_id or TEAM_ID
        with self.state.lock:
            self._check_unique(team, name, handle, None)
            description = _description(req.arg("description") or "")
            channels = self._default_channels(req.arg("channels"))
            group = self.state.add_group(handle, name, team_id=team, description=description, channels=channels)
            group.created_by = group.updated_by = token.user_id
            group.date_update = int(self.clock.now().timestamp())
            return {"ok": True, "usergroup": group.as_json(False)}

    def _check_unique(self, team: str, name: str | None, handle: str | None, group: UserGroupRecord | None) -> None:
        """A name must be unique among the workspace's groups, a handle "among channels, users and User
        Groups" (REF usergroups.create, args and errors "... already in use on this workspace"). Disabled
        groups keep theirs. usergroups.update documents neither code: it answers the same ones."""
        others = [g for g in self.state.groups_in(team) if g is not group]
        if name is not None and any(g.name == name for g in others):
            raise ApiError("name_already_exists")
        if handle is not None and (any(g.handle == handle for g in others)
                                   or any(c.name == handle for c in self.state.channels.values() if c.team_id == team)
                                   or any(u.name == handle and not u.deleted for u in self.state.people_of(team))):
            raise ApiError("handle_already_exists")

    def _default_channels(self, raw: str | None) -> list[str]:
        """``channels``: comma-separated channel ids, possibly empty (REF: "encoded channel IDs", an empty
        string allowed). Not a channel of the organisation: invalid_channel_provided (documented on
        usergroups.create; usergroups.update's reference is silent and answers the same)."""
        ids = [c.strip() for c in (raw or "").split(",") if c.strip()]
        for cid in ids:
            channel = self.state.channels.get(cid)
            if channel is None or channel.im_user is not None:
                raise ApiError("invalid_channel_provided")
        return list(dict.fromkeys(ids))

    def _usergroups_update(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        group = self._group(req, token)
        self._check_may_edit(token)
        with self.state.lock:
            self._check_unique(group.team_id, req.arg("name"), req.arg("handle"), group)
            description = req.arg("description")
            channels = self._default_channels(req.arg("channels")) if req.arg("channels") is not None else None
            max_channels = self.state.workspaces[group.team_id].max_linked_channels
            if channels is not None and max_channels is not None and len(channels) > max_channels:
                raise ApiError("too_many_linked_channels")
            for key in ("name", "handle"):
                if req.arg(key):
                    setattr(group, key, req.arg(key))
            if description is not None:
                group.description = _description(description)
            if channels is not None:
                group.channels = channels
            group.date_update = int(self.clock.now().timestamp())
            group.updated_by = token.user_id
            return {"ok": True, "usergroup": group.as_json(False)}

    def _set_enabled(self, req: Request, token: TokenRecord, enabled: bool) -> dict[str, Any]:
        """usergroups.enable / usergroups.disable: idempotent (REF documents no error for a group already
        so); a disabled group has ``date_delete`` set and ``deleted_by``."""
        group = self._group(req, token)
        self._check_may_edit(token)
        with self.state.lock:
            now = int(self.clock.now().timestamp())
            if enabled != (group.date_delete == 0):
                group.date_delete = 0 if enabled else now
                group.deleted_by = None if enabled else token.user_id
                group.date_update, group.updated_by = now, token.user_id
            return {"ok": True, "usergroup": group.as_json(False)}

    def _channel(self, req: Request, token: TokenRecord, member: bool = False,
                 by_name_error: str = "channel_not_found") -> ChannelRecord:
        """The channel named by ``channel``: a private one the bot is not in does not exist for it;
        ``member``: the call needs the bot in the channel (posting, setting the topic).

        A name is looked up in the token's workspace; an org-level token cannot name a channel by
        name (chat.postMessage documents team_not_found for it, GRID §2; the other methods, silent,
        answer channel_not_found). A workspace token does not see another workspace's channels,
        except the app's direct messages."""
        ref = _required(req, "channel").lstrip("#")
        if token.enterprise_install and ref not in self.state.channels and not CHANNEL_ID.match(ref):
            raise ApiError(by_name_error)
        channel = self.state.channel(ref, team_id=token.team_id)
        if channel is not None and token.team_id is not None and channel.im_user is None \
                and channel.team_id != token.team_id:
            channel = None
        if channel is None or (channel.is_private and not channel.bot_member):
            raise ApiError("channel_not_found")
        if channel.is_archived:
            raise ApiError("is_archived")
        if member and not channel.bot_member:
            raise ApiError("not_in_channel")
        return channel

    def _post_message(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        channel = self._channel(req, token, member="chat:write.public" not in token.scopes,
                                by_name_error="team_not_found")
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
        channel = self._channel(req, token)
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
        channel = self._channel(req, token)
        user = _required(req, "user")
        if not req.arg("text") and not req.arg("blocks"):
            raise ApiError("no_text")
        ts = f"{self.clock.now().timestamp():.6f}"
        with self.state.lock:
            self.state.messages.append({"channel": channel.id, "ephemeral_to": user, "text": req.arg("text"), "ts": ts})
        return {"ok": True, "message_ts": ts}

    def _set_topic(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        channel = self._channel(req, token, member=True)
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
                channel = ChannelRecord(self.state._next_id("D"), "", is_private=True, im_user=user.id,
                                        team_id=token.team_id or user.team(self.state.enterprise))
                self.state.channels[channel.id] = channel
        return {"ok": True, "channel": {"id": channel.id}}

    def dms_to(self, user_id: str) -> list[dict[str, Any]]:
        """The messages the app sent to one user in its direct message with them."""
        with self.state.lock:
            ims = {c.id for c in self.state.channels.values() if c.im_user == user_id}
            return [m for m in self.state.messages if m["channel"] in ims]

    def _conversation_info(self, req: Request, token: TokenRecord) -> dict[str, Any]:
        return {"ok": True, "channel": self._channel_json(self._channel(req, token))}

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
            team = token.team_id or TEAM_ID
            channels = sorted((c for c in self.state.channels.values() if c.im_user is None and c.team_id == team
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


def _domain(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "workspace"


def _description(text: str) -> str:
    """A group's description as Slack keeps it: newlines stripped; more than DESCRIPTION_LIMIT
    characters is description_too_long (REF usergroups.create; the number and the stripping are
    [field], see DESCRIPTION_LIMIT)."""
    text = text.replace("\r", "").replace("\n", "")
    if len(text) > DESCRIPTION_LIMIT:
        raise ApiError("description_too_long")
    return text


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.b64decode(cursor, validate=True).decode().removeprefix("offset:"))
    except ValueError:
        raise ApiError("invalid_cursor") from None


def _cursor(offset: int, total: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode() if offset < total else ""


def _arg_names(req: Request) -> list[str]:
    names = list(req.query) + list(req.form)
    if isinstance(req.json, dict):
        names += list(req.json)
    return list(dict.fromkeys(names))


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
