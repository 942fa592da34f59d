"""An import from another system's export, end to end: the files in ``tests/data/foreign``
(headers, building and room names, kinds, weekdays and times as such a system writes them) go
in through ``compax import`` with mapping options alone: a dry run whose report names all
there is to map, then the real import, checked through the API."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from compax_cli.output import REFUSED, USAGE
from tests.booking_helpers import next_weekday
from tests.conftest import Person
from tests.test_cli import Cli
from tests.test_import import admin_cli, admin_server  # noqa: F401 (fixtures)

FOREIGN = Path(__file__).parent / "data" / "foreign"


def _terms(folder: Path) -> Path:
    """``Terms.csv`` as the other system writes it; its dates follow today, since a timetable
    books only within the booking window."""
    monday = next_weekday(0)
    first = (monday - timedelta(days=7), monday + timedelta(days=27))
    second = (monday + timedelta(days=28), monday + timedelta(days=62))
    path = folder / "Terms.csv"
    path.write_text(
        "Term,Starts,Ends\n"
        f"Semester 1,{first[0]:%Y-%m-%d},{first[1]:%Y-%m-%d}\n"
        f"Semester 2,{second[0]:%Y-%m-%d},{second[1]:%Y-%m-%d}\n"
    )
    return path


async def _json(cli: Cli, *args: str, exit_code: int = 0) -> dict[str, Any]:
    result = await cli(*args, "--json")
    assert result.exit_code == exit_code, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def _counts(report: dict[str, Any]) -> tuple[int, int, int, int]:
    return report["created"], report["updated"], report["unchanged"], report["rejected"]


async def _items(client: TestClient, admin: Person, path: str) -> list[dict[str, Any]]:
    response = await client.get(path, headers=admin.headers)
    assert response.status == 200, await response.text()
    items: list[dict[str, Any]] = (await response.json())["items"]
    return items


@pytest.mark.slow
async def test_a_foreign_campus_imports_with_mapping_options_alone(
    client: TestClient,
    admin: Person,
    admin_cli: Cli,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    folder = tmp_path / "foreign"
    shutil.copytree(FOREIGN, folder)
    terms = _terms(folder)

    # Buildings: the header is refused without a mapping, naming what each column may be.
    refused = await admin_cli("import", "buildings", str(folder / "Buildings.csv"))
    assert refused.exit_code == USAGE
    assert "unknown column 'Building Code' (did you mean code" in refused.stderr
    assert "--map 'Building Code=code'" in refused.stderr

    dry = await _json(admin_cli, "import", "buildings", str(folder / "Buildings.csv"),
                      "--dry-run", exit_code=USAGE)  # fmt: skip
    unknown = {c["column"]: c for c in dry["unknown_columns"]}
    assert set(unknown) == {"Building Code", "Building Name", "Type"}
    assert unknown["Type"]["suggestions"][0] == "kind"
    assert unknown["Building Name"]["map"] == "--map 'Building Name=name'"

    building_map = [
        "--map", "Building Code=code", "--map", "Building Name=name", "--map", "Type=kind",
    ]  # fmt: skip
    dry = await _json(admin_cli, "import", "buildings", str(folder / "Buildings.csv"),
                      *building_map, "--dry-run", exit_code=REFUSED)  # fmt: skip
    assert dry["unknown_columns"] == []
    assert dry["unmapped_values"] == {
        "kind": {
            "Teaching": {
                "rows": 1,
                "first_line": 2,
                "message": dry["unmapped_values"]["kind"]["Teaching"]["message"],
                "suggestion": None,
            }
        }
    }
    assert "--map-value kind:Teaching=" in dry["unmapped_values"]["kind"]["Teaching"]["message"]
    assert _counts(dry) == (2, 0, 0, 1)

    saved = folder / "buildings-mapping.json"
    done = await _json(admin_cli, "import", "buildings", str(folder / "Buildings.csv"),
                       *building_map, "--map-value", "kind:Teaching=academic",
                       "--save-mapping", str(saved))  # fmt: skip
    assert _counts(done) == (3, 0, 0, 0)
    again = await _json(admin_cli, "import", "buildings", str(folder / "Buildings.csv"),
                        "--mapping", str(saved))  # fmt: skip
    assert _counts(again) == (0, 0, 3, 0)
    buildings = {b["code"]: b for b in await _items(client, admin, "/api/v1/buildings")}
    assert {code: buildings[code]["kind"] for code in ("SCI", "ADM", "LAB")} == {
        "SCI": "academic",
        "ADM": "administrative",
        "LAB": "laboratory",
    }

    # Rooms: buildings by name, codes with spaces and commas, one longer than 32, one made from
    # its name, capacities unknown.
    rooms_dry = await _json(admin_cli, "import", "rooms", str(folder / "Rooms.csv"), "--mapping",
                            str(folder / "rooms-mapping.json"), "--dry-run")  # fmt: skip
    assert (rooms_dry["derived_codes"], rooms_dry["unknown_capacity"]) == (1, 3)
    assert rooms_dry["unmapped_values"] == {}
    assert rooms_dry["unresolved_references"] == {}
    assert _counts(rooms_dry) == (5, 0, 0, 0)
    text = await admin_cli("import", "rooms", str(folder / "Rooms.csv"), "--mapping",
                           str(folder / "rooms-mapping.json"), "--dry-run")  # fmt: skip
    assert "3 rooms of unknown capacity: found only by searches that ask no capacity" in (
        text.stdout
    )
    assert "1 room code made from the room's name" in text.stdout
    rooms = await _json(admin_cli, "import", "rooms", str(folder / "Rooms.csv"), "--mapping",
                        str(folder / "rooms-mapping.json"))  # fmt: skip
    assert _counts(rooms) == (5, 0, 0, 0)
    science = {r["code"]: r for r in await _items(client, admin, "/api/v1/rooms?building=SCI")}
    assert set(science) == {
        "G.01 LECTURE THEATRE",
        "LAB 2, WEST WING",
        "SEMINAR ROOM 3 (FIRST FLOOR) EAST WING",
    }
    assert science["G.01 LECTURE THEATRE"]["kind"] == "lecture_hall"
    assert science["LAB 2, WEST WING"]["capacity"] is None
    assert science["LAB 2, WEST WING"]["kind"] == "lab"
    [derived] = await _items(client, admin, "/api/v1/rooms?building=LAB")
    assert (derived["code"], derived["name"]) == ("PHYSICS TEACHING LAB", "Physics Teaching Lab")
    seated = {r["code"] for r in await _items(client, admin, "/api/v1/rooms?capacity=10")}
    assert seated == {"G.01 LECTURE THEATRE", "PHYSICS TEACHING LAB"}
    everything = {r["code"] for r in await _items(client, admin, "/api/v1/rooms")}
    assert {"LAB 2, WEST WING", "BOARD ROOM"} <= everything

    terms_map = ["--map", "Term=name", "--map", "Starts=first_day", "--map", "Ends=last_day"]
    assert _counts(await _json(admin_cli, "import", "terms", str(terms), *terms_map)) == (
        2, 0, 0, 0,
    )  # fmt: skip

    # Timetable: a term per row, course codes with spaces, weekdays as written, a typo named.
    timetable = str(folder / "Timetable.csv")
    mapping = ["--mapping", str(folder / "timetable-mapping.toml")]
    tt_dry = await _json(admin_cli, "import", "timetable", timetable, *mapping, "--dry-run",
                         exit_code=REFUSED)  # fmt: skip
    typo = tt_dry["unmapped_values"]["weekday"]["Wednsday"]
    assert (typo["rows"], typo["first_line"], typo["suggestion"]) == (1, 4, "wed")
    assert "did you mean wed? add --map-value weekday:Wednsday=wed" in typo["message"]
    assert _counts(tt_dry) == (3, 0, 0, 1)
    shown = await admin_cli("import", "timetable", timetable, *mapping, "--dry-run")
    assert "line 4: weekday: 'Wednsday' is no weekday; did you mean wed?" in shown.stderr

    done = await _json(admin_cli, "import", "timetable", timetable, *mapping,
                       "--map-value", "weekday:Wednsday=wed")  # fmt: skip
    assert _counts(done) == (4, 0, 0, 0)
    series = {}
    for term in await _items(client, admin, "/api/v1/terms"):
        rows = await _items(client, admin, f"/api/v1/terms/{term['id']}/timetable")
        series[term["name"]] = {(r["course_code"], r["weekday"], r["start"][:5]) for r in rows}
    chemistry = next(
        r
        for r in await _items(client, admin, "/api/v1/rooms?building=SCI")
        if r["name"] == "Chemistry Lab"
    )
    booked = await _items(client, admin, f"/api/v1/bookings?room_id={chemistry['id']}")
    assert booked and {b["title"] for b in booked} == {"CHEM 201 Organic Chemistry"}
    assert series == {
        "Semester 1": {("MATH 101", "mon", "08:00"), ("PHYS 110", "tue", "10:00")},
        "Semester 2": {("CHEM 201", "wed", "14:00"), ("MATH 102", "thu", "09:00")},
    }
