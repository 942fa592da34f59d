"""``compax quotas`` and ``compax quota`` against a real server process: limits set and
cleared by an admin, refused to others, and each user's own use shown online and offline."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from compax_cli.output import REFUSED, USAGE
from sync.permissions import Role
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.servers import ServerProcess
from tests.test_cli import Cli
from tests.test_cli_admin import _signed_in


@pytest.mark.slow
async def test_quotas_are_set_listed_cleared_and_read_by_their_user(
    client: TestClient, admin: Person, make_person: MakePerson, database_url: str, tmp_path: Path
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF, username="ama")
    server = ServerProcess(database_url, tmp_path)
    server.start()
    cli, staff_cli = Cli(tmp_path / "admin"), Cli(tmp_path / "staff")
    try:
        await server.wait_until_healthy()
        await _signed_in(cli, server, admin)
        await _signed_in(staff_cli, server, staff)

        made = await cli.json("quotas", "set", "staff", "--hours-day", "4", "--future", "3")
        assert (made["role"], made["max_hours_day"], made["max_future_bookings"]) == ("staff", 4, 3)
        own = await cli.json("quotas", "set", "--user", "ama", "--bookings-week", "5")
        assert own["username"] == "ama"
        listed = await cli("quotas", "list")
        assert listed.exit_code == 0, listed.output
        assert "role staff" in listed.stdout and "user ama" in listed.stdout

        both = await cli("quotas", "set", "staff", "--user", "ama")
        assert both.exit_code == USAGE, both.output
        negative = await cli("quotas", "set", "staff", "--hours-day", "-1")
        assert negative.exit_code != 0 and "max_hours_day" in negative.stderr
        refused = await staff_cli("quotas", "set", "staff", "--hours-day", "9")
        assert refused.exit_code == REFUSED, refused.output

        monday = next_weekday(0)
        assert (
            await book(client, staff, campus.room_101, at(monday, 9), at(monday, 10))
        ).status == 201
        mine = await staff_cli.json("quota")
        assert mine["source"] == "user"
        assert {u["limit"]: u["used"] for u in mine["use"]} == {"bookings-week": 0}
        shown = await staff_cli("quota")
        assert shown.exit_code == 0 and "your own" in shown.stderr, shown.output

        cleared = await cli("quotas", "clear", "--user", "ama")
        assert cleared.exit_code == 0, cleared.output
        synced = await staff_cli("sync")
        assert synced.exit_code == 0, synced.output
        offline = await staff_cli.json("quota", "--offline")
        assert offline["source"] == "role"
        assert {u["limit"]: u["used"] for u in offline["use"]}["future"] == 1
    finally:
        server.stop()
