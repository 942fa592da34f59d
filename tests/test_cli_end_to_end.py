"""The whole ``compax`` story with real processes: an administrator imports a campus and its
timetable from CSV, the server stops, two staff members book offline (one clash between them),
the server comes back, they sync, the loser resolves the conflict with an alternative, and the
server ends up holding exactly what everybody meant."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from compax_cli.output import REFUSED
from tests.conftest import PASSWORD, Person
from tests.servers import ServerProcess
from tests.test_cli import Cli

STAFF_PASSWORD = "staff-password-1"


def _write_campus(folder: Path, term_start: date) -> dict[str, Path]:
    """CSV files of a small campus, a staff list and a one-room timetable, as an admin has them."""
    files = {
        "buildings": "code,name,kind,floors\nPB,Petroleum Building,academic,3\n",
        "rooms": (
            "building,code,name,kind,floor,capacity,bookable,features\n"
            'PB,101,,classroom,1,40,true,"projector, whiteboard"\n'
            "PB,102,Seminar room,seminar_room,1,40,true,projector\n"
            "PB,201,,classroom,2,60,true,projector\n"
        ),
        "users": (
            "username,full_name,department,role,password\n"
            f"ama,Ama Mensah,Physics,staff,{STAFF_PASSWORD}\n"
            f"kofi,Kofi Boateng,Mathematics,staff,{STAFF_PASSWORD}\n"
        ),
        "terms": (
            "name,first_day,last_day,holidays\n"
            f"Term 1,{term_start},{term_start + timedelta(weeks=4, days=4)},\n"
        ),
        "timetable": (
            "course_code,course_name,department,year_group,weekday,start,end,building,room\n"
            "MATH101,Calculus I,Mathematics,1,mon,08:00,10:00,PB,101\n"
            "PHYS201,Mechanics,Physics,2,wed,14:00,16:00,PB,102\n"
        ),
    }
    paths = {}
    for kind, text in files.items():
        paths[kind] = folder / f"{kind}.csv"
        paths[kind].write_text(text)
    return paths


async def _login(cli: Cli, server: ServerProcess, username: str, password: str) -> None:
    result = await cli(
        "login",
        "--server",
        server.url,
        "--username",
        username,
        "--password-stdin",
        input=password + "\n",
    )
    assert result.exit_code == 0, result.output


async def _bookings_of(client: TestClient, admin: Person, username: str) -> list[dict[str, Any]]:
    answer = await client.get(f"/api/v1/bookings?owner={username}&limit=500", headers=admin.headers)
    return list((await answer.json())["items"])


@pytest.mark.slow
async def test_import_go_offline_book_clash_sync_and_resolve(
    client: TestClient, admin: Person, database_url: str, tmp_path: Path
) -> None:
    today = date.today()
    term_start = today + timedelta(days=7 - today.weekday())  # next Monday
    files = _write_campus(tmp_path, term_start)
    server = ServerProcess(database_url, tmp_path)
    administrator, ama, kofi = (
        Cli(tmp_path / "admin"),
        Cli(tmp_path / "ama"),
        Cli(tmp_path / "kofi"),
    )
    server.start()
    try:
        await server.wait_until_healthy()
        await _login(administrator, server, admin.user.username, PASSWORD)
        for kind in ("buildings", "rooms", "users", "terms"):
            imported = await administrator("import", kind, str(files[kind]))
            assert imported.exit_code == 0, imported.output
        timetable = await administrator(
            "import", "timetable", str(files["timetable"]), "--term", "Term 1", "--json"
        )
        assert timetable.exit_code == 0, timetable.output
        again = await administrator.json("import", "rooms", str(files["rooms"]))
        assert again["unchanged"] == 3
        await _login(ama, server, "ama", STAFF_PASSWORD)
        await _login(kofi, server, "kofi", STAFF_PASSWORD)
    finally:
        server.stop()

    # Offline: the timetable is in the replica, so a local clash with it is caught at once.
    monday, tuesday = term_start + timedelta(weeks=1), term_start + timedelta(weeks=1, days=1)
    clash = await ama("book", "PB/101", "--at", f"{monday} 09:00", "--for", "1h", "--title", "x")
    assert clash.exit_code == REFUSED
    assert "room-overlap" in clash.stderr
    for who, room, title in ((ama, "PB/101", "Office hours"), (ama, "PB/102", "Study group")):
        start = f"{monday} 11:00" if title == "Office hours" else f"{tuesday} 10:00"
        made = await who.json("book", room, "--at", start, "--for", "1h", "--title", title)
        assert made["pending"] is True
    rival = await kofi.json(
        "book", "PB/102", "--at", f"{tuesday} 10:00", "--for", "2h", "--title", "Exam prep"
    )
    assert rival["pending"] is True
    assert (await ama.json("status"))["pending"] == 2

    server.start()
    try:
        await server.wait_until_healthy()
        assert (await kofi("sync")).exit_code == 0
        synced = await ama("sync")
        assert synced.exit_code == REFUSED, synced.output
        assert "need attention" in synced.stderr
        [conflict] = await ama.json("conflicts", "list")
        assert conflict["type"] == "room-overlap"
        shown = await ama("conflicts", "show", str(conflict["mid"]))
        assert "[1] room PB/" in shown.stdout
        retried = await ama(
            "conflicts", "retry", str(conflict["mid"]), "--alternative", "1", "--sync"
        )
        assert retried.exit_code == 0, retried.output
        status = await ama.json("status")
        assert (status["pending"], status["needs_attention"]) == (0, 0)

        mine = {
            (b["room"], b["start"], b["title"], b["status"])
            for b in await _bookings_of(client, admin, "ama")
        }
        office = (f"{monday}T11:00:00Z", "Office hours")
        assert ("PB/101", *office, "confirmed") in mine
        [study] = [b for b in mine if b[2] == "Study group"]
        assert study[0] in {"PB/101", "PB/201"}  # the alternative: another free room, same time
        assert (study[1], study[3]) == (f"{tuesday}T10:00:00Z", "confirmed")
        assert len(mine) == 2
        theirs = await _bookings_of(client, admin, "kofi")
        assert [(b["room"], b["title"], b["status"]) for b in theirs] == [
            ("PB/102", "Exam prep", "confirmed")
        ]
        timetabled = await _bookings_of(client, admin, admin.user.username)
        assert sorted({(b["room"], b["title"]) for b in timetabled}) == [
            ("PB/101", "MATH101 Calculus I"),
            ("PB/102", "PHYS201 Mechanics"),
        ]
        assert len(timetabled) == 10  # five weeks, two sessions a week
        listed = await ama("bookings", "list")
        assert "pending" not in listed.stdout
    finally:
        server.stop()
