"""Import mappings: the readers of enumerated cells, column and value maps from options and
files, references by code or name, and each of them through ``compax import`` against a real
server on both databases."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient

from compax_cli.output import REFUSED, USAGE
from sync import mapping
from sync.errors import ValidationFailed
from sync.formats import SourceRow
from sync.import_report import RowMapper
from sync.kinds import BOOKINGS, BUILDINGS, ROOMS, TIMETABLE, USERS
from sync.mapping import ImportMapping, Unmapped, header_column, suggestions
from sync.references import References, Unresolved
from sync.transfer import _pending, check_columns
from tests.booking_helpers import bulk, make_campus, next_weekday
from tests.conftest import Person
from tests.test_cli import Cli
from tests.test_import import admin_cli, admin_server  # noqa: F401 (fixtures)

UTC = ZoneInfo("UTC")

# --- Readers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "day"),
    [
        ("Monday", "mon"),
        ("mon", "mon"),
        ("MON", "mon"),
        ("Mon.", "mon"),
        ("  Tuesday ", "tue"),
        ("Tues", "tue"),
        ("weds", "wed"),
        ("Thurs", "thu"),
        ("THUR.", "thu"),
        ("friday", "fri"),
        ("Sat", "sat"),
        ("SUNDAY", "sun"),
    ],
)
def test_weekdays_are_read_in_their_common_forms(written: str, day: str) -> None:
    assert mapping.weekday(written) == day


def test_a_misspelt_weekday_is_never_guessed_but_named_with_the_closest() -> None:
    with pytest.raises(Unmapped) as caught:
        mapping.weekday("Wednsday")
    assert (caught.value.value, caught.value.suggestion) == ("Wednsday", "wed")
    assert str(caught.value) == "'Wednsday' is no weekday"
    with pytest.raises(Unmapped) as far:
        mapping.weekday("fortnightly")
    assert far.value.suggestion is None


@pytest.mark.parametrize(
    ("reader", "written", "read"),
    [
        (mapping.room_kind, "Lecture Hall", "lecture_hall"),
        (mapping.room_kind, " lecture-hall ", "lecture_hall"),
        (mapping.room_kind, "Laboratory", "lab"),
        (mapping.room_kind, "LAB", "lab"),
        (mapping.room_kind, "Seminar Room", "seminar_room"),
        (mapping.building_kind, "Laboratory", "laboratory"),
        (mapping.building_kind, "Lab", "laboratory"),
        (mapping.building_kind, "Admin", "administrative"),
        (mapping.role, "Class Rep", "class_rep"),
        (mapping.role, "EXAMS OFFICER", "exams_officer"),
        (mapping.role, "Staff", "staff"),
        (mapping.purpose, "Exam", "exam"),
        (mapping.boolean, "Y", "true"),
        (mapping.boolean, "no", "false"),
        (mapping.boolean, " Yes ", "true"),
        (mapping.boolean, "0", "false"),
    ],
)
def test_kinds_roles_purposes_and_yes_no_are_read_in_any_case(
    reader: Callable[[str], str], written: str, read: str
) -> None:
    assert reader(written) == read


def test_a_word_of_no_kind_is_refused_naming_the_kinds() -> None:
    with pytest.raises(Unmapped) as caught:
        mapping.building_kind("Teaching")
    assert "is no building kind (academic, administrative" in str(caught.value)
    with pytest.raises(Unmapped) as role:
        mapping.role("Lecturer")
    assert "no role" in str(role.value)


@pytest.mark.parametrize("written", ["", " ", "?", "n/a", "N/A", "unknown", "-", "TBC"])
def test_capacity_cells_that_mean_unknown_are_no_capacity(written: str) -> None:
    assert mapping.capacity(written) is None
    assert mapping.capacity(" 40 ") == "40"


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("8:00", "08:00"),
        ("08:00:00", "08:00"),
        ("14:30", "14:30"),
        ("9.15", "09:15"),
        ("10:00:30", "10:00:30"),
        ("noon", "noon"),
    ],
)
def test_times_are_read_with_seconds_and_single_digit_hours(written: str, read: str) -> None:
    assert mapping.clock(written) == read


# --- Mappings --------------------------------------------------------------------------------


def test_options_give_column_and_value_maps_and_bad_ones_are_named() -> None:
    given = ImportMapping.from_options(
        ["Room No=code", " Seats = capacity", "Notes="],
        ["weekday:Wednsday=wed", "kind:Lecture Theatre=lecture_hall"],
        ["Colour"],
    )
    assert given.columns == {"Room No": "code", "Seats": "capacity", "Notes": "", "Colour": ""}
    assert given.values == {
        "weekday": {"Wednsday": "wed"},
        "kind": {"Lecture Theatre": "lecture_hall"},
    }
    assert given.target("  room no ") == "code"
    assert given.target("Other") is None
    assert given.value("kind", "LECTURE   THEATRE") == "lecture_hall"
    for maps, values, field in [
        (["code"], [], "map"),
        (["=code"], [], "map"),
        ([], ["weekday=wed"], "map_value"),
        ([], ["kind:=x"], "map_value"),
    ]:
        with pytest.raises(ValidationFailed) as caught:
            ImportMapping.from_options(maps, values, [])
        assert caught.value.errors[0].field == field


def test_a_saved_mapping_loads_as_json_or_toml_and_options_win(tmp_path: Path) -> None:
    saved = tmp_path / "map.json"
    ImportMapping({"Bldg": "building"}, {"kind": {"Teaching": "academic"}}).save(str(saved))
    loaded = ImportMapping.load(str(saved))
    assert loaded.as_dict() == {
        "columns": {"Bldg": "building"},
        "values": {"kind": {"Teaching": "academic"}},
    }
    toml = tmp_path / "map.toml"
    toml.write_text('[columns]\nBldg = "building"\n[values.kind]\nTeaching = "academic"\n')
    assert ImportMapping.load(str(toml)) == loaded
    merged = loaded.merged(ImportMapping({"Bldg": "code"}, {"kind": {"Admin": "administrative"}}))
    assert merged.columns == {"Bldg": "code"}
    assert merged.values == {"kind": {"Teaching": "academic", "Admin": "administrative"}}
    # An option wins over the file's entry though written in another case, and a value map's
    # column is any case too.
    options = ImportMapping.from_options(["bldg=code"], ["Kind:teaching=library"], [])
    cased = loaded.merged(options)
    assert (cased.target("Bldg"), cased.value("kind", "Teaching")) == ("code", "library")
    assert cased.as_dict() == {
        "columns": {"bldg": "code"},
        "values": {"kind": {"teaching": "library"}},
    }
    # Saved under a .toml name, a mapping is TOML, which loads as it was.
    odd = ImportMapping({'Say "Hi"': "code", "Bldg": ""}, {"kind": {"Ünï\\x": "academic"}})
    odd.save(str(toml))
    assert toml.read_text().startswith("[columns]\n")
    assert ImportMapping.load(str(toml)) == odd
    for text in ['{"columns": ["Bldg"]}', "[1]", "{", '{"values": {"kind": {"a": 1}}}']:
        saved.write_text(text)
        with pytest.raises(ValidationFailed) as caught:
            ImportMapping.load(str(saved))
        assert caught.value.errors[0].field == "mapping"
    with pytest.raises(ValidationFailed):
        ImportMapping.load(str(tmp_path / "missing.json"))


def test_headers_match_ignoring_case_and_spaces_and_unknown_ones_get_suggestions() -> None:
    known = [c.name for c in TIMETABLE.columns]
    none = ImportMapping()
    assert header_column(none, " Course Code ", known) == "course_code"
    assert header_column(none, "WEEKDAY", known) == "weekday"
    assert header_column(none, "_line", known) == "_line"
    assert header_column(none, "Day", known) is None
    assert suggestions("Day", known) == ["weekday"]
    assert suggestions("Module Code", known)[0] == "course_code"
    assert suggestions("Class Size", known) == ["attendees"]
    assert suggestions("Colour", known) == []
    with pytest.raises(ValidationFailed) as caught:
        check_columns(ROOMS, ["Bldg", "code", "Seats"], "Rooms.csv")
    message = caught.value.errors[0].message
    assert "unknown column 'Bldg' (did you mean building?): add --map Bldg=building" in message
    assert "unknown column 'Seats' (did you mean capacity or features?)" in message
    check_columns(ROOMS, ["Bldg", "Name"], "Rooms.csv", ImportMapping({"Bldg": "building"}))


# --- References ------------------------------------------------------------------------------

_CAMPUS = References(
    buildings=[
        {"code": "SCI", "name": "Science Block"},
        {"code": "N1", "name": "North Hall"},
        {"code": "N2", "name": "north  hall"},
    ],
    rooms=[
        {"building": "SCI", "code": "G.01", "name": "Main Lecture Theatre"},
        {"building": "SCI", "code": "LAB 2, WEST WING", "name": ""},
    ],
    terms=[{"id": 7, "name": "Semester 1"}],
)


def test_references_are_found_by_code_or_name_and_a_shared_name_is_refused() -> None:
    assert _CAMPUS.building("sci") == "SCI"
    assert _CAMPUS.building(" science   block ") == "SCI"
    assert _CAMPUS.room("SCI", "main lecture theatre") == "G.01"
    assert _CAMPUS.room("SCI", "lab 2,  west wing") == "LAB 2, WEST WING"
    assert (_CAMPUS.term("semester 1"), _CAMPUS.term("7")) == ("7", "7")
    with pytest.raises(Unresolved, match=r"name of 2 buildings \(N1, N2\): write the code"):
        _CAMPUS.building("North Hall")
    with pytest.raises(Unresolved, match="no building 'Annex'"):
        _CAMPUS.building("Annex")
    with pytest.raises(Unresolved, match=r"no room 'G\.01' in N1"):
        _CAMPUS.room("N1", "G.01")


def test_a_mapped_row_reads_names_words_and_terms_and_keeps_its_written_values() -> None:
    mapper = RowMapper(TIMETABLE, ImportMapping({"Day": "weekday"}), _CAMPUS, term="Semester 1")
    values = {
        "course_code": "MATH 101",
        "Day": "Thurs.",
        "start": "8:00",
        "end": "10:00:00",
        "building": "Science Block",
        "room": "Main Lecture Theatre",
        "Colour": "red",
    }
    pending = _pending(mapper, SourceRow(3, values), UTC, blank_is_absent=True, given={})
    assert pending.values is values
    assert pending.request == {
        "course_code": "MATH 101",
        "weekday": "thu",
        "start": "08:00",
        "end": "10:00",
        "building": "SCI",
        "room": "G.01",
        "term": "7",
    }
    assert pending.path == "/api/v1/terms/7/timetable"
    assert mapper.report.unknown_columns == {"Colour": []}

    bad = {**values, "Day": "Wednsday", "building": "North Hall", "term": "Semester 9"}
    refused = _pending(mapper, SourceRow(4, bad), UTC, blank_is_absent=True, given={})
    assert refused.request is None and refused.outcome is not None
    assert [e.field for e in refused.outcome.errors] == ["weekday", "building"]
    assert mapper.report.unmapped["weekday"]["Wednsday"].line == 4
    assert mapper.report.unresolved["building"]["North Hall"].rows == 1


def test_an_unknown_key_refuses_its_row_unless_a_dry_run_and_a_map_must_name_a_column() -> None:
    strict = RowMapper(BUILDINGS, ImportMapping({"Type": "knd"}), References(), strict=True)
    row, errors = strict.row(2, {"code": "PB", "colour": "red", "Type": "academic"})
    assert row == {"code": "PB"}
    assert [(e.field, e.message) for e in errors] == [
        ("colour", "unknown column 'colour': add --map colour= to leave it out"),
        ("Type", "unknown column 'Type' (did you mean kind?): add --map Type=kind"),
    ]
    coded = ImportMapping({"Building Code": "code"})
    twice = RowMapper(BUILDINGS, coded, References(), strict=True)
    _, errors = twice.row(2, {"code": "PB", "Building Code": "ENG", "name": "x"})
    assert [(e.field, e.message) for e in errors] == [
        ("Building Code", "code is given by 'code' and 'Building Code': map all but one elsewhere")
    ]
    with pytest.raises(ValidationFailed, match="code is given by 'Building Code' and 'code'"):
        check_columns(ROOMS, ["building", "Building Code", "code"], "r.csv", coded)
    lenient = RowMapper(BUILDINGS, ImportMapping(), References())
    assert lenient.row(2, {"code": "PB", "colour": "red"}) == ({"code": "PB"}, [])
    assert lenient.report.unknown_columns == {"colour": []}


def test_a_room_without_a_code_takes_its_name_and_unknown_capacity_is_no_capacity() -> None:
    mapper = RowMapper(ROOMS, ImportMapping(), _CAMPUS)
    row, errors = mapper.row(
        2, {"building": "Science Block", "name": "Physics  Lab", "capacity": "n/a"}
    )
    assert (row, errors) == (
        {"building": "SCI", "name": "Physics  Lab", "code": "PHYSICS LAB", "capacity": None},
        [],
    )
    long, _ = mapper.row(3, {"building": "SCI", "name": "x" * 80, "capacity": "10"})
    assert long["code"] == "X" * 64
    _, slash = mapper.row(4, {"building": "SCI", "name": "A/B"})
    assert [e.field for e in slash] == ["code"]
    assert mapper.report.derived_codes == 2
    booking = RowMapper(BOOKINGS, ImportMapping(), _CAMPUS)
    row, _ = booking.row(2, {"room": "science block/Main Lecture Theatre", "private": "Y"})
    assert row == {"room": "SCI/G.01", "private": "true"}
    users = RowMapper(USERS, ImportMapping(values={"role": {"Lecturer": "staff"}}), _CAMPUS)
    assert users.row(2, {"role": "lecturer", "active": "N"})[0] == {
        "role": "staff",
        "active": "false",
    }
    buildings = RowMapper(
        BUILDINGS, ImportMapping(values={"approval_roles": {"Rep": "class_rep"}}), References()
    )
    assert buildings.row(2, {"kind": "Admin", "approval_roles": "Staff; rep"})[0] == {
        "kind": "administrative",
        "approval_roles": ["staff", "class_rep"],
    }
    assert buildings.row(3, {"approval_roles": ""})[0] == {"approval_roles": ""}
    assert buildings.row(4, {"approval_roles": []})[0] == {"approval_roles": []}
    _, errors = buildings.row(5, {"approval_roles": ["staff", "Dean"]})
    assert [e.field for e in errors] == ["approval_roles"]
    assert "'Dean' is no role" in errors[0].message


# --- Through the server ----------------------------------------------------------------------


async def _json(cli: Cli, *args: str, exit_code: int = 0) -> dict[str, Any]:
    result = await cli(*args, "--json")
    assert result.exit_code == exit_code, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.mark.slow
async def test_each_mapping_through_the_server(
    client: TestClient,
    admin: Person,
    admin_cli: Cli,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    await make_campus(client, admin)
    await bulk(
        client,
        admin,
        "buildings",
        [{"code": "N1", "name": "North Hall"}, {"code": "N2", "name": "North Hall"}],
    )

    # Users: renamed columns, roles and yes/no in their common forms, a value map.
    users = tmp_path / "Staff.csv"
    users.write_text(
        "Login,Full Name,Position,Enabled\n"
        "ama,Ama Mensah,Class Rep,Y\nkofi,Kofi Boateng,Lecturer,N\n"
    )
    user_map = [
        "--map",
        "Login=username",
        "--map",
        "Position=role",
        "--map",
        "Enabled=active",
        "--map-value",
        "role:Lecturer=staff",
        "--passwords",
        str(tmp_path / "pw.csv"),
    ]
    assert (await _json(admin_cli, "import", "users", str(users), *user_map))["created"] == 2
    listed = await (await client.get("/api/v1/users?role=staff", headers=admin.headers)).json()
    kofi = next(u for u in listed["items"] if u["username"] == "kofi")
    assert (kofi["full_name"], kofi["active"]) == ("Kofi Boateng", False)

    # Rooms: a building name two buildings share is a rejected row naming both; the rejects
    # file keeps the written values and imports again with the same mapping.
    rooms = tmp_path / "Rooms.csv"
    rooms.write_text(
        "Bldg,Room,Seats,Type\n"
        "Petroleum Building,LT 1,?,Lecture Theatre\nNorth Hall,A,10,Classroom\n"
    )
    room_map = [
        "--map",
        "Bldg=building",
        "--map",
        "Room=code",
        "--map",
        "Seats=capacity",
        "--map",
        "Type=kind",
    ]
    rejects = tmp_path / "rejects.csv"
    report = await _json(
        admin_cli,
        "import",
        "rooms",
        str(rooms),
        *room_map,
        "--rejects",
        str(rejects),
        exit_code=REFUSED,
    )
    assert (report["created"], report["rejected"], report["unknown_capacity"]) == (1, 1, 1)
    with rejects.open(newline="") as stream:
        [rejected] = list(csv.DictReader(stream))
    assert (rejected["Bldg"], rejected["_field"]) == ("North Hall", "building")
    assert "name of 2 buildings (N1, N2)" in rejected["_reason"]
    rejected["Bldg"] = "n2"
    with rejects.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rejected))
        writer.writeheader()
        writer.writerow(rejected)
    again = await _json(admin_cli, "import", "rooms", str(rejects), *room_map)
    assert again["created"] == 1
    pb = await (await client.get("/api/v1/rooms?building=PB", headers=admin.headers)).json()
    lt1 = next(r for r in pb["items"] if r["code"] == "LT 1")
    assert (lt1["kind"], lt1["capacity"]) == ("lecture_hall", None)

    # Timetable: --term for rows without a term of their own, a term column for the others.
    monday = next_weekday(0)
    for name, first in (("S1", monday - timedelta(days=7)), ("S2", monday + timedelta(days=35))):
        await bulk(
            client,
            admin,
            "terms",
            [{"name": name, "first_day": str(first), "last_day": str(first + timedelta(days=27))}],
        )
    timetable = tmp_path / "tt.csv"
    timetable.write_text(
        "course_code,weekday,start,end,building,room,term\n"
        "ECON 1,Mon,8:00,9:00:00,petroleum building,101,\n"
        "ECON 2,Tuesday,08:00:00,09:00,PB,102,s2\n"
    )
    done = await _json(admin_cli, "import", "timetable", str(timetable), "--term", "S1")
    assert done["created"] == 2
    terms = await (await client.get("/api/v1/terms", headers=admin.headers)).json()
    found = {}
    for term in terms["items"]:
        rows = await client.get(f"/api/v1/terms/{term['id']}/timetable", headers=admin.headers)
        found[term["name"]] = [r["course_code"] for r in (await rows.json())["items"]]
    assert found == {"S1": ["ECON 1"], "S2": ["ECON 2"]}
    unknown_term = await admin_cli("import", "timetable", str(timetable), "--term", "S9")
    assert unknown_term.exit_code == USAGE
    assert "error: term: no term 'S9' (by name or id); import it first" in unknown_term.stderr
    termless = tmp_path / "termless.csv"
    termless.write_text("course_code,weekday,start,end,building,room\nX 1,mon,8:00,9:00,PB,101\n")
    no_term = await admin_cli("import", "timetable", str(termless))
    assert no_term.exit_code == USAGE
    assert "name the term the timetable is for (--term), or give a term column" in no_term.stderr

    # Bookings: the room by building and room names, the purpose and yes/no as written.
    bookings = tmp_path / "bookings.csv"
    day = monday + timedelta(days=1)
    bookings.write_text(
        "room,start,end,title,purpose,private\n"
        f"Petroleum Building/lt 1,{day} 13:00,{day} 14:00,Viva,Exam,Y\n"
    )
    assert (await _json(admin_cli, "import", "bookings", str(bookings)))["created"] == 1
    mine = await (await client.get("/api/v1/bookings", headers=admin.headers)).json()
    viva = next(b for b in mine["items"] if b["title"] == "Viva")
    assert (viva["purpose"], viva["private"], viva["room"]) == ("exam", True, "PB/LT 1")


_WING = "The Very Long Named Seminar Room Of The Faculty Of Engineering West Wing"


def test_a_name_cut_to_another_rooms_code_is_refused_never_that_room() -> None:
    campus = References(
        buildings=[{"code": "SCI", "name": "Science Block"}],
        rooms=[{"building": "SCI", "code": _WING.upper()[:64].rstrip(), "name": f"{_WING} C"}],
    )
    mapper = RowMapper(ROOMS, ImportMapping(), campus)
    # Another room's cut name (from the server's list) is refused, naming that room.
    _, taken = mapper.row(2, {"building": "Science Block", "name": f"{_WING} A"})
    assert [e.field for e in taken] == ["code"]
    assert f"is the code of the room '{_WING} C'" in taken[0].message
    # The room's own name again is that room (an import again finds it).
    again, errors = mapper.row(3, {"building": "SCI", "name": f"{_WING.lower()} c"})
    assert (again["code"], errors) == (_WING.upper()[:64].rstrip(), [])
    # Within the file: the first of two names cut alike takes the code, the second is refused.
    fresh = RowMapper(ROOMS, ImportMapping(), References(buildings=campus_buildings()))
    first, none = fresh.row(2, {"building": "SCI", "name": f"{_WING} A"})
    _, second = fresh.row(3, {"building": "SCI", "name": f"{_WING} B"})
    same, also_none = fresh.row(4, {"building": "SCI", "name": f"{_WING} A"})
    assert (none, also_none, same["code"]) == ([], [], first["code"])
    assert [e.field for e in second] == ["code"]
    assert "is the code line 2 made from another name: give this room a code" in (second[0].message)
    assert fresh.report.derived_codes == 2


def campus_buildings() -> list[dict[str, Any]]:
    return [{"code": "SCI", "name": "Science Block"}]


@pytest.mark.slow
async def test_two_long_names_cut_alike_make_two_rooms_or_a_refusal_never_one_room(
    client: TestClient,
    admin: Person,
    admin_cli: Cli,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    await make_campus(client, admin)
    rooms = tmp_path / "Rooms.csv"
    rooms.write_text(f"building,name,capacity\nPB,{_WING} A,30\nPB,{_WING} B,12\n")
    dry = await _json(admin_cli, "import", "rooms", str(rooms), "--dry-run", exit_code=REFUSED)
    assert (dry["created"], dry["updated"], dry["rejected"]) == (1, 0, 1)
    done = await _json(admin_cli, "import", "rooms", str(rooms), exit_code=REFUSED)
    assert (done["created"], done["updated"], done["rejected"]) == (1, 0, 1)
    listed = await (await client.get("/api/v1/rooms?building=PB", headers=admin.headers)).json()
    [kept] = [r for r in listed["items"] if r["name"] and r["name"].startswith(_WING)]
    assert (kept["name"], kept["capacity"]) == (f"{_WING} A", 30)
    # A later file with the other name is refused too, and the same file again is unchanged.
    later = tmp_path / "Later.csv"
    later.write_text(f"building,name,capacity\nPB,{_WING} B,12\n")
    assert (await _json(admin_cli, "import", "rooms", str(later), exit_code=REFUSED))[
        "rejected"
    ] == 1
    again = await _json(admin_cli, "import", "rooms", str(rooms), exit_code=REFUSED)
    assert (again["unchanged"], again["rejected"]) == (1, 1)


@pytest.mark.slow
async def test_only_new_rooms_without_a_capacity_count_as_of_unknown_capacity(
    client: TestClient,
    admin: Person,
    admin_cli: Cli,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    await make_campus(client, admin)
    # PB/101 (40 seats) and PB/102 (60) keep their capacity: no column, a blank, a "?".
    no_column = tmp_path / "Names.csv"
    no_column.write_text("building,code,name\nPB,101,Room 101\n")
    blanks = tmp_path / "Blanks.csv"
    blanks.write_text("building,code,capacity\nPB,101,\nPB,102,?\nPB,NEW,tbc\nXX,1,?\n")
    for dry_run in (["--dry-run"], []):
        named = await _json(admin_cli, "import", "rooms", str(no_column), *dry_run)
        assert named["unknown_capacity"] == 0
        report = await _json(admin_cli, "import", "rooms", str(blanks), *dry_run, exit_code=REFUSED)
        counts = (report["created"], report["rejected"], report["unknown_capacity"])
        assert counts == (1, 1, 1)
    listed = await (await client.get("/api/v1/rooms?building=PB", headers=admin.headers)).json()
    seats = {r["code"]: r["capacity"] for r in listed["items"]}
    assert (seats["101"], seats["102"], seats["NEW"]) == (40, 60, None)
    again = await _json(admin_cli, "import", "rooms", str(blanks), exit_code=REFUSED)
    assert (again["unchanged"], again["unknown_capacity"]) == (3, 0)


@pytest.mark.slow
async def test_a_dry_run_counts_a_key_written_otherwise_as_the_real_import_does(
    client: TestClient,
    admin: Person,
    admin_cli: Cli,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    await make_campus(client, admin)
    buildings = tmp_path / "Buildings.csv"
    buildings.write_text("code,name\nxy,Xy\nXY,Xy\n")
    rooms = tmp_path / "Rooms.csv"
    rooms.write_text(
        "building,code,capacity\nPetroleum Building,new 1,50\nPB,NEW  1,60\npb,New 1,60\n"
    )
    for kind, path in (("buildings", buildings), ("rooms", rooms)):
        dry = await _json(admin_cli, "import", kind, str(path), "--dry-run")
        done = await _json(admin_cli, "import", kind, str(path))
        counts = [(r["created"], r["updated"], r["unchanged"]) for r in (dry, done)]
        assert counts[0] == counts[1], kind


@pytest.mark.slow
async def test_a_timetable_clash_names_the_line_of_the_file_it_clashes_with(
    client: TestClient,
    admin: Person,
    admin_cli: Cli,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    await make_campus(client, admin)
    await bulk(
        client,
        admin,
        "terms",
        [
            {"name": "Autumn", "first_day": "2027-01-11", "last_day": "2027-01-29"},
            {"name": "Spring", "first_day": "2027-04-05", "last_day": "2027-04-23"},
        ],
    )
    timetable = tmp_path / "Timetable.csv"
    timetable.write_text(
        "term,course_code,weekday,start,end,building,room\n"
        "Autumn,MATH 1,Monday,9:00,10:00,PB,101\n"
        "Spring,PHYS 1,Thursday,9:00,10:00,PB,101\n"
        "Spring,PHYS 2,Thurs,9.30,10:30,PB,101\n"
    )
    for dry_run in (["--dry-run"], []):
        result = await admin_cli("import", "timetable", str(timetable), *dry_run)
        assert result.exit_code == REFUSED, result.output
        assert "line 4: room: 3 dates clash: 2027-04-08 clashes with line 3 of this file" in (
            result.stderr
        )
        assert "row 0" not in result.stderr


@pytest.mark.slow
async def test_a_name_two_buildings_share_is_reported_as_such_not_as_not_found(
    client: TestClient,
    admin: Person,
    admin_cli: Cli,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    await make_campus(client, admin)
    await bulk(
        client,
        admin,
        "buildings",
        [{"code": "N1", "name": "North Hall"}, {"code": "N2", "name": "North Hall"}],
    )
    rooms = tmp_path / "Rooms.csv"
    rooms.write_text("building,code\nNorth Hall,1\nnorth hall,2\nNowhere,3\n")
    result = await admin_cli("import", "rooms", str(rooms), "--dry-run")
    assert result.exit_code == REFUSED, result.output
    assert "building 'North Hall' names more than one: 1 row, first on line 2" in result.stdout
    assert "building 'north hall' names more than one: 1 row, first on line 3" in result.stdout
    assert "building 'Nowhere' not found: 1 row, first on line 4: no building" in result.stdout
    assert "'North Hall' not found" not in result.stdout


@pytest.mark.slow
async def test_an_option_wins_over_the_saved_mapping_in_any_case(
    client: TestClient,
    admin: Person,
    admin_cli: Cli,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    await make_campus(client, admin)
    buildings = tmp_path / "Buildings.csv"
    buildings.write_text("Bldg Code,Bldg Name,Type\nSCI,Science,Teaching\n")
    saved = tmp_path / "map.json"
    maps = ["--map", "Bldg Code=code", "--map", "Bldg Name=name", "--map", "Type=kind"]
    first = await _json(admin_cli, "import", "buildings", str(buildings), "--dry-run", *maps,
                        "--map-value", "kind:Teaching=academic",
                        "--save-mapping", str(saved))  # fmt: skip
    assert first["created"] == 1
    done = await _json(admin_cli, "import", "buildings", str(buildings), "--mapping",
                       str(saved), "--map-value", "Kind:teaching=library",
                       "--save-mapping", str(saved))  # fmt: skip
    assert done["created"] == 1
    listed = await (await client.get("/api/v1/buildings", headers=admin.headers)).json()
    assert {b["code"]: b["kind"] for b in listed["items"]}["SCI"] == "library"
    assert json.loads(saved.read_text())["values"] == {"kind": {"teaching": "library"}}
    again = await _json(admin_cli, "import", "buildings", str(buildings), "--mapping", str(saved))
    assert again["unchanged"] == 1


@pytest.mark.slow
async def test_a_booking_names_a_building_whose_name_has_a_slash(
    client: TestClient,
    admin: Person,
    admin_cli: Cli,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    await make_campus(client, admin)
    await bulk(client, admin, "buildings", [{"code": "AH", "name": "Arts/Humanities"}])
    await bulk(client, admin, "rooms", [{"building": "AH", "code": "1", "name": "Room One"}])
    day = next_weekday(2).isoformat()
    bookings = tmp_path / "Bookings.csv"
    bookings.write_text(
        "external_id,room,start,end,title\n"
        f"X1,Arts/Humanities/Room One,{day} 10:00,{day} 11:00,Arts\n"
        f"X2,Arts/Humanities/Room Two,{day} 12:00,{day} 13:00,Nowhere\n"
    )
    result = await admin_cli("import", "bookings", str(bookings), "--json")
    assert result.exit_code == REFUSED, result.output
    report = json.loads(result.stdout)
    assert (report["created"], report["rejected"]) == (1, 1)
    [missing] = report["unresolved_references"]["room"].values()
    assert "no room 'Room Two' in AH" in missing["message"]
    # The option offered maps the cell as written, which is what a value map reads.
    assert "--map-value 'room:Arts/Humanities/Room Two=ROOM'" in missing["message"]
    assert list(report["unresolved_references"]["room"]) == ["Arts/Humanities/Room Two"]


@pytest.mark.slow
async def test_a_dry_run_of_json_refuses_a_row_with_an_unknown_key_as_the_real_run_does(
    client: TestClient,
    admin: Person,
    admin_cli: Cli,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    await make_campus(client, admin)
    rooms = tmp_path / "Rooms.json"
    rooms.write_text(
        json.dumps(
            [
                {"Bldg": "PB", "Room": "J 1", "Seats": 40},
                {"Bldg": "PB", "Room": "J 2", "Seats": 20, "Colour": "red"},
            ]
        )
    )
    maps = ["--map", "Bldg=building", "--map", "Room=code", "--map", "Seats=capacity"]
    dry = await _json(admin_cli, "import", "rooms", str(rooms), *maps, "--dry-run",
                      exit_code=REFUSED)  # fmt: skip
    assert dry["unknown_columns"] == [
        {"column": "Colour", "suggestions": [], "map": "--map Colour="}
    ]
    done = await _json(admin_cli, "import", "rooms", str(rooms), *maps, exit_code=REFUSED)
    counts = [(r["created"], r["rejected"]) for r in (dry, done)]
    assert counts == [(1, 1), (1, 1)]


@pytest.mark.slow
async def test_a_bad_mapping_option_or_file_is_a_usage_error_and_toml_saves_as_toml(
    client: TestClient,
    admin: Person,
    admin_cli: Cli,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    await make_campus(client, admin)
    buildings = tmp_path / "Buildings.csv"
    buildings.write_text("Bldg Code,Bldg Name\nSCI,Science\n")
    for options, said in (
        (["--map", "Bldg Code"], "error: map: 'Bldg Code': write SOURCE=TARGET"),
        (["--map-value", "kind=x"], "error: map_value: 'kind=x': write COLUMN:FROM=TO"),
        (["--mapping", str(tmp_path / "none.json")], "error: mapping: cannot read"),
    ):
        result = await admin_cli("import", "buildings", str(buildings), *options)
        assert result.exit_code == USAGE, result.output
        assert said in result.stderr
        assert "Traceback" not in result.output
    saved = tmp_path / "map.toml"
    maps = ["--map", "Bldg Code=code", "--map", "Bldg Name=name"]
    first = await _json(admin_cli, "import", "buildings", str(buildings), *maps,
                        "--save-mapping", str(saved))  # fmt: skip
    again = await _json(admin_cli, "import", "buildings", str(buildings), "--mapping", str(saved))
    assert (first["created"], again["unchanged"]) == (1, 1)
