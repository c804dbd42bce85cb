"""`take: anyone`: someone outside a schedule's rotations may take its shifts where the provider
can name them without the rotations: on Opsgenie, whose usernames are e-mails; JSM Ops and
PagerDuty find people through the rotations alone (README: Taking a shift).

The sample organisation (slackgenie_emulators.sample): bob is in Delivery's rotation, not in
Payments'. At the emulators' clock (Mon 2026-11-23 08:58 UTC) he asks for 1 h of payments-oncall.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from slackgenie.app.runner import SlackApp
from slackgenie_emulators import Emulators

from providers_fixtures import truth
from test_people import app_on, ask_later, join_syncs, offered_button, press, uid


def anyone_may_take(emu: Emulators, tmp_path: Path, provider: str) -> AbstractContextManager[SlackApp]:
    return app_on(emu, tmp_path, provider, "take: anyone\n")


def test_on_opsgenie_someone_outside_the_rotation_takes_by_e_mail(emulators: Emulators, tmp_path: Path) -> None:
    with anyone_may_take(emulators, tmp_path, "opsgenie") as app:
        bob = uid(emulators, "bob@example.com")
        _, offer = ask_later(emulators, app, "take 1h payments-oncall", bob, "offer")
        assert offer.startswith("Take the on-call shift in @payments-oncall"), offer
        done = press(emulators, app, bob, offered_button(emulators, "offer", "take_confirm"), "done")
        assert done.startswith(":white_check_mark: You are on call in @payments-oncall"), done
        join_syncs(app)
        [held] = [o for o in truth(emulators, "Payments_schedule").overrides if o.alias.startswith("slackgenie-")]
        assert held.user.get("username") == "bob@example.com"  # named by his e-mail
        assert "bob@example.com" in emulators.slack.state.emails_of("payments-oncall")


@pytest.mark.parametrize("provider", ["jsm", "pagerduty"])
def test_elsewhere_the_rotation_is_still_needed(emulators: Emulators, tmp_path: Path, provider: str) -> None:
    with anyone_may_take(emulators, tmp_path, provider) as app:
        _, answer = ask_later(emulators, app, "take 1h payments-oncall", uid(emulators, "bob@example.com"), "no")
        assert answer.startswith("You are not in the rotations of *payments-oncall*"), answer
