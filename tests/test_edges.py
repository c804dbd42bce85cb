"""Trustworthy at the edges: what a careless API sends never becomes a person, "nobody" or a crash.

Each test runs the real CLI against the emulators over HTTP, with one answer bent out of shape
by the emulator (a ``transform`` fault: the real answer, one field wrong).
"""

from __future__ import annotations

import io
import json
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from slackgenie.core.clock import RealClock
from slackgenie.engine.daemon import Daemon
from slackgenie_emulators import Emulators
from slackgenie.core.model import PassReport
from slackgenie.ops.web import Health

from conftest import FAST_RETRY, CliResult, output, run_cli, spawn
from providers_fixtures import run_main
from test_operations import metric, sync_main, wait_for  # noqa: F401 - sync_main: a fixture


def usage_error(args: list[str]) -> CliResult:
    """``cli.main`` in-process where argparse refuses the arguments (SystemExit, before any setting is read)."""
    from slackgenie.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as ended:
        main(args)
    return CliResult(int(ended.value.code or 0), out.getvalue(), err.getvalue())

DELIVERY = "Delivery Support_schedule"
BEFORE = ["bob@example.com", "dana.lead@example.com"]  # @delivery-support before any sync
NOW = ["carol@example.com", "dana.lead@example.com"]  # who it should hold at the sample's start


def bulk_entry(name: str, **changes: Any) -> Callable[[Any], Any]:
    """Change one schedule's item in an Opsgenie list answer: the bulk ``GET /v2/schedules/on-calls``
    (items named by ``_parent``) or ``GET /v2/schedules`` (items named themselves)."""

    def transform(body: Any) -> Any:
        for item in body["data"]:
            if item.get("_parent", item)["name"] == name:
                item.update(changes)
        return body

    return transform


def looked_up(emu: Emulators) -> list[str]:
    return [r.params.get("email", "") for r in emu.slack.requests if r.path.endswith("users.lookupByEmail")]


@pytest.mark.parametrize("recipients", [[None], [{"type": "user"}], [""], [42], "carol@example.com", None])
def test_a_malformed_on_call_entry_fails_its_own_group_only(emulators: Emulators, sync_main, recipients: Any) -> None:  # type: ignore[no-untyped-def]
    emulators.opsgenie.inject(r"^/v2/schedules/on-calls$", kind="transform",
                              transform=bulk_entry(DELIVERY, onCallRecipients=recipients))
    result = sync_main("sync")
    assert result.code == 1
    assert emulators.slack.state.emails_of("delivery-support") == BEFORE  # left alone, despite its static user
    assert "malformed" in result.out and "Traceback" not in result.err
    assert not any(e in ("None", "42", "") or e.startswith("{") for e in looked_up(emulators))
    assert emulators.slack.state.emails_of("platform-oncall") == ["ivan@example.com"]  # the others are synced


@pytest.mark.parametrize("parent", ["x", ["x"], {"id": ["x"], "name": DELIVERY}, None, {"name": DELIVERY}])
def test_an_entry_without_a_readable_parent_is_read_again_on_its_own(emulators: Emulators, sync_main, parent: Any) -> None:  # type: ignore[no-untyped-def]
    emulators.opsgenie.inject(r"^/v2/schedules/on-calls$", kind="transform",
                              transform=bulk_entry(DELIVERY, _parent=parent))
    result = sync_main("sync")
    assert result.code == 0, result.both
    assert emulators.slack.state.emails_of("delivery-support") == NOW
    assert emulators.opsgenie.calls(r"/v2/schedules/[^/]+/on-calls$") == 1  # only the unreadable one


