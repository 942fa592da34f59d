"""Building managers in the TUI, against a real server process: an administrator grants a
building in the Managers tab; its manager gets the administration screen with their
building's rooms and closures only, and no users or managers tab."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from textual.widgets import Input, TabPane

from compax_tui.app import CompaxApp
from compax_tui.screens.admin import AdminScreen
from compax_tui.screens.dialogs import ConfirmDialog, FormDialog
from sync.permissions import Role
from tests.booking_helpers import make_campus
from tests.conftest import MakePerson, Person
from tests.servers import ServerProcess
from tests.test_tui import server, sign_in, table_rows
from tests.tui_campus import settle

pytestmark = pytest.mark.slow
__all__ = ["server"]


async def test_an_admin_grants_a_building_in_the_managers_tab(
    server: ServerProcess, client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    await make_campus(client, admin)
    await make_person(Role.STAFF, username="alice", full_name="Alice Owusu")
    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot, server, admin)
        await pilot.press("f6")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AdminScreen)
        while screen.tab != "managers":
            await pilot.press("right_square_bracket")
            await settle(pilot)
        assert table_rows(screen, "#managers-table") == []

        await pilot.press("a")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormDialog)
        form.query_one("#field-username", Input).value = "nobody"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form, "an unknown user keeps the form open"
        form.query_one("#field-username", Input).value = "alice"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        [(building, username, name)] = table_rows(screen, "#managers-table")
        assert (username, name) == ("alice", "Alice Owusu")
        assert building in ("PB", "ENG")

        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        assert app.screen is screen
        assert table_rows(screen, "#managers-table") == []


async def test_a_manager_administers_their_building_only(
    server: ServerProcess, client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    await make_campus(client, admin)
    student = await make_person(Role.STUDENT)
    granted = await client.put(f"/api/v1/buildings/2/managers/{student.id}", headers=admin.headers)
    assert granted.status == 200, await granted.text()
    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot, server, student)
        await pilot.press("f6")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AdminScreen)
        assert [pane.id for pane in screen.query(TabPane)] == ["rooms", "blackouts"]
        rooms = [row[0] for row in table_rows(screen, "#rooms-table")]
        assert rooms == ["ENG/1", "ENG/2"]


async def test_a_student_managing_nothing_has_no_administration(
    server: ServerProcess, client: TestClient, make_person: MakePerson
) -> None:
    student = await make_person(Role.STUDENT)
    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot, server, student)
        await pilot.press("f6")
        await settle(pilot)
        assert not isinstance(app.screen, AdminScreen)
