"""The administration forms against a real server process, on SQLite and on Postgres: a
refusal (a username taken, a building that does not exist) keeps the form open with the input
and the reason under its field; a closure names the bookings it covers; deactivating starts
on No."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from textual.widgets import Input, Static

from compax_tui.app import CompaxApp
from compax_tui.screens.admin import AdminScreen
from compax_tui.screens.dialogs import ConfirmDialog, FormDialog
from sync.permissions import Role
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.servers import ServerProcess
from tests.test_tui import server, sign_in, table_rows
from tests.tui_campus import settle

pytestmark = pytest.mark.slow
__all__ = ["server"]


def error_under(form: Any, name: str) -> str:
    return str(form.query_one(f"#error-{name}", Static).render())


async def test_a_refused_admin_form_stays_open_with_the_reason_under_its_field(
    server: ServerProcess, client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    taken = await make_person(Role.STAFF)
    monday = next_weekday(0)
    held = await book(client, taken, campus.room_101, at(monday, 9), at(monday, 10), title="Lab")
    assert held.status == 201
    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot, server, admin)
        await pilot.press("f6")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AdminScreen)

        await pilot.press("a")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormDialog)
        form.query_one("#field-username", Input).value = taken.user.username
        form.query_one("#field-full_name", Input).value = "Ẹniọlá Ñúñez"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form, "the form stays open"
        assert error_under(form, "username") == f"The username {taken.user.username} is taken"
        assert form.query_one("#field-full_name", Input).value == "Ẹniọlá Ñúñez"
        form.query_one("#field-username", Input).value = "eniola"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        users = {row[0]: row for row in table_rows(screen, "#users-table")}
        assert users["eniola"][1] == "Ẹniọlá Ñúñez"

        eniola = [row[0] for row in table_rows(screen, "#users-table")].index("eniola")
        await pilot.press("home", *["down"] * eniola, "x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert app.focused is not None and app.focused.id == "no"
        await pilot.press("enter")
        await settle(pilot)
        users = {row[0]: row for row in table_rows(screen, "#users-table")}
        assert users["eniola"][4] == "yes", "Enter on the question changed nothing"

        await pilot.press("right_square_bracket", "right_square_bracket")
        await settle(pilot)
        assert screen.tab == "blackouts"
        await pilot.press("a")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormDialog)
        form.query_one("#field-where", Input).value = "ZZ"
        form.query_one("#field-start", Input).value = f"{monday} 08:00"
        form.query_one("#field-reason", Input).value = "Rewiring"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert "ZZ" in error_under(form, "where")
        assert form.query_one("#field-reason", Input).value == "Rewiring"

        form.query_one("#field-where", Input).value = "PB/101"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        [notice] = [n for n in app._notifications if n.title == "Closed"]
        assert notice.message.startswith("1 booking inside it kept")
        assert "PB/101" in notice.message and "Lab" in notice.message
