"""The TUI at 80×24 on a replica the test writes (no server): everything fits and stays in
view, nothing is hidden (bookings under a closure, rooms closed to booking, owners), moves
and bookings show their clash and pickable alternatives as they are typed, the grid's go-to
and view switches keep the room and time, and sync answers in words."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, OptionList, Static

from compax_tui.app import CompaxApp
from compax_tui.screens.booking_form import BookingForm
from compax_tui.screens.bookings import BookingsScreen
from compax_tui.screens.dialogs import FormDialog
from compax_tui.screens.move_form import UNCHANGED, MoveForm
from compax_tui.widgets.slot_grid import Cursor, SlotGridView
from compax_tui.widgets.status_bar import NavBar
from sync.engine import Engine
from sync.errors import ValidationFailed
from sync.profiles import Profile
from tests.tui_campus import _at, fixed_clock, offline_campus, steady

PROFILE = "front"


def write_rows(changes: list[dict[str, Any]], **state: str) -> None:
    """Apply ``changes`` (as a pull would) and ``state`` to the profile's replica."""
    engine = Engine(Profile.load(PROFILE), fixed_clock)
    try:
        with engine.replica.write():
            engine.replica.apply_changes(changes)
        if state:
            engine.replica.set_state(**state)
    finally:
        engine.close()


def room_row(room_id: int, code: str, *, bookable: bool = True) -> dict[str, Any]:
    """A room of building PB as the server sends it."""
    return {
        "op": "put",
        "table": "rooms",
        "row": {
            "id": room_id, "building": "PB", "building_id": 1, "code": code, "name": "",
            "kind": "classroom", "floor": 0, "capacity": 30, "bookable": bookable,
            "features": [], "opening_hours": None, "min_duration_minutes": None,
            "max_duration_minutes": None, "max_days_ahead": None, "min_notice_minutes": None,
            "version": 2,
        },
    }  # fmt: skip


def booking_row(
    booking_id: str, room_id: int, room: str, start: int, end: int, **extra: Any
) -> dict[str, Any]:
    """A confirmed booking of Monday 11 January owned by ama (the user), as pulled."""
    row = {
        "id": booking_id, "room_id": room_id, "room": room, "start": _at(0, start),
        "end": _at(0, end), "title": "Lab check", "purpose": "meeting", "attendees": 5,
        "private": False, "notes": "", "owner_id": 1, "owner": "ama", "status": "confirmed",
        "series_id": None, "version": 1, "created_at": _at(0, 7), "updated_at": _at(0, 7),
    }  # fmt: skip
    return {"op": "put", "table": "bookings", "row": {**row, **extra}}


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CompaxApp:
    """The app on a profile holding the snapshots' campus, with the clock fixed and no
    background sync; its server (port 9) never answers."""
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "client"))
    offline_campus(PROFILE)
    return CompaxApp(PROFILE, clock=fixed_clock, sync_interval=None)


def notices(app: CompaxApp) -> list[str]:
    """The notifications shown so far, as ``title: message``."""
    return [f"{n.title}: {n.message}" for n in app._notifications]


def detail(app: CompaxApp) -> str:
    return str(app.screen.query_one("#grid-detail", Static).render())


def lines(widget: Any, count: int) -> list[str]:
    """The first ``count`` lines a Line API widget draws, as text."""
    return [widget.render_line(y).text for y in range(count)]


async def press(pilot: Pilot[Any], *keys: str) -> None:
    await steady(pilot)
    for key in keys:
        await pilot.press(key)
        await steady(pilot)


async def test_every_screen_and_the_attention_count_fit_80_columns(app: CompaxApp) -> None:
    write_rows([], user=json.dumps({"id": 1, "username": "ama", "role": "admin"}))
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot)
        bar = str(app.screen.query_one(NavBar).render())
        assert "F6 Admin" in bar and "F5 Attention (1)" in bar
        assert cell_len(bar) <= 80


