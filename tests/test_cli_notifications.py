"""``compax notifications`` against a real server process: list, read, and the mail settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from compax_cli.output import USAGE
from sync.permissions import Role
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import PASSWORD, MakePerson, Person
from tests.servers import ServerProcess
from tests.support import with_version
from tests.test_cli import Cli


@pytest.mark.slow
async def test_notifications_are_listed_read_and_muted(
    client: TestClient, admin: Person, make_person: MakePerson, database_url: str, tmp_path: Path
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    day = next_weekday(1)
    made = await book(client, staff, campus.room_101, at(day, 9), at(day, 10), title="Seminar")
    booking = await made.json()
    cancelled = await client.delete(
        f"/api/v1/bookings/{booking['id']}", headers=with_version(admin.headers, 1)
    )
    assert cancelled.status == 200, await cancelled.text()

    server = ServerProcess(database_url, tmp_path)
    server.start()
    cli = Cli(tmp_path / "staff")
    try:
        await server.wait_until_healthy()
        login = await cli(
            "login",
            "--server",
            server.url,
            "--username",
            staff.user.username,
            "--password-stdin",
            input=PASSWORD + "\n",
        )
        assert login.exit_code == 0, login.output

        [notice] = await cli.json("notifications", "list", "--unread")
        assert notice["kind"] == "booking_cancelled"
        assert notice["subject"] == "Your booking in PB/101 was cancelled"
        shown = await cli("notifications", "read", str(notice["id"]))
        assert shown.exit_code == 0, shown.output
        assert "“Seminar” in PB/101" in shown.stdout
        assert await cli.json("notifications", "list", "--unread") == []
        table = await cli("notifications", "list")
        assert "PB/101 was cancelled" in table.stdout

        muted = await cli("notifications", "mute", "reminder")
        assert muted.exit_code == 0, muted.output
        assert "reminder are kept here, not mailed" in muted.stderr
        chosen = {s["kind"]: s["mail"] for s in await cli.json("notifications", "settings")}
        assert chosen["reminder"] is False and chosen["booking_changed"] is True
        await cli("notifications", "unmute", "reminder")
        chosen = {s["kind"]: s["mail"] for s in await cli.json("notifications", "settings")}
        assert chosen["reminder"] is True

        unknown = await cli("notifications", "mute", "gossip")
        assert unknown.exit_code == USAGE
        missing = await cli("notifications", "read", "99999")
        assert missing.exit_code == 1 and "no notification 99999" in missing.stderr
    finally:
        server.stop()
