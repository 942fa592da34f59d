"""A room whose code holds spaces and commas and runs to 60 characters, of unknown capacity,
through the clients: the replica, offline search and booking, sync push and pull, the CLI's
lists and bookings by that label, and bookings exported and imported again unchanged."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from aiohttp.test_utils import TestClient

from compax_cli.output import USAGE
from sync.engine import Engine
from sync.kinds import BOOKINGS, ROOMS, TIMETABLE
from sync.lookups import Lookups
from sync.replica import Replica
from sync.replica_tables import MIGRATIONS
from tests.booking_helpers import at, bulk, make_campus, next_weekday
from tests.conftest import PASSWORD, MakePerson, Person
from tests.test_cli import Cli
from tests.test_unknown_capacity import LONG_CODE

LABEL = f"PB/{LONG_CODE}"


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def _theatre(client: TestClient, admin: Person) -> int:
    await make_campus(client, admin)
    [row] = await bulk(client, admin, "rooms", [{"building": "PB", "code": LONG_CODE.lower()}])
    return int(row["id"])


async def test_the_replica_searches_and_books_a_room_of_unknown_capacity_offline(
    client: TestClient, admin: Person, make_person: MakePerson, engines: Callable[[str], Engine]
) -> None:
    theatre = await _theatre(client, admin)
    staff = await make_person("staff")
    engine = engines(staff.user.username)
    await engine.sign_in(str(client.make_url("")), staff.user.username, PASSWORD)
    await engine.sync()
    monday = next_weekday(0)
    start, end = when(at(monday, 10)), when(at(monday, 11))

    free = engine.reads.free_rooms(start, end)
    assert [(r["code"], r["capacity"]) for r in free][-1] == (LONG_CODE, None)
    assert [r["capacity"] for r in free[:-1]] == [20, 40, 40, 60]
    assert theatre not in [r["id"] for r in engine.reads.free_rooms(start, end, capacity=1)]
    assert theatre not in [r["id"] for r in engine.reads.rooms(capacity=0)]
    named = Lookups(engine.replica).room_by_code(
        " pb ", "lecture  theatre 1, east wing (ground floor) - block a & b #2"
    )
    assert named is not None and named["id"] == theatre

    made = engine.book(theatre, start, end, "Open day", attendees=700)
    assert made["room"] == LABEL
    report = await engine.sync()
    assert (report.applied, report.rejected) == (1, 0)
    pulled = engine.reads.booking(made["id"])
    assert pulled is not None and (pulled["room"], pulled["pending"]) == (LABEL, False)


def test_a_replica_made_before_unknown_capacities_keeps_its_rooms(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        for script in MIGRATIONS[:2]:
            old.executescript(script)
        old.execute("PRAGMA user_version = 2")
        old.execute(
            "INSERT INTO rooms VALUES ('7', 'PB', '101', 'classroom', 40, 1, ?)",
            [json.dumps({"id": 7, "building": "PB", "code": "101", "capacity": 40})],
        )
    old.close()
    replica = Replica(path)
    try:
        with replica.write() as db:
            db.execute(
                "INSERT INTO rooms VALUES ('8', 'PB', 'HALL', 'classroom', NULL, 1, ?)",
                [json.dumps({"id": 8, "building": "PB", "code": "HALL", "capacity": None})],
            )
        rooms = Lookups(replica).rooms()
        assert [(r["id"], r["capacity"]) for r in rooms] == [(7, 40), (8, None)]
    finally:
        replica.close()


async def test_the_cli_lists_books_exports_and_imports_a_room_by_its_spaced_label(
    client: TestClient, admin: Person, tmp_path: Path
) -> None:
    theatre = await _theatre(client, admin)
    cli = Cli(tmp_path / "cli")
    login = await cli(
        "login",
        "--server",
        str(client.make_url("")),
        "--username",
        admin.user.username,
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert login.exit_code == 0, login.output
    assert (await cli("sync")).exit_code == 0

    listed = await cli("rooms", "list", "--building", "PB")
    assert listed.exit_code == 0, listed.output
    [row] = [line for line in listed.stdout.splitlines() if "LECTURE" in line]
    assert LONG_CODE in row and " ? " in row, row
    shown = await cli.json(
        "rooms", "show", "pb/lecture theatre 1,  east wing (ground floor) - block a & b #2"
    )
    assert (shown["id"], shown["capacity"]) == (theatre, None)

    monday = next_weekday(0)
    made = await cli.json(
        "book", LABEL, "--at", f"{monday} 10:00", "--for", "1h", "--title", "MATH 101", "--sync"
    )
    assert made["room"] == LABEL and made["pending"] is False

    exported = tmp_path / "bookings.csv"
    out = await cli("export", "bookings", "--room", LABEL, "-o", str(exported))
    assert out.exit_code == 0, out.output
    with exported.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["room"], r["title"]) for r in rows] == [(LABEL, "MATH 101")]
    again = await cli.json("import", "bookings", str(exported))
    assert (again["rejected"], again["unchanged"]) == (0, 1), again
    rooms_file = tmp_path / "rooms.csv"
    out = await cli("export", "rooms", "--building", "PB", "-o", str(rooms_file))
    assert out.exit_code == 0, out.output
    with rooms_file.open(newline="") as file:
        written = {r["code"]: r for r in csv.DictReader(file)}
    assert written[LONG_CODE]["capacity"] == ""
    rooms_again = await cli.json("import", "rooms", str(rooms_file))
    assert (rooms_again["rejected"], rooms_again["unchanged"]) == (0, 4), rooms_again
    no_seats = tmp_path / "no_seats.csv"
    no_seats.write_text('building,code\nPB,"Annex  Hall, West"\n')
    added = await cli.json("import", "rooms", str(no_seats))
    assert (added["rejected"], added["created"]) == (0, 1), added
    assert (await cli("sync")).exit_code == 0
    hall = await cli.json("rooms", "show", "PB/ANNEX HALL, WEST")
    assert hall["capacity"] is None
    seated = await cli.json("rooms", "update", "PB/Annex Hall, West", "--capacity", "80")
    assert seated["capacity"] == 80
    unseated = await cli.json("rooms", "update", "PB/ANNEX HALL, WEST", "--unknown-capacity")
    assert unseated["capacity"] is None
    both = await cli("rooms", "update", "PB/101", "--capacity", "3", "--unknown-capacity")
    assert both.exit_code == USAGE and "not both" in both.stderr, both.output
    store = await cli.json("rooms", "add", "PB/Store  9")
    assert (store["code"], store["capacity"]) == ("STORE 9", None)

    response = await client.get(f"/api/v1/bookings?room_id={theatre}", headers=admin.headers)
    assert [(b["room"], b["title"]) for b in (await response.json())["items"]] == [
        (LABEL, "MATH 101")
    ]


def test_a_files_rows_are_keyed_by_codes_as_stored() -> None:
    """Two rows of one file naming a room or course with other spacing or case are one key,
    so that a dry run reports the second as the first again."""
    assert TIMETABLE.key and TIMETABLE.slot and ROOMS.key and BOOKINGS.slot
    spaced = {"course_code": "math  101", "weekday": "Mon", "start": "08:00", "end": "10:00"}
    plain = {**spaced, "course_code": "MATH 101", "weekday": "mon"}
    assert TIMETABLE.key(spaced) == TIMETABLE.key(plain)
    here = {"building": "pb", "room": "lecture  theatre 1, east wing"}
    assert TIMETABLE.slot(spaced | here) == TIMETABLE.slot(
        plain | {"building": "PB", "room": "LECTURE THEATRE 1, EAST WING"}
    )
    assert ROOMS.key({"building": "pb", "code": LONG_CODE.lower().replace(" ", "  ")}) == LABEL
    assert BOOKINGS.slot({"room": f" pb/{LONG_CODE.lower()}", "start": "s", "end": "e"}) == (
        LABEL,
        "s",
        "e",
    )
