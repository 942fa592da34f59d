"""The booking judge on its own: capacity, moves, and alternatives it always accepts."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync import judge
from sync.errors import Forbidden, RuleBroken, SeriesConflict
from sync.judge import Campus, Closure, Held, RoomFacts
from sync.rules import CampusRules, default_opening_week

ZONE = ZoneInfo("Africa/Accra")
NOW = datetime(2027, 1, 4, 6, tzinfo=UTC)  # a Monday, before opening
MONDAY = NOW.date() + timedelta(days=7)
CAMPUS = Campus(CampusRules(default_opening_week(), max_duration_minutes=240), ZONE, NOW)


def room(
    room_id: int = 1, building_id: int = 1, capacity: int | None = 25, **rules: int
) -> RoomFacts:
    return RoomFacts(
        room_id,
        f"B{building_id}/{room_id}",
        building_id,
        capacity,
        True,
        CampusRules(default_opening_week(), **{"max_duration_minutes": 240, **rules}),
    )


def at(hour: int, minute: int = 0, day: int = 0) -> datetime:
    local = datetime.combine(MONDAY + timedelta(days=day), time(hour, minute), tzinfo=ZONE)
    return local.astimezone(UTC)


def test_more_attendees_than_seats_is_a_problem_that_officers_may_override() -> None:
    broken = judge.problems(room(capacity=25), at(10), at(11), CAMPUS, attendees=300)
    assert [p.type for p in broken] == ["over-capacity"]
    assert "seats 25" in broken[0].detail and "300" in broken[0].detail
    assert judge.problems(room(capacity=25), at(10), at(11), CAMPUS, attendees=25) == []

    with pytest.raises(RuleBroken) as refused:
        judge.settle(broken, "staff", override=False)
    assert refused.value.extra["violations"][0]["type"] == "over-capacity"
    with pytest.raises(Forbidden):
        judge.settle(broken, "staff", override=True)
    assert judge.settle(broken, "exams_officer", override=True) == ["over-capacity"]


def test_attendees_are_checked_only_against_a_known_capacity() -> None:
    unknown, small = room(1, capacity=None), room(2, capacity=20)
    assert judge.problems(unknown, at(10), at(11), CAMPUS, attendees=500) == []
    assert [p.type for p in judge.problems(small, at(10), at(11), CAMPUS, attendees=21)] == [
        "over-capacity"
    ]
    offered = judge.best_rooms([unknown, small, room(3, capacity=10)], at(10), at(11), CAMPUS)
    assert [r.id for r in offered] == [3, 2, 1], "unknown capacity comes last"
    asked = judge.best_rooms([unknown, small], at(10), at(11), CAMPUS, attendees=5)
    assert [r.id for r in asked] == [2], "asking seats leaves unknown capacity out"


def test_every_problem_is_listed_in_order() -> None:
    closure = Closure(at(9), at(12), "Painting", building_id=1, id=7)
    broken = judge.problems(
        room(capacity=10), at(21), at(23, 30), CAMPUS, attendees=11, closures=[closure]
    )
    assert [p.type for p in broken] == ["outside-hours", "over-capacity"]
    broken = judge.problems(room(), at(10), at(11), CAMPUS, closures=[closure])
    assert [p.type for p in broken] == ["blackout"]
    assert broken[0].extra["blackout"]["id"] == 7


def test_a_change_that_moves_nothing_keeps_every_occurrence_where_it_is() -> None:
    """Retitling a series must not pull an occurrence moved on its own back into line."""
    first, moved_alone = (at(10), at(11)), (at(14, day=7), at(15, day=7))
    assert judge.moved_times(first, [first, moved_alone], None, None, ZONE) == [
        first,
        moved_alone,
    ]
    assert judge.moved_times(first, [first, moved_alone], at(12), at(13), ZONE) == [
        (at(12), at(13)),
        (at(12, day=7), at(13, day=7)),
    ]


def test_several_moves_are_refused_together_listing_each_clashing_date() -> None:
    held = [Held("b1", at(10, day=7), at(11, day=7), "Other")]
    wanted = [
        (at(10), at(11), 10),
        (at(10, day=7), at(11, day=7), 10),
        (at(10, day=14), at(11, day=14), 99),
    ]
    with pytest.raises(SeriesConflict) as refused:
        judge.settle_several(
            [judge.Destination(room(), wanted, held, [])],
            CAMPUS,
            role="staff",
            override=False,
        )
    dates = refused.value.extra["dates"]
    assert [d["date"] for d in dates] == [
        str(MONDAY + timedelta(days=7)),
        str(MONDAY + timedelta(days=14)),
    ]
    assert [p["type"] for p in dates[1]["problems"]] == ["over-capacity"]


@st.composite
def surroundings(draw: st.DrawFn) -> tuple[list[Held], list[Closure], datetime, datetime, int]:
    """Random bookings and closures around a random wanted slot on a Monday."""

    def slot(start_max: int) -> tuple[datetime, datetime]:
        start = draw(st.integers(6 * 4, start_max)) * 15
        length = draw(st.integers(1, 16)) * 15
        return at(0) + timedelta(minutes=start), at(0) + timedelta(minutes=start + length)

    held = []
    for index in range(draw(st.integers(0, 8))):
        start, end = slot(22 * 4)
        if all(not (start < h.end and h.start < end) for h in held):
            held.append(Held(f"b{index}", start, end))
    closures = [
        Closure(*slot(22 * 4), "Works", room_id=1, id=n) for n in range(draw(st.integers(0, 2)))
    ]
    start, end = slot(21 * 4)
    return held, closures, start, end, draw(st.integers(0, 40))


@settings(max_examples=150, deadline=None)
@given(surroundings())
def test_every_alternative_the_judge_offers_it_also_accepts(
    case: tuple[list[Held], list[Closure], datetime, datetime, int],
) -> None:
    held, closures, start, end, attendees = case
    asked = room(capacity=30, max_duration_minutes=180, min_notice_minutes=60)
    busy = [(h.start, h.end) for h in held]
    times = judge.free_times(
        asked, start, end, CAMPUS, busy=busy, closures=closures, attendees=attendees
    )
    for slot in times:
        assert judge.accepts(
            asked, *slot, CAMPUS, attendees=attendees, closures=closures, held=held
        ), slot
    others = [
        room(
            n,
            building_id=n % 3,
            capacity=None if n % 4 == 1 else 10 * n,
            max_duration_minutes=60 * (n % 4),
        )
        for n in range(2, 12)
    ]
    offered = judge.best_rooms(others, start, end, CAMPUS, attendees=attendees, near=asked)
    assert all(judge.accepts(r, start, end, CAMPUS, attendees=attendees) for r in offered)
    assert all(judge.offered_for(r.capacity, attendees) for r in offered)
    assert offered == sorted(offered, key=judge.room_rank(asked))
    missing = [
        r
        for r in others
        if judge.offered_for(r.capacity, attendees)
        and judge.accepts(r, start, end, CAMPUS, attendees=attendees)
    ]
    assert len(offered) == min(len(missing), judge.ROOM_ALTERNATIVES)
