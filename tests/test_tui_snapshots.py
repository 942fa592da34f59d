"""Snapshots of the TUI's main screens at a fixed size, on a replica written by the test (no
server), with the clock fixed and every cursor still. Update after a deliberate change with
``pytest tests/test_tui_snapshots.py --snapshot-update`` and look at the SVGs it writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from compax_tui.app import CompaxApp
from compax_tui.widgets.slot_grid import SlotGridView
from tests.tui_campus import fixed_clock, offline_campus, steady

SnapCompare = Callable[..., bool]


@pytest.fixture
def campus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "client"))
    offline_campus("snap")
    return "snap"


def pressing(*keys: str) -> Callable[[Pilot[object]], Awaitable[None]]:
    """Press ``keys``, waiting for the app to settle after each (snap_compare's own ``press``
    would not wait for the workers a key starts)."""

    async def run(pilot: Pilot[object]) -> None:
        await steady(pilot)
        for key in keys:
            await pilot.press(key)
            await steady(pilot)

    return run


def app_for(profile: str) -> CompaxApp:
    """The app on ``profile`` with the clock fixed and no background sync."""
    return CompaxApp(profile, clock=fixed_clock, sync_interval=None)


def test_the_room_finder_lists_free_rooms(campus: str, snap_compare: SnapCompare) -> None:
    async def search(pilot: Pilot[object]) -> None:
        screen = pilot.app.screen
        screen.query_one("#free-from", Input).value = "2027-01-11 10:00"
        screen.query_one("#free-for", Input).value = "1h"
        screen.query_one("#capacity", Input).value = "30"
        await steady(pilot)

    assert snap_compare(app_for(campus), run_before=search)


def test_a_rooms_week_with_a_marked_range(campus: str, snap_compare: SnapCompare) -> None:
    async def mark(pilot: Pilot[object]) -> None:
        screen = pilot.app.screen
        screen.query_one("#free-from", Input).value = "2027-01-12 15:00"
        screen.query_one("#free-for", Input).value = "90m"
        screen.query_one("#capacity", Input).value = "40"
        await steady(pilot)
        await pilot.press("ctrl+l", "enter")
        await steady(pilot)

    assert snap_compare(app_for(campus), run_before=mark)


def test_a_buildings_day(campus: str, snap_compare: SnapCompare) -> None:
    assert snap_compare(app_for(campus), run_before=pressing("f3"))


def test_a_buildings_week_on_a_large_terminal(campus: str, snap_compare: SnapCompare) -> None:
    assert snap_compare(app_for(campus), terminal_size=(160, 48), run_before=pressing("f3", "w"))


def test_the_booking_form_shows_a_local_clash(campus: str, snap_compare: SnapCompare) -> None:
    async def clash(pilot: Pilot[object]) -> None:
        await pilot.press("f3", "b")
        await steady(pilot)
        await pilot.press("enter")
        await steady(pilot)
        await pilot.press(*"Review")
        pilot.app.screen.query_one("#start", Input).value = "2027-01-12 09:00"
        await steady(pilot)

    assert snap_compare(app_for(campus), run_before=clash)


def test_my_bookings_mark_the_pending_one(campus: str, snap_compare: SnapCompare) -> None:
    assert snap_compare(app_for(campus), run_before=pressing("f4"))


def test_needs_attention_shows_the_reason_and_alternatives(
    campus: str, snap_compare: SnapCompare
) -> None:
    assert snap_compare(app_for(campus), run_before=pressing("f5"))


def test_the_help_screen(campus: str, snap_compare: SnapCompare) -> None:
    assert snap_compare(app_for(campus), run_before=pressing("f3", "question_mark"))


def test_signing_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snap_compare: SnapCompare
) -> None:
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "client"))
    offline_campus("signed-out", signed_in=False)
    assert snap_compare(app_for("signed-out"), run_before=steady)


async def test_the_grid_redraws_at_the_new_width_keeping_its_cursor(campus: str) -> None:
    async with app_for(campus).run_test(size=(100, 30)) as pilot:
        await pressing("f3")(pilot)
        view = pilot.app.screen.query_one(SlotGridView)
        await pilot.press("right", "right", "down")
        await steady(pilot)
        narrow, cursor = view.cell_width, view.cursor
        await pilot.resize_terminal(160, 30)
        await steady(pilot)
        assert view.cell_width > narrow
        assert view.cursor == cursor
        await pilot.resize_terminal(100, 30)
        await steady(pilot)
        assert (view.cell_width, view.cursor) == (narrow, cursor)
