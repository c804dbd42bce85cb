"""Pure planning: desired + actual + policies -> what to change, group by group.

Nothing here does I/O. Two steps, because Slack ids are only known after the identities
are resolved:

1. ``desired_for``: schedule reads + static users + the ``when_empty`` policy -> identities.
2. ``plan_group``: identities resolved to Slack users + the group Slack has -> a ``GroupPlan``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from slackgenie.core.model import (Sync, PROVIDER_TITLES, Action, ActualGroup, Desired, GroupEdit, GroupPlan, OnCall,
                                  ReadFailure, Resolution, describe_key, parse_level, split_key)


def map_identity(username: str, user_map: Mapping[str, str]) -> str:
    """An Opsgenie username (an e-mail) -> the Slack identity to look up (e-mail or Slack id)."""
    return user_map.get(username, user_map.get(username.lower(), username))


# --- when nobody is on call -------------------------------------------------------------
# Slack refuses an empty user group, so "nobody" needs a deliberate answer. Each policy is a
# tiny function from the group's config to the desired state for that case.

def _keep(sync: Sync, user_map: Mapping[str, str]) -> Desired:
    return Desired(warnings=("nobody is on call; members left as they are (when_empty: keep)",))


def _fallback(sync: Sync, user_map: Mapping[str, str]) -> Desired:
    return Desired(
        identities=frozenset(map_identity(u, user_map) for u in sync.fallback),
        warnings=("nobody is on call; using the fallback members (when_empty: fallback)",),
    )


def _disable(sync: Sync, user_map: Mapping[str, str]) -> Desired:
    return Desired(disable=True, warnings=("nobody is on call; the group is disabled until someone is "
                                           "(when_empty: disable)",))


WHEN_EMPTY: dict[str, Callable[[Sync, Mapping[str, str]], Desired]] = {
    "keep": _keep,
    "fallback": _fallback,
    "disable": _disable,
}

DESCRIPTION_LIMIT = 140  # characters Slack keeps in a group's description (newlines it strips)


def describe(template: str, names: Iterable[str], until: datetime | None) -> str:
    """A group's description: ``{names}`` -> who is on call now, ``{until}`` -> the next handoff
    (UTC); plain text on one line, cut to Slack's limit (names first, with an ellipsis)."""
    who = ", ".join(names) or "nobody"
    when = until.astimezone(timezone.utc).strftime("%a %d %b %H:%M UTC") if until is not None else "further notice"
    text = " ".join(template.format_map({"names": who, "until": when}).split())
    return text if len(text) <= DESCRIPTION_LIMIT else text[:DESCRIPTION_LIMIT - 1].rstrip() + "…"


@dataclass(frozen=True)
class Look:
    """What a group should look like beside its members: its description (rendered) and default
    channels (ids); None: not managed, or not known this pass (then left as it is)."""

    until: datetime | None = None  # the next handoff, for {until}
    channels: tuple[str, ...] | None = None


def desired_for(
    sync: Sync,
    reads: Mapping[str, OnCall | ReadFailure],
    user_map: Mapping[str, str],
) -> Desired:
    """Who should be in the group. Any failed read makes the whole answer untrustworthy."""
    errors: list[str] = []
    warnings: list[str] = []
    on_call: set[str] = set()
    why_unmapped: dict[str, str] = {}
    for key in sync.keys:
        read = reads.get(key)
        if read is None:
            errors.append(f"{describe_key(key)} was not read")
        elif isinstance(read, ReadFailure):
            errors.append(f"{describe_key(key)} could not be read: {read.error}")
        else:
            if not read.enabled:
                title = PROVIDER_TITLES[split_key(key)[0]]
                behind = "the schedule behind " if parse_level(split_key(key)[1]) is not None else "schedule "
                warnings.append(f"{behind}{read.schedule_name!r} is disabled in {title}")
            on_call |= read.usernames
            why_unmapped.update(read.needs_mapping)
    if errors:
        return Desired(errors=tuple(errors), warnings=tuple(warnings))

    # A person the provider names only by its own id (an Atlassian account whose e-mail is
    # hidden) is on call all the same: unless `users:` maps that id, nobody can say who they
    # are in Slack. They count as unmatched people, never as "nobody".
    unmappable = tuple(sorted((u, f"{why}: map {u!r} to their Slack e-mail under 'users:'")
                              for u, why in why_unmapped.items() if u in on_call and map_identity(u, user_map) == u))
    mapped = {map_identity(u, user_map) for u in on_call if u not in dict(unmappable)}
    identities = mapped | set(sync.users)
    if not identities and not unmappable:  # nobody on call and no static members: the policy decides
        empty = WHEN_EMPTY[sync.when_empty](sync, user_map)
        return Desired(identities=empty.identities, warnings=tuple(warnings) + empty.warnings, disable=empty.disable)
    return Desired(identities=frozenset(identities), on_call=frozenset(on_call), warnings=tuple(warnings),
                   unmappable=unmappable)


