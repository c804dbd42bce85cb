"""`slackgenie check`: a pre-flight checklist, one line per item, the fix named for each failure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from slack_sdk.errors import SlackApiError

from slackgenie.retry import Stop
from slackgenie.core.clock import Clock, RealClock
from slackgenie.core.durations import format_duration
from slackgenie.settings import Config, ConfigError
from slackgenie.core.plan import map_identity
from slackgenie.wiring import build
from slackgenie.core.shifts import covered, gaps
from slackgenie.slack.client import error_code
from slackgenie.slack.usergroups import list_groups
from slackgenie.core.model import PROVIDER_TITLES, ReadFailure, describe_key
from slackgenie.telemetry.logging import REDACTOR
from slackgenie.sources.http import SourceAuthError
from slackgenie.sources.providers import PROVIDERS
from slackgenie.sources.routed import RoutedSource

REQUIRED_SCOPES = {
    "usergroups:read": "read user groups and their members",
    "usergroups:write": "set a group's members",
    "users:read": "read users",
    "users:read.email": "match on-call people's e-mails to Slack users",
}

HEADS_UP_SCOPES = {  # only when some sync has `heads_up`
    "im:write": "open a direct message for each heads-up",
    "chat:write": "send the heads-up DMs",
}


def _history_scopes(config: Config) -> dict[str, str]:
    """The scopes that let a pass look for a post whose answer was lost (slack/delivery.py)."""
    out = {}
    if any(s.announce for s in config.syncs):
        out["channels:history"] = "an announcement whose answer was lost"
    if any(s.heads_up for s in config.syncs):
        out["im:history"] = "a heads-up DM whose answer was lost"
    return out


@dataclass(frozen=True)
class Item:
    ok: bool
    what: str
    fix: str = ""
    info: bool = False  # a line to know, not a check that can fail

    def line(self) -> str:
        mark = "\u2022" if self.info else "\u2713" if self.ok else "\u2717"
        return f"{mark} {self.what}" + ("" if self.ok else f"\n    fix: {self.fix}")




def checklist(config: Config, clock: Clock | None = None, env: Mapping[str, str] | None = None,
              gaps: timedelta | None = None) -> Iterator[Item]:
    yield Item(True, f"configuration {config.path} is valid ({len(config.syncs)} group(s))")
    service = build(config, clock=clock)
    try:
        yield from _slack(config, service)
        for provider in sorted(service.source.sources):
            yield from _provider(config, service.source, provider)
        if "opsgenie" in config.file.providers:
            yield from _migration(config, service.source, env or {})
        if gaps is not None:
            yield from _gaps(config, service.source, service.clock.now(), gaps)
    finally:
        service.close()


def _provider(config: Config, source: RoutedSource, provider: str) -> Iterator[Item]:
    title = PROVIDER_TITLES[provider]
    credentials, urls = PROVIDERS[provider].credentials, PROVIDERS[provider].urls
    try:
        schedules = source.catalog_of(provider)
    except SourceAuthError as exc:
        yield Item(False, f"{title} credentials rejected: {exc}",
                   f"set {credentials} to credentials that may read schedules and on-call")
        return
    except Exception as exc:
        yield Item(False, f"{title} API not usable: {exc}", f"check {urls}")
        return
    yield Item(True, f"{title} credentials valid ({len(schedules)} schedules visible)")
    refs = sorted({ref for s in config.syncs if s.provider == provider for ref in s.schedules})
    for ref in refs:
        by_id = [s for s in schedules if s.id == ref]
        by_name = [s for s in schedules if s.name == ref]
        found = by_id or by_name
        if not found:
            close = _closest(ref, [s.name for s in schedules])
            hint = f" (did you mean {close!r}?)" if close else ""
            yield Item(False, f"{title} schedule {ref!r} not found{hint}",
                       f"correct the schedule name or id in {config.path}")
        elif len(found) > 1:
            yield Item(False, f"{title} has {len(found)} schedules named {ref!r}",
                       f"name it by id in {config.path}: " + ", ".join(s.id for s in found))
        elif not found[0].enabled:
            yield Item(False, f"{title} schedule {ref!r} is disabled", f"enable it in {title}, or remove it")
        else:
            yield Item(True, f"{title} schedule {ref!r} exists" + ("" if by_id else f" (id {found[0].id})"))


def _migration(config: Config, source: RoutedSource, env: Mapping[str, str]) -> Iterator[Item]:
    """For a team moving to JSM Ops: which Opsgenie schedules have a JSM Ops twin of the same
    name, so each group's switch is its one ``provider: jsm`` line."""
    secrets = config.secrets.providers.get("jsm")
    if not env.get("JSM_SITE_URL") and secrets is None:
        return
    if secrets is None:
        try:
            secrets = PROVIDERS["jsm"].load(env, config.file.block("jsm"))
            REDACTOR.add(*secrets.values())  # read here first: never shown, like every other secret
        except ConfigError as exc:
            yield Item(False, f"migration to JSM Ops: {exc.key} {exc.problem}", exc.fix)
            return
    jsm = PROVIDERS["jsm"].build(secrets, config.source_options("jsm"), RealClock(), None, Stop())  # check asks no stop of it
    try:
        twins = jsm.catalog()
    except Exception as exc:
        yield Item(False, f"migration to JSM Ops: its schedules cannot be listed: {exc}",
                   "check JSM_SITE_URL, JSM_EMAIL and JSM_API_TOKEN")
        return
    finally:
        jsm.close()
    names = {s.name: s for s in twins}
    try:  # a schedule named by id in the config is matched by its Opsgenie name
        og_names = {s.id: s.name for s in source.catalog_of("opsgenie")}
    except Exception:
        og_names = {}
    for sync in config.syncs:
        if sync.provider != "opsgenie":
            continue
        for ref in sync.schedules:
            name = og_names.get(ref, ref)
            twin = names.get(name)
            what = f"Opsgenie schedule {ref!r}" + (f" ({name})" if name != ref else "")
            if twin is not None:
                yield Item(True, f"migration: @{sync.usergroup}: {what} has a JSM Ops twin (id {twin.id}): "
                                 "add `provider: jsm` to this sync to switch", info=True)
            else:
                yield Item(True, f"migration: @{sync.usergroup}: {what} has no JSM Ops schedule of that name yet",
                           info=True)


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
    needed = dict(REQUIRED_SCOPES)
    if any(s.heads_up for s in config.syncs):
        needed.update(HEADS_UP_SCOPES)
    for scope, why in _history_scopes(config).items():  # not required: without them, at most once
        if header is not None and scope not in granted:
            yield Item(True, f"Slack scope {scope} is not granted: {why} cannot be looked for, so it is not "
                             f"repeated (at most once); add {scope} to let Slackgenie check", info=True)
    for scope, why in needed.items():
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


