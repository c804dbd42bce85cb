"""`slackgenie check`: a pre-flight checklist, one line per item, the fix named for each failure."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError

from slackgenie.clock import Clock
from slackgenie.config import Config
from slackgenie.plan import map_identity
from slackgenie.service import build
from slackgenie.slack.client import error_code
from slackgenie.slack.usergroups import list_groups
from slackgenie.sources.opsgenie import OpsgenieAuthError, OpsgenieError

REQUIRED_SCOPES = {
    "usergroups:read": "read user groups and their members",
    "usergroups:write": "set a group's members",
    "users:read": "read users",
    "users:read.email": "match Opsgenie e-mails to Slack users",
}


@dataclass(frozen=True)
class Item:
    ok: bool
    what: str
    fix: str = ""

    def line(self) -> str:
        mark = "\u2713" if self.ok else "\u2717"
        return f"{mark} {self.what}" + ("" if self.ok else f"\n    fix: {self.fix}")


def checklist(config: Config, clock: Clock | None = None) -> Iterator[Item]:
    yield Item(True, f"configuration {config.path} is valid ({len(config.syncs)} group(s))")
    service = build(config, clock=clock)
    try:
        yield from _slack(config, service)
        yield from _opsgenie(config, service)
    finally:
        service.close()


def _slack(config: Config, service) -> Iterator[Item]:  # type: ignore[no-untyped-def]
    slack = service.slack
    try:
        auth = slack.auth_test()
    except SlackApiError as exc:
        code = error_code(exc)
        yield Item(False, f"Slack token rejected: {code}",
                   "set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-…) or an admin's user token (xoxp-…)")
        return
    except Exception as exc:
        yield Item(False, f"Slack API unreachable at {config.secrets.slack_api_url}: {type(exc).__name__}",
                   "check SLACK_API_URL and the network path to Slack")
        return
    kind = "bot" if auth.get("bot_id") else "user"
    yield Item(True, f"Slack token valid ({kind} token for {auth.get('user')} in {auth.get('team')})")
    header = next((v for k, v in (auth.headers or {}).items() if k.lower() == "x-oauth-scopes"), None)
    if isinstance(header, list):
        header = header[0] if header else ""
    granted = {s.strip() for s in (header or "").split(",") if s.strip()}
    for scope, why in REQUIRED_SCOPES.items():
        if header is None:
            yield Item(False, f"Slack scope {scope}: cannot tell (no x-oauth-scopes header)",
                       "check the app's scopes under OAuth & Permissions")
        elif scope in granted:
            yield Item(True, f"Slack scope {scope}")
        else:
            yield Item(False, f"Slack scope {scope} is missing (needed to {why})",
                       f"add {scope} under OAuth & Permissions -> Scopes, then reinstall the app")
    try:
        groups = list_groups(slack)
    except SlackApiError as exc:
        yield Item(False, f"Slack user groups cannot be read: {error_code(exc)}",
                   "grant usergroups:read; user groups need a paid Slack plan")
        groups = None
    if groups is not None:
        for sync in config.syncs:
            group = groups.get(sync.usergroup)
            if group is None:
                yield Item(False, f"user group @{sync.usergroup} does not exist in Slack",
                           f"create @{sync.usergroup} in Slack, or correct 'usergroup' in {config.path}")
            elif group.disabled:
                yield Item(False, f"user group @{sync.usergroup} is disabled in Slack", "enable it in Slack")
            else:
                yield Item(True, f"user group @{sync.usergroup} exists ({len(group.members)} members)")
    directory = service.directory
    identities = sorted({i for s in config.syncs for i in (*s.users, *s.fallback)}
                        | {map_identity(k, config.file.users) for k in config.file.users})
    with ThreadPoolExecutor(max_workers=config.file.concurrency) as pool:
        resolved = directory.resolve_many(identities, pool)
    for identity in identities:
        r = resolved[identity]
        if r.ok:
            yield Item(True, f"user {identity} is Slack user {r.user.id}")
        elif "missing_scope" in (r.problem or ""):
            yield Item(False, f"user {identity} cannot be looked up: {r.problem}",
                       "grant users:read.email (and users:read), then reinstall the app")
        else:
            yield Item(False, f"user {identity}: {r.problem}",
                       f"correct it in {config.path}, or give the person a Slack account with that e-mail")


def _opsgenie(config: Config, service) -> Iterator[Item]:  # type: ignore[no-untyped-def]
    try:
        schedules = service.opsgenie.list_schedules()
    except OpsgenieAuthError as exc:
        yield Item(False, f"Opsgenie key rejected: {exc}",
                   "set OPSGENIE_API_KEY to a key with read access to configuration (API key management)")
        return
    except OpsgenieError as exc:
        yield Item(False, f"Opsgenie API not usable at {config.secrets.opsgenie_api_url}: {exc}",
                   "check OPSGENIE_API_URL (EU accounts: https://api.eu.opsgenie.com)")
        return
    yield Item(True, f"Opsgenie key valid ({len(schedules)} schedules visible)")
    by_key = {s["id"]: s for s in schedules} | {s["name"]: s for s in schedules}
    for ref in sorted({r for s in config.syncs for r in s.schedules}):
        found = by_key.get(ref)
        if found is None:
            close = _closest(ref, [s["name"] for s in schedules])
            hint = f" (did you mean {close!r}?)" if close else ""
            yield Item(False, f"Opsgenie schedule {ref!r} not found{hint}",
                       f"correct the schedule name or id in {config.path}")
        elif not found.get("enabled", True):
            yield Item(False, f"Opsgenie schedule {ref!r} is disabled", "enable it in Opsgenie, or remove it")
        else:
            yield Item(True, f"Opsgenie schedule {ref!r} exists")


def _closest(name: str, names: list[str]) -> str | None:
    import difflib

    match = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return match[0] if match else None


def run_check(config: Config, clock: Clock | None = None) -> int:
    ok = True
    for item in checklist(config, clock):
        print(item.line(), flush=True)
        ok &= item.ok
    print("All checks passed." if ok else "Some checks failed.")
    return 0 if ok else 1
