"""Pure planning: desired + actual + policies -> what to change, group by group.

Nothing here does I/O. Two steps, because Slack ids are only known after the identities
are resolved:

1. ``desired_for``: schedule reads + static users + the ``when_empty`` policy -> identities.
2. ``plan_group``: identities resolved to Slack users + the group Slack has -> a ``GroupPlan``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from slackgenie.core.model import (Sync, PROVIDER_TITLES, Action, ActualGroup, Desired, GroupPlan, OnCall, ReadFailure,
                              Resolution, describe_key, split_key)


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


WHEN_EMPTY: dict[str, Callable[[Sync, Mapping[str, str]], Desired]] = {
    "keep": _keep,
    "fallback": _fallback,
}


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
                warnings.append(f"schedule {read.schedule_name!r} is disabled in {title}")
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
        return Desired(identities=empty.identities, warnings=tuple(warnings) + empty.warnings)
    return Desired(identities=frozenset(identities), on_call=frozenset(on_call), warnings=tuple(warnings),
                   unmappable=unmappable)


def plan_group(
    sync: Sync,
    desired: Desired,
    resolutions: Mapping[str, Resolution],
    actual: ActualGroup | None,
) -> GroupPlan:
    handle = sync.usergroup
    failed = GroupPlan(handle=handle, action=Action.FAILED, on_call=desired.on_call, warnings=desired.warnings)
    if actual is None:
        return replace(failed, errors=(f"user group @{handle} does not exist in Slack: create it, or correct 'usergroup'",))
    # From here on, a plan that changes nothing keeps the group as it is.
    failed = replace(failed, group_id=actual.id, current=actual.members, desired=actual.members)
    if actual.problem:
        return replace(failed, errors=(f"user group @{handle}: {actual.problem}; group left as it is",))
    if actual.disabled:
        return replace(failed, errors=(f"user group @{handle} is disabled in Slack: enable it to let Slackgenie manage it",))
    if desired.errors:
        return replace(failed, errors=desired.errors)
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
    return replace(failed, action=action, desired=members, errors=errors)


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
