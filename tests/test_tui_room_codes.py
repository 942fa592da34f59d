"""The TUI at 80×24 with a room whose code holds spaces and commas and runs to 60
characters, of unknown capacity: the finder shows ``?`` seats and lists it last, or not at
all when seats are asked; a building's grid keeps its slots in view; the room is found and
booked by its label as typed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Static

from compax_tui.app import CompaxApp
from compax_tui.screens.admin_forms import room_create, room_edit_fields, room_update
from compax_tui.screens.booking_form import BookingForm
from compax_tui.screens.finder import FinderScreen
from compax_tui.widgets.slot_grid import SlotGridView
from sync.engine import Engine
from sync.profiles import Profile
from tests.test_tui_front import PROFILE, press, room_row, write_rows
from tests.test_unknown_capacity import LONG_CODE
from tests.tui_campus import fixed_clock, offline_campus


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CompaxApp:
    """The snapshots' campus with the theatre (room 9, seats unknown) added to PB."""
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "client"))
    offline_campus(PROFILE)
    theatre = room_row(9, LONG_CODE)
    theatre["row"]["capacity"] = None
    write_rows([theatre])
    return CompaxApp(PROFILE, clock=fixed_clock, sync_interval=None)


def rows(screen: Any) -> list[list[str]]:
    table = screen.query_one("#rooms", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_the_finder_shows_unknown_seats_last_and_leaves_them_out_when_seats_are_asked(
    app: CompaxApp,
) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot)
        screen = app.screen
        assert isinstance(screen, FinderScreen)
        screen.query_one("#free-from", Input).value = "2027-01-11 16:00"
        screen.query_one("#free-for", Input).value = "1h"
        await press(pilot)
        found = rows(screen)
        assert found[-1][:3] == ["PB/LECTUR…", "classroom", "?"], "cut where the column ends"
        table = screen.query_one("#rooms", DataTable)
        assert table.virtual_size.width <= 80, "a long code keeps the seats in view"
        assert all(row[2] != "?" for row in found[:-1])
        screen.query_one("#capacity", Input).value = "10"
        await press(pilot)
        assert not [row for row in rows(screen) if row[2] == "?"]


async def test_a_long_code_keeps_the_grid_in_80_columns_and_is_booked_by_its_label(
    app: CompaxApp,
) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "f3", "g")
        app.screen.query_one(Input).value = "PB"
        await press(pilot, "enter")
        view = app.screen.query_one(SlotGridView)
        label = next(label for label in view.labels if label.startswith("LECTURE"))
        assert label == "LECTURE THE…   ?"
        assert view.cell_width >= 2 and view.max_scroll_x == 0

        await press(pilot, "g")
        typed = "pb/lecture  theatre 1, east wing (ground floor) - block a & b #2"
        app.screen.query_one(Input).value = typed
        await press(pilot, "enter")
        view = app.screen.query_one(SlotGridView)
        assert view.grid is not None and view.grid.lanes[0].room["id"] == 9
        assert view.cell_width >= 2 and view.max_scroll_x == 0, "the room's day fits"
        await press(pilot, "end", "enter")
        assert isinstance(app.screen, BookingForm)
        heading = str(app.screen.query_one("#form-title", Static).render())
        assert "? seats" in heading, heading
        app.screen.query_one("#attendees", Input).value = "900"
        await press(pilot, *"Open day")
        assert "Nothing clashes" in str(app.screen.query_one("#check", Static).render())
        await press(pilot, "ctrl+s")
        mine = Engine(Profile.load(PROFILE), fixed_clock)
        try:
            queued = [b for b in mine.my_bookings() if b["title"] == "Open day"]
        finally:
            mine.close()
        assert [(b["room"], b["pending"]) for b in queued] == [(f"PB/{LONG_CODE}", True)]
        await press(pilot, "f4")
        mine_table = app.screen.query_one("#bookings", DataTable)
        assert mine_table.virtual_size.width <= 80
        drawn = [
            [str(cell) for cell in mine_table.get_row_at(i)] for i in range(mine_table.row_count)
        ]
        [open_day] = [row for row in drawn if "Open day" in row]
        assert "PB/LECTURE THEATRE 1, E…" in open_day, open_day


def test_blank_seats_in_the_room_forms_mean_an_unknown_capacity() -> None:
    room: dict[str, Any] = {
        "kind": "classroom",
        "capacity": None,
        "features": [],
        "bookable": True,
    }
    seats = next(field for field in room_edit_fields(room) if field.name == "capacity")
    assert (seats.value, seats.placeholder) == ("", "?")
    assert (
        next(f for f in room_edit_fields({**room, "capacity": 0}) if f.name == "capacity").value
        == "0"
    )
    values = {"kind": "classroom", "capacity": "", "features": "", "bookable": True}
    unknown = room_update(values)
    assert unknown.capacity is None and "capacity" in unknown.model_fields_set
    assert room_update({**values, "capacity": "0"}).capacity == 0
    added = room_create({**values, "building": "PB", "code": "annex  hall, west"})
    assert (added.code, added.capacity) == ("ANNEX HALL, WEST", None)


async def test_a_long_code_with_problems_and_closed_keeps_a_day_in_80_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ⚠ count and the ✕ of a room closed to booking lengthen a building lane's label; the
    code is cut further so that the day's slots still fit 80 columns, with no scrolling."""
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "client"))
    offline_campus(PROFILE)
    theatre = room_row(9, LONG_CODE, bookable=False)
    theatre["row"].update(capacity=150, open_issues=12)
    write_rows([theatre])
    app = CompaxApp(PROFILE, clock=fixed_clock, sync_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "f3", "g")
        app.screen.query_one(Input).value = "PB"
        await press(pilot, "enter")
        view = app.screen.query_one(SlotGridView)
        label = next(label for label in view.labels if label.startswith("LECT"))
        assert label.endswith(" 150 ✕ ⚠12") and len(label) <= 17, label
        assert view.cell_width >= 2 and view.max_scroll_x == 0, (label, view.cell_width)
