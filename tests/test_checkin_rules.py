"""The shared check-in rule: who sets it (room, building, campus), its window, and a series'
run of misses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sync.checkin import CheckinRules, series_lost
from sync.errors import CheckinClosed

START = datetime(2030, 1, 7, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("campus", "room", "building", "required"),
    [
        (False, None, False, False),
        (True, None, False, True),
        (False, None, True, True),
        (False, False, True, False),
        (True, False, False, False),
        (False, True, False, True),
    ],
)
def test_the_room_says_first_then_its_building_then_the_campus(
    campus: bool, room: bool | None, building: bool, required: bool
) -> None:
    assert CheckinRules(required=campus).for_room(room, building).required is required


def test_a_room_s_own_window_overrides_the_campus_s() -> None:
    rules = CheckinRules(opens_minutes=15, closes_minutes=15)
    assert rules.for_room(True, False).window(START) == (
        START - timedelta(minutes=15),
        START + timedelta(minutes=15),
    )
    assert rules.for_room(True, False, 0, 30).window(START) == (
        START,
        START + timedelta(minutes=30),
    )


def test_the_window_includes_its_opening_and_not_its_close() -> None:
    room = CheckinRules(opens_minutes=10, closes_minutes=5).for_room(True, False)
    room.check(START - timedelta(minutes=10), START - timedelta(minutes=10))
    room.check(START, START + timedelta(minutes=5) - timedelta(microseconds=1))
    with pytest.raises(CheckinClosed):
        room.check(START, START + timedelta(minutes=5))
    with pytest.raises(CheckinClosed):
        room.check(START, START - timedelta(minutes=10, microseconds=1))
    assert room.missed(START, False, START + timedelta(minutes=5))
    assert not room.missed(START, True, START + timedelta(minutes=5))
    assert not room.missed(START, False, START + timedelta(minutes=4))
    assert not CheckinRules().for_room(False, False).missed(START, False, START + timedelta(days=1))


def test_a_window_that_closed_before_the_booking_or_its_rules_changed_was_not_missed() -> None:
    room = CheckinRules(opens_minutes=10, closes_minutes=5).for_room(True, False)
    closes, later = START + timedelta(minutes=5), START + timedelta(hours=1)
    assert room.missed(START, False, later, since=closes - timedelta(seconds=1))
    assert not room.missed(START, False, later, since=closes)
    assert not room.missed(START, False, later, since=START + timedelta(minutes=30))


def test_a_refusal_names_the_window_in_the_campus_zone() -> None:
    room = CheckinRules(opens_minutes=10, closes_minutes=5).for_room(None, True)
    with pytest.raises(CheckinClosed) as closed:
        room.check(START, START + timedelta(minutes=5), ZoneInfo("Asia/Tokyo"))
    assert "from Mon 07 Jan 17:50 until 18:05" in closed.value.detail
    assert closed.value.extra == {
        "opens_at": "2030-01-07T08:50:00+00:00",
        "closes_at": "2030-01-07T09:05:00+00:00",
    }


def test_a_series_is_lost_after_its_allowed_misses_in_a_row() -> None:
    assert series_lost(["released", "released", "released"], 3)
    assert series_lost(["released", "released", "released", "confirmed"], 3)
    assert not series_lost(["released", "confirmed", "released"], 3)
    assert not series_lost(["released", "released"], 3), "too few occurrences yet"
