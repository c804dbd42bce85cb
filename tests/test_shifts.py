"""The pure shift logic (core/shifts.py), on hand-worked examples and against a brute-force
oracle written here: minute by minute, who is on call."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from slackgenie.core.shifts import Shift, Stretch, covered, gaps, shifts_of, starting, stretches

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_stretches_merge_overlaps_and_leave_out_nobody() -> None:
    # alice 0-8, bob 6-12, nobody 12-14, alice 14-20; the window is 2..18.
    pieces = [(h(0), h(8), "alice"), (h(6), h(12), "bob"), (h(12), h(14), None), (h(14), h(20), "alice")]
    assert stretches(pieces, h(2), h(18)) == [
        Stretch(h(2), h(6), frozenset({"alice"})),
        Stretch(h(6), h(8), frozenset({"alice", "bob"})),
        Stretch(h(8), h(12), frozenset({"bob"})),
        Stretch(h(14), h(18), frozenset({"alice"})),
    ]


def test_adjacent_pieces_of_the_same_person_are_one_stretch() -> None:
    assert stretches([(h(0), h(4), "a"), (h(4), h(9), "a")], h(0), h(24)) == [Stretch(h(0), h(9), frozenset({"a"}))]


def test_gaps_are_what_no_stretch_covers() -> None:
    found = [Stretch(h(2), h(6), frozenset({"a"})), Stretch(h(5), h(8), frozenset({"b"})),
             Stretch(h(10), h(11), frozenset({"a"}))]
    assert gaps(covered(found), h(0), h(12)) == [(h(0), h(2)), (h(8), h(10)), (h(11), h(12))]
    assert gaps(covered(found), h(3), h(7)) == []


def test_a_shift_knows_who_hands_over_and_whether_it_began_in_the_window() -> None:
    found = [Stretch(h(0), h(9), frozenset({"carol"})), Stretch(h(9), h(33), frozenset({"alice"})),
             Stretch(h(33), h(57), frozenset({"bob"})), Stretch(h(60), h(70), frozenset({"alice"}))]
    assert shifts_of("og:Delivery", found, "alice", h(0)) == [
        Shift("og:Delivery", "alice", h(9), h(33), frozenset({"carol"})),
        Shift("og:Delivery", "alice", h(60), h(70), frozenset()),  # after a gap: nobody hands over
    ]
    assert shifts_of("og:Delivery", found, "carol", h(0)) == [
        Shift("og:Delivery", "carol", h(0), h(9), frozenset(), from_start=False)]  # under way at the start
    assert [s.person for s in starting("og:Delivery", found, h(0))] == ["alice", "bob", "alice"]
    [last] = shifts_of("og:Delivery", found, "alice", h(50), window_end=h(70))[-1:]
    assert last.open_end  # runs to the end of the window read


PEOPLE = st.sampled_from(["a", "b", "c", None])
PIECE = st.tuples(st.integers(0, 40), st.integers(1, 12), PEOPLE)


@settings(max_examples=200, deadline=None)
@given(st.lists(PIECE, max_size=8), st.integers(0, 20), st.integers(1, 30))
def test_stretches_agree_with_a_minute_by_minute_oracle(raw: list[tuple[int, int, str | None]], lo: int,
                                                         span: int) -> None:
    pieces = [(h(a), h(a + n), who) for a, n, who in raw]
    start, end = h(lo), h(lo + span)
    found = stretches(pieces, start, end)
    for hour in range(lo, lo + span):  # each hour is whole: pieces start and end on the hour
        expected = frozenset(w for a, b, w in pieces if w is not None and a <= h(hour) < b)
        here = [s.people for s in found if s.start <= h(hour) < s.end]
        assert (here[0] if here else frozenset()) == expected
    assert all(x.end <= y.start for x, y in zip(found, found[1:]))
    assert all(not (x.end == y.start and x.people == y.people) for x, y in zip(found, found[1:]))  # merged
    holes = gaps(covered(found), start, end)
    for hour in range(lo, lo + span):
        nobody = not any(w is not None and a <= h(hour) < b for a, b, w in pieces)
        assert nobody == any(a <= h(hour) < b for a, b in holes)
