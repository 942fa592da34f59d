"""Times and durations typed by people, read in the campus zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from sync.errors import ValidationFailed
from sync.schemas import OpeningWeek
from sync.when import parse_duration, parse_opening_hours, parse_when

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2027, 3, 24, 15, 0, tzinfo=UTC)  # a Wednesday, before BST starts on the 28th


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-03-25 10:00", datetime(2027, 3, 25, 10, 0, tzinfo=UTC)),
        ("today 16:30", datetime(2027, 3, 24, 16, 30, tzinfo=UTC)),
        ("tomorrow 9:05", datetime(2027, 3, 25, 9, 5, tzinfo=UTC)),
        ("wed 8:00", datetime(2027, 3, 24, 8, 0, tzinfo=UTC)),
        ("monday 10:00", datetime(2027, 3, 29, 9, 0, tzinfo=UTC)),
        ("2027-03-25T10:00:00+02:00", datetime(2027, 3, 25, 8, 0, tzinfo=UTC)),
        ("2027-04-01T10:00", datetime(2027, 4, 1, 9, 0, tzinfo=UTC)),
    ],
)
def test_local_times_become_utc_instants(text: str, expected: datetime) -> None:
    assert parse_when(text, LONDON, NOW) == expected


@pytest.mark.parametrize(
    "text", ["", "soon", "tomorrow", "2027-13-01 10:00", "mon 25:00", "today 9"]
)
def test_what_is_not_a_time_names_the_field(text: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_when(text, LONDON, NOW, field="at")
    assert refused.value.errors[0].field == "at"


@pytest.mark.parametrize(
    ("text", "minutes"), [("90m", 90), ("2h", 120), ("1h30m", 90), ("1:45", 105), ("45min", 45)]
)
def test_durations(text: str, minutes: int) -> None:
    assert parse_duration(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["", "0m", "h", "2 hours", "-1h", "1.5h"])
def test_what_is_not_a_duration_names_the_field(text: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_duration(text, field="for")
    assert refused.value.errors[0].field == "for"


@given(st.integers(0, 23), st.integers(0, 59))
def test_a_written_clock_time_reads_back_in_the_zone(hour: int, minute: int) -> None:
    moment = parse_when(f"2027-01-15 {hour}:{minute:02d}", LONDON, NOW)
    assert moment.astimezone(LONDON).strftime("%H:%M") == f"{hour:02d}:{minute:02d}"


def test_opening_hours_name_ranges_and_single_days() -> None:
    week = parse_opening_hours("Mon-Wed 8:00-18:00, sat 09:30-13:00")
    assert sorted(week) == ["mon", "sat", "tue", "wed"]
    assert week["tue"] == {"open": "08:00", "close": "18:00"}
    assert week["sat"] == {"open": "09:30", "close": "13:00"}
    assert TypeAdapter(OpeningWeek).validate_python(week)["sat"].open.minute == 30


@pytest.mark.parametrize("text", ["", "fri-mon 08:00-10:00", "funday 08:00-10:00", "mon 8-10"])
def test_what_are_not_opening_hours_names_the_field(text: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_opening_hours(text)
    assert refused.value.errors[0].field == "hours"
