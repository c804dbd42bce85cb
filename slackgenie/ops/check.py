"""`slackgenie check`: a pre-flight checklist, one line per item, the fix named for each failure."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from slackgenie.core.clock import Clock
from slackgenie.core.durations import format_duration
from slackgenie.core.model import PROVIDER_TITLES, ReadFailure, describe_key, level_ref, schedule_key
from slackgenie.core.plan import map_identity
from slackgenie.core.shifts import covered, gaps
from slackgenie.environment import ProviderSecrets
from slackgenie.ops.check_lease import lease_items
from slackgenie.settings import Config, ConfigError
from slackgenie.slack import probe
from slackgenie.slack.directory import needs_scope
from slackgenie.slack.errors import explain
from slackgenie.sources.base import Look
from slackgenie.sources.http import SourceAuthError
from slackgenie.sources.providers import PROVIDERS
from slackgenie.wiring import Service, build, source_for


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
    lease = [Item(ok, what, fix) for ok, what, fix in lease_items(config, env)]  # before build: it needs them
    yield from lease
    if any(not item.ok for item in lease[:1]):
        return  # no Kubernetes credentials: nothing else can be built
    service = build(config, clock=clock, settle=False)
    try:
        yield from _slack(config, service)
        for provider in service.providers:
            yield from _provider(config, service, provider)
        if "opsgenie" in config.file.providers:
            yield from _migration(config, service, env or {})
        if gaps is not None:
            yield from _gaps(config, service, service.clock.now(), gaps)
    finally:
        service.close()


def _provider(config: Config, service: Service, provider: str) -> Iterator[Item]:
    refs = sorted({ref for s in config.syncs if s.provider == provider for ref in s.schedules})
    looks = {ref: service.look(schedule_key(provider, ref)) for ref in refs}
    if refs and all(look is not None for look in looks.values()):  # read whole: each is its own check
        for look in looks.values():
            yield from _look(config, service, look)
        return
    title = PROVIDER_TITLES[provider]
    credentials, urls = PROVIDERS[provider].credentials, PROVIDERS[provider].urls
    try:
        schedules = service.catalog_of(provider)
    except SourceAuthError as exc:
        yield Item(False, f"{title} credentials rejected: {exc}",
                   f"set {credentials} to credentials that may read schedules and on-call")
        return
    except Exception as exc:
        yield Item(False, f"{title} API not usable: {exc}", f"check {urls}")
        return
    yield Item(True, f"{title} credentials valid ({len(schedules)} schedules visible)")
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
    yield from _levels(config, service, provider)


def _levels(config: Config, service: Service, provider: str) -> Iterator[Item]:
    """Each escalation level a sync names: its recipients, and who each is now."""
    for sync in config.syncs:
        if sync.provider != provider or sync.escalation is None:
            continue
        key = schedule_key(provider, level_ref(sync.escalation.policy, sync.escalation.level))
        view = service.source.level(key, service.clock.now())
        if isinstance(view, ReadFailure):
            yield Item(False, f"@{sync.usergroup}: {describe_key(key)} cannot be read: {view.error}",
                       f"check the policy's name (or id) and level in {config.path}, and that the credentials "
                       "may read escalation policies")
            continue
        for r in view.recipients:
            what = f"@{sync.usergroup}: {view.policy!r} level {view.level}: {r.kind} {r.name!r} ({r.notify})"
            if r.people is None:
                yield Item(False, f"{what}: {r.problem or 'cannot be read as people'}",
                           "change the level in the policy (as the line above says), or name the schedule under "
                           "'schedules'")
            else:
                who = ", ".join(sorted(r.people)) or "nobody, now"
                yield Item(True, f"{what} is now: {who}")


def _look(config: Config, service: Service, look: Look | ReadFailure | None) -> Iterator[Item]:
    """A schedule read whole (a calendar feed): read and parsed, its coming week's shifts counted,
    its people found and matched to Slack."""
    if isinstance(look, ReadFailure):
        yield Item(False, f"cannot read: {look.error}", "check the feed's address (its url_env variable) and that "
                                                       "the feed is still published")
        return
    if look is None:
        return
    title = f" ({look.title!r})" if look.title else ""
    days = format_duration(look.end - look.start)
    if not look.events:
        yield Item(True, f"calendar feed {look.schedule!r}{title} read: no shift in the next {days}", info=True)
        return
    yield Item(True, f"calendar feed {look.schedule!r}{title} read: {look.events} shift(s) in the next {days}, "
                     f"{len(look.people)} people: {', '.join(sorted(look.people))}")
    people = {p: map_identity(p, config.file.users) for p in sorted(look.people)}
    found = service.resolve_many(set(people.values()))
    for person, identity in people.items():
        r = found[identity]
        if r.user is None:
            yield Item(False, f"calendar feed {look.schedule!r}: {person}: {r.problem}",
                       "map the name under users: (name -> Slack e-mail or id), or give the person a Slack "
                       "account with that e-mail")


def migration_secrets(config: Config, env: Mapping[str, str]) -> list[str]:
    """The secrets the migration check reads besides the configuration's (JSM Ops' when no sync
    uses it yet), so that they are hidden from every output from the start."""
    found = _jsm_secrets(config, env)
    return found.values() if found is not None and not isinstance(found, ConfigError) else []


def _jsm_secrets(config: Config, env: Mapping[str, str]) -> ProviderSecrets | ConfigError | None:
    secrets = config.secrets.providers.get("jsm")
    if secrets is not None or not env.get("JSM_SITE_URL"):
        return secrets
    try:
        return PROVIDERS["jsm"].load(env, config.file.block("jsm"))
    except ConfigError as exc:
        return exc


def _migration(config: Config, service: Service, env: Mapping[str, str]) -> Iterator[Item]:
    """For a team moving to JSM Ops: which Opsgenie schedules have a JSM Ops twin of the same
    name, so each group's switch is its one ``provider: jsm`` line."""
    secrets = _jsm_secrets(config, env)
    if secrets is None:
        return
    if isinstance(secrets, ConfigError):
        yield Item(False, f"migration to JSM Ops: {secrets.key} {secrets.problem}", secrets.fix)
        return
    jsm = source_for(config, "jsm", secrets)
    try:
        twins = {s.name: s for s in jsm.catalog()}
    except Exception as exc:
        yield Item(False, f"migration to JSM Ops: its schedules cannot be listed: {exc}",
                   "check JSM_SITE_URL, JSM_EMAIL and JSM_API_TOKEN")
        return
    finally:
        jsm.close()
    try:  # a schedule named by id in the config is matched by its Opsgenie name
        og_names = {s.id: s.name for s in service.catalog_of("opsgenie")}
    except Exception:
        og_names = {}
    for sync in config.syncs:
        if sync.provider != "opsgenie":
            continue
        for ref in sync.schedules:
            name = og_names.get(ref, ref)
            twin = twins.get(name)
            what = f"Opsgenie schedule {ref!r}" + (f" ({name})" if name != ref else "")
            if twin is not None:
                yield Item(True, f"migration: @{sync.usergroup}: {what} has a JSM Ops twin (id {twin.id}): "
                                 "add `provider: jsm` to this sync to switch", info=True)
            else:
                yield Item(True, f"migration: @{sync.usergroup}: {what} has no JSM Ops schedule of that name yet",
                           info=True)