async def test_my_bookings_show_the_series_mark_and_a_closure_at_80_columns(
    app: CompaxApp,
) -> None:
    write_rows(
        [
            booking_row("s-1", 2, "PB/102", 16, 17, series_id="series-1"),
            booking_row("c-1", 4, "PB/301", 12, 13),
        ]
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "f4")
        table = app.screen.query_one("#bookings", DataTable)
        assert table.size.width <= 80
        drawn = [line.rstrip() for line in lines(table, table.row_count + 1)]
        series = next(line for line in drawn if "PB/102" in line)
        closed = next(line for line in drawn if "PB/301" in line)
        assert series.lstrip().startswith("↻")
        assert "! in a closure" in closed
        assert "✓ confirmed" not in closed


async def test_a_buildings_week_keeps_its_last_row_in_view(app: CompaxApp) -> None:
    write_rows([room_row(100 + n, f"4{n:02}") for n in range(20)])
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "f3", "g")
        app.screen.query_one(Input).value = "PB"
        await press(pilot, "enter", "w", *["pagedown"] * 3)
        view = app.screen.query_one(SlotGridView)
        assert view.grid is not None and view.cursor.lane == len(view.grid.lanes) - 1
        rows = view.scrollable_content_region.height - view.header_height
        assert view.scroll_offset.y <= view.cursor.lane < view.scroll_offset.y + rows
        assert view.max_scroll_y > 0, "the week is taller than the screen"


async def test_a_rooms_day_fits_80_columns(app: CompaxApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "f3", "b", "end")
        view = app.screen.query_one(SlotGridView)
        assert view.cell_width == 2
        assert view.max_scroll_x == 0 and view.scroll_offset.x == 0
        assert detail(app).startswith(" ENG/1 Mon 11 Jan 21:30–22:00")


async def test_a_booking_under_a_closure_shows_both(app: CompaxApp) -> None:
    write_rows([booking_row("c-1", 4, "PB/301", 12, 13)])
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "f3", "g")
        app.screen.query_one(Input).value = "PB/301"
        await press(pilot, "enter")
        view = app.screen.query_one(SlotGridView)
        lane = view.grid.lanes[0] if view.grid else None
        assert lane is not None
        noon = next(s for s in lane.slots if s.start == datetime.fromisoformat(_at(0, 12)))
        assert (noon.state, noon.title, noon.closure) == ("booked", "Lab check", "Rewiring")
        assert {s.state for s in lane.slots if s.start.hour in (9, 14)} == {"blackout"}
        view.cursor = Cursor(0, lane.slots.index(noon))
        await press(pilot)
        assert "Lab check · ama" in detail(app) and "in a closure: Rewiring" in detail(app)
        assert "! L" in view.render_line(view.header_height).text


async def test_a_room_closed_to_booking_is_marked_and_the_judge_says_why(
    app: CompaxApp,
) -> None:
    write_rows([room_row(7, "401", bookable=False)])
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "f3", "g")
        app.screen.query_one(Input).value = "PB"
        await press(pilot, "enter")
        view = app.screen.query_one(SlotGridView)
        assert view.grid is not None
        lane = [lane.room["code"] for lane in view.grid.lanes].index("401")
        assert "401" in view.labels[lane] and "✕" in view.labels[lane]
        view.cursor = Cursor(lane, 6)
        await press(pilot)
        assert "not bookable" in detail(app)
        assert "··" in view.render_line(view.header_height + lane).text
        await press(pilot, "enter")
        assert isinstance(app.screen, BookingForm)
        assert "not open for booking" in str(app.screen.query_one("#check", Static).render())


async def test_the_line_under_the_grid_names_the_owner(app: CompaxApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "f3", "g")
        app.screen.query_one(Input).value = "PB/101"
        await press(pilot, "enter", "right", "right")
        assert "MATH 101 · lecturer" in detail(app)