def _to_create(sync: Sync, desired: Desired, resolutions: Mapping[str, Resolution], look: Look | None,
               failed: GroupPlan) -> GroupPlan:
    """A group Slack does not have: created with its look, then filled (with ``create: true``)."""
    handle = sync.usergroup
    if not sync.create:
        return replace(failed, errors=(f"user group @{handle} does not exist in Slack: create it, set "
                                       "'create: true', or correct 'usergroup'",))
    plan = plan_group(sync, desired, resolutions, ActualGroup(id="", handle=handle, members=frozenset()), look)
    if plan.action is Action.FAILED:
        return replace(plan, group_id=None)
    made = _look(sync, plan, resolutions, look, None)
    create = GroupEdit("create", name=sync.name or handle, description=made.description, channels=made.channels)
    rest = tuple(e for e in plan.edits if e.kind == "disable")  # created while nobody is on call
    return replace(plan, group_id=None, edits=(create, *rest))


def plan_group(
    sync: Sync,
    desired: Desired,
    resolutions: Mapping[str, Resolution],
    actual: ActualGroup | None,
    look: Look | None = None,
) -> GroupPlan:
    handle = sync.usergroup
    failed = GroupPlan(handle=handle, action=Action.FAILED, on_call=desired.on_call, warnings=desired.warnings)
    if actual is None:
        return _to_create(sync, desired, resolutions, look, failed)
    # From here on, a plan that changes nothing keeps the group as it is.
    failed = replace(failed, group_id=actual.id, current=actual.members, desired=actual.members)
    if actual.problem:
        return replace(failed, errors=(f"user group @{handle}: {actual.problem}; group left as it is",))
    managed = sync.when_empty == "disable"
    if actual.disabled and not managed:
        return replace(failed, errors=(f"user group @{handle} is disabled in Slack: enable it to let Slackgenie "
                                       "manage it (or set 'when_empty: disable')",))
    if desired.errors:
        return replace(failed, errors=desired.errors)
    if desired.disable:  # nobody on call, when_empty: disable
        return replace(failed, action=Action.KEEP if not actual.disabled else Action.IN_SYNC,
                       edits=() if actual.disabled else (GroupEdit("disable"),))
    if not desired.identities and not desired.unmappable:
        # when_empty: keep. Never send Slack an empty list; never guess.
        return replace(failed, action=Action.KEEP)

    failed_lookups = sorted(i for i in desired.identities if (r := resolutions.get(i)) is not None and r.transient)
    if failed_lookups:
        # Not knowing who someone is in Slack is a read error, not a verdict: change nothing.
        problems = tuple(f"{i}: {resolutions[i].problem}" for i in failed_lookups)
        return replace(failed, errors=("could not look up every member in Slack; group left as it is",) + problems)
    members, unresolved = resolve_all(desired.identities, resolutions)
    unresolved = sorted([*unresolved, *desired.unmappable])
    errors = tuple(f"{identity} has no usable Slack account: {problem}" for identity, problem in unresolved)
    if not members:
        errors += ("no on-call person could be matched to a Slack user; group left as it is",)
        return replace(failed, errors=errors)
    action = Action.IN_SYNC if members == actual.members else Action.UPDATE
    plan = replace(failed, action=action, desired=members, errors=errors)
    edits = [GroupEdit("enable")] if actual.disabled else []
    made = _look(sync, plan, resolutions, look, actual)
    if made.description is not None or made.channels is not None:
        edits.append(made)
    return replace(plan, edits=tuple(edits))


def _look(sync: Sync, plan: GroupPlan, resolutions: Mapping[str, Resolution], look: Look | None,
          actual: ActualGroup | None) -> GroupEdit:
    """The description and default channels the group should have, where they differ from
    ``actual``'s (all of them for a group to create): an ``update``."""
    look = look or Look()
    description = None
    if sync.description is not None:
        names = sorted({r.user.real_name or r.user.name for i in plan.desired
                        for r in [_by_id(resolutions, i)] if r is not None and r.user is not None})
        text = describe(sync.description, names, look.until)
        description = text if actual is None or text != actual.description else None
    channels = look.channels
    if channels is not None and actual is not None and frozenset(channels) == actual.channels:
        channels = None
    return GroupEdit("update", description=description, channels=channels)


def _by_id(resolutions: Mapping[str, Resolution], user_id: str) -> Resolution | None:
    return next((r for r in resolutions.values() if r.user is not None and r.user.id == user_id), None)


def resolve_all(
    identities: Iterable[str], resolutions: Mapping[str, Resolution]
) -> tuple[frozenset[str], list[tuple[str, str]]]:
    """Slack ids for the identities that resolve; (identity, problem) for those that do not."""
    members: set[str] = set()
    unresolved: list[tuple[str, str]] = []
    for identity in sorted(identities):
        res = resolutions.get(identity)
        if res is None:
            unresolved.append((identity, "not looked up"))
        elif res.user is None:
            unresolved.append((identity, res.problem or "unknown"))
        else:
            members.add(res.user.id)
    return frozenset(members), unresolved
