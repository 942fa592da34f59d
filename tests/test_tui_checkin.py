"""The bookings screen's check-in key: inside the window it queues a check-in shown pending;
outside it the notice names the window, and nothing is queued."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable

from compax_tui.app import CompaxApp
from sync.engine import Engine
from sync.profiles import Profile
from tests.test_tui_dialogs import open_bookings
from tests.tui_campus import _booking, fixed_clock, offline_campus, settle


@pytest.fixture
def campus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The TUI tests' campus, with a booking of the user's starting at the fixed "now"."""
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "client"))
    offline_campus("checkin")
    engine = Engine(Profile.load("checkin"), fixed_clock)
    try:
        now = {**_booking("b-6", 6, "ENG/2", 0, 8, 9, "Office hour"), "owner_id": 1, "owner": "ama"}
        with engine.replica.write():
            engine.replica.apply_changes([{"op": "put", "table": "bookings", "row": now}])
    finally:
        engine.close()
    return "checkin"


async def test_i_checks_a_booking_in_or_names_its_window(campus: str) -> None:
    app = CompaxApp(campus, clock=fixed_clock, sync_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_bookings(pilot)
        table = screen.query_one("#bookings", DataTable)

        table.move_cursor(row=table.get_row_index("b-5"))
        await pilot.press("i")
        await settle(pilot)
        [refused] = [n for n in app._notifications if n.title == "Check-in is not open"]
        assert "open from Tue 12 Jan 12:45 until 13:15" in refused.message
        assert app.engine.status()["pending"] == 1, "only the snapshot campus's own"

        table.move_cursor(row=table.get_row_index("b-6"))
        await pilot.press("i")
        await settle(pilot)
        assert app.engine.status()["pending"] == 2
        row = screen.query_one("#bookings", DataTable).get_row("b-6")
        assert "check-in pending" in str(row[3])
