"""Exactly once under attack: the findings of a helper's attack review of issue 18's change,
each a test that failed on the change as it stood and passes since its fix.

The sample organisation (see test_exactly_once.py's header): at DEMO_START (Mon 2026-11-23
08:58 UTC, the emulators' clock is frozen there) @delivery-support goes from bob to carol
(its group still holds bob and dana), and alice takes over at 09:00.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from slackgenie.app.runner import SlackApp
from slackgenie.wiring import Service
from slackgenie.settings import load
from slackgenie.wiring import build
from slackgenie.engine.state import StateStore
from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import SAMPLE_CONFIG

import conftest
from conftest import write_config
from test_exactly_once import ANNOUNCE_DELIVERY, announcements
from test_operations import wait_for
from test_people import ask_later, join_syncs, offered_button, press, service_for, uid

UTC = timezone.utc
def posts(emu: Emulators, method: str = "POST") -> list[Any]:
    return [r for r in emu.opsgenie.requests if r.method == method and r.path.endswith("/overrides")]


# --- 1. two presses of the same take while the first create is in flight -> two overrides ------

def test_asking_again_while_a_slow_create_is_in_flight_makes_no_second_override(emulators: Emulators,
                                                                                opsgenie_app: tuple[Service, SlackApp]) -> None:
    """The README: "A provider slower than the app waits answers 'your shift may still be taken in
    a moment' ... taking the same shift again finds it rather than making a second override."
    bob is told exactly that, and asks again while the first create is still on its way: the
    look-before-create reads the overrides before the first is made, and a second is created.
    give-back then ends only one of them: bob stays on call."""
    _, app = opsgenie_app
    app.pool.deadline = 1.0  # the provider is slower than the pool waits (17 s in the field)
    bob = uid(emulators, "bob@example.com")
    ask_later(emulators, app, "take 1h delivery-support", bob, "t1")
    emulators.opsgenie.inject(r"/overrides$", kind="latency", delay=5.0, times=1, method="POST")
    first = press(emulators, app, bob, offered_button(emulators, "t1", "take_confirm"), "p1")
    assert "may still be taken" in first, first
    ask_later(emulators, app, "take 1h delivery-support", bob, "t2")  # "taking the same shift again"
    press(emulators, app, bob, offered_button(emulators, "t2", "take_confirm"), "p2")
    time.sleep(5.5)  # let the slow first create land
    join_syncs(app)
    assert wait_for(lambda: not [t for t in app.syncs if t.is_alive()], 20)
    schedule = emulators.opsgenie.state.schedule("Delivery Support_schedule", by="name")
    assert schedule is not None
    made = [o.alias for o in schedule.overrides if "bob" in json.dumps(o.user)]
    _, back = ask_later(emulators, app, "give-back", bob, "back")
    join_syncs(app)
    left = [o.alias for o in schedule.overrides if "bob" in json.dumps(o.user)]
    assert len(posts(emulators)) == 1 and len(made) == 1 and not left, \
        f"{len(posts(emulators))} creates, overrides {made}; after give-back ({back[:60]}) still {left}"


# --- 2. a lost announcement, then the group goes back: the channel is left saying the wrong people -

def test_a_group_that_goes_back_after_a_lost_announcement_is_announced(emulators: Emulators, tmp_path: Path) -> None:
    """Pass 1 moves @delivery-support from bob to carol and posts "is now carol" (Slack took it;
    the answer was lost). Before the next pass bob takes the shift back (an override), and pass
    2 moves the group back to bob. The state file still says bob was the last told (the lost
    attempt was never settled), so pass 2 announces nothing: the channel's last word is "is now
    carol, dana" while bob is on call."""
    service = conftest.service_for(emulators, tmp_path, ANNOUNCE_DELIVERY)
    bob, carol = uid(emulators, "bob@example.com"), uid(emulators, "carol@example.com")
    try:
        emulators.slack.inject(r"chat\.postMessage", kind="lost", times=1)
        first = service.run_pass()
        assert any("not confirmed" in n for n in first.notes), first.notes
        assert len(announcements(emulators)) == 1 and f"<@{carol}>" in announcements(emulators)[0]["text"]
        og = emulators.opsgenie.state
        schedule = og.schedule("Delivery Support_schedule", by="name")
        og.add_override(schedule, "bob@example.com", datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
                        datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
        second = service.run_pass()
        assert emulators.slack.state.emails_of("delivery-support") == ["bob@example.com", "dana.lead@example.com"]
        last = announcements(emulators)[-1]["text"]
        assert last.startswith(f"*@delivery-support* is now <@{bob}>"), (last, second.notes)
    finally:
        service.close()


# --- 3. clock skew: a service clock 3 minutes ahead of Slack's posts a lost announcement twice --

class _Skewed(conftest.SteppedClock):
    def __init__(self, target: Any, skew: timedelta):
        super().__init__(target)
        self.skew = skew

    def now(self) -> datetime:
        return self.target.now() + self.skew


def test_a_lost_announcement_is_found_although_the_service_clock_runs_ahead_of_slack(emulators: Emulators,
                                                                                     tmp_path: Path) -> None:
    """was_posted looks from 120 s before the attempt (the service's clock) to 900 s after it.
    A host clock 3 minutes ahead of Slack's (no NTP, a VM resumed) puts Slack's ts of the lost
    post outside that window: the next pass does not find it and posts it again."""
    path = write_config(tmp_path, ANNOUNCE_DELIVERY)
    service = build(load(str(path), emulators.env()), clock=_Skewed(emulators.clock, timedelta(minutes=3)))
    try:
        emulators.slack.inject(r"chat\.postMessage", kind="lost", times=1)
        service.run_pass()
        second = service.run_pass()
        service.run_pass()
        assert len(announcements(emulators)) == 1, second.notes
    finally:
        service.close()


# --- 4. a state file reached through a symlink: two processes, two files, two locks -------------

def test_a_symlinked_state_file_is_shared_with_a_process_that_names_its_target(tmp_path: Path) -> None:
    """state_file names a symlink to the file on the persistent volume (as a host path or an image
    layout often does); a cron `sync` names the volume's file itself. Locks are taken beside the
    name given (two different lock files), and the first save replaces the symlink with a regular
    file in the link's folder: from then on the two processes keep two state files, and both win
    the claim of the same heads-up (two DMs). The volume's file never gets the facts either."""
    volume, app_dir = tmp_path / "volume", tmp_path / "app"
    volume.mkdir()
    app_dir.mkdir()
    real = volume / "state.json"
    real.write_text(json.dumps({"version": 2, "facts": {}, "expires": {}}))
    (app_dir / "state.json").symlink_to(real)
    run_store, cron_store = StateStore(app_dir / "state.json"), StateStore(real)
    key = "headsup:2026-11-23T09:00:00Z:opsgenie:Delivery:alice@example.com"
    won = [run_store.claim(key, "sending|1"), cron_store.claim(key, "sending|2")]
    assert won == [True, False], f"both processes won the claim: {won}; volume file: {real.read_text()}"


# --- 5. a pass lock that cannot be opened (read-only volume) stops every group, silently for the alert

def test_a_state_volume_where_the_lock_cannot_be_created_still_syncs_the_groups(emulators: Emulators,
                                                                                tmp_path: Path) -> None:
    """The README: a fact that cannot be saved (a full or read-only volume) stops the side effect
    it guards, and the pass fails with `the state file ... could not be saved`,
    slackgenie_state_not_saved_total and SlackgenieStateNotSaved; test_exactly_once checks "the
    groups are synced all the same". On a read-only volume (or wherever `<state>.lock` cannot be
    opened, here: it is a directory) the pass lock fails first, as `Busy`: no group is written at
    all, each says "cannot open the lock ...; group left as it is", and the state counter (the
    alert's input) stays at 0."""
    (tmp_path / ".slackgenie-state.json.lock").mkdir()  # open(O_RDWR|O_CREAT) fails, as on a read-only volume
    service = conftest.service_for(emulators, tmp_path, ANNOUNCE_DELIVERY)
    try:
        report = service.run_pass()
        metrics = service.metrics.exposition().decode()
        errors = [e for o in report.outcomes for e in o.plan.errors]
        assert emulators.slack.state.emails_of("delivery-support") == ["carol@example.com", "dana.lead@example.com"], \
            errors
        assert "slackgenie_state_not_saved_total 0.0" not in metrics
    finally:
        service.close()


# --- 6. the heads-ups' confirming read is not bounded by the pass deadline -----------------------

def test_a_pass_with_heads_ups_due_ends_by_its_deadline(emulators: Emulators, tmp_path: Path) -> None:
    """headsup.py: "Off the pass's critical path ... the sends stop at the pass deadline". The
    forecast is kept from an earlier read, but the confirming read of the due schedules
    (source.stretches) runs after the groups, on the critical path, with no regard for `until`:
    a slow provider (each request 4 s, under the 10 s timeout) makes the pass outlive
    pass_deadline, and the daemon abandons it (deadline + 1.5 s) with its report."""
    config = ("interval: 60\npass_deadline: 5\n"
              "retry: {attempts: 2, budget: 20, backoff: 0.05, max_backoff: 0.5, timeout: 10}\n"
              + SAMPLE_CONFIG.replace("interval: 60\n", "").replace(
                  "  - usergroup: delivery-support\n", "  - usergroup: delivery-support\n    heads_up: 1h\n"))
    path = write_config(tmp_path, config, fast_retry=False)
    service = build(load(str(path), {**emulators.env()}), clock=conftest.SteppedClock(emulators.clock))
    try:
        at = emulators.clock.now()
        emulators.clock.set(at - timedelta(hours=2))  # 06:58: a pass reads the shifts, none due yet
        assert service.run_pass().ok and service.headsups.next_at(emulators.clock.now()) is not None
        emulators.clock.set(at)  # 08:58: alice's heads-up is due, from the kept forecast
        emulators.slack.inject(r"usergroups\.list", kind="latency", delay=3.0, times=1)  # the pass's own read
        emulators.opsgenie.inject(r"/overrides$", kind="latency", delay=4.0, times=None, method="GET")
        began = time.monotonic()
        report = service.run_pass()
        took = time.monotonic() - began
        assert took <= 5 + 1.5, f"the pass took {took:.1f} s with pass_deadline 5: {report.notes}"
    finally:
        emulators.opsgenie.clear_faults()
        service.close()


# --- 7. an HTTP 5xx from Slack's edge after the post was made is taken as "surely not posted" ---

def test_a_post_answered_by_a_gateway_504_is_looked_for_not_posted_again(emulators: Emulators,
                                                                        tmp_path: Path) -> None:
    """slack/client.py itself says a 500 "may not be" safe to repeat (the call may have been
    carried out) and never retries chat.postMessage on one; delivery.maybe_done says any HTTP
    status is an answer ("not done") unless its body is a JSON internal_error. A 502/504 page
    from Slack's edge after the backend posted the message is thus "surely not posted": the next
    pass posts the announcement again without looking."""
    emulators.slack.inject(r"chat\.postMessage", kind="after", status=504, times=1,
                           body="<html><body>504 Gateway Time-out</body></html>")
    service = conftest.service_for(emulators, tmp_path, ANNOUNCE_DELIVERY)
    try:
        first = service.run_pass()
        second = service.run_pass()
        assert len(announcements(emulators)) == 1, (first.notes, second.notes)
        assert any("was posted by an earlier attempt" in n for n in second.notes), second.notes
    finally:
        service.close()


# --- 8. give-back ends an override that was not taken from Slack -------------------------------

def test_give_back_never_ends_an_override_that_was_not_taken_from_slack(emulators: Emulators, tmp_path: Path) -> None:
    """README: give-back ends only overrides taken with /oncall take (recorded in the state file).
    The schedule's owner gave bob 08:00-17:00 in Opsgenie. bob asks `/oncall take 1h`: the
    look-before-create finds the owner's override (it covers the hour), records it as taken
    from Slack, and says "✅". `/oncall give-back` then deletes the owner's whole override."""
    og = emulators.opsgenie.state
    schedule = og.schedule("Delivery Support_schedule", by="name")
    assert schedule is not None
    og.add_override(schedule, "bob@example.com", datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
                    datetime(2026, 11, 23, 17, 0, tzinfo=UTC), alias="owner-made")
    service = service_for(emulators, tmp_path, "provider: opsgenie\n" + SAMPLE_CONFIG)
    try:
        app = SlackApp(service)
        app.refresh(service.run_pass())
        bob = uid(emulators, "bob@example.com")
        ask_later(emulators, app, "take 1h delivery-support", bob, "t")
        taken = press(emulators, app, bob, offered_button(emulators, "t", "take_confirm"), "p")
        join_syncs(app)
        _, back = ask_later(emulators, app, "give-back", bob, "back")
        join_syncs(app)
        deleted = [r.path for r in emulators.opsgenie.requests if r.method == "DELETE"]
        assert not any("owner-made" in p for p in deleted), (taken, back)
        assert any(o.alias == "owner-made" for o in schedule.overrides)
    finally:
        service.close()


# --- 9. unbounded: every take and give-back keeps its finished thread for ever ------------------

def test_the_apps_list_of_take_syncs_does_not_grow_without_bound(emulators: Emulators, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """SlackApp.syncs gets one Thread per take or give-back (for the tests to join) and never lets
    go of them: a long-running `run` keeps every finished thread (and, through its target's
    closure, the app) for as long as it lives."""
    service = service_for(emulators, tmp_path, "provider: opsgenie\n" + SAMPLE_CONFIG)
    try:
        app = SlackApp(service)
        monkeypatch.setattr(service, "run_pass", lambda dry_run=False: (_ for _ in ()).throw(RuntimeError("x")))
        for _ in range(300):  # bounded: 300 takes over the app's life
            app.sync_soon()
        join_syncs(app)
        assert len(app.syncs) <= 64, f"{len(app.syncs)} finished threads kept"
    finally:
        service.close()


# --- 10. a look that fails for a moment settles a lost post for good: it is never made ----------

def test_a_lost_announcement_whose_look_fails_for_a_moment_is_looked_for_again(emulators: Emulators,
                                                                               tmp_path: Path) -> None:
    """The post's connection drops (nothing reached Slack, but who can tell); the next pass's
    look (conversations.history) meets a short Slack outage. _settle takes any CannotLook as
    final ("may have been posted; not repeated") and records the membership as told: the pass
    after, when Slack is back and could look, does nothing, and the change is never announced.
    The same path records a heads-up as "sent?" for good (headsup._settle)."""
    service = conftest.service_for(emulators, tmp_path, ANNOUNCE_DELIVERY)
    try:
        emulators.slack.inject(r"chat\.postMessage", kind="drop", times=1)
        first = service.run_pass()
        emulators.slack.inject(r"conversations\.history", status=503, times=4)  # one pass's attempts
        second = service.run_pass()
        third = service.run_pass()
        assert len(announcements(emulators)) == 1, (first.notes, second.notes, third.notes)
    finally:
        service.close()


def test_a_pass_that_waited_for_the_pass_lock_still_ends_by_its_deadline(emulators: Emulators,
                                                                         tmp_path: Path) -> None:
    """service.run_pass waits up to pass_deadline for the pass lock (a cron `sync` holds it), then
    the reconciler starts its own pass_deadline from there: the pass may write groups until
    twice the deadline after it began, long after the daemon abandoned it (deadline + 1.5 s,
    "it writes nothing more")."""
    import threading

    config = "pass_deadline: 5\n" + ANNOUNCE_DELIVERY
    service = conftest.service_for(emulators, tmp_path, config)
    other = StateStore(tmp_path / ".slackgenie-state.json")  # the cron run's pass
    holding, release = threading.Event(), threading.Event()

    def cron_pass() -> None:
        with other.exclusive(timeout=5):
            holding.set()
            release.wait(4.0)

    cron = threading.Thread(target=cron_pass, daemon=True)
    cron.start()
    try:
        assert holding.wait(5)
        emulators.slack.inject(r"usergroups\.list", kind="latency", delay=3.0, times=1)
        began = time.monotonic()
        service.run_pass()
        writes = [r.at for r in emulators.slack.requests if r.path.endswith("usergroups.users.update")]
        late = [round(at - (time.time() - (time.monotonic() - began)), 1) for at in writes]
        assert all(t <= 5 + 1.5 for t in late), f"group written {late} s after the pass began (pass_deadline 5)"
    finally:
        release.set()
        cron.join(timeout=10)
        service.close()
