"""The Opsgenie emulator's own on-call engine (emulators/slackgenie_emulators/schedules.py), checked against
values worked out by hand from Opsgenie's documented rules. Independent of the product's
rotation maths (slackgenie/core/rotation.py) and of today's date."""

from __future__ import annotations

import ast
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from slackgenie_emulators import schedules
from slackgenie_emulators.opsgenie import OpsgenieState
from slackgenie_emulators.schedules import Override, Rotation, Schedule, resolve_wall, zone_named

UTC = timezone.utc
A, B, C = ({"type": "user", "id": n, "username": f"{n}@x.io"} for n in "abc")
Z = {"type": "user", "id": "z", "username": "z@x.io"}
NOBODY: set[str] = set()


def z(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def t(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return z(2026, 11, day, hour, minute)  # 2026-11-02 is a Monday


def rot(kind: str, start: datetime, participants: list[dict[str, Any]] | None = None, length: int = 1,
        end: datetime | None = None, restriction: dict[str, Any] | None = None, rid: str = "r1") -> Rotation:
    return Rotation(rid, rid.upper(), kind, start, participants if participants is not None else [A, B, C],
                    length, end, restriction)


def sched(*rotations: Rotation, tz: str = "UTC", overrides: list[Override] | None = None) -> Schedule:
    return Schedule("s", "S", tz, rotations=list(rotations), overrides=list(overrides or []))


def who(s: Schedule, at: datetime) -> set[str]:
    return {p["username"] for _, p, _ in s.on_call(at)}


def tod(sh: int, sm: int, eh: int, em: int) -> dict[str, Any]:
    return {"type": "time-of-day", "restriction": {"startHour": sh, "startMin": sm, "endHour": eh, "endMin": em}}


def days(*specs: tuple[str, int, int, str, int, int]) -> dict[str, Any]:
    keys = ("startDay", "startHour", "startMin", "endDay", "endHour", "endMin")
    return {"type": "weekday-and-time-of-day", "restrictions": [dict(zip(keys, s)) for s in specs]}


def assert_change_consistent(s: Schedule, at: datetime) -> datetime | None:
    """next_change(at) is where the answer first differs: same just before it, different at it."""
    change = s.next_change(at)
    if change is not None:
        assert change > at
        assert s.recipients(change - timedelta(microseconds=1)) == s.recipients(at)
        assert s.recipients(change) != s.recipients(at)
    return change


# --- turns ----------------------------------------------------------------------------------

def test_daily_turns_of_two_days() -> None:
    s = sched(rot("daily", t(2, 9), length=2))
    assert who(s, t(3, 10)) == {"a@x.io"}  # 1d1h elapsed // 2d = turn 0
    assert who(s, t(4, 8, 59)) == {"a@x.io"}  # 1d23h59m // 2d = 0
    assert who(s, t(4, 9)) == {"b@x.io"}  # 2d // 2d = 1
    assert who(s, t(8, 9)) == {"a@x.io"}  # 6d // 2d = 3; 3 mod 3 = 0
    assert who(s, t(2, 8, 59)) == NOBODY  # before startDate
    assert assert_change_consistent(s, t(3, 0)) == t(4, 9)  # turn 1 begins 2 days after 11-02 09:00


def test_weekly_turns_of_two_weeks() -> None:
    s = sched(rot("weekly", t(2, 9), length=2))
    assert who(s, t(16, 8, 59)) == {"a@x.io"}  # 13d23h59m // 14d = 0
    assert who(s, t(16, 9)) == {"b@x.io"}  # 14d // 14d = 1
    assert who(s, t(30, 9)) == {"c@x.io"}  # 28d // 14d = 2
    assert assert_change_consistent(s, t(20)) == t(30, 9)  # turn 2 begins 11-02 + 28d


def test_hourly_turns_of_three_hours() -> None:
    s = sched(rot("hourly", t(2, 9), length=3))
    assert who(s, t(2, 11, 59)) == {"a@x.io"}  # 2h59m // 3h = 0
    assert who(s, t(2, 12)) == {"b@x.io"}  # 3h // 3h = 1
    assert who(s, t(3, 9)) == {"c@x.io"}  # 24h // 3h = 8; 8 mod 3 = 2
    assert assert_change_consistent(s, t(3, 9)) == t(3, 12)  # turn 9 at 09:00 + 27h


def test_hourly_turns_are_elapsed_time_across_dst() -> None:
    s = sched(rot("hourly", z(2025, 11, 2, 4), [A, B]), tz="America/New_York")  # 00:00 EDT
    assert who(s, z(2025, 11, 2, 5)) == {"b@x.io"}  # 01:00 EDT: 1h // 1h = 1 -> b
    assert who(s, z(2025, 11, 2, 5, 59)) == {"b@x.io"}  # 1h59m // 1h = 1 -> b
    assert who(s, z(2025, 11, 2, 6)) == {"a@x.io"}  # 01:00 EST again, but 2h // 1h = 2; 2 mod 2 = 0 -> a
    assert who(s, z(2025, 11, 2, 7)) == {"b@x.io"}  # 3h // 1h = 3; 3 mod 2 = 1 -> b
    assert assert_change_consistent(s, z(2025, 11, 2, 5, 30)) == z(2025, 11, 2, 6)  # every elapsed hour


def test_end_date_ends_the_rotation() -> None:
    s = sched(rot("daily", t(2, 9), end=t(4, 9)))
    assert who(s, t(4, 8, 59)) == {"b@x.io"}  # 1d23h59m // 1d = 1
    assert who(s, t(4, 9)) == NOBODY  # endDate is exclusive
    assert assert_change_consistent(s, t(4, 8)) == t(4, 9)
    assert s.next_change(t(4, 9)) is None  # nothing ever changes again
    assert s.next_holders(t(4, 9)) == []


def test_no_participants_and_none_participant() -> None:
    assert who(sched(rot("daily", t(2, 9), [])), t(3)) == NOBODY
    s = sched(rot("daily", t(2, 9), [A, {"type": "none"}]))
    assert who(s, t(2, 10)) == {"a@x.io"} and who(s, t(3, 10)) == NOBODY  # turn 1 is "none"
    assert assert_change_consistent(s, t(2, 10)) == t(3, 9)


# --- time restrictions --------------------------------------------------------------------

def test_time_of_day_window_crossing_midnight() -> None:
    s = sched(rot("weekly", t(2, 9), [A], restriction=tod(22, 0, 6, 30)))
    assert who(s, t(3, 23)) == {"a@x.io"}  # 11-03 22:00 <= t < 11-04 06:30
    assert who(s, t(4, 6, 29)) == {"a@x.io"}
    assert who(s, t(4, 6, 30)) == NOBODY  # the window closes at 06:30 the next day
    assert who(s, t(4, 12)) == NOBODY
    assert who(s, t(2, 5)) == NOBODY  # inside 11-01's window but before startDate
    assert assert_change_consistent(s, t(4, 12)) == t(4, 22)  # opens again 22:00
    assert assert_change_consistent(s, t(4, 22)) == t(5, 6, 30)


def test_time_of_day_equal_start_and_end_restricts_nothing() -> None:
    s = sched(rot("daily", t(2, 9), [A], restriction=tod(8, 0, 8, 0)))
    assert who(s, t(3, 3)) == who(s, t(3, 8)) == {"a@x.io"}


def test_turns_keep_rotating_through_restrictions() -> None:
    s = sched(rot("daily", t(2, 0), restriction=tod(9, 0, 17, 0)))
    assert who(s, t(3, 8)) == NOBODY and who(s, t(3, 9)) == {"b@x.io"}  # 11-03 is turn 1, window 09-17
    assert who(s, t(4, 12)) == {"c@x.io"}  # turn 2 (not turn 1 resumed)
    assert assert_change_consistent(s, t(3, 12)) == t(3, 17)


def test_weekday_window_wrapping_past_sunday_night() -> None:
    weekend = days(("friday", 18, 0, "monday", 9, 0))  # Friday 18:00 to the next Monday 09:00
    s = sched(rot("weekly", t(2), [A], restriction=weekend))
    assert who(s, t(6, 17, 59)) == NOBODY  # Friday before 18:00
    assert who(s, t(6, 18)) == {"a@x.io"}
    assert who(s, t(8, 23, 59)) == {"a@x.io"}  # Sunday night
    assert who(s, t(9, 8, 59)) == {"a@x.io"}  # Monday morning
    assert who(s, t(9, 9)) == NOBODY
    assert who(s, t(12, 12)) == NOBODY  # Thursday
    assert assert_change_consistent(s, t(9, 8)) == t(9, 9)
    assert assert_change_consistent(s, t(9, 9)) == t(13, 18)  # the next Friday 18:00


def test_weekday_window_same_day_end_before_start_lasts_almost_a_week() -> None:
    s = sched(rot("weekly", t(2), [A], restriction=days(("sunday", 20, 0, "sunday", 8, 0))))
    # opens Sunday 11-08 20:00, closes the next Sunday 11-15 08:00 (6d12h later)
    assert who(s, t(8, 19, 59)) == NOBODY and who(s, t(8, 20)) == {"a@x.io"}
    assert who(s, t(11, 12)) == {"a@x.io"}  # Wednesday
    assert who(s, t(15, 7, 59)) == {"a@x.io"} and who(s, t(15, 8)) == NOBODY
    assert assert_change_consistent(s, t(15, 8)) == t(15, 20)


def test_weekday_windows_in_the_schedule_zone() -> None:
    s = sched(rot("weekly", t(2), [A], restriction=days(("monday", 9, 0, "friday", 17, 0))),
              tz="America/New_York")
    assert who(s, t(2, 13, 59)) == NOBODY  # 08:59 EST (UTC-5)
    assert who(s, t(2, 14)) == {"a@x.io"}  # 09:00 EST
    assert who(s, t(6, 21, 59)) == {"a@x.io"} and who(s, t(6, 22)) == NOBODY  # Friday 17:00 EST = 22:00Z


# --- overrides ------------------------------------------------------------------------------

def test_overrides_per_rotation_all_rotations_and_none() -> None:
    backup = rot("daily", t(2, 9), [C], rid="r2")
    s = sched(rot("daily", t(2, 9)), backup)
    s.overrides.append(Override("o1", Z, t(3, 12), t(3, 14), ["R1"]))  # by rotation name
    assert who(s, t(3, 13)) == {"z@x.io", "c@x.io"}  # z replaces b in R1; R2 untouched
    assert who(s, t(3, 14)) == {"b@x.io", "c@x.io"}  # endDate exclusive
    s.overrides.append(Override("o2", {"type": "none"}, t(4, 0), t(4, 1)))  # every rotation: nobody
    assert who(s, t(4, 0, 30)) == NOBODY
    s.overrides.append(Override("o3", Z, t(5, 0), t(5, 1), ["r2"]))  # by rotation id
    assert who(s, t(5, 0, 30)) == {"c@x.io", "z@x.io"}  # R1: 2d15h30m // 1d = 2 -> c; R2's c replaced by z
    assert assert_change_consistent(s, t(3, 11)) == t(3, 12)
    assert assert_change_consistent(s, t(3, 12)) == t(3, 14)


def test_first_matching_override_wins_and_beats_restrictions() -> None:
    s = sched(rot("daily", t(2, 9), [A], restriction=tod(9, 0, 17, 0)))
    s.overrides += [Override("first", Z, t(3, 20), t(3, 22)), Override("second", B, t(3, 19), t(3, 23))]
    assert who(s, t(3, 21)) == {"z@x.io"}  # outside 09-17, yet the override puts z on call
    assert who(s, t(3, 19, 30)) == {"b@x.io"} and who(s, t(3, 22, 30)) == {"b@x.io"}
    assert assert_change_consistent(s, t(3, 18)) == t(3, 19)


# --- DST ------------------------------------------------------------------------------------

def test_new_york_repeated_hour_hands_over_once() -> None:
    # daily at 01:30 New York from Thu 2025-10-30 01:30 EDT (05:30Z): a, b, a, b (11-02), a (11-03)
    s = sched(rot("daily", z(2025, 10, 30, 5, 30), [A, B]), tz="America/New_York")
    assert who(s, z(2025, 11, 2, 5, 29)) == {"a@x.io"}  # turn 2 (11-01)
    assert who(s, z(2025, 11, 2, 5, 30)) == {"b@x.io"}  # 11-02 01:30 EDT, first occurrence: turn 3
    assert who(s, z(2025, 11, 2, 6)) == {"b@x.io"}  # 01:00 EST, second pass: no flip back
    assert who(s, z(2025, 11, 2, 6, 30)) == {"b@x.io"}  # 01:30 EST, the repeated 01:30: no new turn
    assert who(s, z(2025, 11, 3, 6, 29)) == {"b@x.io"}
    assert who(s, z(2025, 11, 3, 6, 30)) == {"a@x.io"}  # 11-03 01:30 EST = 06:30Z: turn 4
    assert assert_change_consistent(s, z(2025, 11, 2, 5)) == z(2025, 11, 2, 5, 30)
    assert assert_change_consistent(s, z(2025, 11, 2, 5, 30)) == z(2025, 11, 3, 6, 30)  # not 06:30Z 11-02


def test_new_york_skipped_hour_hands_over_an_hour_late() -> None:
    # daily at 02:30 New York from Thu 2026-03-05 02:30 EST (07:30Z): a, b, a, b (03-08), a (03-09)
    s = sched(rot("daily", z(2026, 3, 5, 7, 30), [A, B]), tz="America/New_York")
    assert who(s, z(2026, 3, 8, 7)) == {"a@x.io"}  # 03:00 EDT: 02:30 did not happen yet
    assert who(s, z(2026, 3, 8, 7, 29)) == {"a@x.io"}
    assert who(s, z(2026, 3, 8, 7, 30)) == {"b@x.io"}  # 02:30 skipped -> 03:30 EDT = 07:30Z
    assert who(s, z(2026, 3, 9, 6, 29)) == {"b@x.io"}
    assert who(s, z(2026, 3, 9, 6, 30)) == {"a@x.io"}  # 03-09 02:30 EDT = 06:30Z
    assert assert_change_consistent(s, z(2026, 3, 8, 6)) == z(2026, 3, 8, 7, 30)
    assert resolve_wall(datetime(2026, 3, 8, 2, 30), zone_named("America/New_York")) == z(2026, 3, 8, 7, 30)


def test_london_spring_forward_keeps_nine_o_clock() -> None:
    # daily at 09:00 London from Thu 2027-03-25 09:00 GMT: a, b, a, b (03-28, BST from 01:00Z)
    s = sched(rot("daily", z(2027, 3, 25, 9), [A, B]), tz="Europe/London")
    assert who(s, z(2027, 3, 28, 7, 59)) == {"a@x.io"}
    assert who(s, z(2027, 3, 28, 8)) == {"b@x.io"}  # 09:00 BST = 08:00Z
    assert assert_change_consistent(s, z(2027, 3, 28)) == z(2027, 3, 28, 8)
    assert assert_change_consistent(s, z(2027, 3, 28, 8)) == z(2027, 3, 29, 8)  # 09:00 BST again


def test_lord_howe_half_hour_gap_moves_a_window_end() -> None:
    # Lord Howe: 2026-10-04 02:00 +10:30 (15:30Z 10-03) jumps to 02:30 +11:00. Window 20:00-02:15.
    s = sched(rot("weekly", z(2026, 9, 28), [A], restriction=tod(20, 0, 2, 15)), tz="Australia/Lord_Howe")
    assert who(s, z(2026, 10, 3, 9, 29)) == NOBODY  # 19:59 +10:30
    assert who(s, z(2026, 10, 3, 9, 30)) == {"a@x.io"}  # 10-03 20:00 +10:30 = 09:30Z
    assert who(s, z(2026, 10, 3, 15, 44)) == {"a@x.io"}  # 02:44 +11:00: 02:15 was skipped
    assert who(s, z(2026, 10, 3, 15, 45)) == NOBODY  # 02:15 + 30 min gap = 02:45 +11:00 = 15:45Z
    assert assert_change_consistent(s, z(2026, 10, 3, 12)) == z(2026, 10, 3, 15, 45)
    assert assert_change_consistent(s, z(2026, 10, 3, 15, 45)) == z(2026, 10, 4, 9)  # 20:00 +11:00


def test_st_johns_repeated_half_hour_zone_window_end() -> None:
    # St. John's: 2026-11-01 02:00 NDT (-2:30, 04:30Z) falls back to 01:00 NST (-3:30). Window 22:00-01:30.
    s = sched(rot("weekly", z(2026, 10, 26), [A], restriction=tod(22, 0, 1, 30)), tz="America/St_Johns")
    assert who(s, z(2026, 11, 1, 0, 30)) == {"a@x.io"}  # 10-31 22:00 NDT = 00:30Z
    assert who(s, z(2026, 11, 1, 3, 59)) == {"a@x.io"}
    assert who(s, z(2026, 11, 1, 4)) == NOBODY  # 01:30 NDT (first occurrence) = 04:00Z
    assert who(s, z(2026, 11, 1, 4, 45)) == NOBODY  # 01:15 NST: in the repeated hour, no reopening
    assert who(s, z(2026, 11, 1, 5)) == NOBODY  # 01:30 NST, the second 01:30
    assert assert_change_consistent(s, z(2026, 11, 1, 1)) == z(2026, 11, 1, 4)
    assert assert_change_consistent(s, z(2026, 11, 1, 4)) == z(2026, 11, 2, 1, 30)  # 22:00 NST = 01:30Z


def test_next_holders_per_rotation() -> None:
    backup = rot("weekly", t(2, 9), [C, A], rid="r2")
    s = sched(rot("daily", t(2, 9)), backup)
    assert [(r.id, p["username"]) for r, p in s.next_holders(t(2, 10))] == [("r1", "b@x.io"), ("r2", "a@x.io")]
    s.overrides.append(Override("o", Z, t(2, 12), t(2, 13), ["R2"]))  # z stands in first for R2
    assert [(r.id, p["username"]) for r, p in s.next_holders(t(2, 10))] == [("r1", "b@x.io"), ("r2", "z@x.io")]


def test_disabled_schedule_has_nobody() -> None:
    s = sched(rot("daily", t(2, 9)))
    s.enabled = False
    assert who(s, t(3, 10)) == NOBODY and s.next_change(t(3, 10)) is None and s.next_holders(t(3)) == []


def test_the_emulator_state_uses_this_engine() -> None:
    og = OpsgenieState()
    for n in "abc":
        og.add_user(f"{n}@x.io")
    og.add_team("T", ["b@x.io", "c@x.io"])
    s = og.add_schedule("NY", "America/New_York", rotations=[
        {"name": "R", "type": "daily", "startDate": "2026-03-05T07:30:00Z",
         "participants": [{"type": "user", "username": "a@x.io"}, {"type": "team", "name": "T"}]}])
    assert isinstance(s, Schedule)
    assert [p.get("username") for _, p, _ in s.on_call(z(2026, 3, 8, 7, 29))] == ["a@x.io"]  # turn 2
    assert s.recipients(z(2026, 3, 8, 7, 30)) == {"b@x.io", "c@x.io"}  # the team's members, turn 3
    assert s.next_change(z(2026, 3, 8, 6)) == z(2026, 3, 8, 7, 30)
    og.add_override(s, None, z(2026, 3, 8, 8), z(2026, 3, 8, 9))
    assert s.on_call(z(2026, 3, 8, 8, 30)) == []


def test_engine_is_independent_of_the_product() -> None:
    tree = ast.parse(Path(schedules.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m.startswith("slackgenie")}


# --- property: next_change agrees with on_call ------------------------------------------

ZONES = ["UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "America/St_Johns"]
# Each range holds the zones' clock changes: March-April 2026 (northern spring, Lord Howe autumn)
# and October-November 2026 (northern autumn, Lord Howe spring).
BASES = [z(2026, 2, 20), z(2026, 9, 15)]
PEOPLE = [A, B, C, {"type": "none"}]


@st.composite
def schedule_and_instant(draw: st.DrawFn) -> tuple[Schedule, datetime]:
    base = draw(st.sampled_from(BASES))

    def instant(max_minutes: int) -> datetime:
        return base + timedelta(minutes=30 * draw(st.integers(0, max_minutes // 30)))

    rotations = []
    for i in range(draw(st.integers(1, 2))):
        restriction = draw(st.sampled_from([
            None, tod(22, 0, 6, 30), tod(9, 0, 17, 0), tod(1, 30, 2, 30), tod(2, 15, 1, 0),
            days(("friday", 18, 0, "monday", 9, 0)),
            days(("monday", 2, 30, "monday", 2, 0), ("wednesday", 8, 0, "wednesday", 12, 0)),
        ]))
        end = instant(60 * 24 * 60) if draw(st.booleans()) else None
        rotations.append(rot(draw(st.sampled_from(["hourly", "daily", "weekly"])), instant(60 * 24 * 30),
                             draw(st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=3)),
                             length=draw(st.integers(1, 3)), end=end, restriction=restriction, rid=f"r{i}"))
    overrides = []
    for j in range(draw(st.integers(0, 2))):
        start = instant(60 * 24 * 60)
        overrides.append(Override(f"o{j}", draw(st.sampled_from([Z, {"type": "none"}])), start,
                                  start + timedelta(minutes=30 * draw(st.integers(1, 100))),
                                  draw(st.sampled_from([[], ["r0"], ["R1"]]))))
    s = sched(*rotations, tz=draw(st.sampled_from(ZONES)), overrides=overrides)
    return s, instant(60 * 24 * 60) + timedelta(minutes=draw(st.integers(0, 29)))


@settings(max_examples=100, deadline=None)
@given(schedule_and_instant(), st.lists(st.floats(0, 1), min_size=3, max_size=3))
def test_next_change_is_consistent_with_on_call(case: tuple[Schedule, datetime], fractions: list[float]) -> None:
    s, at = case
    horizon = timedelta(days=20)
    change = s.next_change(at, horizon)
    before = s.recipients(at)
    stop = change if change is not None else at + horizon
    for f in fractions:
        sample = at + (stop - at) * f
        if sample < stop:
            assert s.recipients(sample) == before
    if change is not None:
        assert at < change <= at + horizon
        assert s.recipients(change - timedelta(microseconds=1)) == before
        assert s.recipients(change) != before
