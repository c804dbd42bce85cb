"""Writes paced to Slack's rate tier: more changes than the tier allows are queued, not failed,
and written as soon as the limit allows, provoking no 429.

The in-process tests shrink the tier (2 writes per 6 s at the emulator; 7 s in the pacer, whose
window is wider, as in production) and the pass deadline (5 s: a pass does not wait for a slot
beyond it), so a backlog clears in seconds.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from slackgenie.core.clock import RealClock
from slackgenie.settings import load
from slackgenie.engine.daemon import Daemon
from slackgenie.core.model import PassReport
from slackgenie.wiring import Service, build
from slackgenie.slack.pacer import Pacer
from slackgenie_emulators import Emulators
from slackgenie_emulators.sample import scaled_org

from conftest import write_config
from providers_fixtures import run_main

AT = datetime(2026, 11, 23, 12, 30, tzinfo=timezone.utc)
WRITE = "usergroups.users.update"


def small_window_service(emu: Emulators, tmp_path: Path, org_config: str, pacer: Pacer | None = None) -> Service:
    emu.slack.enable_rate_limits(window=6.0, per_minute={WRITE: 2})
    path = write_config(tmp_path, org_config + "state_file: state.json\npass_deadline: 5\n")
    service = build(load(str(path), emu.env()), clock=RealClock())
    service.reconciler.target.pacer = pacer or Pacer({WRITE: 2}, window=7)
    return service


def throttled(emu: Emulators) -> int:
    return sum(1 for r in emu.slack.requests if r.status == 429)


def all_right(emu: Emulators, groups: int) -> bool:
    return all(emu.slack.state.members_of(f"team-{g:03d}-oncall") for g in range(groups))


def test_the_daemon_writes_a_backlog_as_the_limit_allows_without_a_429(tmp_path: Path) -> None:
    org = scaled_org(5)
    with Emulators(org, at=AT) as emu:
        service = small_window_service(emu, tmp_path, org.config_yaml.replace("interval: 60", "interval: 300"))
        reports: list[PassReport] = []
        daemon = Daemon(service.run_pass, 300, clock=RealClock(), max_passes=6, pass_deadline=5)

        def stop_when_done(report: PassReport) -> None:
            reports.append(report)
            if report.backlog_in is None:
                daemon.stop_event.set()

        daemon.on_report = stop_when_done
        try:
            daemon.run()
        finally:
            service.close()
    first = reports[0]
    assert sum(o.applied for o in first.outcomes) == 2 and sum(o.queued for o in first.outcomes) == 3
    assert first.ok  # queued is not failed
    assert [why for _, why in daemon.wakes] == ["start", "backlog", "backlog"]  # not the 300 s interval
    assert [sum(o.applied for o in r.outcomes) for r in reports] == [2, 2, 1]
    assert throttled(emu) == 0
    assert emu.slack.calls(rf"{WRITE}$") == 5  # each group written once


def test_a_one_shot_sync_waits_for_its_backlog_and_ends_with_everything_written(tmp_path: Path) -> None:
    org = scaled_org(4)
    with Emulators(org, at=AT) as emu:
        service = small_window_service(emu, tmp_path, org.config_yaml)
        reports: list[PassReport] = []
        waits: list[float] = []
        try:
            last = service.run_through_backlog(None, reports.append, lambda r, w: waits.append(w))
        finally:
            service.close()
        assert last.ok and last.backlog_in is None and all_right(emu, 4)
    assert [sum(o.queued for o in r.outcomes) for r in reports] == [2, 0]
    assert len(waits) == 1 and 0 < waits[0] < 10
    assert throttled(emu) == 0


def test_the_oldest_pending_group_is_written_first(tmp_path: Path) -> None:
    org = scaled_org(4)
    with Emulators(org, at=AT) as emu:
        config = org.config_yaml.replace("  - usergroup: team-000-oncall\n    schedules: [Team 000_schedule]\n", "")
        service = small_window_service(emu, tmp_path, config)  # team-000 is not managed yet
        try:
            first = service.run_pass()  # writes 001 and 002, queues 003
            assert [o.plan.handle for o in first.outcomes if o.queued] == ["team-003-oncall"]
        finally:
            service.close()
        # team-000 joins, its change the newest of all; one process remembers what waits longest
        service2 = small_window_service(emu, tmp_path, org.config_yaml, pacer=service.reconciler.target.pacer)
        service2.reconciler._pending.update(service.reconciler._pending)
        emu.reset_logs()
        try:
            second = service2.run_through_backlog(None, lambda r: None)
        finally:
            service2.close()
        order = [r.params.get("usergroup") for r in emu.slack.requests if r.path.endswith(WRITE)]
        ids = {emu.slack.state.group_by_handle(f"team-{g:03d}-oncall").id: g for g in (0, 3)}
        assert [ids[g] for g in order if g in ids] == [3, 0]
        assert second.ok


def test_sync_shows_queued_groups_and_exits_0(tmp_path: Path) -> None:
    """Slack's real tier (20 a minute): 25 changes; with --backlog-wait 0 the last 5 are left to
    the next run, shown as queued, and the run is not a failure."""
    org = scaled_org(25)
    with Emulators(org, at=AT) as emu:
        emu.slack.enable_rate_limits()
        write_config(tmp_path, org.config_yaml)
        prom = tmp_path / "m.prom"
        result = run_main(["sync", "--backlog-wait", "0", "--metrics-file", str(prom)], emu.env())
        assert result.code == 0, result.both[-3000:]
        # the alert rule waits for a queued group's turn (deploy/prometheus, promtool-tested)
        queued = [line for line in prom.read_text().splitlines()
                  if line.startswith("slackgenie_group_queued_until_timestamp_seconds{") and not line.endswith(" 0.0")]
        assert len(queued) == 5
        assert 'slackgenie_passes_total{result="ok"} 1.0' in prom.read_text()
        assert result.out.count("queued (Slack's rate limit: written in ~") == 5
        assert "20 updated, 5 queued" in result.out and "5 group(s) still queued" in result.out
        assert throttled(emu) == 0 and emu.slack.calls(rf"{WRITE}$") == 20


def test_a_group_slack_keeps_refusing_is_failed_not_queued_for_ever(tmp_path: Path) -> None:
    """Another app shares the limit: Slack answers 429 to writes the pacer allowed. Queued at
    first; once the wait is longer than the limit explains (the backlog and 3 windows), failed
    and loud, so the alert is not held off for ever."""
    org = scaled_org(1)
    with Emulators(org, at=AT) as emu:
        service = small_window_service(emu, tmp_path, org.config_yaml, pacer=Pacer({WRITE: 2}, window=2))
        emu.slack.inject(rf"{WRITE}$", status=429, retry_after=1)
        reports: list[PassReport] = []
        try:
            for _ in range(20):  # bounded: about 1 s a pass; the limit explains 3 windows (6 s)
                reports.append(service.run_pass())
                if reports[-1].outcomes[0].apply_error:
                    break
        finally:
            service.close()
    assert reports[0].outcomes[0].queued and reports[0].ok
    last = reports[-1].outcomes[0]
    assert not last.queued and "Slack keeps refusing writes (HTTP 429)" in str(last.apply_error)
    assert not reports[-1].ok and 2 <= len(reports) < 20
    text = service.metrics.exposition().decode()
    assert 'slackgenie_group_queued_until_timestamp_seconds{group="team-000-oncall"} 0.0' in text
