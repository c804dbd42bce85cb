"""An Enterprise Grid organisation for the Slack emulator: a builder, a sample and the app's payloads.

The emulator itself (``slack.SlackEmulator`` over a ``slack.SlackState`` with an enterprise) models the
organisation; this module builds one::

    org = GridOrg("E0ACMEORG1", "Acme Org")
    org.add_workspace("T0PAYMENTS", "Payments")
    org.add_workspace("T0SANDBOX1", "Sandbox", free_plan=True)
    alice = org.add_person("alice", "alice@example.com", "Alice Archer", workspaces=["T0PAYMENTS"])
    group = org.add_group("T0PAYMENTS", "payments-oncall", "Payments On-call", [alice.id])
    org.org_token("xoxb-...")                      # the org-wide install's token
    with SlackEmulator(org.state) as slack:        # then drive it over HTTP
        ...
        slack.api_calls("usergroups.list")         # the call log: method, params (team_id...), workspace
        org.state.groups_in("T0PAYMENTS")          # each workspace's groups

``grid_org()`` is the sample: the people of ``sample.sample_org`` spread over two workspaces, with a
free-plan third one and a fourth the app was not added to, ready for ``Emulators``. References:
GRID = ../shared/specs/slack/ENTERPRISE-GRID.md.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from slackgenie_emulators.injector import slash_command
from slackgenie_emulators.sample import BOT_TOKEN, PEOPLE, Org, sample_org
from slackgenie_emulators.slack import (
    ChannelRecord,
    EnterpriseRecord,
    SlackState,
    SlackUserRecord,
    UserGroupRecord,
    WorkspaceRecord,
)

ENTERPRISE_ID = "E0ACMEORG1"
ENTERPRISE_NAME = "Acme Org"
PAYMENTS = "T0PAYMENTS"  # Payments and Delivery work here
PLATFORM = "T0PLATFORM"  # Platform works here
SANDBOX = "T0SANDBOX1"  # a free-plan workspace: no user groups (plan_upgrade_required)
LEGAL = "T0LEGAL001"  # a workspace of the organisation the app was not added to (team_access_not_granted)

# The org-wide install's bot token. Nothing in the string tells an org token from a workspace one
# (GRID §1.1): it is the sample's BOT_TOKEN, so ``Emulators(grid_org()).env()`` hands it to Slackgenie.
ORG_TOKEN = BOT_TOKEN
PAYMENTS_TOKEN = "xoxb-3333-4444-paymentsworkspace"  # the app installed on the Payments workspace alone

# Where the sample's people are members: both workspaces, one, or none.
PLACES: dict[str, tuple[str, ...]] = {
    "alice@example.com": (PAYMENTS, PLATFORM),
    "bob@example.com": (PAYMENTS,),
    "carol@example.com": (PAYMENTS,),
    "dave@example.com": (PAYMENTS,),
    "erin@example.com": (PAYMENTS, SANDBOX),
    "frank@example.com": (PLATFORM,),
    "grace@example.com": (PAYMENTS,),
    "heidi@example.com": (PLATFORM,),
    "ivan@example.com": (PLATFORM,),
    "dana.lead@example.com": (PAYMENTS, PLATFORM),
}
# Ivan was in Platform before it joined the organisation: his global id kept its U (global ids begin
# "with the letter W or U", GRID §4.1); everyone else's is a W….
U_GLOBAL_IDS = {"ivan@example.com"}

# The sample's configuration in issue 20's contract (``workspace:`` per sync): for the product once it
# reads that key.
GRID_CONFIG = f"""\
interval: 60
syncs:
  - usergroup: delivery-support
    workspace: {PAYMENTS}
    schedules: [Delivery Support_schedule]
    users: [dana.lead@example.com]
  - usergroup: payments-oncall
    workspace: {PAYMENTS}
    schedules: [Payments_schedule]
  - usergroup: platform-oncall
    workspace: {PLATFORM}
    schedules: [Platform_schedule]
    when_empty: fallback
    fallback: [ivan@example.com]
users:
  frank.og@example.com: frank@example.com
