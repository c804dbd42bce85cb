"""Escalation levels beside the sync (issue 22): `/oncall` now and next, `/oncall me`, `status`
and `check` name a level and its people like a schedule's, in-process against the emulators.

Expected people by hand from ``sample_org()`` at its clock (Mon 2026-11-23 08:58 UTC): "Payments
Escalation" notifies Payments_schedule at level 1 (weekly dave / erin from Mon 2026-11-02 09:00:
dave's week until 09:00 today, then erin's, which grace covers 09:00-18:00 by an override), the
team Payments at level 2 (all: dave, erin, grace) and dana.lead at level 3.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from slackgenie.app.runner import SlackApp
from slackgenie_emulators import Emulators

from conftest import write_config
from providers_fixtures import run_main
from test_people import app_with, ask_later, uid
from test_providers_e2e import ask

LEVELS = """\
provider: {provider}
syncs:
  - usergroup: payments-primary
    escalation: {{policy: Payments Escalation, level: 1}}
    create: true
  - usergroup: payments-secondary
    escalation: {{policy: Payments Escalation, level: 2}}
    create: true
  - usergroup: payments-lead
    escalation: {{policy: Payments Escalation, level: 3}}
    create: true
"""
NINE = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
PROVIDERS_WITH_TEAMS = ["opsgenie", "pagerduty"]  # JSM Ops gives no team members: tests/test_escalations_jsm.py


def mention(emu: Emulators, *emails: str) -> list[str]:
    return [f"<@{uid(emu, e)}>" for e in emails]


@pytest.mark.parametrize("provider", PROVIDERS_WITH_TEAMS)
def test_oncall_names_a_level_and_its_people_now_and_next(emulators: Emulators, tmp_path: Path,
                                                          provider: str) -> None:
    with app_with(emulators, tmp_path, LEVELS.format(provider=provider)) as app:
        assert isinstance(app, SlackApp)
        primary = ask(emulators, app, "payments-primary")
        assert "Payments Escalation, level 1" in primary and mention(emulators, "dave@example.com")[0] in primary
        assert mention(emulators, "erin@example.com")[0] not in primary
        nxt = ask(emulators, app, "next payments-primary")
        assert mention(emulators, "grace@example.com")[0] in nxt  # the override from 09:00
        assert f"<!date^{int(NINE.timestamp())}^" in nxt
        secondary = ask(emulators, app, "payments-secondary")
        assert all(m in secondary for m in mention(emulators, "dave@example.com", "erin@example.com",
                                                    "grace@example.com")), secondary
        lead = ask(emulators, app, "payments-lead")
        assert mention(emulators, "dana.lead@example.com")[0] in lead
        _, me = ask_later(emulators, app, "me", uid(emulators, "dana.lead@example.com"), "dana")
        assert "@payments-lead" in me, me
        _, take = ask_later(emulators, app, "take 2h payments-primary", uid(emulators, "erin@example.com"), "erin")
        assert "is a level of an escalation policy, not a schedule: take the shift in the schedule" in take, take
    assert emulators.slack.state.members_of("payments-primary")  # the first pass created and filled them


@pytest.mark.parametrize("provider", PROVIDERS_WITH_TEAMS)
def test_status_and_check_show_each_level(emulators: Emulators, tmp_path: Path, provider: str) -> None:
    write_config(tmp_path, LEVELS.format(provider=provider))
    assert run_main(["sync"], emulators.env()).code == 0
    status = run_main(["status"], emulators.env())
    assert status.code == 0, status.both
    rows = {line.split()[0]: line.split(None, 2)[2] for line in status.out.splitlines()[1:] if line.strip()}
    assert rows["@payments-primary"].startswith("dave@example.com ") and "2026-11-23 09:00 UTC" in \
        rows["@payments-primary"] and rows["@payments-primary"].endswith("grace@example.com"), status.out
    assert rows["@payments-secondary"].startswith("dave@example.com, erin@example.com, grace@example.com ")
    assert "none foreseen" in rows["@payments-secondary"]  # a team has no handoffs; the interval catches edits
    assert rows["@payments-lead"].startswith("dana.lead@example.com ")
    check = run_main(["check"], emulators.env())
    if provider == "pagerduty":  # no team targets in PagerDuty: its emulator lists the team's members as users
        for name, email in (("Dave Diaz", "dave"), ("Erin Evans", "erin"), ("Grace Green", "grace")):
            assert f"'Payments Escalation' level 2: user '{name}' (default) is now: {email}@example.com" in check.out
        assert "'Payments Escalation' level 3: user 'Dana Lead' (default) is now: dana.lead@example.com" in check.out
    else:
        assert "'Payments Escalation' level 2: team 'Payments' (all) is now: dave@example.com, erin@example.com, " \
               "grace@example.com" in check.out, check.out
        assert "'Payments Escalation' level 3: user 'dana.lead@example.com' (default) is now: dana.lead@example.com" \
               in check.out, check.out
    assert check.code == 0 and "level 1: schedule 'Payments_schedule' (default) is now: dave@example.com" in check.out
