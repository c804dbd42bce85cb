"""JSM Ops fixes of issue 18 ("Exactly once, for real"), end to end against the emulators over
real HTTP: Jira's ``user/bulk`` pages followed to the end (item 7), a give-back refused for the
token's missing delete scope said as such (item 10), and a ``users:`` entry keyed by an Atlassian
account id honoured before the account's Jira e-mail (item 8, JSM's part).

Expected values are worked out by hand:

- ``fifteen_org``: five schedules, ``Team A_schedule`` .. ``Team E_schedule``, each with three
  weekly rotations of one person apiece from 2026-11-02 09:00 UTC, so at DEMO_START (Mon
  2026-11-23 08:58 UTC) each schedule has its three people on call: Team A p01-p03, Team B
  p04-p06, ..., Team E p13-p15. Fifteen people in all, each in Slack under the same e-mail.
- the sample organisation (slackgenie_emulators.sample): at DEMO_START Delivery Support's daily
  turns of alice, bob, carol from 2026-11-02 09:00 are at turn 20 (20 % 3 = 2): carol, until 09:00;
  @delivery-support always holds dana.lead (static ``users``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slackgenie.app.runner import SlackApp
from slackgenie_emulators import Emulators
from slackgenie_emulators.jsm import JSM_TOKEN
from slackgenie_emulators.opsgenie import OpsgenieState
from slackgenie_emulators.sample import BOT_TOKEN, DEMO_START, SAMPLE_CONFIG, Org
from slackgenie_emulators.slack import SlackState

from conftest import CliResult, run_cli, write_config
from test_people import ask_later, join_syncs, offered_button, press, service_for, uid

TEAMS = "ABCDE"
PEOPLE = [f"p{i:02d}@example.com" for i in range(1, 16)]
DELIVERY = "Delivery Support_schedule"
DELETE_SCOPE = "delete:ops-config:jira-service-management"  # the scope the reference names (REFERENCE.md §3.6)


def team_people(team: str) -> list[str]:
    first = TEAMS.index(team) * 3
    return PEOPLE[first:first + 3]


def fifteen_org() -> Org:
    og = OpsgenieState()
    slack = SlackState()
    slack.add_token(BOT_TOKEN, "bot")
    for email in PEOPLE:
        og.add_user(email)
        slack.add_user(email.split("@")[0], email)
    lines = ["provider: jsm", "syncs:"]
    for team in TEAMS:
        og.add_schedule(f"Team {team}_schedule", "UTC", rotations=[{
            "name": f"Only {email}", "type": "weekly", "length": 1, "startDate": "2026-11-02T09:00:00Z",
            "participants": [{"type": "user", "username": email}],
        } for email in team_people(team)])
        slack.add_group(f"team-{team.lower()}-oncall", f"Team {team} on-call")
        lines += [f"  - usergroup: team-{team.lower()}-oncall", f"    schedules: [Team {team}_schedule]"]
    return Org(og, slack, "\n".join(lines) + "\n")


@pytest.fixture
def fifteen() -> Iterator[Emulators]:
    with Emulators(fifteen_org(), at=DEMO_START) as emu:
        yield emu


def sync(emu: Emulators, tmp_path: Path, text: str) -> CliResult:
    write_config(tmp_path, text)
    result = run_cli(["sync"], emu.env(), tmp_path)
    assert JSM_TOKEN not in result.both and BOT_TOKEN not in result.both
    return result


def bulk_pages(emu: Emulators) -> list[Any]:
    return [r for r in emu.jsm.requests if r.path.endswith("/rest/api/3/user/bulk")]


# --- item 7: user/bulk pages are followed to the end ---------------------------------------------

def test_fifteen_people_behind_a_five_a_page_cap_are_all_found(fifteen: Emulators, tmp_path: Path) -> None:
    """Jira answers at most 5 users a page whatever maxResults asks, saying isLast: false and
    nextPage. Before the fix the first page was taken for the whole answer: the 10 accounts on
    the pages not read were 'not returned', and every schedule failed."""
    fifteen.jsm.set_user_page_cap(5)
    result = sync(fifteen, tmp_path, fifteen.org.config_yaml)
    assert result.code == 0, result.both
    for team in TEAMS:
        assert fifteen.slack.state.emails_of(f"team-{team.lower()}-oncall") == team_people(team), team
    pages = bulk_pages(fifteen)
    assert {r.params.get("startAt") for r in pages} == {"0", "5", "10"}  # 15 people, 5 a page
    assert all(r.status == 200 for r in pages)


def test_a_user_bulk_that_never_ends_fails_the_schedules_within_a_bounded_number_of_pages(
        fifteen: Emulators, tmp_path: Path) -> None:
    """A server that answers isLast: false for ever, each nextPage a step on, one person a page:
    the pages are read up to a bound (15 accounts: at most one page each and one more), then the
    schedules fail naming why; the groups are left as they are, never emptied."""
    first: list[Any] = []

    def never_last(body: Any) -> Any:
        first[:] = first or body["values"][:1]
        following = re.sub(r"startAt=\d+", f"startAt={body['startAt'] + 1}", body["self"])
        return {**body, "values": first, "isLast": False, "nextPage": following}

    fifteen.jsm.inject(r"/rest/api/3/user/bulk$", kind="transform", transform=never_last)
    result = sync(fifteen, tmp_path, fifteen.org.config_yaml)
    assert result.code == 1, result.both
    assert "did not end within" in result.out, result.out
    assert 2 <= len(bulk_pages(fifteen)) <= 16
    for team in TEAMS:
        assert fifteen.slack.state.emails_of(f"team-{team.lower()}-oncall") == [], team


# --- item 10: a give-back refused for the missing delete scope says so -----------------------------

def test_give_back_with_a_token_without_the_delete_scope_names_the_scope(emulators: Emulators,
                                                                         tmp_path: Path) -> None:
    """An Atlassian account API token carries the ops read and write scopes but not the delete one:
    bob takes an hour of Delivery (a create: the write scope), then gives it back (a delete:
    401 'scope does not match'). Before the fix the answer told to check that the account 'may
    read' schedules, which it may; the fix is a token with the delete scope."""
    service = service_for(emulators, tmp_path, "provider: jsm\n" + SAMPLE_CONFIG)
    try:
        app = SlackApp(service)
        app.refresh(service.run_pass())
        bob = uid(emulators, "bob@example.com")
        ask_later(emulators, app, "take 1h delivery-support", bob, "take")
        done = press(emulators, app, bob, offered_button(emulators, "take", "take_confirm"), "take")
        assert done.startswith(":white_check_mark:"), done
        join_syncs(app)
        emulators.jsm.set_scopes(read=True, write=True, delete=False)

        _, back = ask_later(emulators, app, "give-back", bob, "back")
        assert back.startswith(":no_entry: JSM Ops refused to delete the override"), back
        assert DELETE_SCOPE in back and "JSM_API_TOKEN" in back, back
        assert "may read" not in back and "may not change schedules" not in back, back
        [delete] = [r for r in emulators.jsm.requests if r.method == "DELETE"]
        assert delete.status == 401
        schedule = emulators.opsgenie.state.schedule(DELIVERY, "name")
        assert schedule is not None
        assert [o.user.get("username") for o in schedule.overrides] == ["bob@example.com"]  # still there
    finally:
        service.close()