async def test_marking_over_a_booking_opens_the_form_with_the_clash_and_picks_apply(
    app: CompaxApp,
) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "f3", "g")
        app.screen.query_one(Input).value = "PB/101"
        await press(pilot, "enter", "space", "shift+right", "shift+right", "shift+right")
        assert "marked" in detail(app)
        await press(pilot, "enter")
        form = app.screen
        assert isinstance(form, BookingForm) and form.room["code"] == "101"
        assert "in the way: MATH 101" in str(form.query_one("#check", Static).render())
        options = form.query_one("#alternatives", OptionList)
        assert options.display and options.option_count >= 2
        rooms = [
            i
            for i in range(options.option_count)
            if "same time" in str(options.get_option_at_index(i).prompt)
        ]
        options.focus()
        options.highlighted = rooms[0]
        await press(pilot, "enter")
        assert form.room["code"] != "101"
        check = form.query_one("#check", Static)
        assert "Nothing clashes" in str(check.render())
        assert not form.query_one("#alternatives", OptionList).display


async def test_a_move_shows_its_clash_live_takes_an_alternative_and_unchanged_queues_nothing(
    app: CompaxApp,
) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "f4")
        assert isinstance(app.screen, BookingsScreen)
        pending = app.engine.pending_count()
        await press(pilot, "down", "m")
        form = app.screen
        assert isinstance(form, MoveForm)
        assert str(form.query_one("#check", Static).render()) == UNCHANGED
        await press(pilot, "ctrl+s")
        assert app.screen is form and app.engine.pending_count() == pending

        form.query_one("#start", Input).value = "2027-01-11 10:00"
        await press(pilot)
        check = str(form.query_one("#check", Static).render())
        assert "already booked" in check and "in the way: MATH 101" in check
        options = form.query_one("#alternatives", OptionList)
        times = [
            i
            for i in range(options.option_count)
            if "here," in str(options.get_option_at_index(i).prompt)
        ]
        assert times
        options.focus()
        options.highlighted = times[0]
        await press(pilot, "enter")
        assert form.query_one("#start", Input).value == "2027-01-11 11:00"
        assert "Nothing clashes" in str(form.query_one("#check", Static).render())
        await press(pilot, "ctrl+s")
        assert isinstance(app.screen, BookingsScreen)
        assert app.engine.pending_count() == pending + 1
        moved = app.engine.reads.booking("b-5")
        assert moved is not None and moved["start"].startswith("2027-01-11T11:00")


def test_the_engine_refuses_a_move_that_changes_nothing(app: CompaxApp) -> None:
    engine = Engine(Profile.load(PROFILE), fixed_clock)
    try:
        pending = engine.pending_count()
        with pytest.raises(ValidationFailed) as refused:
            engine.move("b-5")
        assert refused.value.errors[0].field == "start"
        assert engine.pending_count() == pending
    finally:
        engine.close()


async def test_go_to_and_switching_views_keep_the_room_and_time(app: CompaxApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "f3", "g")
        dialog = app.screen
        assert isinstance(dialog, FormDialog)
        dialog.query_one(Input).value = "XX/1"
        await press(pilot, "enter")
        assert app.screen is dialog
        assert "no room XX/1" in str(dialog.query_one("#error-place", Static).render())
        dialog.query_one(Input).value = "pb/102"
        await press(pilot, "enter", "right", "right", "right", "right")
        assert detail(app).startswith(" PB/102 Mon 11 Jan 10:00–10:30")

        await press(pilot, "w")
        assert detail(app).startswith(" PB/102 Mon 11 Jan 10:00–10:30")
        await press(pilot, "b")
        assert detail(app).startswith(" PB/102 Mon 11 Jan 10:00–11:00"), "hours in its week"
        await press(pilot, "w")
        assert detail(app).startswith(" PB/102 Mon 11 Jan 10:00–10:30")
        await press(pilot, "right_square_bracket")
        assert detail(app).startswith(" PB/102 Tue 12 Jan 10:00–10:30")


async def test_sync_answers_in_words_when_offline(app: CompaxApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "ctrl+r")
        assert notices(app)[-1] == "Offline: Cannot reach 127.0.0.1:9. 1 change queued"
        await press(pilot, "ctrl+r")
        assert notices(app)[-1] == "Still offline: Cannot reach 127.0.0.1:9. 1 change queued"
        assert app.online is False
