"""One person is one person (issue 20): with an org-level token a person is named by their
organisation-wide id (``enterprise_user.id``, GRID §4.1), whichever id an answer spells them with, so
a group never flaps between the two spellings. Slack's answers here are written by hand (a person
who was in a workspace before it joined the organisation: a local U… and a global W…)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from slack_sdk import WebClient

from slackgenie.core.model import Action, ActualGroup, Desired
from slackgenie.core.plan import plan_group
from slackgenie.settings import GroupSync
from slackgenie.slack.directory import Directory

LOCAL, GLOBAL = "U0LOCAL01", "W0GLOBAL01"
ANSWER = {"id": LOCAL, "name": "ivan", "real_name": "Ivan Ivanov", "profile": {"email": "ivan@example.com"},
          "enterprise_user": {"id": GLOBAL, "enterprise_id": "E0ACMEORG1", "teams": ["T0PLATFORM"]}}


class Slack:
    """users.info and users.lookupByEmail as a workspace migrated into the organisation answers them."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def users_info(self, user: str) -> dict[str, Any]:
        self.calls.append(f"users.info {user}")
        return {"user": ANSWER}

    def users_lookupByEmail(self, email: str) -> dict[str, Any]:  # noqa: N802 - slack_sdk's name
        self.calls.append(f"users.lookupByEmail {email}")
        return {"user": ANSWER}


def test_an_org_token_names_a_person_by_their_global_id_either_way() -> None:
    directory = Directory(cast(WebClient, Slack()))
    directory.org = True
    with ThreadPoolExecutor(2) as pool:
        found = directory.resolve_many([LOCAL, "ivan@example.com"], pool)
    assert {i: r.user.id for i, r in found.items() if r.user is not None} == {LOCAL: GLOBAL,
                                                                             "ivan@example.com": GLOBAL}
    sync = GroupSync(usergroup="platform-oncall", users=[LOCAL, "ivan@example.com"])
    plan = plan_group(sync, Desired(identities=frozenset([LOCAL, "ivan@example.com"])), found,
                      ActualGroup("S1", "platform-oncall", frozenset([GLOBAL])))
    assert plan.action is Action.IN_SYNC and plan.desired == frozenset([GLOBAL])


def test_a_workspace_token_keeps_the_id_its_workspace_answers_with() -> None:
    directory = Directory(cast(WebClient, Slack()))
    assert directory.resolve(LOCAL).user is not None and directory.resolve(LOCAL).user.id == LOCAL  # type: ignore[union-attr]
