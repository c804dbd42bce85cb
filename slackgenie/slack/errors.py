"""What Slack's error codes mean, and what fixes them: one table.

The codes are those the method reference documents for the user-group methods
(``usergroups.list``, ``usergroups.users.update``, ``usergroups.create`` / ``update`` /
``enable`` / ``disable``), those of an Enterprise Grid organisation (the workspace a call acts
in) and for ``auth.test`` (a refused token); a code not in the table is shown as it is.
Only modules under ``slackgenie/slack/`` read Slack's codes; they turn them into these sentences.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SlackError:
    meaning: str
    fix: str = ""
    # The refusal is about some of the people in a membership write, and Slack does not say
    # which: a cached user id may have gone stale, so look those people up afresh and write once more.
    about_people: bool = False

    def line(self, code: str, who: str = "") -> str:
        return f"{code}: {self.meaning}" + (f" ({who})" if who else "") + (f"; {self.fix}" if self.fix else "")


OUTSIDE_FIX = ("usually: not a member of this workspace, or deactivated: invite them to the workspace "
               "(or reactivate them), or map them to their account in this workspace under 'users'")

WORKSPACE_FIX = ("set 'workspace: T…' for this group (per sync, or once at the top level) to the workspace "
                 "holding it; `slackgenie check` lists the workspaces the app is deployed to")

ERRORS: dict[str, SlackError] = {
    "failed_for_some_users": SlackError("someone in the update is not in the workspace this group belongs to",
                                        OUTSIDE_FIX, about_people=True),
    "invalid_users": SlackError("someone in the update is no usable Slack user (deactivated, a bot or a guest)",
                                OUTSIDE_FIX, about_people=True),
    "subteam_max_users_exceeded": SlackError(
        "more people than Slack allows in one user group (Slackgenie never cuts the list itself)",
        "put fewer people in this group (its schedules, 'users' and 'fallback'), or split it into several groups"),
    "plan_upgrade_required": SlackError(
        "this workspace's plan has no user groups: they need a paid Slack plan",
        "upgrade the workspace (Pro or above)"),
    "paid_teams_only": SlackError(
        "this workspace's plan has no user groups: they need a paid Slack plan",
        "upgrade the workspace (Pro or above)"),
    "permission_denied": SlackError(
        "this workspace lets only some people manage user groups",
        "relax Workspace settings > Permissions > User Groups, or set SLACK_BOT_TOKEN to a user token (xoxp-) "
        "of an admin or owner with the same scopes (README: Slack app setup)"),
    "no_users_provided": SlackError("the update named nobody (Slack keeps no empty user group)"),
    # An Enterprise Grid organisation: the workspace a call acts in (``workspace``, sent as team_id).
    "missing_argument": SlackError(
        "Slack was not told which workspace: the token is an org-level token (the app is installed on a whole "
        "Enterprise Grid organisation)", WORKSPACE_FIX),
    "target_team_must_be_specified_in_org_context": SlackError(
        "Slack was not told which workspace: the token is an org-level token (the app is installed on a whole "
        "Enterprise Grid organisation)", WORKSPACE_FIX),
    "invalid_team": SlackError("'workspace' names no workspace of this organisation", WORKSPACE_FIX),
    "target_team_not_on_org": SlackError("'workspace' names no workspace of this organisation", WORKSPACE_FIX),
    "team_access_not_granted": SlackError(
        "the app was not added to the workspace 'workspace' names",
        "ask an org admin to add the app to that workspace (Manage apps in the organisation's settings), or "
        "correct 'workspace'"),
    "team_added_to_org": SlackError(
        "the workspace is being moved into an Enterprise Grid organisation: Slack answers for it only now and then "
        "until that ends",
        "wait for the move to end (the next passes try again); then install the app on the organisation and set "
        "'workspace' for each group"),
    "org_login_required": SlackError(
        "the workspace is being moved into an Enterprise Grid organisation",
        "wait for the move to end (the next passes try again); then set 'workspace' for each group"),
    # Writes to the group itself (create: true, description, channels, when_empty: disable).
    "name_already_exists": SlackError("another user group of this workspace already has this name",
                                      "give this sync another 'name', or rename the other group"),
    "handle_already_exists": SlackError(
        "the handle is taken in this workspace (by another user group, a channel or a person)",
        "choose another 'usergroup', or rename what holds it"),
    "description_too_long": SlackError("the description is longer than Slack takes",
                                       "shorten 'description'"),
    "invalid_channel_provided": SlackError("a channel in 'channels' is no channel of this workspace",
                                           "correct 'channels'"),
    "too_many_linked_channels": SlackError("more default channels than Slack allows for a group",
                                           "list fewer 'channels'"),
    "no_such_subteam": SlackError("the user group no longer exists in Slack",
                                  "create it again, or correct 'usergroup'"),
}


def explain(code: str, who: str = "") -> str:
    """Slack's code with what it means (about ``who``, when given) and what fixes it; the code
    alone when the table has no entry."""
    known = ERRORS.get(code)
    if known is None:
        return f"{code} ({who})" if who else code
    return known.line(code, who)


def about_people(code: str) -> bool:
    """Whether a refused membership write may come from stale user ids (look the people up afresh)."""
    known = ERRORS.get(code)
    return known is not None and known.about_people


# auth.test's codes for a token Slack will not take (a person must replace it), told apart from
# any other failure (Slack unreachable or failing: it may pass by itself).
TOKEN_REFUSED = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"})


def token_refused(code: str) -> bool:
    """Whether Slack's code says the token itself is refused (replace it), not that Slack is unreachable."""
    return code in TOKEN_REFUSED
