"""Property tests of the pure booking rules and of series expansion (sync/)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from sync.judge import rule_violations
from sync.recurrence import expand
from sync.rules import (
    CampusRules,
    default_opening_week,
    free_intervals,
    nearest_free_slots,
    opening_window,
    overlaps,
)
from sync.schemas import Holiday, SeriesPattern
from sync.vocabulary import Weekday

BASE = datetime(2027, 3, 1, tzinfo=UTC)
ZONES = [ZoneInfo("Africa/Accra"), ZoneInfo("Europe/London"), ZoneInfo("America/New_York")]

minutes = st.integers(min_value=0, max_value=24 * 60)


@st.composite
def intervals(draw: st.DrawFn) -> tuple[datetime, datetime]:
    start = draw(minutes)
    length = draw(st.integers(min_value=1, max_value=8 * 60))
    return BASE + timedelta(minutes=start), BASE + timedelta(minutes=start + length)


@given(intervals(), intervals())
def test_overlap_is_symmetric_and_touching_is_not_overlap(
    a: tuple[datetime, datetime], b: tuple[datetime, datetime]
) -> None:
    assert overlaps(*a, *b) == overlaps(*b, *a)
    assert not overlaps(a[0], a[1], a[1], a[1] + timedelta(hours=1))


@given(intervals(), st.lists(intervals(), max_size=12))
def test_free_intervals_partition_the_window(
    window: tuple[datetime, datetime], busy: list[tuple[datetime, datetime]]
) -> None:
    free = free_intervals(window, busy)
    for start, end in free:
        assert window[0] <= start < end <= window[1]
        assert not any(overlaps(start, end, *b) for b in busy)
    for earlier, later in itertools.pairwise(free):
        assert earlier[1] < later[0], "free intervals are ordered and separated by busy time"
    minute = window[0]
    while minute < window[1]:
        in_free = any(s <= minute < e for s, e in free)
        in_busy = any(s <= minute < e for s, e in busy)
        assert in_free != in_busy, minute
        minute += timedelta(minutes=1)


@given(intervals(), st.lists(intervals(), max_size=8), st.integers(0, 24 * 60))
def test_suggested_slots_are_free_open_and_as_long(
    wanted: tuple[datetime, datetime], busy: list[tuple[datetime, datetime]], notice: int
) -> None:
    window = (BASE + timedelta(hours=7), BASE + timedelta(hours=22))
    not_before = BASE + timedelta(minutes=notice)
    slots = nearest_free_slots(*wanted, window, busy, not_before)
    assert len(slots) <= 3
    assert slots == sorted(slots)
    for start, end in slots:
        assert end - start == wanted[1] - wanted[0]
        assert window[0] <= start and end <= window[1]
        assert start >= not_before
        assert not any(overlaps(start, end, *b) for b in busy)


@given(
    st.sampled_from(ZONES),
    st.dates(min_value=date(2026, 1, 1), max_value=date(2028, 12, 31)),
    st.integers(7 * 4, 21 * 4),
    st.integers(1, 4 * 4),
)
def test_a_booking_inside_every_limit_breaks_no_rule(
    zone: ZoneInfo, day: date, quarter: int, length: int
) -> None:
    rules = CampusRules(opening_hours=default_opening_week(), max_days_ahead=4 * 366)
    window = opening_window(day, rules.opening_hours, zone)
    start = datetime.combine(day, time(quarter // 4, 15 * (quarter % 4)), tzinfo=zone).astimezone(
        UTC
    )
    end = start + timedelta(minutes=15 * length)
    now = datetime(2025, 12, 1, tzinfo=UTC)
    broken = {rule.type for rule in rule_violations(start, end, rules, now, zone)}
    inside = window is not None and window[0] <= start and end <= window[1]
    assert ("outside-hours" in broken) == (not inside)
    assert broken <= {"outside-hours"}


@given(st.integers(8 * 60 + 1, 24 * 60), st.integers(0, 60))
def test_long_short_late_and_far_bookings_are_named(length: int, days_late: int) -> None:
    zone = ZoneInfo("Africa/Accra")
    rules = CampusRules(
        opening_hours={d: default_opening_week()[Weekday.MON] for d in Weekday}, max_days_ahead=30
    )
    now = datetime(2027, 1, 4, 12, tzinfo=UTC)
    start = now + timedelta(days=31 + days_late)
    assert "too-long" in {
        r.type for r in rule_violations(start, start + timedelta(minutes=length), rules, now, zone)
    }
    assert "too-far-ahead" in {
        r.type for r in rule_violations(start, start + timedelta(hours=1), rules, now, zone)
    }
    past = now - timedelta(days=days_late, hours=1)
    assert "too-short-notice" in {
        r.type for r in rule_violations(past, past + timedelta(hours=1), rules, now, zone)
    }
    assert "too-short" in {
        r.type for r in rule_violations(start, start + timedelta(minutes=5), rules, now, zone)
    }


patterns = st.builds(
    lambda first, span, weekdays, interval, hour, length, frequency: SeriesPattern(
        frequency=frequency,
        interval=interval,
        weekdays=weekdays,
        first_day=first,
        last_day=first + timedelta(days=span),
        start_time=time(hour),
        end_time=time(hour + length),
    ),
    st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)),
    st.integers(0, 200),
    st.lists(st.sampled_from(list(Weekday)), min_size=1, max_size=7, unique=True),
    st.integers(1, 4),
    st.integers(0, 20),
    st.integers(1, 3),
    st.sampled_from(["weekly", "daily"]),
)


@settings(max_examples=200)
@given(patterns, st.sampled_from(ZONES), st.lists(st.integers(0, 200), max_size=5))
def test_series_occurrences_follow_the_pattern_in_local_time(
    pattern: SeriesPattern, zone: ZoneInfo, holiday_offsets: list[int]
) -> None:
    holidays = [
        Holiday(
            name="h",
            first_day=pattern.first_day + timedelta(days=o),
            last_day=pattern.first_day + timedelta(days=o + 2),
        )
        for o in holiday_offsets
    ]
    occurrences = expand(pattern, zone, holidays)
    days = [o.day for o in occurrences]
    assert days == sorted(set(days))
    for occurrence in occurrences:
        assert pattern.first_day <= occurrence.day <= pattern.last_day
        assert not any(h.first_day <= occurrence.day <= h.last_day for h in holidays)
        local = occurrence.start.astimezone(zone)
        assert local.date() == occurrence.day
        if local.replace(tzinfo=None).time() == pattern.start_time:
            assert occurrence.start < occurrence.end
        else:
            assert _skipped_by_dst(occurrence.day, pattern.start_time, zone)
        if pattern.frequency == "weekly":
            assert list(Weekday)[occurrence.day.weekday()] in pattern.weekdays
            monday = pattern.first_day - timedelta(days=pattern.first_day.weekday())
            assert ((occurrence.day - monday).days // 7) % pattern.interval == 0
        else:
            assert (occurrence.day - pattern.first_day).days % pattern.interval == 0
    expected = _brute_force_count(pattern, holidays)
    assert len(occurrences) == expected


def _skipped_by_dst(day: date, at: time, zone: ZoneInfo) -> bool:
    """Whether local ``at`` on ``day`` does not exist (the clocks jumped over it)."""
    local = datetime.combine(day, at, tzinfo=zone)
    return local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None)


def _brute_force_count(pattern: SeriesPattern, holidays: list[Holiday]) -> int:
    count, day = 0, pattern.first_day
    monday = pattern.first_day - timedelta(days=pattern.first_day.weekday())
    while day <= pattern.last_day:
        if pattern.frequency == "weekly":
            recurs = (
                list(Weekday)[day.weekday()] in pattern.weekdays
                and ((day - monday).days // 7) % pattern.interval == 0
            )
        else:
            recurs = (day - pattern.first_day).days % pattern.interval == 0
        if recurs and not any(h.first_day <= day <= h.last_day for h in holidays):
            count += 1
        day += timedelta(days=1)
    return count


def test_a_weekly_series_keeps_its_wall_clock_time_across_dst() -> None:
    pattern = SeriesPattern(
        weekdays=[Weekday.MON],
        first_day=date(2027, 3, 22),
        last_day=date(2027, 4, 5),
        start_time=time(9),
        end_time=time(10),
    )
    occurrences = expand(pattern, ZoneInfo("Europe/London"))
    assert [o.start.hour for o in occurrences] == [9, 8, 8], "BST starts on 28 March 2027"
    assert all(o.start.astimezone(ZoneInfo("Europe/London")).hour == 9 for o in occurrences)
