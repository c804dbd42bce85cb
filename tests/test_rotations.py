"""Rotation maths (pure): turns, restrictions, overrides and the next handoff."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from slackgenie.core.rotation import NOBODY, Override, Participant, Restriction, Rotation, ScheduleModel, Span

UTC = timezone.utc
A, B, C = (Participant("user", f"{n}@x.io", n) for n in "abc")
Z = Participant("user", "z@x.io")
MON, FRI = 0, 4


def hours(sh: int, sm: int, eh: int, em: int) -> Restriction:
    """A time-of-day restriction: every day from sh:sm to eh:em."""
    return Restriction(daily=True, spans=(Span(timedelta(hours=sh, minutes=sm), timedelta(hours=eh, minutes=em)),))


def t(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)  # 2026-11-02 is a Monday


def who(s: ScheduleModel, at: datetime) -> set[str]:
    return {p.name for _, p, _ in s.on_call(at)}


def rot(kind: str, length: int = 1, start: datetime | None = None, restriction: Restriction | None = None,
        participants: list | None = None, end: datetime | None = None) -> Rotation:
    return Rotation("r1", "R1", start or t(2, 9), kind, participants or [A, B, C], length, end, restriction)


def test_daily_weekly_hourly_turns() -> None:
    daily = ScheduleModel("s", "S", rotations=[rot("daily")])
    assert [who(daily, t(d, 10)) for d in (2, 3, 4, 5)] == [{"a@x.io"}, {"b@x.io"}, {"c@x.io"}, {"a@x.io"}]
    assert who(daily, t(3, 8, 59)) == {"a@x.io"}  # handoff at 09:00, not midnight
    weekly = ScheduleModel("s", "S", rotations=[rot("weekly", length=2)])
    assert who(weekly, t(15, 8)) == {"a@x.io"} and who(weekly, t(16, 9)) == {"b@x.io"}
    hourly = ScheduleModel("s", "S", rotations=[rot("hourly", length=3)])
    assert who(hourly, t(2, 11, 59)) == {"a@x.io"} and who(hourly, t(2, 12)) == {"b@x.io"}


def test_before_start_and_after_end_nobody() -> None:
    s = ScheduleModel("s", "S", rotations=[rot("daily", end=t(4, 9))])
    assert who(s, t(2, 8)) == set() and who(s, t(4, 9)) == set() and who(s, t(3, 9)) == {"b@x.io"}


def test_time_of_day_restriction_including_across_midnight() -> None:
    night = hours(22, 0, 6, 30)
    s = ScheduleModel("s", "S", rotations=[rot("weekly", restriction=night)])
    assert who(s, t(3, 23)) == {"a@x.io"} and who(s, t(4, 6, 29)) == {"a@x.io"}
    assert who(s, t(4, 6, 30)) == set() and who(s, t(4, 12)) == set()


def test_weekday_restriction_in_the_schedule_time_zone() -> None:
    weekdays = Restriction(daily=False, spans=(Span(timedelta(hours=9), timedelta(hours=17), MON, FRI),))
    s = ScheduleModel("s", "S", timezone="America/New_York", rotations=[rot("weekly", restriction=weekdays)])
    assert who(s, t(2, 13, 59)) == set()  # 08:59 in New York
    assert who(s, t(2, 14)) == {"a@x.io"}  # 09:00 in New York
    assert who(s, t(6, 21, 59)) == {"a@x.io"} and who(s, t(6, 22)) == set()  # Friday 17:00 NY
    assert who(s, t(7, 15)) == set()  # Saturday


def test_override_replaces_one_rotation_or_all() -> None:
    r2 = Rotation("r2", "Backup", t(2, 9), "daily", [C])
    s = ScheduleModel("s", "S", rotations=[rot("daily"), r2])
    s.overrides.append(Override("o1", Z, t(3, 12), t(3, 14), ["R1"]))
    assert who(s, t(3, 13)) == {"z@x.io", "c@x.io"}
    assert who(s, t(3, 14)) == {"b@x.io", "c@x.io"}
    s.overrides.append(Override("o2", NOBODY, t(4, 0), t(4, 1)))
    assert who(s, t(4, 0, 30)) == set()


def test_next_change_finds_rotation_restriction_and_override_edges() -> None:
    s = ScheduleModel("s", "S", rotations=[rot("daily")])
    assert s.next_change(t(3, 8)) == t(3, 9)
    s.overrides.append(Override("o", Z, t(3, 8, 30), t(3, 8, 45)))
    assert s.next_change(t(3, 8)) == t(3, 8, 30)
    assert s.next_change(t(3, 8, 30)) == t(3, 8, 45)
    nine_to_five = hours(9, 0, 17, 0)
    same = ScheduleModel("s", "S", rotations=[rot("weekly", participants=[A], restriction=nine_to_five)])
    assert same.next_change(t(3, 12)) == t(3, 17)
    assert same.next_change(t(3, 17)) == t(4, 9)
    assert ScheduleModel("s", "S", rotations=[rot("daily", participants=[A])]).next_change(t(3, 12)) is None


def test_next_change_is_consistent_with_on_call() -> None:
    s = ScheduleModel("s", "S", timezone="Europe/Berlin", rotations=[rot("daily", restriction=hours(8, 30, 18, 0))])
    at = t(2, 0)
    for _ in range(20):
        nxt = s.next_change(at)
        assert nxt is not None and nxt > at
        assert who(s, nxt) != who(s, at)
        assert who(s, nxt - timedelta(minutes=1)) == who(s, at)
        at = nxt


def test_next_per_rotation_and_exact_next() -> None:
    backup = Rotation("r2", "Backup", t(2, 9), "weekly", [C, A])
    s = ScheduleModel("s", "S", rotations=[rot("daily"), backup])
    at = t(3, 12)  # daily: b; weekly: c
    assert {r.name: p.name for r, p in s.next_per_rotation(at)} == {"R1": "c@x.io", "Backup": "a@x.io"}
    assert who(s, s.next_change(at)) == {"c@x.io"}  # exact next: Tuesday 09:00 (c on both rotations)


def test_daily_handoffs_keep_their_wall_clock_time_across_dst() -> None:
    london = ScheduleModel("s", "S", timezone="Europe/London",
                           rotations=[Rotation("r", "R", datetime(2027, 3, 1, 9, 0, tzinfo=UTC), "daily", [A, B, C])])
    # After the clocks go forward (2027-03-28) the 09:00 London handoff is 08:00 UTC.
    assert london.next_change(datetime(2027, 4, 5, 7, 0, tzinfo=UTC)) == datetime(2027, 4, 5, 8, 0, tzinfo=UTC)
    before = {p.name for _, p, _ in london.on_call(datetime(2027, 4, 5, 7, 59, tzinfo=UTC))}
    after = {p.name for _, p, _ in london.on_call(datetime(2027, 4, 5, 8, 0, tzinfo=UTC))}
    assert before != after and len(before) == len(after) == 1


def test_a_window_opening_in_the_skipped_hour_opens_a_gap_later() -> None:
    night = hours(1, 30, 6, 0)
    s = ScheduleModel("s", "S", timezone="Europe/London",
                      rotations=[Rotation("r", "R", datetime(2027, 3, 1, 0, 0, tzinfo=UTC), "weekly", [A], 1, None, night)])
    # 2027-03-28: at 01:00 UTC London jumps from 00:59 GMT to 02:00 BST, so 01:30 never happens.
    # As java.time resolves a skipped time, it moves on by the gap: 02:30 BST = 01:30Z.
    start = datetime(2027, 3, 28, 0, 30, tzinfo=UTC)
    assert who(s, start) == set()
    assert who(s, datetime(2027, 3, 28, 1, 15, tzinfo=UTC)) == set()
    assert s.next_change(start) == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    assert who(s, datetime(2027, 3, 28, 1, 30, tzinfo=UTC)) == {"a@x.io"}
    # It closes at 06:00 BST = 05:00Z.
    assert s.next_change(datetime(2027, 3, 28, 1, 30, tzinfo=UTC)) == datetime(2027, 3, 28, 5, 0, tzinfo=UTC)


# --- Clock changes, worked out by hand from the zones' published rules -----------------------
def z(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_turn_never_flips_back_in_the_repeated_autumn_hour() -> None:
    # New York, 2025-11-02: 02:00 EDT (06:00Z) falls back to 01:00 EST, so 01:00-02:00 happens twice.
    # Daily hand-over at 01:30 local: Nov 1 05:30Z (EDT), Nov 2 05:30Z (first 01:30), Nov 3 06:30Z (EST).
    s = ScheduleModel("s", "S", timezone="America/New_York",
                      rotations=[Rotation("r", "R", z(2025, 11, 1, 5, 30), "daily", [A, B])])
    assert who(s, z(2025, 11, 2, 5, 29)) == {"a@x.io"}
    assert who(s, z(2025, 11, 2, 5, 30)) == {"b@x.io"}
    assert who(s, z(2025, 11, 2, 6, 0)) == {"b@x.io"}  # 01:00 EST again: still b
    assert who(s, z(2025, 11, 2, 6, 30)) == {"b@x.io"}  # the second 01:30: still b
    assert s.next_change(z(2025, 11, 2, 0, 0)) == z(2025, 11, 2, 5, 30)
    assert s.next_change(z(2025, 11, 2, 5, 30)) == z(2025, 11, 3, 6, 30)


def test_a_hand_over_in_the_skipped_spring_hour_happens_when_next_change_says() -> None:
    # New York, 2026-03-08: 02:00 EST (07:00Z) jumps to 03:00 EDT; 02:30 never happens and is
    # read as 03:30 EDT = 07:30Z. Hand-overs: Mar 7 07:30Z (EST), Mar 8 07:30Z, Mar 9 06:30Z (EDT).
    s = ScheduleModel("s", "S", timezone="America/New_York",
                      rotations=[Rotation("r", "R", z(2026, 3, 6, 7, 30), "daily", [A, B])])
    assert who(s, z(2026, 3, 8, 7, 0)) == {"b@x.io"}
    assert who(s, z(2026, 3, 8, 7, 29)) == {"b@x.io"}
    assert s.next_change(z(2026, 3, 8, 6, 0)) == z(2026, 3, 8, 7, 30)
    assert who(s, z(2026, 3, 8, 7, 30)) == {"a@x.io"}
    assert s.next_change(z(2026, 3, 8, 7, 30)) == z(2026, 3, 9, 6, 30)


def test_half_hour_zone_window_closes_once() -> None:
    # St John's, 2026-11-01: 02:00 NDT (-2:30, 04:30Z) falls back to 01:00 NST (-3:30).
    # A 09:00-01:30 window opened Oct 31 09:00 NDT = 11:30Z and closes at the first 01:30 = 04:00Z;
    # it must not open again in the repeated half hour; it opens next at Nov 1 09:00 NST = 12:30Z.
    night = hours(9, 0, 1, 30)
    s = ScheduleModel("s", "S", timezone="America/St_Johns",
                      rotations=[Rotation("r", "R", z(2026, 10, 1), "weekly", [A], 1, None, night)])
    assert who(s, z(2026, 11, 1, 3, 59)) == {"a@x.io"}
    assert who(s, z(2026, 11, 1, 4, 0)) == set()
    assert who(s, z(2026, 11, 1, 4, 45)) == set()  # 01:15 NST, the second time round
    assert s.next_change(z(2026, 11, 1, 3, 0)) == z(2026, 11, 1, 4, 0)
    assert s.next_change(z(2026, 11, 1, 4, 0)) == z(2026, 11, 1, 12, 30)


def test_thirty_minute_dst_shift() -> None:
    # Lord Howe, 2027-04-04: 02:00 (+11) at 15:00Z (Apr 3) goes back to 01:30 (+10:30).
    # Daily hand-over at 01:45: Apr 3 14:45Z (+11, first occurrence), Apr 4 15:15Z (+10:30).
    s = ScheduleModel("s", "S", timezone="Australia/Lord_Howe",
                      rotations=[Rotation("r", "R", z(2027, 4, 2, 14, 45), "daily", [A, B])])
    assert who(s, z(2027, 4, 3, 14, 44)) == {"a@x.io"}
    assert who(s, z(2027, 4, 3, 14, 45)) == {"b@x.io"}
    assert who(s, z(2027, 4, 3, 15, 5)) == {"b@x.io"}  # 01:35 again: no flip back
    assert s.next_change(z(2027, 4, 3, 14, 45)) == z(2027, 4, 4, 15, 15)


# --- against the emulator's independent engine (written from the same documented rules) ----------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from slackgenie_emulators.opsgenie import OpsgenieState  # noqa: E402
from slackgenie.sources.opsgenie.wire import schedule_from_api  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

# Clock changes of the zones below, 2026-2027 (from the tz database): the instants to probe around.
CHANGES = {
    "America/New_York": [z(2026, 3, 8, 7), z(2026, 11, 1, 6), z(2027, 3, 14, 7), z(2027, 11, 7, 6)],
    "Europe/London": [z(2026, 3, 29, 1), z(2026, 10, 25, 1), z(2027, 3, 28, 1), z(2027, 10, 31, 1)],
    "America/St_Johns": [z(2026, 3, 8, 5, 30), z(2026, 11, 1, 4, 30)],
    "Australia/Lord_Howe": [z(2026, 4, 4, 15), z(2026, 10, 3, 15, 30), z(2027, 4, 3, 15)],
}
DAY_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@settings(max_examples=200, deadline=None)
@given(data=st.data(), zone=st.sampled_from(sorted(CHANGES)), kind=st.sampled_from(["hourly", "daily", "weekly"]),
       length=st.integers(1, 3), people=st.integers(1, 3), change=st.integers(0, 3))
def test_the_forecast_agrees_with_the_independent_engine_near_clock_changes(
        data: st.DataObject, zone: str, kind: str, length: int, people: int, change: int) -> None:
    # Hand-overs and window edges are drawn around the local time of a clock change, and the
    # instant asked about within three hours of it: where a misreading of the rules shows.
    changes = CHANGES[zone]
    edge = changes[change % len(changes)]
    local_hour = edge.astimezone(ZoneInfo(zone)).hour
    start = (edge - timedelta(days=data.draw(st.integers(1, 40)))
             + timedelta(minutes=15 * data.draw(st.integers(-8, 8))))
    spec = {"name": "R", "type": kind, "length": length, "startDate": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "participants": [{"type": "user", "username": f"{n}@x.io"} for n in "abc"[:people]]}
    hours = st.integers(max(local_hour - 2, 0), min(local_hour + 2, 23))
    minutes = st.sampled_from([0, 15, 30, 45])
    shape = data.draw(st.sampled_from(["none", "time-of-day", "weekday"]))
    if shape == "time-of-day":
        spec["timeRestriction"] = {"type": "time-of-day", "restriction": {
            "startHour": data.draw(st.integers(0, 23)), "startMin": data.draw(minutes),
            "endHour": data.draw(hours), "endMin": data.draw(minutes)}}
    elif shape == "weekday":
        day = DAY_NAMES[edge.astimezone(ZoneInfo(zone)).weekday()]
        spec["timeRestriction"] = {"type": "weekday-and-time-of-day", "restrictions": [
            {"startDay": data.draw(st.sampled_from(DAY_NAMES)), "startHour": data.draw(hours),
             "startMin": data.draw(minutes), "endDay": day, "endHour": data.draw(hours), "endMin": data.draw(minutes)}]}
    state = OpsgenieState()
    for n in "abc":
        state.add_user(f"{n}@x.io")
    oracle = state.add_schedule("S", zone, rotations=[dict(spec)])
    product = schedule_from_api({"id": oracle.id, "name": "S", "timezone": zone,
                                 "rotations": [{**spec, "id": oracle.rotations[0].id}]})
    at = edge + timedelta(minutes=data.draw(st.integers(-180, 180)))
    assert who(product, at) == set(oracle.recipients(at)), f"at {at:%Y-%m-%d %H:%MZ}"
    assert product.next_change(at) == oracle.next_change(at), f"after {at:%Y-%m-%d %H:%MZ}"