"""


class GridOrg:
    """Builds an Enterprise Grid organisation in a ``SlackState`` (``self.state``, for ``SlackEmulator``)."""

    def __init__(self, enterprise_id: str = ENTERPRISE_ID, name: str = ENTERPRISE_NAME) -> None:
        self.state = SlackState(team_id=None, enterprise_id=enterprise_id, enterprise_name=name)

    @property
    def enterprise(self) -> EnterpriseRecord:
        assert self.state.enterprise is not None
        return self.state.enterprise

    @property
    def bot_user_id(self) -> str:
        """The org-wide app's bot user (a ``W…``, GRID §4.1)."""
        return self.state.bot_user_id

    def add_workspace(self, team_id: str, name: str, *, free_plan: bool = False, granted: bool = True,
                      admins_only_edit_groups: bool = False) -> WorkspaceRecord:
        """A workspace of the organisation; ``granted``: the org admin added the app to it."""
        return self.state.add_workspace(team_id, name, free_plan=free_plan, granted=granted,
                                        admins_only_edit_groups=admins_only_edit_groups)

    def workspace(self, team_id: str) -> WorkspaceRecord:
        return self.state.workspaces[team_id]

    def grant(self, team_id: str) -> None:
        """The org admin adds the app to a workspace (what ``team_access_granted`` announces)."""
        with self.state.lock:
            self.enterprise.granted.add(self.workspace(team_id).id)

    def revoke(self, team_id: str) -> None:
        with self.state.lock:
            self.enterprise.granted.discard(team_id)

    def add_person(self, name: str, email: str | None, real_name: str = "", *, workspaces: Sequence[str] = (),
                   deleted: bool = False, is_bot: bool = False, guest: str | None = None,
                   tz: str = "Europe/London", global_id_prefix: str = "W") -> SlackUserRecord:
        """A person of the organisation: one id (``W…``, or ``U…`` with ``global_id_prefix``) whatever
        workspaces list them; a member of ``workspaces`` (none: in the organisation, in no workspace)."""
        return self.state.add_user(name, email, real_name, deleted=deleted, is_bot=is_bot, tz=tz, guest=guest,
                                   teams=list(workspaces), prefix=global_id_prefix)

    def person(self, email: str) -> SlackUserRecord:
        user = self.state.user_by_email(email)
        if user is None:
            raise KeyError(email)
        return user

    def join(self, user_id: str, *team_ids: str) -> None:
        """Make someone a member of more workspaces."""
        with self.state.lock:
            for team in team_ids:
                self.workspace(team)
                self.state.users[user_id].teams.add(team)

    def leave(self, user_id: str, *team_ids: str) -> None:
        """Someone leaves workspaces (stays in the organisation, same id)."""
        with self.state.lock:
            for team in team_ids:
                self.state.users[user_id].teams.discard(team)

    def add_group(self, team_id: str, handle: str, name: str | None = None, members: Sequence[str] = (), *,
                  disabled: bool = False, description: str = "", channels: Sequence[str] = (),
                  max_users: int | None = None) -> UserGroupRecord:
        """A user group of workspace ``team_id`` (``max_users``: its member cap, subteam_max_users_exceeded)."""
        return self.state.add_group(handle, name, list(members), disabled, team_id=team_id, description=description,
                                    channels=list(channels), max_users=max_users)

    def add_channel(self, team_id: str, name: str, topic: str = "", *, private: bool = False,
                    bot_member: bool = True) -> ChannelRecord:
        return self.state.add_channel(name, topic, private=private, bot_member=bot_member, team_id=team_id)

    def org_token(self, token: str, scopes: list[str] | None = None) -> str:
        """Issue the org-level token of an app installed on the whole organisation."""
        self.state.add_token(token, "bot", scopes, org=True)
        return token

    def workspace_token(self, token: str, team_id: str, kind: str = "bot", scopes: list[str] | None = None,
                        user_id: str | None = None) -> str:
        """Issue a token of the app installed on one workspace of the organisation."""
        self.state.add_token(token, kind, scopes, user_id, team_id=team_id)
        return token

    def groups(self, team_id: str) -> dict[str, list[str]]:
        """Workspace ``team_id``'s groups: handle -> member ids (sorted); disabled ones included."""
        with self.state.lock:
            return {g.handle: sorted(g.users) for g in self.state.groups_in(team_id)}

    def group(self, team_id: str, handle: str) -> UserGroupRecord:
        found = self.state.group_by_handle(handle, team_id)
        if found is None:
            raise KeyError(f"{team_id}/{handle}")
        return found

    # --- what Slack sends the app from a workspace of the organisation (GRID §8) --------------
    def slash_command(self, text: str, user_id: str, response_url: str, team_id: str,
                      channel_id: str = "C0EMULATE1") -> dict[str, str]:
        """An ``/oncall`` typed in workspace ``team_id`` to the org-wide app: its form fields (GRID §8.1)."""
        fields = slash_command(text, user_id, response_url, channel_id)
        fields.update({"team_id": team_id, "team_domain": self.workspace(team_id).domain,
                       "enterprise_id": self.enterprise.id, "enterprise_name": self.enterprise.name,
                       "is_enterprise_install": "true"})
        return fields

    def event_callback(self, event: dict[str, Any], team_id: str) -> dict[str, Any]:
        """An Events API envelope from workspace ``team_id`` to the org-wide app: ``authorizations[0]``
        names the organisation and no workspace (GRID §8.2)."""
        return {"token": "legacy-verification-token", "team_id": team_id, "enterprise_id": self.enterprise.id,
                "api_app_id": "A0EMULATE1", "event": {**event, "team": team_id}, "type": "event_callback",
                "event_id": "Ev" + uuid.uuid4().hex[:10].upper(), "event_time": int(time.time()),
                "is_ext_shared_channel": False,
                "authorizations": [{"enterprise_id": self.enterprise.id, "team_id": None, "user_id": self.bot_user_id,
                                    "is_bot": True, "is_enterprise_install": True}]}


