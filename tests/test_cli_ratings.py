"""``compax rooms rate`` and ``compax rooms ratings`` against a real server process: a student
rates offline, the rating waits in the outbox and is shown as theirs, one sync applies it once,
and the room lists and free rooms filter and sort by rating from the replica."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from compax_cli.output import UNREACHABLE, USAGE
from sync.permissions import Role
from tests.booking_helpers import make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.servers import ServerProcess
from tests.test_cli import Cli
from tests.test_cli_admin import _signed_in
from tests.test_ratings import rate, totals_and_rows


@pytest.mark.slow
async def test_a_student_rates_offline_syncs_once_and_finds_rooms_by_rating(
    client: TestClient, admin: Person, make_person: MakePerson, database_url: str, tmp_path: Path
) -> None:
    campus = await make_campus(client, admin)
    student, other = await make_person(Role.STUDENT), await make_person(Role.STAFF)
    await rate(client, other, campus.room_102, 5)
    server = ServerProcess(database_url, tmp_path)
    server.start()
    cli = Cli(tmp_path / "student")
    try:
        await server.wait_until_healthy()
        await _signed_in(cli, server, student)
        assert (await cli("sync")).exit_code == 0

        queued = await cli("rooms", "rate", "PB/101", "4", "--comment", "Bright")
        assert queued.exit_code == 0, queued.output
        assert "pending until you sync" in queued.stderr
        assert await totals_and_rows(client, campus.room_101) == ((0, 0), [])
        listed = await cli.json("rooms", "ratings", "PB/101")
        assert [(r["stars"], r["mine"], r["pending"]) for r in listed["items"]] == [(4, True, True)]

        synced = await cli("sync")
        assert synced.exit_code == 0, synced.output
        again = await cli("sync")
        assert again.exit_code == 0, again.output
        assert await totals_and_rows(client, campus.room_101) == ((1, 4), [4])
        shown = await cli("rooms", "ratings", "PB/101")
        assert shown.exit_code == 0 and "Bright" in shown.stdout, shown.output

        best = await cli.json("rooms", "list", "--sort", "rating", "--building", "PB")
        assert [(r["code"], r["rating_average"]) for r in best] == [
            ("102", 5.0),
            ("101", 4.0),
            ("201", None),
        ]
        assert [r["code"] for r in await cli.json("rooms", "list", "--min-rating", "4.5")] == [
            "102"
        ]
        table = await cli("rooms", "list", "--building", "PB")
        assert "★ 4.0 (1)" in table.stdout and "unrated" in table.stdout, table.output
        monday = next_weekday(0).isoformat()
        free = await cli.json(
            "rooms", "free", "--at", f"{monday} 10:00", "--for", "1h", "--sort", "rating"
        )
        assert [r["code"] for r in free][:2] == ["102", "101"]

        removed = await cli("rooms", "rate", "PB/101", "--remove", "--sync")
        assert removed.exit_code == 0, removed.output
        assert await totals_and_rows(client, campus.room_101) == ((0, 0), [])
        for bad in (["PB/101", "6"], ["PB/101"], ["PB/999", "3"]):
            refused = await cli("rooms", "rate", *bad)
            assert refused.exit_code != 0, refused.output
            assert "Traceback" not in refused.output
        assert (await cli("rooms", "rate", "PB/101", "9")).exit_code == USAGE

        server.stop()
        queued = await cli("rooms", "rate", "PB/101", "2")
        assert queued.exit_code == 0, queued.output
        offline = await cli("rooms", "ratings", "PB/101")
        assert offline.exit_code == UNREACHABLE, offline.output
        assert "the ratings are read from the server" in offline.stderr, offline.stderr
        assert "changes stay queued" not in offline.stderr, "a read queues nothing"
    finally:
        server.stop()


@pytest.mark.slow
async def test_ratings_import_twice_and_export_import_unchanged(
    client: TestClient, admin: Person, make_person: MakePerson, database_url: str, tmp_path: Path
) -> None:
    campus = await make_campus(client, admin)
    await make_person(Role.STUDENT, username="esi")
    source = tmp_path / "finder.csv"
    source.write_text(
        "room,rating,comment,user\n"
        "PB/101,4,Good,\n"
        "PB/101,4,Good,\n"
        "PB/102,2,Too warm,esi\n"
        "PB/999,3,,\n"
    )
    server = ServerProcess(database_url, tmp_path)
    server.start()
    cli = Cli(tmp_path / "admin")
    try:
        await server.wait_until_healthy()
        await _signed_in(cli, server, admin)
        first = await cli("import", "ratings", str(source), "--batch-size", "1", "--json")
        assert first.exit_code != 0, "a rejected row makes the import exit 1"
        assert "room" in first.output
        repeated = await cli("import", "ratings", str(source), "--batch-size", "1", "--json")
        again = json.loads(repeated.stdout)
        assert (again["created"], again["unchanged"], again["rejected"]) == (0, 3, 1), again
        assert await totals_and_rows(client, campus.room_101) == ((2, 8), [4, 4])

        exported = tmp_path / "ratings.csv"
        done = await cli("export", "ratings", "-o", str(exported))
        assert done.exit_code == 0, done.output
        lines = exported.read_text().splitlines()
        assert lines[0] == "room,rating,comment,user,external_id" and len(lines) == 4
        back = await cli.json("import", "ratings", str(exported))
        assert (back["created"], back["unchanged"]) == (0, 3), back
    finally:
        server.stop()


async def test_an_admin_sees_who_wrote_each_rating_and_others_do_not(
    client: TestClient, admin: Person, make_person: MakePerson, tmp_path: Path
) -> None:
    """The server names a rating's author to admins only; the table shows that column to them
    (as ``rooms ratings --help`` says), and to nobody else."""
    from tests.test_cli_waitlist import signed_in

    campus = await make_campus(client, admin)
    student = await make_person(Role.STUDENT, username="kwesi")
    await rate(client, student, campus.room_101, 3, comment="Noisy")
    admin_cli = Cli(tmp_path / "admin")
    await signed_in(client, admin_cli, admin)
    shown = await admin_cli("rooms", "ratings", "PB/101")
    assert shown.exit_code == 0 and "kwesi" in shown.stdout, shown.output
    student_cli = Cli(tmp_path / "student")
    await signed_in(client, student_cli, student)
    theirs = await student_cli("rooms", "ratings", "PB/101")
    assert theirs.exit_code == 0 and "Noisy" in theirs.stdout, theirs.output
    assert "kwesi" not in theirs.stdout and "by" not in theirs.stdout.split("\n")[0]