def _gaps(config: Config, source: RoutedSource, now: datetime, span: timedelta) -> Iterator[Item]:
    """When nobody will be on call in each configured schedule, over the coming ``span``."""
    now = now.replace(microsecond=0)  # the providers answer in whole seconds
    end = now + span
    keys = sorted({k for s in config.syncs for k in s.keys})
    days = f"{span.days} days" if span.days else f"{span.seconds // 3600} h"
    for key, found in source.stretches(keys, now, end).items():
        what = describe_key(key)
        if isinstance(found, ReadFailure):
            yield Item(False, f"coverage of {what} cannot be read: {found.error}",
                       "check the schedule and the provider's credentials (see the lines above)")
            continue
        holes = gaps(covered(found), now, end)
        if not holes:
            yield Item(True, f"{what}: someone is on call throughout the next {days}")
            continue
        listed = "; ".join(f"{_at(a)} to {_at(b)} ({_length(b - a)})" for a, b in holes[:5])
        more = f"; and {len(holes) - 5} more" if len(holes) > 5 else ""
        yield Item(True, f"{what}: nobody on call {listed}{more}", info=True)


def _at(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%a %Y-%m-%d %H:%M UTC")


def _length(d: timedelta) -> str:
    return format_duration(d)


def _closest(name: str, names: list[str]) -> str | None:
    import difflib

    match = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return match[0] if match else None


def run_check(config: Config, clock: Clock | None = None, env: Mapping[str, str] | None = None,
              gaps: timedelta | None = None) -> int:
    ok = True
    for item in checklist(config, clock, env, gaps):
        print(item.line(), flush=True)
        ok &= item.ok
    print("All checks passed." if ok else "Some checks failed.")
    return 0 if ok else 1