def _slack(config: Config, service: Service) -> Iterator[Item]:
    token = probe.token(service.slack)
    if isinstance(token, probe.Refused):
        yield Item(False, f"Slack token rejected: {token.code}",
                   "set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-…) or an admin's user token (xoxp-…)")
        return
    if isinstance(token, probe.Unreachable):
        yield Item(False, f"Slack API unreachable at {config.secrets.slack_api_url}: {token.error}",
                   "check SLACK_API_URL and the network path to Slack")
        return
    if token.org:
        yield Item(True, f"Slack token valid (org token: the app is installed on the Enterprise Grid organisation "
                         f"{token.team}, as {token.user})")
    else:
        yield Item(True, f"Slack token valid ({token.kind} token for {token.user} in {token.team})")
    problem = config.workspace_error(token.org, token.team_id)
    if problem is not None:
        yield Item(False, f"{problem.key}: {problem.problem}", problem.fix)
        return
    if token.org:
        service.directory.list_teams = tuple(w for w in config.workspaces if w)
        service.directory.org = True
        yield from _workspaces(config, service)
    yield from _scopes(config, token.scopes)
    yield from _groups(config, service)
    yield from _users(config, service)


def _workspaces(config: Config, service: Service) -> Iterator[Item]:
    """An org-level token: the workspaces the app is deployed to, and each configured one among them."""
    deployed = probe.workspaces(service.slack)
    if isinstance(deployed, probe.Refused):
        yield Item(False, f"the workspaces the app is deployed to cannot be listed (auth.teams.list): {deployed.code}",
                   "check the token: an org-level token of the app installed on the organisation")
        return
    listed = ", ".join(f"{name} ({team})" for team, name in sorted(deployed.items(), key=lambda t: t[1])) or "none"
    yield Item(True, f"the app is deployed to {len(deployed)} workspace(s) of the organisation: {listed}", info=True)
    for team in (w for w in config.workspaces if w):
        groups = ", ".join(f"@{s.usergroup}" for s in config.syncs if s.workspace == team)
        if team in deployed:
            yield Item(True, f"workspace {deployed[team]} ({team}) holds {groups}: the app is deployed to it")
        else:
            yield Item(False, f"workspace {team} holds {groups}, but the app is not deployed to it",
                       "ask an org admin to add the app to that workspace (the organisation's settings, Integrations "
                       "> Installed apps > Add to more workspaces), or correct 'workspace'")


