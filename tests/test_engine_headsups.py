"""Which heads-ups are due (core/headsups.py): pure, no server. Every expectation is worked out
by hand from the stretches written here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from slackgenie.core.headsups import Due, due, is_open, is_stale, lead_text, leads, next_moment
from slackgenie.core.model import ReadFailure
from slackgenie.core.shifts import Shift, Stretch

UTC = timezone.utc
H = timedelta(hours=1)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2030, 3, day, hour, minute, tzinfo=UTC)


@dataclass(frozen=True)
class Rule:
    usergroup: str
    keys: tuple[str, ...]
    heads_up: timedelta | None


# One schedule: ann 08-12, bob 12-18, nobody 18-20, ann 20-24 (on the 4th).
OPS = [Stretch(at(4, 8), at(4, 12), frozenset({"ann"})), Stretch(at(4, 12), at(4, 18), frozenset({"bob"})),
       Stretch(at(4, 20), at(5, 0), frozenset({"ann"}))]
WANTED = {"opsgenie:Ops": (H, ("ops",))}


def test_leads_take_the_longest_lead_of_the_groups_wanting_one_and_skip_off() -> None:
    rules = [Rule("a", ("opsgenie:Ops", "jsm:Pay"), timedelta(minutes=30)), Rule("b", ("opsgenie:Ops",), 2 * H),
             Rule("c", ("jsm:Pay",), timedelta(0)), Rule("d", ("pagerduty:X",), None)]
    assert leads(rules) == {"opsgenie:Ops": (2 * H, ("a", "b")), "jsm:Pay": (timedelta(minutes=30), ("a",))}


def test_due_within_the_lead_and_before_the_start_only() -> None:
    window = at(4, 7)  # ann's 08:00 shift starts after the window opened: it counts
    assert due({"opsgenie:Ops": OPS}, WANTED, window, at(4, 6, 59)) == []  # before 07:00: too early for 08:00
    found = due({"opsgenie:Ops": OPS}, WANTED, window, at(4, 7, 30))
    assert found == [Due(Shift("opsgenie:Ops", "ann", at(4, 8), at(4, 12)), ("ops",), H)]
    # 11:30: bob's 12:00 shift, taking over from ann
    assert [(d.shift.person, d.shift.start, d.shift.after) for d in due({"opsgenie:Ops": OPS}, WANTED, window,
                                                                        at(4, 11, 30))] == [("bob", at(4, 12),
                                                                                             frozenset({"ann"}))]
    assert due({"opsgenie:Ops": OPS}, WANTED, window, at(4, 12)) == []  # at the start: too late


def test_a_shift_under_way_when_the_window_opens_is_never_due() -> None:
    assert due({"opsgenie:Ops": OPS}, WANTED, at(4, 8), at(4, 7, 30)) == []  # ann's shift began with the window
    assert due({"opsgenie:Ops": OPS}, WANTED, at(4, 9), at(4, 7, 30)) == []


def test_unread_and_unwanted_schedules_have_none_due() -> None:
    reads: dict[str, list[Stretch] | ReadFailure] = {"opsgenie:Ops": ReadFailure("opsgenie:Ops", "timed out"),
                                                     "jsm:Pay": OPS}
    assert due(reads, WANTED, at(4, 7), at(4, 7, 30)) == []


def test_next_moment_is_the_earliest_start_less_its_lead_after_the_instant() -> None:
    reads = {"opsgenie:Ops": OPS}
    assert next_moment(reads, WANTED, at(4, 7), at(4, 6)) == at(4, 7)  # ann at 08:00, an hour before
    assert next_moment(reads, WANTED, at(4, 7), at(4, 7)) == at(4, 11)  # then bob at 12:00
    assert next_moment(reads, WANTED, at(4, 7), at(4, 11)) == at(4, 19)  # then ann at 20:00
    assert next_moment(reads, WANTED, at(4, 7), at(4, 19)) is None


def test_records_open_and_stale() -> None:
    assert is_open(None) and is_open("sending|1900000000.000")
    assert not is_open("sent") and not is_open("sent?") and not is_open("not sent: user_not_found")
    key = Due(Shift("opsgenie:Ops", "ann", at(4, 8), at(4, 12)), ("ops",), H).key
    assert key == "headsup:2030-03-04T08:00:00Z:opsgenie:Ops:ann"
    assert not is_stale(key, at(6, 8))  # two days after: kept until then
    assert is_stale(key, at(6, 8, 1))
    assert not is_stale("announced:ops", at(30, 0))


def test_lead_text() -> None:
    assert lead_text(timedelta(minutes=90)) == "1 h 30 min"
    assert lead_text(timedelta(minutes=45)) == "45 min"
    assert lead_text(2 * H) == "2 h"
    assert lead_text(timedelta(seconds=10)) == "1 min"  # at least a minute
    assert lead_text(timedelta(minutes=59, seconds=40)) == "1 h"
