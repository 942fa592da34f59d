"""``compax users``, ``compax rooms add|update`` and ``compax blackouts`` against a real server
process: each change lands on the server, bad input names its field, and roles are enforced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from compax_cli.output import REFUSED, SIGN_IN, UNREACHABLE, USAGE
from sync.permissions import Role
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import PASSWORD, MakePerson, Person
from tests.servers import ServerProcess
from tests.test_cli import Cli


async def _signed_in(cli: Cli, server: ServerProcess, person: Person) -> None:
    login = await cli(
        "login",
        "--server",
        server.url,
        "--username",
        person.user.username,
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert login.exit_code == 0, login.output


async def _can_sign_in(client: TestClient, username: str, password: str) -> bool:
    answer = await client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}
    )
    return answer.status == 200


@pytest.mark.slow
async def test_users_are_added_changed_reset_and_deactivated(
    client: TestClient, admin: Person, make_person: MakePerson, database_url: str, tmp_path: Path
) -> None:
    staff = await make_person(Role.STAFF)
    server = ServerProcess(database_url, tmp_path)
    server.start()
    cli, staff_cli = Cli(tmp_path / "admin"), Cli(tmp_path / "staff")
    try:
        await server.wait_until_healthy()
        await _signed_in(cli, server, admin)
        await _signed_in(staff_cli, server, staff)

        added = await cli.json(
            "users", "add", "kofi", "--role", "staff", "--full-name", "Kofi Mensah"
        )
        assert (added["username"], added["role"], added["full_name"]) == (
            "kofi",
            "staff",
            "Kofi Mensah",
        )
        assert await _can_sign_in(client, "kofi", added["password"])
        shown = await cli("users", "add", "ama", "--department", "Physics")
        assert shown.exit_code == 0, shown.output
        [password_line] = [line for line in shown.stdout.splitlines() if "password:" in line]
        assert await _can_sign_in(client, "ama", password_line.split("password: ")[1])

        duplicate = await cli("users", "add", "kofi")
        assert (duplicate.exit_code, duplicate.stderr) == (
            REFUSED,
            "refused (duplicate): The username kofi is taken\n",
        )
        bad_email = await cli("users", "add", "yaw", "--email", "not-an-address")
        assert bad_email.exit_code == USAGE
        assert bad_email.stderr.startswith("error: email:")

        staff_only = await cli.json("users", "list", "--role", "staff")
        assert sorted(u["username"] for u in staff_only) == sorted([staff.user.username, "kofi"])
        first_page = await cli("users", "list", "--limit", "1")
        assert "more: compax users list --cursor " in first_page.stderr
        cursor = first_page.stderr.split("--cursor ")[1].split()[0]
        second = await cli.json("users", "list", "--limit", "1", "--cursor", cursor)
        assert (
            second[0]["username"]
            != json.loads((await cli("users", "list", "--limit", "1", "--json")).stdout)[0][
                "username"
            ]
        )

        promoted = await cli.json("users", "set-role", "kofi", "exams_officer")
        assert promoted["role"] == "exams_officer"
        reset = await cli(
            "users", "reset-password", "kofi", "--password-stdin", input="new-pass-1234\n"
        )
        assert reset.exit_code == 0, reset.output
        assert await _can_sign_in(client, "kofi", "new-pass-1234")
        assert not await _can_sign_in(client, "kofi", added["password"])
        generated = await cli("users", "reset-password", "ama")
        assert await _can_sign_in(client, "ama", generated.stdout.strip())

        assert (await cli("users", "deactivate", "kofi")).exit_code == 0
        assert not await _can_sign_in(client, "kofi", "new-pass-1234")
        inactive = await cli.json("users", "list", "--inactive")
        assert [u["username"] for u in inactive] == ["kofi"]
        missing = await cli("users", "deactivate", "nobody")
        assert missing.exit_code == REFUSED
        assert "no user nobody" in missing.stderr

        forbidden = await staff_cli("users", "list")
        assert forbidden.exit_code == REFUSED
        assert forbidden.stderr.startswith("refused (forbidden):")
        await client.post("/api/v1/auth/logout-all", headers=staff.headers)
        expired = await staff_cli("users", "list")
        assert expired.exit_code == SIGN_IN

        server.stop()
        offline = await cli("users", "add", "yaw")
        assert offline.exit_code == UNREACHABLE
        assert offline.stderr.startswith("offline:")
        assert "nothing was changed" in offline.stderr
    finally:
        server.stop()


@pytest.mark.slow
async def test_rooms_are_added_and_changed_and_blackouts_listed_and_removed(
    client: TestClient, admin: Person, make_person: MakePerson, database_url: str, tmp_path: Path
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)
    booked = await book(client, staff, campus.room_101, at(monday, 10), at(monday, 11))
    assert booked.status == 201
    server = ServerProcess(database_url, tmp_path)
    server.start()
    cli = Cli(tmp_path / "admin")
    try:
        await server.wait_until_healthy()
        await _signed_in(cli, server, admin)

        added = await cli.json(
            "rooms",
            "add",
            "PB/301",
            "--capacity",
            "24",
            "--kind",
            "lab",
            "--feature",
            "Fume Hood",
            "--hours",
            "mon-fri 08:00-18:00, sat 09:00-12:00",
            "--max-length",
            "3h",
        )
        assert (added["building"], added["code"], added["features"]) == ("PB", "301", ["fume_hood"])
        assert added["max_duration_minutes"] == 180
        assert sorted(added["opening_hours"]) == ["fri", "mon", "sat", "thu", "tue", "wed"]
        bad = await cli("rooms", "add", "PB/302", "--capacity", "-1")
        assert bad.exit_code == USAGE
        assert bad.stderr.startswith("error: capacity:")
        bad_hours = await cli(
            "rooms", "add", "PB/302", "--capacity", "5", "--hours", "fri-mon 8:00-9:00"
        )
        assert bad_hours.exit_code == USAGE
        assert bad_hours.stderr.startswith("error: hours:")

        changed = await cli.json("rooms", "update", "PB/301", "--capacity", "30", "--not-bookable")
        assert (changed["capacity"], changed["bookable"], changed["max_duration_minutes"]) == (
            30,
            False,
            180,
        )
        by_id = await cli.json("rooms", "update", str(added["id"]), "--bookable")
        assert by_id["bookable"] is True
        door = await cli.json(
            "rooms", "update", "PB/301", "--checkin", "--checkin-opens", "10m",
            "--checkin-closes", "20m",
        )  # fmt: skip
        assert (
            door["checkin_required"],
            door["checkin_opens_minutes"],
            door["checkin_closes_minutes"],
        ) == (True, 10, 20)
        assert (await cli("rooms", "update", "PB/301")).exit_code == USAGE
        unknown = await cli("rooms", "update", "PB/999", "--capacity", "3")
        assert unknown.exit_code == REFUSED
        assert "no room PB/999" in unknown.stderr

        closed = await cli(
            "blackouts", "add", "--room", "PB/101", "--at", f"{monday} 09:00", "--for", "3h",
            "--reason", "Exam setup",
        )  # fmt: skip
        assert closed.exit_code == 0, closed.output
        assert "Inside it, kept: 1 booking" in closed.stderr
        building = await cli.json(
            "blackouts", "add", "--building", "ENG", "--at", f"{monday} 08:00",
            "--until", f"{monday} 20:00", "--reason", "Power cut",
        )  # fmt: skip
        assert building["covered_bookings"] == []
        both = await cli(
            "blackouts", "add", "--building", "ENG", "--room", "PB/101", "--at", f"{monday} 08:00",
            "--for", "1h", "--reason", "x",
        )  # fmt: skip
        assert both.exit_code == USAGE

        assert (await cli("sync")).exit_code == 0
        listed = await cli("blackouts", "list")
        assert "PB/101" in listed.stdout
        assert "building ENG" in listed.stdout
        only_eng = await cli.json("blackouts", "list", "--building", "ENG")
        assert [b["reason"] for b in only_eng] == ["Power cut"]
        removed = await cli("blackouts", "remove", str(building["blackout"]["id"]))
        assert removed.exit_code == 0, removed.output
        assert [b["reason"] for b in await cli.json("blackouts", "list")] == ["Exam setup"]
        again = await cli("blackouts", "remove", str(building["blackout"]["id"]))
        assert again.exit_code == REFUSED
    finally:
        server.stop()