def sample_grid() -> GridOrg:
    """The sample organisation: Payments and Platform (the app added to both), Sandbox (free plan, app
    added), Legal (app not added); ``sample_org``'s people over them (PLACES), plus Nora (in the
    organisation, in no workspace), Gina (a guest in Platform) and Olaf (deactivated, Payments); the
    sample's three groups, two in Payments and one in Platform; an ``#oncall`` channel in each of the two."""
    org = GridOrg()
    org.add_workspace(PAYMENTS, "Payments")
    org.add_workspace(PLATFORM, "Platform")
    org.add_workspace(SANDBOX, "Sandbox", free_plan=True)
    org.add_workspace(LEGAL, "Legal", granted=False)
    org.org_token(ORG_TOKEN)
    org.workspace_token(PAYMENTS_TOKEN, PAYMENTS)
    for _username, email, real_name in PEOPLE:
        org.add_person(email.split("@")[0], email, real_name, workspaces=PLACES[email],
                       global_id_prefix="U" if email in U_GLOBAL_IDS else "W")
    org.add_person("nora", "nora@example.com", "Nora North")
    org.add_person("gina", "gina@example.com", "Gina Guest", workspaces=[PLATFORM], guest="multi")
    org.add_person("olaf", "olaf@example.com", "Olaf Old", workspaces=[PAYMENTS], deleted=True)

    def ids(*emails: str) -> list[str]:
        return [org.person(e).id for e in emails]

    org.add_group(PAYMENTS, "delivery-support", "Delivery Support", ids("bob@example.com", "dana.lead@example.com"))
    org.add_group(PAYMENTS, "payments-oncall", "Payments On-call", ids("dave@example.com"))
    org.add_group(PLATFORM, "platform-oncall", "Platform On-call", ids("heidi@example.com"))
    for team, name in ((PAYMENTS, "delivery"), (PAYMENTS, "payments"), (PAYMENTS, "oncall"),
                       (PLATFORM, "platform"), (PLATFORM, "oncall")):
        org.add_channel(team, name)
    return org


def grid_org() -> Org:
    """The sample organisation for ``Emulators``: ``sample_org``'s schedules, the Grid Slack, GRID_CONFIG."""
    return Org(sample_org().opsgenie, sample_grid().state, GRID_CONFIG)
