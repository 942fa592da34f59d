"""Problem reports in the terminal UI, against a real server process, at 80x24: the finder marks
a room with open reports and shows them, a problem reported from the finder is pending until
the sync sends it, and facilities staff take, start and resolve reports from their list."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from textual.widgets import DataTable, Input, Static

from compax_tui.app import CompaxApp
from compax_tui.screens.dialogs import FormDialog
from compax_tui.screens.finder import FinderScreen
from compax_tui.screens.grid import GridScreen
from compax_tui.screens.issues import IssuesDialog, RoomIssuesDialog
from compax_tui.widgets.slot_grid import SlotGridView
from sync.permissions import Role
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.servers import ServerProcess
from tests.test_issues import report
from tests.test_tui import notices, server, sign_in, table_rows
from tests.test_tui_dialogs import open_bookings
from tests.tui_campus import settle

pytestmark = pytest.mark.slow
__all__ = ["server"]


def _to_room(app: CompaxApp, label: str) -> None:
    table = app.screen.query_one("#rooms", DataTable)
    labels = [row[0] for row in table_rows(app.screen, "#rooms")]
    table.move_cursor(row=labels.index(label))
    table.focus()


async def test_the_finder_marks_shows_and_reports_problems(
    server: ServerProcess, client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    await report(client, staff, room_id=campus.room_102, summary="Projector dead")
    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot, server, staff)
        assert isinstance(app.screen, FinderScreen)
        marks = {row[0]: row[5] for row in table_rows(app.screen, "#rooms")}
        assert marks["PB/102"] == "⚠1" and marks["PB/101"] == ""
        _to_room(app, "PB/102")
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, RoomIssuesDialog)
        rows = table_rows(app.screen, "#room-issue-rows")
        assert [(row[1], row[2], row[3]) for row in rows] == [("other", "open", "Projector dead")]
        await pilot.press("escape")
        await settle(pilot)

        _to_room(app, "PB/101")
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, FormDialog)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, FormDialog), "a summary is required"
        app.screen.query_one("#field-summary", Input).value = "Bins overflowing"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, FinderScreen)
        assert any("Reported for PB/101" in notice for notice in notices(app)), notices(app)
        await pilot.press("ctrl+r")
        await settle(pilot)
        marks = {row[0]: row[5] for row in table_rows(app.screen, "#rooms")}
        assert marks["PB/101"] == "⚠1", marks

        _to_room(app, "PB/102")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, GridScreen)
        assert "⚠1 open problems" in str(app.screen.query_one("#grid-title", Static).render())
        await pilot.press("b")
        await settle(pilot)
        labels = app.screen.query_one(SlotGridView).labels
        assert [label for label in labels if "⚠" in label] == ["101    40 ⚠1", "102    60 ⚠1"]
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, RoomIssuesDialog)
    listed = await client.get("/api/v1/issues", headers=admin.headers)
    newest = (await listed.json())["items"][0]
    assert (newest["summary"], newest["room"]) == ("Bins overflowing", "PB/101")


async def test_facilities_staff_take_start_and_resolve_reports(
    server: ServerProcess, client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    fixer = await make_person(Role.FACILITIES, username="fred")
    await report(client, staff, room_id=campus.eng_1, summary="Too hot")
    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot, server, fixer)
        assert any(b.binding.key == "f10" for b in app.screen.active_bindings.values())
        await pilot.press("f10")
        await settle(pilot)
        assert isinstance(app.screen, IssuesDialog)
        assert [(r[0], r[1], r[3]) for r in table_rows(app.screen, "#issue-rows")] == [
            ("ENG/1", "open", "Too hot")
        ]
        await pilot.press("m")
        await settle(pilot)
        assert table_rows(app.screen, "#issue-rows")[0][2] == "fred"
        await pilot.press("s")
        await settle(pilot)
        assert table_rows(app.screen, "#issue-rows")[0][1] == "in progress"
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, FormDialog)
        title = str(app.screen.query_one(".dialog-title", Static).render())
        assert title == "Resolve ENG/1: Too hot", "the form names the report it resolves"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, FormDialog), "a resolution is required"
        app.screen.query_one("#field-resolution", Input).value = "Fixed the AC"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, IssuesDialog)
        assert table_rows(app.screen, "#issue-rows") == []


async def test_the_problems_key_is_only_for_those_who_see_to_them(
    server: ServerProcess, client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot, server, staff)
        assert not any(b.binding.key == "f10" for b in app.screen.active_bindings.values())


async def test_a_problem_reported_from_my_bookings_names_the_booking(
    server: ServerProcess, client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    day = next_weekday(2)
    made = await book(client, staff, campus.room_201, at(day, 9), at(day, 10), title="Lab")
    booking_id = (await made.json())["id"]
    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot, server, staff)
        screen = await open_bookings(pilot)
        screen.query_one("#bookings", DataTable).focus()
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, FormDialog)
        app.screen.query_one("#field-summary", Input).value = "No chairs"
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
    listed = await client.get("/api/v1/issues", headers=staff.headers)
    [issue] = (await listed.json())["items"]
    assert (issue["room"], issue["booking_id"], issue["summary"]) == (
        "PB/201",
        booking_id,
        "No chairs",
    )


async def test_the_chosen_report_stays_chosen_after_a_change(
    server: ServerProcess, client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """Taking a report reloads the list; the cursor stays on that report, so that the next key
    (s, r) acts on it and not on whichever report is listed first."""
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    fixer = await make_person(Role.FACILITIES, username="fred")
    await report(client, staff, room_id=campus.eng_1, summary="Too hot")
    await report(client, staff, room_id=campus.eng_1, summary="Door stuck")
    app = CompaxApp("tui", sync_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot, server, fixer)
        await pilot.press("f10")
        await settle(pilot)
        assert isinstance(app.screen, IssuesDialog)
        assert [r[3] for r in table_rows(app.screen, "#issue-rows")] == ["Door stuck", "Too hot"]
        await pilot.press("down", "m")
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        rows = {r[3]: (r[1], r[2]) for r in table_rows(app.screen, "#issue-rows")}
        assert rows == {"Door stuck": ("open", ""), "Too hot": ("in progress", "fred")}, rows
