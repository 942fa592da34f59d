"""The approvals queue in the terminal UI, against a real server process: an admin sees the
requests waiting, approves one and rejects another with a reason; the key is there only for
approvers, and a requester sees their request awaiting approval in My bookings."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from textual.widgets import Input

from compax_tui.app import CompaxApp
from compax_tui.screens.approvals import ApprovalsDialog
from compax_tui.screens.bookings import BookingsScreen
from compax_tui.screens.dialogs import FormDialog
from sync.permissions import Role
from tests.booking_helpers import at, book, next_weekday
from tests.conftest import MakePerson, Person
from tests.servers import ServerProcess
from tests.test_approvals import campus_needing_approval
from tests.test_tui import notices, server, sign_in, table_rows
from tests.tui_campus import settle

pytestmark = pytest.mark.slow
__all__ = ["server"]


async def test_an_admin_approves_and_rejects_from_the_queue(
    server: ServerProcess, client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, _ = await campus_needing_approval(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)
    for hour, title in ((10, "Seminar"), (14, "Party")):
        made = await book(
            client, staff, campus.room_101, at(monday, hour), at(monday, hour + 1), title=title
        )
        assert (await made.json())["status"] == "pending"
    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot, server, admin)
        assert any(b.binding.key == "f8" for b in app.screen.active_bindings.values())
        await pilot.press("f8")
        await settle(pilot)
        assert isinstance(app.screen, ApprovalsDialog)
        rows = table_rows(app.screen, "#requests")
        assert [(row[1], row[3]) for row in rows] == [("PB/101", "Seminar"), ("PB/101", "Party")]
        await pilot.press("a")
        await settle(pilot)
        assert notices(app)[-1] == "Approvals: “Seminar” is confirmed now"
        assert [row[3] for row in table_rows(app.screen, "#requests")] == ["Party"]
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, FormDialog)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, FormDialog), "a reason is required"
        app.screen.query_one("#field-reason", Input).value = "Not a party room"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ApprovalsDialog)
        assert notices(app)[-2:] == [
            "Approvals: “Party” is rejected now",
            "Approvals: Nothing waits for your approval",
        ]
        assert table_rows(app.screen, "#requests") == []


async def test_requesters_see_their_request_awaiting_approval_and_no_queue(
    server: ServerProcess, client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus, _ = await campus_needing_approval(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)
    made = await book(client, staff, campus.room_101, at(monday, 10), at(monday, 11))
    assert made.status == 201
    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot, server, staff)
        assert not any(b.binding.key == "f8" for b in app.screen.active_bindings.values())
        await pilot.press("f4")
        await settle(pilot)
        assert isinstance(app.screen, BookingsScreen)
        [row] = table_rows(app.screen, "#bookings")
        assert row[3] == "? awaiting approval"
