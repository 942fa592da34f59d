"""The waitlist in the terminal UI, at 80×24 against a real server process: join from the
booking form when the slot is taken, see the offer when it frees, accept it."""

from __future__ import annotations

from datetime import datetime

import pytest
from aiohttp.test_utils import TestClient
from textual.widgets import Input, Static

from compax_server.jobs.runner import run_due_jobs
from compax_tui.app import CompaxApp
from compax_tui.screens.booking_form import BookingForm
from compax_tui.screens.bookings import BookingsScreen
from compax_tui.screens.waitlist import WaitlistDialog
from sync.permissions import Role
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.servers import ServerProcess
from tests.test_tui import notices, server, sign_in, table_rows
from tests.test_waitlist import cancel, jobs
from tests.tui_campus import settle

pytestmark = pytest.mark.slow
__all__ = ["server"]


async def test_wait_from_the_booking_form_then_accept_the_offer(
    server: ServerProcess, client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    owner, staff = await make_person(Role.STAFF), await make_person(Role.STAFF)
    monday = next_weekday(0)
    booked = await book(client, owner, campus.room_101, at(monday, 10), at(monday, 11))
    assert booked.status == 201
    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot, server, staff)
        room = app.engine.reads.room(campus.room_101)
        assert room is not None
        start, end = (datetime.fromisoformat(at(monday, hour)) for hour in (10, 11))
        app.push_screen(BookingForm(room, start, end))
        await settle(pilot)
        app.screen.query_one("#title", Input).value = "Reading group"
        await settle(pilot)
        assert "ctrl+w waits" in str(app.screen.query_one("#check", Static).render())
        await pilot.press("ctrl+w")
        await settle(pilot)
        assert not isinstance(app.screen, BookingForm)
        assert notices(app)[-1].startswith("Waiting: ")

        await cancel(client, owner, await booked.json())
        await run_due_jobs(jobs(client))
        await pilot.press("ctrl+r", "f4")
        await settle(pilot)
        assert isinstance(app.screen, BookingsScreen)
        await pilot.press("w")
        await settle(pilot)
        assert isinstance(app.screen, WaitlistDialog)
        [row] = table_rows(app.screen, "#entries")
        assert (row[1], row[2], row[4]) == ("PB/101", "offered", "Reading group")
        await pilot.press("a")
        await settle(pilot)
        [row] = table_rows(app.screen, "#entries")
        assert row[2] == "booked"
        assert notices(app)[-1] == "Accepted: The entry is booked now"
        await pilot.press("x")
        await settle(pilot)
        assert notices(app)[-1] == "No open offer: The entry is booked already; nothing to withdraw"