def _scopes(config: Config, granted: frozenset[str] | None) -> Iterator[Item]:
    heads_up = any(s.heads_up for s in config.syncs)
    channel_names = any(c.startswith("#") for s in config.syncs for c in s.channels)
    history = probe.history_scopes(any(s.announce for s in config.syncs), heads_up)
    for scope, why in history.items():  # not required: without them, at most once
        if granted is not None and scope not in granted:
            yield Item(True, f"Slack scope {scope} is not granted: {why} cannot be looked for, so it is not "
                             f"repeated (at most once); add {scope} to let Slackgenie check", info=True)
    for scope, why in probe.needed_scopes(heads_up, channel_names).items():
        if granted is None:
            yield Item(False, f"Slack scope {scope}: cannot tell (no x-oauth-scopes header)",
                       "check the app's scopes under OAuth & Permissions")
        elif scope in granted:
            yield Item(True, f"Slack scope {scope}" + _features(config, scope))
        else:
            yield Item(False, f"Slack scope {scope} is missing (needed to {why})",
                       f"add {scope} under OAuth & Permissions -> Scopes, then reinstall the app")


def _features(config: Config, scope: str) -> str:
    """What the configured features need a scope for, where it is more than the basics."""
    if scope != "usergroups:write":
        return ""
    uses = [f for f, on in (("create: true", any(s.create for s in config.syncs)),
                            ("description", any(s.description is not None for s in config.syncs)),
                            ("channels", any(s.channels for s in config.syncs)),
                            ("when_empty: disable", any(s.when_empty == "disable" for s in config.syncs))) if on]
    return f" (also for {', '.join(uses)})" if uses else ""


def _groups(config: Config, service: Service) -> Iterator[Item]:
    for team in config.workspaces:
        syncs = [s for s in config.syncs if s.workspace == team]
        groups = probe.user_groups(service.slack, team)
        where = f" in workspace {team}" if team else ""
        if isinstance(groups, probe.Refused):
            yield Item(False, f"Slack user groups{where} cannot be read: {explain(groups.code)}",
                       "grant usergroups:read; user groups need a paid Slack plan")
            continue
        for sync in syncs:
            group = groups.get(sync.usergroup)
            if group is None and sync.create:
                yield Item(True, f"user group @{sync.usergroup} does not exist yet{where}: the first sync creates "
                                 "it (create: true)")
            elif group is None:
                yield Item(False, f"user group @{sync.usergroup} does not exist in Slack{where}",
                           f"create @{sync.usergroup} in Slack, set 'create: true', or correct 'usergroup' in "
                           f"{config.path}")
            elif group.disabled and sync.when_empty == "disable":
                yield Item(True, f"user group @{sync.usergroup} is disabled{where}: enabled again when someone is "
                                 "on call (when_empty: disable)")
            elif group.disabled:
                yield Item(False, f"user group @{sync.usergroup} is disabled in Slack{where}",
                           "enable it in Slack, or set 'when_empty: disable'")
            else:
                yield Item(True, f"user group @{sync.usergroup} exists{where} ({len(group.members)} members)")


def _users(config: Config, service: Service) -> Iterator[Item]:
    identities = sorted({i for s in config.syncs for i in (*s.users, *s.fallback)}
                        | {map_identity(k, config.file.users) for k in config.file.users})
    resolved = service.resolve_many(identities)
    for identity in identities:
        r = resolved[identity]
        if r.user is not None:
            yield Item(True, f"user {identity} is Slack user {r.user.id}")
        elif needs_scope(r):
            yield Item(False, f"user {identity} cannot be looked up: {r.problem}",
                       "grant users:read.email (and users:read), then reinstall the app")
        else:
            yield Item(False, f"user {identity}: {r.problem}",
                       f"correct it in {config.path}, or give the person a Slack account with that e-mail")


def _gaps(config: Config, service: Service, now: datetime, span: timedelta) -> Iterator[Item]:
    """When nobody will be on call in each configured schedule, over the coming ``span``."""
    now = now.replace(microsecond=0)  # the providers answer in whole seconds
    end = now + span
    days = f"{span.days} days" if span.days else f"{span.seconds // 3600} h"
    for key, found in service.source.stretches(service.schedule_keys, now, end).items():
        what = describe_key(key)
        if isinstance(found, ReadFailure):
            yield Item(False, f"coverage of {what} cannot be read: {found.error}",
                       "check the schedule and the provider's credentials (see the lines above)")
            continue
        holes = gaps(covered(found), now, end)
        if not holes:
            yield Item(True, f"{what}: someone is on call throughout the next {days}")
            continue
        listed = "; ".join(f"{_at(a)} to {_at(b)} ({format_duration(b - a)})" for a, b in holes[:5])
        more = f"; and {len(holes) - 5} more" if len(holes) > 5 else ""
        yield Item(True, f"{what}: nobody on call {listed}{more}", info=True)


def _at(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%a %Y-%m-%d %H:%M UTC")


def _closest(name: str, names: list[str]) -> str | None:
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
