"""Identities (e-mail or Slack id) -> Slack users, with a cache so steady state looks nobody up again."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from pathlib import Path
from typing import Annotated, Any

import structlog
from cachetools import TLRUCache
from pydantic import BaseModel, ConfigDict, StrictBool, StringConstraints, ValidationError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from slackgenie.core.ids import SLACK_USER_ID, is_slack_id
from slackgenie.core.model import Resolution, SlackUser
from slackgenie.slack.client import error_code

log = structlog.get_logger("slackgenie.directory")

CACHE_TTL = 24 * 3600.0
CACHE_SIZE = 200_000  # people kept at most: a whole workspace as far as a listing reads one (MAX_LIST_PAGES)
LOOKUP_FAILED = "Slack lookup failed: "
LIST_PAGE = 200  # users.list's largest page
MAX_LIST_PAGES = 1000  # 200,000 people: beyond it, a listing that never ends is an error
# With the workspace's size unknown (a first run), more unknown people than this are found by
# listing the workspace rather than one lookup each.
LIST_WHEN_UNKNOWN = 3
RESTRICTED = "enterprise_is_restricted"  # users.lookupByEmail "called with an inappropriate enterprise-level token"


class Directory:
    """Looks people up in Slack (``users.lookupByEmail``, ``users.info``) and remembers them.

    Only usable people are cached: a miss, a deactivated account or a bot is asked again next
    time, so fixing it in Slack is picked up without a restart. Entries expire after a day, and
    ``forget`` drops them at once when Slack says a cached id is no longer valid.
    """

    def __init__(self, client: WebClient, cache_file: Path | None = None, ttl: float = CACHE_TTL,
                 timer: Callable[[], float] = time.time):
        self.client = client
        self.cache_file = cache_file
        self.ttl = ttl
        self._timer = timer  # wall-clock seconds: when an entry was learnt is kept in the cache file
        self._lock = threading.Lock()
        # identity -> (user, when learnt); each expires ``ttl`` after it was learnt, also when read from the file
        self._by_identity: TLRUCache[str, tuple[SlackUser, float]] = TLRUCache(
            maxsize=CACHE_SIZE, ttu=lambda _key, entry, _now: entry[1] + self.ttl, timer=timer)
        self._dirty = False
        self.workspace_users: int | None = None  # how many people the last full listing held
        self._kept: dict[str, tuple[dict[str, Any], float]] = {}  # other answers worth a day: key -> (value, when)
        # With an org-level token, users.list names the workspace it lists (team_id): those in use.
        self.list_teams: tuple[str | None, ...] = (None,)
        # An org-level token: a person is named by their organisation-wide id (enterprise_user.id),
        # the one the organisation's groups list, whatever id an answer spells them with.
        self.org = False
        self.restricted = False  # users.lookupByEmail refused the org-level token: people are listed instead
        self._load()

    # --- lookups -------------------------------------------------------------------------
    def resolve_many(self, identities: Iterable[str], pool: Executor) -> dict[str, Resolution]:
        """Each identity's Slack user. Many unknown e-mails are found by paging ``users.list``
        (200 people a call) instead of one ``users.lookupByEmail`` each, whichever costs fewer
        calls; the rest, and any the listing could not settle, are looked up one by one."""
        wanted = sorted(set(identities))
        unknown = {i.lower() for i in wanted if "@" in i and self.peek(i) is None}
        listed: dict[str, SlackUser | None] = {}
        if self._listing_is_cheaper(len(unknown)) or (self.restricted and unknown):
            listed = self._list(unknown)
        futures = {i: pool.submit(self.resolve, i, listed) for i in wanted}
        found = {i: f.result() for i, f in futures.items()}
        refused = [i for i, r in found.items() if r.problem == f"{LOOKUP_FAILED}{RESTRICTED}"]
        if refused and not self.restricted:
            # An org-level token Slack does not let look people up by e-mail (GRID §2): from now
            # on they are found by listing the workspaces in use (users.list with their team_id).
            log.warning("directory.lookup_restricted", fallback="users.list of the workspaces in use")
            self.restricted = True
            listed = self._list({i.lower() for i in refused})
            found.update({i: self.resolve(i, listed) for i in refused})
        return found

    def _listing_is_cheaper(self, unknown: int) -> bool:
        if unknown == 0:
            return False
        if self.workspace_users is None:
            return unknown > LIST_WHEN_UNKNOWN
        return -(-max(self.workspace_users, 1) // LIST_PAGE) < unknown

    def _list(self, emails: set[str]) -> dict[str, SlackUser | None]:
        """The workspace's people with these e-mails, from ``users.list``; an e-mail the listing
        settled as absent maps to None. Empty where the listing failed (lookups follow)."""
        found: dict[str, SlackUser | None] = {}
        people = 0
        try:
            for team in self.list_teams:
                people += self._list_team(team, emails, found)
        except Exception as exc:  # a failed listing is no verdict on anyone: look them up instead
            log.warning("directory.list_failed", error=f"{type(exc).__name__}: {exc}", fallback="one lookup each")
            return {}
        with self._lock:
            self.workspace_users = people
            self._dirty = True
        if self.list_teams != (None,) and not self.restricted:
            # An organisation: someone its workspaces do not list may still be one of its people
            # (ids are the organisation's): looked up, not settled as absent.
            return {e: u for e, u in found.items() if u is not None}
        return {e: found.get(e) for e in emails}

    def _list_team(self, team: str | None, emails: set[str], found: dict[str, SlackUser | None]) -> int:
        """One workspace's people (``team``: named with an org-level token) into ``found``; how many."""
        cursor: str | None = None
        people = 0
        for _ in range(MAX_LIST_PAGES):
            page = self.client.users_list(limit=LIST_PAGE, cursor=cursor, team_id=team)
            members = page.get("members")
            if not isinstance(members, list):
                raise ValueError("users.list answered without a list of members")
            for raw in members:
                user = _user(raw, self.org)  # one that does not fit spoils the listing: lookups follow
                people += 1
                email = (user.email or "").lower()
                known = found.get(email)
                if email in emails and (known is None or known.deleted):
                    found[email] = user  # an active account wins over a deactivated one
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        else:
            raise ValueError(f"users.list did not end within {MAX_LIST_PAGES} pages")
        return people

    def resolve(self, identity: str, listed: dict[str, SlackUser | None] | None = None) -> Resolution:
        key = identity.lower() if "@" in identity else identity
        cached = self._cached(key)
        if cached is not None:
            return Resolution(identity, cached)
        if listed and key in listed:
            found = listed[key]
            if found is None:
                return Resolution(identity, problem="no Slack user with this e-mail (or the account is deactivated)")
            return self._usable(identity, key, found)
        try:
            if is_slack_id(identity):
                raw = self.client.users_info(user=identity).get("user")
            else:
                raw = self.client.users_lookupByEmail(email=identity).get("user")
            user = _user(raw, self.org)
        except ValueError as exc:  # an answer that does not fit: not knowing is not a verdict
            return Resolution(identity, problem=str(exc), transient=True)
        except SlackApiError as exc:
            code = error_code(exc)
            if code in ("users_not_found", "user_not_found"):
                return Resolution(identity, problem="no Slack user with this " +
                                  ("id" if is_slack_id(identity) else "e-mail (or the account is deactivated)"))
            return Resolution(identity, problem=f"{LOOKUP_FAILED}{code}", transient=True)
        except Exception as exc:  # connection errors after retries
            return Resolution(identity, problem=f"{LOOKUP_FAILED}{type(exc).__name__}", transient=True)
        return self._usable(identity, key, user)

    def _usable(self, identity: str, key: str, user: SlackUser) -> Resolution:
        if user.deleted:
            return Resolution(identity, problem=f"Slack account {user.id} is deactivated")
        if user.is_bot:
            return Resolution(identity, problem=f"Slack account {user.id} is a bot")
        if user.guest:
            return Resolution(identity, problem=f"Slack account {user.id} is a guest, and guests cannot be in "
                                                "user groups: make them a full member, or map them in 'users'")
        self._remember(key, user)
        return Resolution(identity, user)

    def label(self, user_id: str) -> str:
        """A readable name for a Slack id, from the cache or one ``users.info``; the id if all fails."""
        try:
            return self.user_by_id(user_id).label
        except Exception:
            return user_id

    def peek(self, identity: str) -> SlackUser | None:
        """The cached Slack user for an identity, without asking Slack."""
        return self._cached(identity.lower() if "@" in identity else identity)

    def user_by_id(self, user_id: str) -> SlackUser:
        """The Slack user with this id, from the cache or one ``users.info``."""
        with self._lock:
            self._by_identity.expire()
            for user, _ in self._by_identity.values():
                if user.id == user_id:
                    return user
        user = _user(self.client.users_info(user=user_id).get("user"), self.org)
        self._remember(user.id, user)
        return user

    def forget(self, user_ids: Iterable[str]) -> None:
        ids = set(user_ids)
        with self._lock:
            self._by_identity.expire()
            for key in [k for k, (u, _) in self._by_identity.items() if u.id in ids]:
                self._by_identity.pop(key, None)  # (one that expired meanwhile is gone all the same)
                self._dirty = True

    # --- the cache -----------------------------------------------------------------------
    def kept(self, key: str) -> dict[str, Any] | None:
        """Another answer kept beside the people (the token's kind), while younger than the ttl."""
        with self._lock:
            entry = self._kept.get(key)
            return entry[0] if entry is not None and entry[1] + self.ttl > self._timer() else None

    def keep(self, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._kept[key] = (value, self._timer())
            self._dirty = True

    def _cached(self, key: str) -> SlackUser | None:
        with self._lock:
            entry = self._by_identity.get(key)
            return entry[0] if entry is not None else None

    def _remember(self, key: str, user: SlackUser) -> None:
        with self._lock:
            self._by_identity[key] = (user, self._timer())
            self._dirty = True

    def _load(self) -> None:
        if not self.cache_file or not self.cache_file.is_file():
            return
        try:
            raw = json.loads(self.cache_file.read_text())
            size = raw.get("workspace_users")
            self.workspace_users = size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None
            for key, entry in (raw.get("kept") or {}).items():
                if isinstance(entry, dict) and isinstance(entry.get("value"), dict):
                    self._kept[str(key)] = (entry["value"], float(entry["at"]))
            for key, entry in raw.get("users", {}).items():
                user = SlackUser(**entry["user"])
                if not isinstance(user.id, str) or not SLACK_USER_ID.match(user.id):
                    raise ValueError(f"cached user id {user.id!r} is not a Slack user id")
                self._by_identity[key] = (user, float(entry["at"]))
        except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
            self._by_identity.clear()  # a cache of the wrong shape is no cache: start afresh
            self._kept.clear()
            log.warning("directory.cache_unreadable", file=str(self.cache_file), error=str(exc))

    def save(self) -> None:
        if not self.cache_file or not self._dirty:
            return
        with self._lock:
            self._by_identity.expire()
            data = {"version": 1, "workspace_users": self.workspace_users,
                    "users": {k: {"user": u.__dict__, "at": at} for k, (u, at) in self._by_identity.items()},
                    "kept": {k: {"value": v, "at": at} for k, (v, at) in self._kept.items()
                             if at + self.ttl > self._timer()}}
            self._dirty = False
        try:
            tmp = self.cache_file.with_suffix(".tmp")
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data, indent=1))
            tmp.replace(self.cache_file)
        except OSError as exc:
            log.warning("directory.cache_not_saved", file=str(self.cache_file), error=exc.strerror)