def test_a_single_schedule_answer_that_does_not_fit_is_a_failed_read(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    emulators.opsgenie.inject(r"^/v2/schedules/on-calls$", status=503, times=10)  # force per-schedule reads
    emulators.opsgenie.inject(r"^/v2/schedules/[^/]+/on-calls$", kind="transform",
                              transform=lambda body: {**body, "data": {**body["data"], "onCallRecipients": [None]}})
    result = sync_main("sync")
    assert result.code == 1
    assert emulators.slack.state.emails_of("delivery-support") == BEFORE
    assert emulators.slack.calls(r"usergroups\.users\.update") == 0


def test_a_group_listed_without_members_is_not_read_as_empty(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    def drop_users(body: Any) -> Any:
        for group in body["usergroups"]:
            if group["handle"] == "payments-oncall":
                del group["users"]
        return body

    emulators.slack.inject(r"usergroups\.list", kind="transform", transform=drop_users)
    result = sync_main("sync")
    assert result.code == 1
    assert "payments-oncall" in result.out and "malformed" in result.out
    gid = emulators.slack.state.group_by_handle("payments-oncall").id  # type: ignore[union-attr]
    assert not [u for u in emulators.slack.state.group_updates if u[1] == gid]  # never rewritten
    assert emulators.slack.state.emails_of("delivery-support") == NOW


# --- secrets never shown ----------------------------------------------------------------------
def _echoing_error(key: str) -> str:
    return json.dumps({"message": f"Invalid request from GenieKey {key} (key {key})", "took": 0.0,
                       "requestId": "r-1"})


def test_an_api_echoing_the_key_reaches_no_output(emulators: Emulators, sync_main, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key, token = emulators.env()["OPSGENIE_API_KEY"], emulators.env()["SLACK_BOT_TOKEN"]
    emulators.opsgenie.inject(r"on-calls", status=400, body=_echoing_error(key))
    emulators.slack.inject(r"users\.lookupByEmail", status=200, body=f"<html>proxy error for {token}</html>")
    prom = tmp_path / "metrics.prom"
    outputs = [sync_main("sync", "--metrics-file", str(prom)), sync_main("status"), sync_main("check"),
               sync_main("sync", "--dry-run")]
    assert all(r.code == 1 for r in outputs), [r.both for r in outputs]
    assert "Invalid request" in outputs[0].out  # the API's message is shown, without the key
    for text in [r.both for r in outputs] + [prom.read_text()]:
        assert key not in text and token not in text
    statuses = {sample.labels["status"] for family in text_string_to_metric_families(prom.read_text())
                for sample in family.samples if sample.name == "slackgenie_api_requests_total"}
    assert statuses and all(s.isdigit() or re.fullmatch(r"[a-z_]+", s) for s in statuses), statuses


@pytest.mark.parametrize("name", ["OPSGENIE_API_KEY", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"])
def test_a_secret_with_a_line_break_is_refused_unprinted(emulators: Emulators, sync_main, name: str) -> None:  # type: ignore[no-untyped-def]
    value = (emulators.env().get(name) or "xoxb-abcdef123456") + "\nsecond-line-of-it"
    result = sync_main("sync", env={name: value})
    assert result.code == 2 and name in result.err and "line break" in result.err
    assert value not in result.both and "second-line-of-it" not in result.both
    assert emulators.opsgenie.calls("") == 0 and emulators.slack.calls("") == 0


# --- configuration edges: exit 2, the file, the key and the fix, before any API call -----------
def test_a_config_error_with_a_non_ascii_key_is_printed_under_the_c_locale(emulators: Emulators,
                                                                          tmp_path: Path) -> None:
    """Every case is in test_settings_errors.py (in-process); here the CLI prints one whose key is
    not ASCII, under LANG=C, exits 2 and calls nothing."""
    text, key, fix = "syncs:\n  - usergroup: a\n    schédules: [X]\n", "syncs[0].schédules", "remove this key"
    (tmp_path / "slackgenie.yaml").write_text(text, encoding="utf-8")
    result = run_cli(["sync"], {**emulators.env(), "LANG": "C", "LC_ALL": "C", "PYTHONIOENCODING": ""}, tmp_path)
    assert result.code == 2
    assert "slackgenie.yaml" in result.err and key in result.err and fix in result.err
    assert "Traceback" not in result.err
    assert emulators.opsgenie.calls("") == 0 and emulators.slack.calls("") == 0


def test_a_config_that_is_not_utf8_is_a_config_error(emulators: Emulators, tmp_path: Path) -> None:
    (tmp_path / "slackgenie.yaml").write_bytes(b"syncs:\n  - usergroup: caf\xe9\n    schedules: [X]\n")
    result = run_main(["sync"], emulators.env())
    assert result.code == 2 and "UTF-8" in result.err and "Traceback" not in result.err


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "1999-01-01T00:00:00Z"])
def test_an_out_of_range_preview_time_is_a_usage_error(emulators: Emulators, at: str) -> None:
    result = usage_error(["sync", "--at", at])
    assert result.code == 2 and "out of range" in result.err and "Traceback" not in result.err


@pytest.mark.parametrize("content", ["[1, 2]", '{"users": [1]}', '{"users": {"a": 1}}', "\x00\xff", "null"])
def test_a_cache_file_of_the_wrong_shape_is_set_aside(emulators: Emulators, sync_main, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                      content: str) -> None:
    (tmp_path / "cache.json").write_text(content, encoding="latin-1")
    config = emulators.org.config_yaml + "cache_file: cache.json\n"
    result = sync_main("sync", config=config)
    assert result.code == 0, result.both
    assert "directory.cache_unreadable" in result.err
    assert json.loads((tmp_path / "cache.json").read_text())["users"]  # written afresh


# --- a bad forecast input costs that schedule its forecast, nothing else ----------------------
ANNOUNCE_DELIVERY = """\
syncs:
  - usergroup: delivery-support
    schedules: [Delivery Support_schedule]
    users: [dana.lead@example.com]
    announce: '#delivery'
"""
ANNOUNCED = ANNOUNCE_DELIVERY + """\
  - usergroup: payments-oncall
    schedules: [Payments_schedule]
    announce: '#payments'
"""


@pytest.mark.parametrize("changes", [{"timezone": "Bogus/Zone"}, {"rotations": [{"type": "daily"}]},
                                     {"rotations": [{"startDate": "2026-11-02T09:00:00Z", "type": "daily",
                                                     "participants": [], "timeRestriction": {
                                                         "type": "time-of-day", "restriction": {"startHour": "x"}}}]}])
def test_a_schedule_the_forecast_cannot_read_is_still_synced(emulators: Emulators, sync_main, changes: Any) -> None:  # type: ignore[no-untyped-def]
    emulators.opsgenie.inject(r"^/v2/schedules$", kind="transform", transform=bulk_entry(DELIVERY, **changes))
    result = sync_main("sync", config=ANNOUNCED)
    assert result.code == 0, result.both
    assert "Traceback" not in result.err and "@delivery-support" in result.out
    assert emulators.slack.state.emails_of("delivery-support") == NOW
    assert any(m["channel"] == emulators.slack.state.channel("delivery").id for m in emulators.slack.state.messages)


def test_the_daemon_keeps_passing_with_a_schedule_it_cannot_forecast(emulators: Emulators, tmp_path: Path) -> None:
    emulators.opsgenie.inject(r"^/v2/schedules$", kind="transform",
                              transform=bulk_entry(DELIVERY, timezone="Bogus/Zone"))
    (tmp_path / "slackgenie.yaml").write_text(ANNOUNCED + "interval: 1\n")
    proc = spawn([sys.executable, "-m", "slackgenie", "run", "--port", "0"], emulators.env(), tmp_path, "daemon")
    try:
        assert wait_for(lambda: output(tmp_path, "daemon")[1].count('"pass.done"') >= 3, 20)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    err = output(tmp_path, "daemon")[1]
    assert "pass_crashed" not in err and "Traceback" not in err
    assert "opsgenie.schedule_unreadable" in err


# --- Slack as it is -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["multi", "single"])
def test_a_guest_on_call_is_named_and_left_out_and_the_group_gets_the_rest(emulators: Emulators, sync_main,  # type: ignore[no-untyped-def]
                                                                           kind: str) -> None:
    emulators.slack.state.user_by_email("carol@example.com").guest = kind  # type: ignore[union-attr]
    result = sync_main("sync")
    assert result.code == 1
    assert "carol@example.com" in result.out and "guest" in result.out
    assert emulators.slack.state.emails_of("delivery-support") == ["dana.lead@example.com"]
    assert emulators.slack.calls(r"usergroups\.users\.update") == 2  # delivery and platform, each once
    assert emulators.slack.state.emails_of("platform-oncall") == ["ivan@example.com"]


# --- announcements: exactly once, retried until posted, dropped with a fix when they cannot be -


def announcements(emu: Emulators) -> list[str]:
    channel = emu.slack.state.channel("delivery").id  # type: ignore[union-attr]
    return [m["text"] for m in emu.slack.state.messages if m["channel"] == channel and "is now" in m["text"]]


def test_overlapping_syncs_announce_a_change_once(emulators: Emulators, tmp_path: Path) -> None:
    (tmp_path / "slackgenie.yaml").write_text(ANNOUNCE_DELIVERY)
    # Both runs read the same groups and overlap in their writes: without a lock both announce.
    emulators.slack.inject(r"usergroups\.users\.update", kind="latency", delay=1.0)
    procs = [spawn([sys.executable, "-m", "slackgenie", "sync"], emulators.env(), tmp_path, f"sync{i}")
             for i in range(2)]
    codes = [p.wait(timeout=60) for p in procs]
    assert codes == [0, 0]
    assert len(announcements(emulators)) == 1
    assert emulators.slack.state.emails_of("delivery-support") == NOW


def test_a_failed_announcement_is_posted_by_a_later_run(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    emulators.slack.inject(r"chat\.postMessage", status=429, retry_after=120, times=1)  # not posted, beyond budget
    first = sync_main("sync", config=ANNOUNCE_DELIVERY)
    assert first.code == 0, first.both  # the group is right; the announcement is owed
    assert "tried again next pass" in first.out and announcements(emulators) == []
    emulators.slack.clear_faults()
    second = sync_main("sync", config=ANNOUNCE_DELIVERY)
    assert "announced in #delivery" in second.out
    [text] = announcements(emulators)
    carol, bob = (emulators.slack.state.user_by_email(e).id for e in ("carol@example.com", "bob@example.com"))  # type: ignore[union-attr]
    assert f"On call: <@{carol}>" in text and f"Off call: <@{bob}>" in text
    sync_main("sync", config=ANNOUNCE_DELIVERY)
    assert len(announcements(emulators)) == 1


def test_an_announcement_that_cannot_succeed_names_the_fix_and_is_dropped(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    emulators.slack.state.channel("delivery").bot_member = False  # type: ignore[union-attr]
    first = sync_main("sync", config=ANNOUNCE_DELIVERY)
    assert "dropped (not_in_channel)" in first.out and "/invite @Slackgenie" in first.out
    assert "not_in_channel" in first.err  # logged too
    emulators.reset_logs()
    sync_main("sync", config=ANNOUNCE_DELIVERY)
    assert emulators.slack.calls(r"chat\.postMessage") == 0  # not retried for ever


def test_a_channel_name_resolves_without_groups_read(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    # The default emulator token has the manifest's scopes, which do not include groups:read.
    emulators.slack.state.add_channel("oncall-private", private=True)
    result = sync_main("sync", config=ANNOUNCE_DELIVERY)
    assert "announced in #delivery" in result.out, result.both
    assert len(announcements(emulators)) == 1
    private = sync_main("sync", config=ANNOUNCE_DELIVERY.replace("'#delivery'", "'#oncall-private'")
                       .replace("dana.lead@example.com]", "dana.lead@example.com, bob@example.com]"))
    assert "channel_not_found" in private.out and "groups:read" in private.out


# --- deadlines: no pass, no call, no stop waits on a server that does not finish ---------------
DEADLINE = "pass_deadline: 5\n"


@pytest.mark.parametrize("api, pattern", [("opsgenie", r"on-calls"), ("slack", r"usergroups\.users\.update")])
def test_a_dripping_server_cannot_hold_a_sync(emulators: Emulators, sync_cli, api: str, pattern: str) -> None:  # type: ignore[no-untyped-def]
    server = emulators.opsgenie if api == "opsgenie" else emulators.slack
    server.inject(pattern, kind="drip", delay=2.0)  # headers at once, then a byte every 2 s
    began = time.monotonic()
    result = sync_cli("sync", config=emulators.org.config_yaml + DEADLINE)
    took = time.monotonic() - began
    assert result.code == 1 and "Traceback" not in result.err
    # A 5 s pass deadline, then at most 3 s for the pass to stop and 3 s more to be abandoned,
    # plus the process's start: it used to run for as long as the server kept dripping (75 s+).
    assert took < 5 + 3 + 3 + 5, f"sync took {took:.1f} s against a dripping {api}"
    assert emulators.slack.state.emails_of("delivery-support") == BEFORE or api == "slack"
    assert "Traceback" not in result.err


def _updates_after(emu: Emulators, t: float) -> int:
    """Writes that arrived at Slack after ``t`` (answered or not)."""
    return sum(1 for at, path in emu.slack.arrivals if path.endswith("usergroups.users.update") and at > t)


@pytest.mark.parametrize("command, sig", [("run", signal.SIGTERM), ("sync", signal.SIGINT), ("sync", signal.SIGTERM)])
def test_a_stop_during_a_slow_write_ends_in_seconds_and_writes_nothing_after(
        emulators: Emulators, tmp_path: Path, command: str, sig: signal.Signals) -> None:
    (tmp_path / "slackgenie.yaml").write_text(emulators.org.config_yaml + FAST_RETRY.replace("timeout: 3", "timeout: 30"))
    emulators.slack.inject(r"usergroups\.users\.update", kind="latency", delay=25.0)
    args = [sys.executable, "-m", "slackgenie", command] + (["--port", "0"] if command == "run" else [])
    proc = spawn(args, emulators.env(), tmp_path, command)
    try:
        # The emulator logs a request once answered: wait for the reads, then the write is in flight.
        assert wait_for(lambda: _updates_after(emulators, 0) >= 1, 20)
        time.sleep(0.5)
        sent = time.time()
        proc.send_signal(sig)
        code = proc.wait(timeout=15)
        stopped_in = time.time() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    out, err = output(tmp_path, command)
    assert stopped_in < 5, f"{command} took {stopped_in:.1f} s to stop"
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert code == (0 if command == "run" else 128 + sig)
    time.sleep(1)
    assert _updates_after(emulators, sent) == 0  # nothing retried or sent after the stop
    assert _updates_after(emulators, 0) >= 1


# --- the wall clock stepping back does not stall the loop ---------------------------------------
class _SteppedBack(RealClock):
    """A wall clock that jumps back an hour after its first reading (NTP, a resumed VM)."""

    def __init__(self) -> None:
        super().__init__()
        self.readings = 0

    def now(self) -> datetime:
        self.readings += 1
        return super().now() - (timedelta(hours=1) if self.readings > 1 else timedelta())


def test_the_loop_keeps_its_interval_when_the_wall_clock_steps_back() -> None:
    def a_pass() -> PassReport:
        return PassReport(outcomes=[], dry_run=False, started=datetime.now(timezone.utc))

    daemon = Daemon(a_pass, interval=0.3, clock=_SteppedBack(), max_passes=3)
    loop = threading.Thread(target=daemon.run, daemon=True)
    loop.start()
    loop.join(timeout=10)
    daemon.stop_event.set()
    assert not loop.is_alive(), "a 0.3 s interval became an hour when the wall clock stepped back"
    assert daemon.passes == 3


def test_pass_ages_are_monotonic() -> None:
    health = Health(interval=60)
    health.record(PassReport(outcomes=[], dry_run=False, started=datetime.now(timezone.utc)))
    ok, info = health.ready()
    assert ok and info["last_pass_age_seconds"] >= 0


# --- no fan-out into a throttled API -------------------------------------------------------------
def test_a_throttled_opsgenie_is_not_fanned_out_into(tmp_path: Path) -> None:
    from slackgenie_emulators.sample import scaled_org

    with Emulators(scaled_org(50), at=datetime(2026, 11, 23, 8, 58, tzinfo=timezone.utc)) as emu:
        emu.opsgenie.inject(r"^/v2/schedules/on-calls$", status=503)  # the bulk read is down...
        emu.opsgenie.inject(r"^/v2/schedules/[^/]+/on-calls$", status=429)  # ...and the rest throttled
        (tmp_path / "slackgenie.yaml").write_text(emu.org.config_yaml + FAST_RETRY)
        result = run_main(["sync"], emu.env())
        sent = emu.opsgenie.calls(r"on-calls")
    assert result.code == 1 and "rate-limiting" in result.out
    # 4 bulk attempts, then one schedule's 4 attempts: the other 49 schedules are not asked
    # until the window Opsgenie named (X-RateLimit-Period-In-Sec) has passed.
    assert sent <= 4 + 4, f"{sent} on-call requests into a throttled API in one pass"
    assert emu.slack.calls(r"usergroups\.users\.update") == 0


def test_a_user_token_needs_a_bot_token_for_the_app(emulators: Emulators, sync_main, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    emulators.slack.state.add_token("xoxp-1111-user-token", "user")
    env = {"SLACK_BOT_TOKEN": "xoxp-1111-user-token", "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5"}
    (tmp_path / "slackgenie.yaml").write_text(emulators.org.config_yaml)
    write = run_main(["run", "--port", "0"], {**emulators.env(), **env})
    assert write.code == 2 and "SLACK_APP_BOT_TOKEN" in write.err and "xoxp-1111-user-token" not in write.err
    assert sync_main("sync", env={"SLACK_BOT_TOKEN": "xoxp-1111-user-token"}).code == 0  # sync alone is fine


def _bend_lookup(email: str, change: Callable[[dict[str, Any]], Any]) -> Callable[[Any], Any]:
    def transform(body: Any) -> Any:
        if body.get("user", {}).get("profile", {}).get("email") == email:
            return change(body)
        return body

    return transform


@pytest.mark.parametrize("change", [
    lambda b: {"ok": True},  # no user at all
    lambda b: {**b, "user": None},
    lambda b: {**b, "user": "carol"},
    lambda b: {**b, "user": {**b["user"], "id": "U00000004,U00000003"}},  # two ids in one: bob smuggled in
    lambda b: {**b, "user": {**b["user"], "id": 42}},
    lambda b: {**b, "user": {**b["user"], "deleted": "false"}},
    lambda b: {**b, "user": {**b["user"], "profile": "x"}},
])
def test_a_malformed_slack_user_answer_fails_its_group_only(emulators: Emulators, sync_main,  # type: ignore[no-untyped-def]
                                                             change: Callable[[dict[str, Any]], Any]) -> None:
    emulators.slack.inject(r"users\.lookupByEmail", kind="transform", transform=_bend_lookup("carol@example.com", change))
    # the workspace listing refused: people are looked up one by one
    emulators.slack.inject(r"users\.list$", kind="transform", transform=lambda b: {"ok": False, "error": "ratelimited"})
    result = sync_main("sync")
    assert result.code == 1 and "malformed" in result.out and "Traceback" not in result.both
    assert emulators.slack.state.emails_of("delivery-support") == BEFORE  # carol's group left alone
    assert emulators.slack.state.emails_of("platform-oncall") == ["ivan@example.com"]  # the others synced


@pytest.mark.parametrize("twice", ["same schedule twice", "two schedules of one name"])
def test_an_ambiguous_on_call_answer_is_not_guessed(emulators: Emulators, sync_main, twice: str) -> None:  # type: ignore[no-untyped-def]
    def duplicate(body: Any) -> Any:
        entry = next(e for e in body["data"] if e["_parent"]["name"] == DELIVERY)
        other = {**entry, "onCallRecipients": ["erin@example.com"]}
        if twice == "two schedules of one name":
            other["_parent"] = {**entry["_parent"], "id": "0d5b1f7e-0000-4000-8000-000000000000"}
        body["data"].append(other)
        return body

    emulators.opsgenie.inject(r"^/v2/schedules/on-calls$", kind="transform", transform=duplicate)
    result = sync_main("sync")
    assert result.code == 1 and "entries for" in result.out
    assert emulators.slack.state.emails_of("delivery-support") == BEFORE


def test_a_handle_listed_twice_is_not_guessed(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    def twice(body: Any) -> Any:
        group = next(g for g in body["usergroups"] if g["handle"] == "delivery-support")
        body["usergroups"].append({**group, "id": "S0OTHER1"})
        return body

    emulators.slack.inject(r"usergroups\.list", kind="transform", transform=twice)
    result = sync_main("sync")
    assert result.code == 1 and "twice" in result.out
    assert emulators.slack.state.emails_of("delivery-support") == BEFORE


def test_a_rate_limit_is_never_taken_to_last_longer_than_five_minutes(emulators: Emulators) -> None:
    from pydantic import SecretStr

    from slackgenie.retry import RetryPolicy
    from slackgenie.sources.http import SourceError
    from slackgenie.sources.opsgenie import OpsgenieClient

    emulators.opsgenie.inject(r"on-calls", status=429, retry_after=1e9, times=1)
    client = OpsgenieClient(emulators.opsgenie.url, SecretStr(emulators.env()["OPSGENIE_API_KEY"]),
                            RetryPolicy(attempts=2, budget=2, timeout=3))
    try:
        with pytest.raises(SourceError):
            client.list_on_calls()
        assert 0 < client.throttled_for() <= 300
    finally:
        client.close()


@pytest.mark.parametrize("name, value", [("OPSGENIE_API_URL", "0b7c1a2e-demo-4c1e-9d6f-emulatorkey1"),
                                         ("SLACK_API_URL", "ftp://xoxb-1111-2222-emulatortoken"),
                                         ("OPSGENIE_API_KEY", "q9z1")])
def test_a_secret_in_the_wrong_variable_is_not_printed(emulators: Emulators, sync_main, name: str, value: str) -> None:  # type: ignore[no-untyped-def]
    result = sync_main("sync", env={name: value})
    assert result.code == 2 and name in result.err and value not in result.both


@pytest.mark.parametrize("username", ["carol@example.com\u0000", "carol@example.com\n  @payments-oncall updated"])
def test_a_username_with_control_characters_is_a_failed_read(emulators: Emulators, sync_main, username: str) -> None:  # type: ignore[no-untyped-def]
    emulators.opsgenie.inject(r"^/v2/schedules/on-calls$", kind="transform",
                              transform=bulk_entry(DELIVERY, onCallRecipients=[username]))
    result = sync_main("sync")
    assert result.code == 1 and "malformed" in result.out
    assert emulators.slack.state.emails_of("delivery-support") == BEFORE
    assert "\n  @payments-oncall updated" not in result.out


def test_a_damaged_metrics_file_does_not_poison_the_next(emulators: Emulators, sync_main, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    prom = tmp_path / "m.prom"
    prom.write_text('slackgenie_passes_total{result="ok"} NaN\nslackgenie_passes_total{result="failed"} +Inf\n'
                    'slackgenie_group_last_in_sync_timestamp_seconds{group="removed-group"} 1\n')
    assert sync_main("sync", "--metrics-file", str(prom)).code == 0
    text = prom.read_text()
    assert metric(text, "slackgenie_passes_total", result="ok") == 1
    assert metric(text, "slackgenie_passes_total", result="failed") == 0
    assert "removed-group" not in text


def test_a_membership_that_comes_back_is_announced_again(emulators: Emulators, sync_main) -> None:  # type: ignore[no-untyped-def]
    # Delivery's daily rotation: carol now (Mon 08:58), alice from Mon 09:00, bob Tue, carol Wed.
    for day, hour in ((23, 8), (23, 10), (25, 10)):
        emulators.clock.set(datetime(2026, 11, day, hour, 58 if hour == 8 else 0, tzinfo=timezone.utc))
        assert sync_main("sync", config=ANNOUNCE_DELIVERY).code == 0
    carol = emulators.slack.state.user_by_email("carol@example.com").id  # type: ignore[union-attr]
    texts = announcements(emulators)
    assert len(texts) == 3 and f"On call: <@{carol}>" in texts[2]
