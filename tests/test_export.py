"""``compax export`` against a real server process: every kind in every format, the list
commands' filters, iCalendar for bookings, and the round trip: an export imports again as all
unchanged, for an administrator and for staff who cannot see everything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from icalendar import Calendar

from compax_cli.output import SIGN_IN, USAGE
from sync.permissions import Role
from tests.conftest import PASSWORD, MakePerson, Person
from tests.test_cli import Cli, signed_in_offline
from tests.test_import import (
    _counts,
    _summary,
    admin_cli,
    admin_server,
    campus_files,
    import_campus,
)

__all__ = ["admin_cli", "admin_server"]  # the fixtures, shared with tests/test_import.py

TERM = "2026/2027 S1"
#: What each kind is exported as, and the extra options its import and export need.
ROUND_TRIPS = [
    ("buildings", "csv", []),
    ("buildings", "jsonl", []),
    ("rooms", "csv", []),
    ("rooms", "json", []),
    ("users", "csv", []),
    ("users", "json", []),
    ("terms", "csv", []),
    ("terms", "json", []),
    ("timetable", "csv", ["--term", TERM]),
    ("timetable", "jsonl", ["--term", TERM]),
    ("bookings", "csv", []),
    ("bookings", "json", []),
    ("bookings", "jsonl", []),
]


async def _export(cli: Cli, *args: str) -> str:
    result = await cli("export", *args)
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("Exported "), result.stderr
    return result.stdout


async def _round_trip(cli: Cli, directory: Path, kind: str, fmt: str, options: list[str]) -> int:
    """Export ``kind`` (with the export ``options``) to a file and import that file: every row
    must come back unchanged."""
    path = directory / f"{kind}-export.{fmt}"
    written = await cli("export", kind, *options, "-o", str(path))
    assert written.exit_code == 0, written.output
    assert written.stdout == ""
    term = ["--term", TERM] if kind == "timetable" else []
    summary = await _summary(cli, "import", kind, str(path), *term)
    assert summary["rows"] > 0, (kind, fmt)
    assert _counts(summary) == (0, 0, summary["rows"], 0), (kind, fmt, summary)
    return int(summary["rows"])


@pytest.mark.slow
async def test_every_export_imports_again_as_all_unchanged(
    client: TestClient,
    admin: Person,
    admin_cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # where a passwords file would go by default
    files = campus_files(tmp_path)
    await import_campus(admin_cli, files, tmp_path / "passwords.csv")
    cancelled = (files["bookings"].read_text().splitlines()[0])[:-1] + ', "status": "cancelled"}'
    summary = await _summary(admin_cli, "import", "bookings", "-", "--format", "jsonl",
                             input=cancelled + "\n")  # fmt: skip
    assert _counts(summary) == (0, 1, 0, 0)

    rows = {}
    for kind, fmt, options in ROUND_TRIPS:
        rows[kind, fmt] = await _round_trip(admin_cli, tmp_path, kind, fmt, options)
    assert rows["buildings", "csv"] == 2
    assert rows["rooms", "json"] == 3
    assert rows["users", "csv"] == 3  # the admin and the two imported
    assert _files(tmp_path, "compax-passwords-*") == []  # nobody new, so no passwords file
    assert rows["timetable", "csv"] == 2
    assert rows["terms", "csv"] == 1
    term = json.loads(files["terms"].read_text())
    assert (await _export(admin_cli, "terms")).splitlines() == [
        "name,first_day,last_day,holidays",
        f"{term['name']},{term['first_day']},{term['last_day']},{term['holidays']}",
    ]
    confirmed = rows["bookings", "csv"]
    assert await _round_trip(admin_cli, tmp_path, "bookings", "csv", ["--status", "cancelled"]) == 1

    exported = await _export(admin_cli, "rooms", "--format", "json")
    rooms = {f"{r['building']}/{r['code']}": r for r in json.loads(exported)}
    assert set(rooms) == {"PB/101", "PB/102", "ENG/1"}
    assert rooms["PB/102"]["features"] == ["ac", "projector"]
    assert rooms["PB/102"]["opening_hours"]["sat"] == {"open": "08:00:00", "close": "14:00:00"}
    assert "id" not in rooms["PB/101"]
    csv_rooms = await _export(admin_cli, "rooms", "--building", "PB", "--feature", "ac")
    assert csv_rooms.splitlines()[1:] == [
        'PB,102,,classroom,0,60,true,"ac, projector","mon-fri 07:00-21:00, sat 08:00-14:00",,,,,,,,'
    ]
    timetable = await _export(admin_cli, "timetable", "--term", TERM)
    assert timetable.splitlines() == [
        "course_code,course_name,department,year_group,weekday,start,end,building,room,attendees",
        "MATH101,Calculus,Maths,1,mon,08:00,10:00,PB,101,35",
        "PHYS101,Mechanics,Physics,1,tue,10:00,12:00,PB,102,20",
    ]
    staff = await _export(admin_cli, "users", "--role", "staff", "--format", "jsonl")
    assert [json.loads(line)["username"] for line in staff.splitlines()] == ["ama"]
    assert "password" not in staff
    assert (await _export(admin_cli, "buildings", "--kind", "library")).splitlines() == [
        "code,name,kind,floors,checkin_required,approval_roles"
    ]

    exams = json.loads(await _export(admin_cli, "bookings", "--purpose", "exam", "--format", "json",
                                     "--status", "cancelled"))  # fmt: skip
    assert [b["title"] for b in exams] == ["Exam MATH101"]
    in_eng = json.loads(await _export(admin_cli, "bookings", "--room", "ENG/1", "--format", "json"))
    assert [(b["title"], b["private"], b["notes"]) for b in in_eng] == [("Guest talk", True, "VIP")]
    window = await _export(
        admin_cli, "bookings", "--from", "2000-01-01 00:00", "--to", "2000-01-02 00:00"
    )
    assert window.splitlines() == [
        "id,room,start,end,title,purpose,attendees,private,notes,owner,status,series_id"
    ]

    ics = tmp_path / "bookings.ics"
    await _export(admin_cli, "bookings", "-o", str(ics))
    calendar = Calendar.from_ical(ics.read_bytes())
    events = calendar.walk("VEVENT")
    assert len(events) == confirmed
    talk = next(e for e in events if str(e["SUMMARY"]) == "Guest talk")
    assert (str(talk["LOCATION"]), str(talk["STATUS"])) == ("ENG/1", "CONFIRMED")
    assert str(talk["UID"]) == f"{in_eng[0]['id']}@compax"


@pytest.mark.slow
async def test_staff_export_what_they_see_and_it_imports_again_unchanged(
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    admin_cli: Cli,
    tmp_path: Path,
) -> None:
    """Others' private titles and notes are hidden from staff; their export still imports as
    unchanged, because a field left empty leaves the booking as it is."""
    files = campus_files(tmp_path)
    await import_campus(admin_cli, files, tmp_path / "passwords.csv")
    staff = await make_person(Role.STAFF)
    server = json.loads((await admin_cli("whoami", "--json")).stdout)["server"]
    cli = Cli(tmp_path / "staff")
    login = await cli("login", "--server", server, "--username", staff.user.username,
                      "--password-stdin", input=PASSWORD + "\n")  # fmt: skip
    assert login.exit_code == 0, login.output
    seen: list[dict[str, Any]] = json.loads(
        await _export(cli, "bookings", "--room", "ENG/1", "--format", "json")
    )
    assert [(b["title"], b["notes"], b["owner"]) for b in seen] == [(None, None, "root")]
    await _round_trip(cli, tmp_path, "bookings", "csv", [])
    await _round_trip(cli, tmp_path, "bookings", "json", [])
    refused = await cli("export", "users")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("refused (forbidden):")


async def test_export_usage_errors_are_one_line_with_exit_code_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = Cli(tmp_path / "cli")
    signed_in_offline(tmp_path / "cli", monkeypatch)
    cases = [
        (["rooms", "--format", "ics"], "error: format: ics is for bookings only"),
        (["rooms", "-o", str(tmp_path / "rooms.txt")], "error: output: cannot tell the format"),
        (["bookings", "--format", "pdf"], ""),
        (["timetable"], ""),
    ]
    for args, message in cases:
        result = await cli("export", *args)
        assert result.exit_code == USAGE, (args, result.output)
        assert result.stderr.startswith(message), (args, result.stderr)
    not_signed_in = await cli("export", "rooms", "-o", str(tmp_path / "rooms.csv"))
    assert not_signed_in.exit_code == SIGN_IN
    assert _files(tmp_path, "rooms.csv*") == []


def _files(directory: Path, pattern: str) -> list[Path]:
    return list(directory.glob(pattern))