# --- item 8: users: keyed by the Atlassian account id wins over the Jira e-mail ----------------------

def test_a_users_entry_keyed_by_the_account_id_wins_over_the_accounts_email(emulators: Emulators,
                                                                             tmp_path: Path) -> None:
    """carol is on call in Delivery. Her Atlassian account is mapped under ``users:`` to dave's
    Slack account (say, her Jira e-mail is an old address now another Slack person's): the group
    gets dave, never the Slack account that has her Jira e-mail. Before the fix the e-mail won
    and carol@example.com's Slack account was put in the group."""
    carol_account = emulators.jsm.account_id("carol@example.com")
    text = "provider: jsm\n" + SAMPLE_CONFIG + f'  "{carol_account}": dave@example.com\n'
    assert text.endswith(f'users:\n  frank.og@example.com: frank@example.com\n  "{carol_account}": dave@example.com\n')
    result = sync(emulators, tmp_path, text)
    assert result.code == 0, result.both
    assert emulators.slack.state.emails_of("delivery-support") == ["dana.lead@example.com", "dave@example.com"]


def test_the_account_id_mapping_is_who_takes_and_whose_shifts_are_shown(emulators: Emulators,
                                                                         tmp_path: Path) -> None:
    """The same mapping in the app: dave is carol's account in JSM, so `/oncall me` shows dave
    carol's Delivery shifts (08:58-09:00 today, and her turns to come), carol's own Slack account
    has none there, and the rotation's members (who may take a shift, as whom) name her account
    by its ``users:`` key, which is dave's, not by her e-mail."""
    carol_account = emulators.jsm.account_id("carol@example.com")
    service = service_for(emulators, tmp_path,
                          "provider: jsm\n" + SAMPLE_CONFIG + f'  "{carol_account}": dave@example.com\n')
    try:
        app = SlackApp(service)
        app.refresh(service.run_pass())
        _, dave_me = ask_later(emulators, app, "me", uid(emulators, "dave@example.com"), "dave")
        _, carol_me = ask_later(emulators, app, "me", uid(emulators, "carol@example.com"), "carol")
        assert "@delivery-support" in dave_me, dave_me
        assert "@delivery-support" not in carol_me, carol_me
        alice, bob = (emulators.jsm.account_id(f"{n}@example.com") for n in ("alice", "bob"))
        assert service.source.members(f"jsm:{DELIVERY}") == {
            "alice@example.com": alice, "bob@example.com": bob, carol_account: carol_account}
    finally:
        service.close()
