"""The TUI shows the user's quota use in My bookings, and a quota refusal in the booking
form's live check like any other rule (on a replica the test writes; no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from compax_tui.app import CompaxApp
from compax_tui.screens.booking_form import BookingForm
from tests.test_tui_front import PROFILE, press, write_rows
from tests.tui_campus import fixed_clock, offline_campus


def quota(source: str = "role", **limits: int) -> str:
    return json.dumps({"source": source, "role": "staff", "limits": limits, "use": []})


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CompaxApp:
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "client"))
    offline_campus(PROFILE)
    return CompaxApp(PROFILE, clock=fixed_clock, sync_interval=None)


async def test_my_bookings_show_what_is_left_of_the_quota(app: CompaxApp) -> None:
    write_rows([], quota=quota(max_future_bookings=9, max_bookings_day=5))
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "f4")
        line = app.screen.query_one("#bookings-quota", Static)
        text = str(line.render())
        assert line.display and text.startswith(" Quota (staff): ")
        assert "of 9 future bookings left" in text and "of 5 bookings left on " in text


async def test_no_quota_shows_no_line(app: CompaxApp) -> None:
    write_rows([], quota=json.dumps({"source": "none", "role": "staff", "limits": {}}))
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "f4")
        assert not app.screen.query_one("#bookings-quota", Static).display


async def test_the_booking_form_shows_a_quota_refusal_live(app: CompaxApp) -> None:
    write_rows([], quota=quota("user", max_future_bookings=0))
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "f3", "g")
        app.screen.query_one(Input).value = "PB/101"
        await press(pilot, "enter", "space", "shift+right", "enter")
        form = app.screen
        assert isinstance(form, BookingForm)
        check = str(form.query_one("#check", Static).render())
        assert "At most 0 future bookings for you" in check