class _Profile(BaseModel):
    model_config = ConfigDict(extra="ignore")
    email: str | None = None
    real_name: str = ""


class _EnterpriseUser(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Annotated[str, StringConstraints(strict=True, pattern=SLACK_USER_ID.pattern)] | None = None


class _User(BaseModel):
    """A Slack user object as ``users.lookupByEmail`` and ``users.info`` document it."""

    model_config = ConfigDict(extra="ignore")
    id: Annotated[str, StringConstraints(strict=True, pattern=SLACK_USER_ID.pattern)]
    name: str = ""
    real_name: str = ""
    profile: _Profile = _Profile()
    deleted: StrictBool = False
    is_bot: StrictBool = False
    is_restricted: StrictBool = False
    is_ultra_restricted: StrictBool = False
    tz: str | None = None
    enterprise_user: _EnterpriseUser | None = None


def _user(raw: object, org: bool = False) -> SlackUser:
    """A Slack user from an API answer; ValueError if it does not fit (never a guessed person).
    ``org``: named by their organisation-wide id where the answer gives one (Enterprise Grid: a
    person who was in a workspace before it joined the organisation may be answered with their old
    local id too; the organisation's groups hold the global one, so a group never flaps between
    two spellings of one person)."""
    try:
        u = _User.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"Slack's user answer is malformed at {'.'.join(map(str, first['loc'])) or '(user)'}") from None
    uid = u.enterprise_user.id if org and u.enterprise_user is not None and u.enterprise_user.id else u.id
    return SlackUser(id=uid, name=u.name, email=u.profile.email, real_name=u.real_name or u.profile.real_name,
                     deleted=u.deleted, is_bot=u.is_bot, tz=u.tz, guest=u.is_restricted or u.is_ultra_restricted)


def needs_scope(resolution: Resolution) -> bool:
    """Whether a look-up failed because the token lacks a scope (users:read.email, users:read)."""
    return resolution.problem == f"{LOOKUP_FAILED}missing_scope"
