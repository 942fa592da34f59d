"""The audit screen (F9) against a real server: only for those who may read the trail; it
lists, filters and shows an entry's fields before and after, at 80×24."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from textual.widgets import DataTable, Input, Static

from compax_tui.app import CompaxApp
from compax_tui.screens.audit import AuditScreen
from compax_tui.screens.help import HelpScreen
from sync.permissions import Role
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


def _offered(help_screen: HelpScreen) -> set[str]:
    """The actions the help lists for the screen it was asked on."""
    return {active.binding.action for active in help_screen.below.active_bindings.values()}


async def test_admins_read_filter_and_open_entries(
    server: ServerProcess, client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    staff = await make_person(Role.STAFF, username="kofi")
    promoted = await client.patch(
        f"/api/v1/users/{staff.id}",
        json={"role": "exams_officer"},
        headers=with_version(admin.headers, 1),
    )
    assert promoted.status == 200, await promoted.text()

    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot, server, admin)
        assert "audit" in _offered(HelpScreen(app.screen))
        await pilot.press("f9")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AuditScreen)
        table = screen.query_one("#audit-entries", DataTable)
        assert table.row_count >= 3  # two users made, one promoted
        assert [str(c) for c in table.get_row_at(0)][1:] == [
            "root",
            "role_change",
            f"users/{staff.id}",
        ]
        await pilot.press("enter")
        await settle(pilot)
        detail = str(screen.query_one("#audit-detail", Static).render())
        assert 'role: "staff" → "exams_officer"' in detail

        screen.query_one("#audit-record", Input).value = f"users/{admin.id}"
        screen.query_one("#audit-record", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert table.row_count == 1
        assert str(table.get_row_at(0)[3]) == f"users/{admin.id}"

        screen.query_one("#audit-action", Input).value = "shouting"
        screen.query_one("#audit-action", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert "an action one of" in str(screen.query_one("#audit-detail", Static).render())
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, AuditScreen)


async def test_others_are_not_offered_the_audit_screen(
    server: ServerProcess, make_person: MakePerson
) -> None:
    staff = await make_person(Role.STAFF)
    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot, server, staff)
        await pilot.press("f9")
        await settle(pilot)
        assert not isinstance(app.screen, AuditScreen)
        await pilot.press("f1")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        assert "audit" not in _offered(app.screen)
