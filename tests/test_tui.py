"""The terminal UI driven with Textual's pilot against a real server process: sign in, find a
free room, book it offline, see it pending, sync, see it confirmed; resolve a refused change
with an alternative; cancel one occurrence of a series; and the admin screens."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable, Input, Select, Static

from compax_tui.app import CompaxApp
from compax_tui.screens.admin import AdminScreen
from compax_tui.screens.attention import AttentionScreen
from compax_tui.screens.booking_form import BookingForm
from compax_tui.screens.bookings import BookingsScreen
from compax_tui.screens.dialogs import ConfirmDialog, FormDialog, ScopeDialog
from compax_tui.screens.finder import FinderScreen
from compax_tui.screens.grid import GridScreen
from compax_tui.screens.sign_in import SignInScreen
from compax_tui.widgets.slot_grid import SlotGridView
from sync.permissions import Role
from tests.booking_helpers import Campus, at, book, make_campus, next_weekday
from tests.conftest import PASSWORD, MakePerson, Person
from tests.servers import ServerProcess
from tests.tui_campus import settle

pytestmark = pytest.mark.slow


@pytest.fixture
async def server(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ServerProcess]:
    """A real server on the test's database, and a data directory for the TUI's profile."""
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "client"))
    process = ServerProcess(database_url, tmp_path)
    process.start()
    try:
        await process.wait_until_healthy()
        yield process
    finally:
        process.stop()


async def sign_in(pilot: Pilot[None], server: ServerProcess, person: Person) -> None:
    """Sign in through the sign-in screen with the keyboard, and wait for the first sync."""
    await settle(pilot)
    assert isinstance(pilot.app.screen, SignInScreen)
    pilot.app.screen.query_one("#server", Input).value = server.url
    await pilot.click("#username")
    await pilot.press(*person.user.username, "tab", *PASSWORD, "enter")
    await settle(pilot)
    assert isinstance(pilot.app.screen, FinderScreen), "signed in, the finder shows"


def notices(app: CompaxApp) -> list[str]:
    """The notifications shown so far, as ``title: message``."""
    return [f"{n.title}: {n.message}" for n in app._notifications]


def status(app: CompaxApp) -> dict[str, Any]:
    return app.engine.status()


async def server_bookings(client: TestClient, person: Person) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/bookings?owner=me&limit=500", headers=person.headers)
    return list((await response.json())["items"])


async def book_from_finder(
    pilot: Pilot[None], day: str, start: str, length: str, capacity: str, title: str
) -> None:
    """Find the rooms free then, open the first, and book the marked range offline."""
    screen = pilot.app.screen
    assert isinstance(screen, FinderScreen)
    screen.query_one("#free-from", Input).value = f"{day} {start}"
    screen.query_one("#free-for", Input).value = length
    screen.query_one("#capacity", Input).value = capacity
    await settle(pilot)
    await pilot.press("ctrl+l", "enter")
    await settle(pilot)
    assert isinstance(pilot.app.screen, GridScreen)
    assert pilot.app.screen.query_one(SlotGridView).marked is not None
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(pilot.app.screen, BookingForm)
    await pilot.press(*title)
    await settle(pilot)


def table_rows(screen: Any, selector: str) -> list[list[str]]:
    table = screen.query_one(selector, DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_find_a_free_room_book_it_offline_and_see_it_confirmed(
    server: ServerProcess, client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus: Campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday = str(next_weekday(0))
    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot, server, staff)
        assert [row[0] for row in table_rows(app.screen, "#rooms")][:3] == [
            "ENG/1",
            "ENG/2",
            "PB/101",
        ]

        await book_from_finder(pilot, monday, "10:00", "1h", "50", "Tutorial")
        assert "Nothing clashes" in str(app.screen.query_one("#check", Static).render())
        app.screen.query_one("#attendees", Input).value = "61"
        await settle(pilot)
        assert "PB/102 seats 60" in str(app.screen.query_one("#check", Static).render())
        app.screen.query_one("#attendees", Input).value = "50"
        await settle(pilot)
        assert "Nothing clashes" in str(app.screen.query_one("#check", Static).render())
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, GridScreen)
        assert status(app)["pending"] == 1
        assert await server_bookings(client, staff) == [], "nothing is sent before a sync"

        await pilot.press("f4")
        await settle(pilot)
        assert isinstance(app.screen, BookingsScreen)
        [row] = table_rows(app.screen, "#bookings")
        assert (row[2], row[4], row[3]) == ("PB/102", "Tutorial", "⧗ pending")

        await pilot.press("ctrl+r")
        await settle(pilot)
        [row] = table_rows(app.screen, "#bookings")
        assert row[3] == "✓ confirmed"
        assert app.online is True and status(app)["pending"] == 0
        assert notices(app)[-1] == "Synced: Sent 1 change: 1 confirmed"

        server.stop()
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert app.online is False
        assert notices(app)[-1] == f"Offline: Cannot reach 127.0.0.1:{server.port}. Nothing queued"
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert notices(app)[-1].startswith("Still offline: Cannot reach 127.0.0.1:")
        server.start()
        await server.wait_until_healthy()
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert app.online is True
        assert notices(app)[-1] == "Back online: Nothing to send; up to date"
        [held] = await server_bookings(client, staff)
        assert (held["room_id"], held["title"], held["start"]) == (
            campus.room_102,
            "Tutorial",
            at(next_weekday(0), 10).replace("+00:00", "Z"),
        )


async def test_a_refused_booking_is_resolved_with_an_alternative(
    server: ServerProcess, client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff, rival = await make_person(Role.STAFF), await make_person(Role.STAFF)
    monday = next_weekday(0)
    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot, server, staff)
        await book_from_finder(pilot, str(monday), "09:00", "1h", "30", "Mine")
        app.screen.query_one("#attendees", Input).value = "30"
        await pilot.press("ctrl+s")
        await settle(pilot)
        [mine] = app.engine.my_bookings()
        taken = await book(client, rival, mine["room_id"], at(monday, 9), at(monday, 11))
        assert taken.status == 201

        await pilot.press("ctrl+r")
        await settle(pilot)
        assert status(app)["needs_attention"] == 1
        await pilot.press("f5")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AttentionScreen)
        reason = str(screen.query_one("#conflict-reason", Static).render())
        assert "already booked" in reason and "in the way: Lecture" in reason
        await pilot.press("enter")
        await pilot.press("enter")
        await settle(pilot)
        assert app.engine.conflicts() == [] and status(app)["pending"] == 1

        await pilot.press("ctrl+r")
        await settle(pilot)
        assert status(app)["pending"] == 0 and status(app)["needs_attention"] == 0
        held = await server_bookings(client, staff)
        assert [(b["title"], b["start"]) for b in held] == [
            ("Mine", at(monday, 9).replace("+00:00", "Z"))
        ]
        assert held[0]["room_id"] != mine["room_id"]
        assert held[0]["room_id"] in {campus.room_101, campus.room_102, campus.eng_1}


async def test_one_occurrence_of_a_series_is_cancelled(
    server: ServerProcess, client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)
    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot, server, staff)
        await book_from_finder(pilot, str(monday), "14:00", "1h", "", "Seminar")
        form = app.screen
        form.query_one("#repeat", Checkbox).value = True
        form.query_one("#until", Input).value = str(monday + timedelta(days=14))
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert status(app)["pending"] == 1
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert [b["status"] for b in await server_bookings(client, staff)] == ["confirmed"] * 3

        await pilot.press("f4")
        await settle(pilot)
        assert [row[0] for row in table_rows(app.screen, "#bookings")] == ["↻"] * 3
        await pilot.press("down", "c")
        await settle(pilot)
        assert isinstance(app.screen, ScopeDialog)
        await pilot.press("enter")
        await settle(pilot)
        assert [row[3] for row in table_rows(app.screen, "#bookings")] == [
            "✓ confirmed",
            "⧗ cancel pending",
            "✓ confirmed",
        ]
        await pilot.press("ctrl+r")
        await settle(pilot)
        held = await server_bookings(client, staff)
        assert [b["start"][:10] for b in held] == [str(monday), str(next_weekday(0, 4))]


async def test_an_admin_manages_users_rooms_and_blackouts(
    server: ServerProcess, client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    await make_campus(client, admin)
    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot, server, admin)
        await pilot.press("f6")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AdminScreen)
        assert [row[0] for row in table_rows(screen, "#users-table")] == ["root"]

        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, FormDialog)
        await pilot.press(*"k", "ctrl+s")
        await settle(pilot)
        assert "at least 2 characters" in str(app.screen.query_one("#error-username").render())
        await pilot.press(*"ofi", "tab", *"Kofi Mensah", "ctrl+s")
        await settle(pilot)
        assert sorted(row[0] for row in table_rows(screen, "#users-table")) == ["kofi", "root"]
        kofi = [row[0] for row in table_rows(screen, "#users-table")].index("kofi")
        await pilot.press(*["down"] * kofi, "x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        users = {row[0]: row for row in table_rows(screen, "#users-table")}
        assert users["kofi"][4] == "no"

        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert screen.tab == "rooms"
        await pilot.press("a")
        await settle(pilot)
        dialog = app.screen
        dialog.query_one("#field-building", Select).value = "PB"
        dialog.query_one("#field-code", Input).value = "301"
        dialog.query_one("#field-capacity", Input).value = "24"
        dialog.query_one("#field-features", Input).value = "Fume hood, computers"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen, "the form closed: the server took the room"
        rooms = {row[0]: row for row in table_rows(screen, "#rooms-table")}
        assert rooms["PB/301"][4] == "computers, fume_hood"
        assert app.engine.reads.room_by_code("PB", "301") is not None, "synced into the replica"

        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert screen.tab == "blackouts"
        await pilot.press("a")
        await settle(pilot)
        dialog = app.screen
        dialog.query_one("#field-where", Input).value = "PB/101"
        dialog.query_one("#field-start", Input).value = f"{next_weekday(0)} 08:00"
        dialog.query_one("#field-reason", Input).value = "Exam setup"
        await pilot.press("ctrl+s")
        await settle(pilot)
        [closure] = table_rows(screen, "#blackouts-table")
        assert (closure[0], closure[2]) == ("PB/101", "Exam setup")
        await pilot.press("x", "y")
        await settle(pilot)
        assert table_rows(screen, "#blackouts-table") == []


def test_the_tui_draws_its_first_screen_before_loading_the_engine() -> None:
    """`compax tui` must not pay for the engine, the schemas or the other commands up front."""
    probe = (
        "import sys, compax_cli.main, compax_tui.app; "
        "print(' '.join(m for m in ('sync.engine', 'sync.schemas', 'aiohttp', "
        "'compax_server.cli', 'compax_cli.importing') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []
