"""The notifications screen (F7) against a real server: list, read, and mail per kind, at 80×24."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from textual.widgets import DataTable, SelectionList, Static

from compax_tui.app import CompaxApp
from compax_tui.screens.notifications import NotificationsScreen
from sync.permissions import Role
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.servers import ServerProcess
from tests.support import with_version
from tests.test_tui import sign_in
from tests.tui_campus import settle

pytestmark = pytest.mark.slow


@pytest.fixture
async def server(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ServerProcess]:
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "client"))
    process = ServerProcess(database_url, tmp_path)
    process.start()
    try:
        await process.wait_until_healthy()
        yield process
    finally:
        process.stop()


async def test_notifications_are_read_and_a_kind_is_muted(
    server: ServerProcess, client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    day = next_weekday(2)
    made = await book(client, staff, campus.room_102, at(day, 14), at(day, 15), title="Viva")
    booking_id = (await made.json())["id"]
    gone = await client.delete(
        f"/api/v1/bookings/{booking_id}", headers=with_version(admin.headers, 1)
    )
    assert gone.status == 200, await gone.text()

    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot, server, staff)
        await pilot.press("f7")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, NotificationsScreen)
        table = screen.query_one("#notices", DataTable)
        assert table.row_count == 1
        assert [str(c) for c in table.get_row_at(0)][1:] == [
            "•",
            "Your booking in PB/102 was cancelled",
        ]
        await pilot.press("enter")
        await settle(pilot)
        assert "“Viva” in PB/102" in str(screen.query_one("#notice-text", Static).render())
        assert str(table.get_row_at(0)[1]) == ""

        kinds = screen.query_one("#mail-kinds", SelectionList)
        assert len(kinds.selected) == len(kinds.options)
        kinds.focus()
        await pilot.press("space")  # the first kind: booking changed
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, NotificationsScreen)

    mine = await client.get("/api/v1/me/notifications", headers=staff.headers)
    [notice] = (await mine.json())["items"]
    assert notice["read_at"] is not None
    chosen = await client.get("/api/v1/me/notification-settings", headers=staff.headers)
    mail = {s["kind"]: s["mail"] for s in (await chosen.json())["settings"]}
    assert mail["booking_changed"] is False and mail["booking_cancelled"] is True
