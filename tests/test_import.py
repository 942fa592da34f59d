"""Imports: the file readers, the bulk bookings endpoint and dry runs on every bulk endpoint,
and ``compax import`` of every kind against a real server process (stdin, rejects files that
are fixed and imported again, dry runs that change nothing, reruns that change nothing)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import stat
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from compax_cli.output import REFUSED, SIGN_IN, UNREACHABLE, USAGE
from compax_server.services import booking_batch
from compax_server.services import bookings as bookings_service
from sync import formats
from sync.errors import ValidationFailed
from sync.formats import Format, RowReader, format_for
from sync.issue_schemas import IssueImportRow
from sync.kinds import (
    BOOKINGS,
    KINDS,
    ROOMS,
    TIMETABLE,
    format_holidays,
    format_opening_hours,
    parse_holidays,
    request_row,
)
from sync.rating_schemas import RatingImportRow
from sync.schemas import (
    IMPORT_NAMESPACE,
    BookingImportRow,
    BuildingCreate,
    RoomCreate,
    TermCreate,
    TimetableRow,
    UserCreate,
)
from sync.transfer import DryRunLedger, Outcome, _Pending, _read_ahead, check_columns
from sync.vocabulary import BulkStatus
from sync.when import parse_opening_hours
from tests.booking_helpers import at, make_campus, next_weekday
from tests.conftest import PASSWORD, MakePerson, Person
from tests.servers import ServerProcess
from tests.support import problem_of
from tests.test_cli import Cli, signed_in_offline

ACCRA = ZoneInfo("Africa/Accra")

# --- Reading files ---------------------------------------------------------------------------


def _rows(text: str, fmt: Format) -> list[formats.SourceRow]:
    return list(RowReader(io.StringIO(text, newline=""), fmt, "in"))


def test_a_json_array_is_read_an_object_at_a_time_across_chunk_boundaries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tiny chunks split objects, strings and numbers; each row keeps the line it starts on."""
    monkeypatch.setattr(formats, "_CHUNK", 5)
    text = (
        '[\n  {"code": "PB", "floors": 12345},\n\n  {"code": "ENG",\n   "name": "E, ng"},\n  7\n]\n'
    )
    rows = _rows(text, Format.JSON)
    assert [(r.line, r.values, r.problem) for r in rows] == [
        (2, {"code": "PB", "floors": 12345}, None),
        (4, {"code": "ENG", "name": "E, ng"}, None),
        (6, {"_value": 7}, "is not a JSON object"),
    ]
    assert _rows(" [ ] ", Format.JSON) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"code": "PB"}', "line 1: a .json file holds one array"),
        ('[\n{"code": "PB"}\n{"code": "X"}]', "line 3: expected ',' or ']'"),
        ('[\n{"code": "PB"},\n{"code": }\n]', "line 3: not valid JSON"),
        ('[{"code": "PB"}', "line 1: expected ',' or ']'"),
        ('[{"code": "PB"}] []', "line 1: text after the end"),
    ],
)
def test_a_broken_json_file_names_the_line(text: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _rows(text, Format.JSON)
    assert caught.value.errors[0].field == "in"
    assert caught.value.errors[0].message.startswith(message)


def test_json_lines_reject_a_bad_line_and_go_on() -> None:
    rows = _rows('{"code": "PB"}\n\n{"code": \n["x"]\n{"code": "ENG"}\n', Format.JSONL)
    assert [(r.line, r.problem is None) for r in rows] == [
        (1, True),
        (3, False),
        (4, False),
        (5, True),
    ]
    assert rows[1].values == {"_text": '{"code": '}


def test_a_csv_quote_never_closed_or_a_short_row_stops_the_file_at_its_line() -> None:
    """What follows an open quote would be read into one cell, and a short row would take
    defaults for cells its author may have meant to fill: neither is a row to import."""
    for text, message in [
        ('code,name\nPB,"Petroleum\nENG,Engineering\nLIB,Library\n', "line 2: a quote opened"),
        ('code,name\nPB,"Petroleum"x\n', "line 2: not valid CSV"),
        ("code,name\nPB,Petroleum\nENG\nLIB,Library\n", "line 3: has 1 cells; the header names 2"),
    ]:
        with pytest.raises(ValidationFailed) as caught:
            _rows(text, Format.CSV)
        assert caught.value.errors[0].message.startswith(message), text


def test_utf8_text_names_the_line_of_a_byte_that_is_not_utf8(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Read in pieces of 3 bytes: characters split across pieces, the byte order mark and
    line endings come through whole; the bad byte is named by its line, in every format."""
    monkeypatch.setattr(formats, "_CHUNK", 3)
    good = '\ufeffcode,name\r\nPB,Pétrole\r\nENG,"Éng\nineering"\r\n'.encode()
    rows = list(RowReader(formats.Utf8Text(io.BytesIO(good), "in"), Format.CSV, "in"))
    assert [(r.line, r.values) for r in rows] == [
        (2, {"code": "PB", "name": "Pétrole"}),
        (3, {"code": "ENG", "name": "Éng\nineering"}),
    ]
    for fmt, data in [
        (Format.CSV, b"code,name\nPB,P\n\nENG,Caf\xe9\n"),
        (Format.JSONL, b'{"code": "PB"}\n\n\n{"code": "Caf\xe9"}\n'),
        (Format.JSON, b'[{"code": "PB"},\n\n\n{"code": "Caf\xe9"}]\n'),
    ]:
        with pytest.raises(ValidationFailed) as caught:
            list(RowReader(formats.Utf8Text(io.BytesIO(data), "in"), fmt, "in"))
        assert caught.value.errors[0].message.startswith("line 4: is not UTF-8 text"), fmt


def test_csv_rows_keep_their_starting_line_and_the_header_is_checked() -> None:
    text = 'code,name\r\nPB,"Petroleum\r\nBuilding"\r\n\r\nENG,Engineering,extra\r\nLIB,Library\r\n'
    rows = _rows(text, Format.CSV)
    assert [(r.line, r.values["code"], r.problem) for r in rows] == [
        (2, "PB", None),
        (5, "ENG", "has 3 cells; the header names 2"),
        (6, "LIB", None),
    ]
    assert rows[0].values["name"] == "Petroleum\r\nBuilding"
    for bad, message in [
        ("", "is empty"),
        ("code,,name\n", "line 1: column 2 of the header has no name"),
        ("code,name,code\n", "line 1: the header names code more than once"),
    ]:
        with pytest.raises(ValidationFailed) as caught:
            _rows(bad, Format.CSV)
        assert message in caught.value.errors[0].message


def test_cells_read_what_exports_write() -> None:
    """Lists, opening hours, holidays and local times: the text an export writes reads back as
    the value it came from."""
    week = parse_opening_hours("mon-fri 08:00-20:00, sat 09:00-13:00", "opening_hours")
    assert format_opening_hours(week) == "mon-fri 08:00-20:00, sat 09:00-13:00"
    api_week = {
        day: {"open": f"{h['open']}:00", "close": f"{h['close']}:00"} for day, h in week.items()
    }
    assert format_opening_hours(api_week) == "mon-fri 08:00-20:00, sat 09:00-13:00"
    holidays = parse_holidays("Mid-term break 2026-10-12..2026-10-16; Founders Day 2027-03-06")
    assert holidays == [
        {"name": "Mid-term break", "first_day": "2026-10-12", "last_day": "2026-10-16"},
        {"name": "Founders Day", "first_day": "2027-03-06", "last_day": "2027-03-06"},
    ]
    assert (
        format_holidays(holidays)
        == "Mid-term break 2026-10-12..2026-10-16; Founders Day 2027-03-06"
    )
    with pytest.raises(ValidationFailed) as caught:
        parse_holidays("2026-10-12..2026-10-16")
    assert caught.value.errors[0].field == "holidays"

    row = request_row(
        BOOKINGS,
        {"room": "PB/101", "start": "2026-11-25 10:00", "end": "2026-11-25T12:00:00+01:00",
         "title": "", "notes": None, "_line": "3"},
        ZoneInfo("Europe/London"),
        blank_is_absent=True,
    )  # fmt: skip
    assert row == {
        "room": "PB/101",
        "start": "2026-11-25T10:00:00+00:00",
        "end": "2026-11-25T11:00:00+00:00",
    }


def test_a_dry_run_ledger_sees_what_earlier_batches_would_have_written() -> None:
    """A key seen before is unchanged or updated; a slot taken by an earlier row is a clash;
    a timetable session given twice with other values is refused."""
    ledger = DryRunLedger(BOOKINGS)
    created = Outcome(BulkStatus.CREATED, id="a")
    first = {
        "room": "PB/101",
        "start": "2026-11-25T10:00:00+00:00",
        "end": "2026-11-25T11:00:00+00:00",
    }
    try:
        assert ledger.review(2, first, created).status is BulkStatus.CREATED
        assert ledger.review(3, first, created).status is BulkStatus.UNCHANGED
        moved = {**first, "title": "Moved"}
        assert ledger.review(4, moved, created).status is BulkStatus.UPDATED
        overlapping = {**first, "room": "pb/101", "start": "2026-11-25T10:30:00+00:00"}
        clash = ledger.review(5, overlapping, Outcome(BulkStatus.CREATED, id="b"))
        assert clash.status is BulkStatus.REJECTED
        assert clash.errors[0].message.startswith("clashes with line 4")
        after = {**first, "start": "2026-11-25T11:00:00+00:00", "end": "2026-11-25T12:00:00+00:00"}
        assert (
            ledger.review(6, after, Outcome(BulkStatus.CREATED, id="c")).status
            is BulkStatus.CREATED
        )
    finally:
        ledger.close()
    rooms = DryRunLedger(ROOMS)
    room = {"building": "PB", "code": "lab  1", "capacity": 20}
    try:
        assert rooms.review(2, room, Outcome(BulkStatus.CREATED)).status is BulkStatus.CREATED
        # The same key written otherwise is the same room, as the server has it.
        same = {**room, "building": "pb", "code": "LAB 1"}
        assert rooms.review(3, same, Outcome(BulkStatus.CREATED)).status is BulkStatus.UNCHANGED
        bigger = {**same, "capacity": 30}
        assert rooms.review(4, bigger, Outcome(BulkStatus.CREATED)).status is BulkStatus.UPDATED
    finally:
        rooms.close()
    timetable = DryRunLedger(TIMETABLE)
    session = {"course_code": "math101", "weekday": "mon", "start": "08:00", "end": "10:00",
               "building": "PB", "room": "101"}  # fmt: skip
    try:
        assert (
            timetable.review(2, session, Outcome(BulkStatus.CREATED)).status is BulkStatus.CREATED
        )
        other_room = {**session, "course_code": "MATH101", "room": "102"}
        refused = timetable.review(3, other_room, Outcome(BulkStatus.CREATED))
        assert refused.status is BulkStatus.REJECTED
        assert "line 2" in refused.errors[0].message
        same_time = {**session, "course_code": "PHYS101", "start": "09:00:00", "end": "11:00"}
        assert (
            timetable.review(4, same_time, Outcome(BulkStatus.CREATED)).status
            is BulkStatus.REJECTED
        )
    finally:
        timetable.close()


async def test_the_next_batch_is_read_while_the_one_before_is_with_the_server() -> None:
    """Batches are handed over one at a time, in file order, the next one read meanwhile; a
    file that breaks is reported only once the batches before the break are done."""
    lines = iter([1, 2])
    second_read = threading.Event()

    def read() -> tuple[list[_Pending], int | None]:
        line = next(lines, None)
        if line is None:
            raise ValidationFailed.single("in", "line 3: not valid JSON")
        if line == 2:
            second_read.set()
        return [_Pending(line, {}, None)], None

    sent = []

    async def send_all() -> None:
        async with aclosing(_read_ahead(read)) as batches:
            async for rows, _ in batches:
                if rows[0].line == 1:
                    read_meanwhile = await asyncio.to_thread(second_read.wait, 10)
                    assert read_meanwhile, "batch 2 is read while batch 1 is sent"
                sent.append(rows[0].line)

    with pytest.raises(ValidationFailed, match="line 3"):
        await send_all()
    assert sent == [1, 2]


DOCS = Path(__file__).parent.parent / "docs"
#: The schema the server validates each kind's rows with.
SCHEMAS: dict[str, type[BaseModel]] = {
    "buildings": BuildingCreate,
    "rooms": RoomCreate,
    "users": UserCreate,
    "terms": TermCreate,
    "timetable": TimetableRow,
    "bookings": BookingImportRow,
    "ratings": RatingImportRow,
    "issues": IssueImportRow,
}


def test_every_kind_has_a_valid_example_file_and_its_columns_in_the_docs() -> None:
    """docs/examples holds a file of every kind whose rows the server's schema accepts, and
    docs/import.md lists every column of every kind."""
    docs = (DOCS / "import.md").read_text()
    for name, kind in KINDS.items():
        [path] = (DOCS / "examples").glob(f"{name}.*")
        fmt = format_for(str(path), None)
        with path.open(newline="", encoding="utf-8") as stream:
            reader = RowReader(stream, fmt, path.name)
            if reader.columns is not None:
                check_columns(kind, reader.columns, path.name)
            rows = list(reader)
        assert len(rows) >= 2, name
        for row in rows:
            assert row.problem is None, (name, row)
            values = request_row(kind, row.values, ACCRA, blank_is_absent=fmt is Format.CSV)
            if name == "users":
                values.setdefault("password", "a-generated-password")
            SCHEMAS[name].model_validate(values)
        section = docs.split(f"\n## {name}\n")[1].split("\n## ")[0]
        for column in kind.columns:
            assert f"| `{column.name}` |" in section, (name, column.name)


# --- The bulk endpoints ----------------------------------------------------------------------


async def _bulk(
    client: TestClient, person: Person, path: str, rows: list[dict[str, Any]], dry_run: bool = False
) -> dict[str, Any]:
    query = "?dry_run=true" if dry_run else ""
    response = await client.post(f"{path}{query}", json={"rows": rows}, headers=person.headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    assert body["dry_run"] is dry_run
    assert [r["index"] for r in body["results"]] == list(range(len(rows)))
    return body


def _statuses(body: dict[str, Any]) -> list[str]:
    return [r["status"] for r in body["results"]]


def _fields(body: dict[str, Any]) -> dict[int, list[str]]:
    return {
        r["index"]: [e["field"] for e in r["errors"]]
        for r in body["results"]
        if r["status"] == "rejected"
    }


async def _bookings(client: TestClient, person: Person, **params: str) -> list[dict[str, Any]]:
    response = await client.get(
        "/api/v1/bookings", params={"limit": "500", **params}, headers=person.headers
    )
    items: list[dict[str, Any]] = (await response.json())["items"]
    return items


GIVEN_ID = "0b8e5f2a-4c1d-4e6f-9a3b-2d7c8e9f1a0b"


def _booking_rows() -> list[dict[str, Any]]:
    monday = next_weekday(0)
    return [
        {"id": GIVEN_ID, "room": "PB/101", "start": at(monday, 9), "end": at(monday, 10),
         "title": "Given id"},
        {"external_id": "EXAM-1", "room": "pb/102", "start": at(monday, 9), "end": at(monday, 11),
         "title": "By external id", "purpose": "exam", "attendees": 50},
        {"room": "PB/201", "start": at(monday, 9), "end": at(monday, 10), "title": "By slot"},
        {"room": "PB/101", "start": at(monday, 9, 30), "end": at(monday, 10, 30), "title": "Clash"},
        {"room": "PB/999", "start": at(monday, 9), "end": at(monday, 10), "title": "No room"},
        {"room": "PB/101", "start": at(monday, 12), "end": at(monday, 13)},
        {"room": "ENG/2", "start": at(monday, 9), "end": at(monday, 10), "title": "Closed"},
        {"id": GIVEN_ID, "external_id": "X", "room": "PB/101", "start": at(monday, 14),
         "end": at(monday, 15), "title": "Two keys"},
    ]  # fmt: skip


async def test_booking_rows_are_created_found_again_and_refused_alone(
    client: TestClient, admin: Person
) -> None:
    """Each row is keyed by its id, its external id, or its room and start; a clash with an
    earlier row of the same request, an unknown or closed room, a missing title and two keys
    are refused with their field, and the rest go in. Importing again changes nothing."""
    await make_campus(client, admin)
    rows = _booking_rows()
    body = await _bulk(client, admin, "/api/v1/bookings:bulk", rows)
    assert _statuses(body) == ["created"] * 3 + ["rejected"] * 5
    assert _fields(body) == {
        3: ["room"],
        4: ["room"],
        5: ["title"],
        6: ["room"],
        7: ["external_id"],
    }
    assert body["summary"] == {"created": 3, "updated": 0, "unchanged": 0, "rejected": 5}
    ids = [r["id"] for r in body["results"][:3]]
    assert ids == [
        GIVEN_ID,
        str(uuid.uuid5(IMPORT_NAMESPACE, "external:EXAM-1")),
        str(uuid.uuid5(IMPORT_NAMESPACE, f"slot:PB/201@{rows[2]['start']}")),
    ]
    clash = body["results"][3]["errors"][0]["message"]
    assert "already booked" in clash
    assert f"in the way: Given id ({GIVEN_ID})" in clash

    again = await _bulk(client, admin, "/api/v1/bookings:bulk", rows)
    assert _statuses(again) == ["unchanged"] * 3 + ["rejected"] * 5
    stored = await _bookings(client, admin)
    assert sorted((b["id"], b["version"]) for b in stored) == sorted((i, 1) for i in ids)
    exam = next(b for b in stored if b["title"] == "By external id")
    assert (exam["room"], exam["purpose"], exam["attendees"]) == ("PB/102", "exam", 50)


async def test_a_changed_row_updates_the_booking_and_a_cancelled_one_cancels_it(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    await make_campus(client, admin)
    monday = next_weekday(0)
    row = {"id": GIVEN_ID, "room": "PB/101", "start": at(monday, 9), "end": at(monday, 10),
           "title": "Lecture"}  # fmt: skip
    await _bulk(client, admin, "/api/v1/bookings:bulk", [row])
    moved = {**row, "room": "PB/102", "start": at(monday, 11), "end": at(monday, 12),
             "title": "Moved lecture", "notes": "bring chalk"}  # fmt: skip
    body = await _bulk(client, admin, "/api/v1/bookings:bulk", [moved, moved])
    assert _statuses(body) == ["updated", "unchanged"]
    [stored] = await _bookings(client, admin)
    assert (stored["room"], stored["title"], stored["notes"], stored["version"]) == (
        "PB/102",
        "Moved lecture",
        "bring chalk",
        2,
    )
    someone = await make_person("staff")
    cancelled = {**moved, "status": "cancelled"}
    other_owner = {**moved, "owner": someone.user.username}
    body = await _bulk(client, admin, "/api/v1/bookings:bulk", [other_owner, cancelled, cancelled])
    assert _statuses(body) == ["rejected", "updated", "unchanged"]
    assert _fields(body) == {0: ["owner"]}
    assert (await _bookings(client, admin, status="cancelled"))[0]["id"] == GIVEN_ID
    body = await _bulk(client, admin, "/api/v1/bookings:bulk", [{**moved, "status": "confirmed"}])
    assert _fields(body) == {0: ["status"]}


async def test_rows_apply_in_order_though_new_bookings_go_in_together(
    client: TestClient, admin: Person
) -> None:
    """Every row sees the rows before it as written, though new bookings are made a run at a
    time: a row that moves or cancels a booking made earlier in the request frees its time for
    the rows after it, and a key refused for a clash is made by a later row once the way is
    clear. A dry run answers the same."""
    await make_campus(client, admin)
    monday = next_weekday(0)

    when = datetime.fromisoformat

    def row(key: str, start: int, end: int, **fields: Any) -> dict[str, Any]:
        return {"external_id": key, "room": "PB/101", "start": at(monday, start),
                "end": at(monday, end), "title": key, **fields}  # fmt: skip

    rows = [
        row("A", 9, 10),
        row("B", 9, 10),  # clashes with A
        row("A", 11, 12),  # moves A
        row("B", 9, 10),  # free now
        row("C", 11, 12),  # clashes with A, moved
        row("A", 11, 12, status="cancelled"),
        row("C", 11, 12),  # free now
        row("C", 11, 12, title="C again"),
    ]
    dry = await _bulk(client, admin, "/api/v1/bookings:bulk", rows, dry_run=True)
    real = await _bulk(client, admin, "/api/v1/bookings:bulk", rows)
    assert _statuses(real) == [
        "created", "rejected", "updated", "created", "rejected", "updated", "created", "updated"
    ]  # fmt: skip
    assert _fields(real) == {1: ["room"], 4: ["room"]}
    assert (_statuses(dry), _fields(dry)) == (_statuses(real), _fields(real))
    listed = [*await _bookings(client, admin), *await _bookings(client, admin, status="cancelled")]
    stored = {b["title"]: (when(b["start"]), b["status"], b["version"]) for b in listed}
    assert stored == {
        "A": (when(at(monday, 11)), "cancelled", 3),
        "B": (when(at(monday, 9)), "confirmed", 1),
        "C again": (when(at(monday, 11)), "confirmed", 2),
    }


async def test_a_row_another_constraint_refuses_is_rejected_alone(
    client: TestClient, admin: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the database refuses a new booking for a reason other than an overlap (its room
    deleted meanwhile), the rows around it still go in and that row alone is rejected."""
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    insert = bookings_service.insert_bookings

    async def room_gone(session: Any, rows: Any) -> set[uuid.UUID]:
        if any(row["room_id"] == campus.room_102 for row in rows):
            raise IntegrityError("INSERT INTO bookings", {}, Exception("foreign key violation"))
        return await insert(session, rows)

    monkeypatch.setattr(bookings_service, "insert_bookings", room_gone)
    monkeypatch.setattr(booking_batch, "insert_bookings", room_gone)
    rows = [
        {"room": room, "start": at(monday, 9), "end": at(monday, 10), "title": room}
        for room in ("PB/101", "PB/102", "PB/201")
    ]
    body = await _bulk(client, admin, "/api/v1/bookings:bulk", rows)
    assert _statuses(body) == ["created", "rejected", "created"]
    assert body["results"][1]["errors"] == [
        {"field": "row", "message": "conflicts with another record"}
    ]
    assert sorted(b["title"] for b in await _bookings(client, admin)) == ["PB/101", "PB/201"]


async def test_a_bookings_import_checks_each_row_with_the_callers_role(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """Staff import their own bookings; booking for someone else or changing another's booking
    is refused row by row; students may not import at all."""
    await make_campus(client, admin)
    staff, student = await make_person("staff"), await make_person("student")
    monday = next_weekday(0)
    await _bulk(client, admin, "/api/v1/bookings:bulk", [
        {"id": GIVEN_ID, "room": "PB/101", "start": at(monday, 9), "end": at(monday, 10),
         "title": "Admin's"},
    ])  # fmt: skip
    rows = [
        {"room": "PB/102", "start": at(monday, 9), "end": at(monday, 10), "title": "Mine"},
        {"room": "PB/201", "start": at(monday, 9), "end": at(monday, 10), "title": "For root",
         "owner": "root"},
        {"id": GIVEN_ID, "room": "PB/101", "start": at(monday, 9), "end": at(monday, 10),
         "title": "Taken over"},
    ]  # fmt: skip
    body = await _bulk(client, staff, "/api/v1/bookings:bulk", rows)
    assert _statuses(body) == ["created", "rejected", "rejected"]
    assert all("may" in r["errors"][0]["message"] for r in body["results"][1:])
    mine = await _bookings(client, staff, owner="me")
    assert [(b["title"], b["owner"]) for b in mine] == [("Mine", staff.user.username)]
    refused = await client.post(
        "/api/v1/bookings:bulk", json={"rows": rows[:1]}, headers=student.headers
    )
    await problem_of(refused, 403)


async def test_a_dry_run_answers_as_the_real_run_and_changes_nothing(
    client: TestClient, admin: Person
) -> None:
    """On bookings, buildings and users: the same statuses as the real run, clashes between
    rows of the request included, and nothing stored until the real run."""
    await make_campus(client, admin)
    rows = _booking_rows()
    dry = await _bulk(client, admin, "/api/v1/bookings:bulk", rows, dry_run=True)
    assert await _bookings(client, admin) == []
    real = await _bulk(client, admin, "/api/v1/bookings:bulk", rows)
    assert _statuses(dry) == _statuses(real)
    assert _fields(dry) == _fields(real)
    assert [r["id"] for r in dry["results"]] == [r["id"] for r in real["results"]]

    buildings = [{"code": "LIB", "name": "Library"}, {"code": "PB", "name": "Renamed"}]
    dry = await _bulk(client, admin, "/api/v1/buildings:bulk", buildings, dry_run=True)
    assert _statuses(dry) == ["created", "updated"]
    listed = await (await client.get("/api/v1/buildings", headers=admin.headers)).json()
    assert sorted(b["code"] for b in listed["items"]) == ["ENG", "PB"]
    assert next(b for b in listed["items"] if b["code"] == "PB")["version"] == 1

    users = [{"username": "newbie", "password": "a-new-users-password"}]
    dry = await _bulk(client, admin, "/api/v1/users:bulk", users, dry_run=True)
    assert _statuses(dry) == ["created"]
    found = await client.get("/api/v1/users?username=newbie", headers=admin.headers)
    assert (await found.json())["items"] == []


async def test_a_terms_timetable_lists_as_its_rows_a_page_at_a_time(
    client: TestClient, admin: Person
) -> None:
    await make_campus(client, admin)
    monday = next_weekday(0)
    term = await _bulk(client, admin, "/api/v1/terms:bulk", [
        {"name": "T1", "first_day": str(monday), "last_day": str(monday + timedelta(days=20))},
    ])  # fmt: skip
    path = f"/api/v1/terms/{term['results'][0]['id']}/timetable"
    rows = [
        {"course_code": "PHYS101", "weekday": "tue", "start": "10:00", "end": "12:00",
         "building": "PB", "room": "102", "attendees": 20, "department": "Physics"},
        {"course_code": "MATH101", "course_name": "Calculus", "weekday": "mon", "start": "08:00",
         "end": "10:00", "building": "PB", "room": "101", "year_group": "1"},
        {"course_code": "MATH101", "weekday": "wed", "start": "08:00", "end": "09:00",
         "building": "ENG", "room": "1"},
    ]  # fmt: skip
    imported = await client.post(path, json={"rows": rows}, headers=admin.headers)
    assert imported.status == 200, await imported.text()
    listed, cursor = [], None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await (await client.get(path, params=params, headers=admin.headers)).json()
        listed += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    assert [
        (r["course_code"], r["weekday"], r["start"], r["building"], r["room"]) for r in listed
    ] == [
        ("MATH101", "mon", "08:00:00", "PB", "101"),
        ("MATH101", "wed", "08:00:00", "ENG", "1"),
        ("PHYS101", "tue", "10:00:00", "PB", "102"),
    ]
    assert (listed[0]["course_name"], listed[0]["year_group"], listed[2]["attendees"]) == (
        "Calculus",
        "1",
        20,
    )
    missing = await client.get("/api/v1/terms/999/timetable", headers=admin.headers)
    await problem_of(missing, 404)
    bad_cursor = await client.get(f"{path}?cursor=nonsense", headers=admin.headers)
    await problem_of(bad_cursor, 422)


# --- compax import ---------------------------------------------------------------------------


@pytest.fixture
async def admin_server(database_url: str, tmp_path: Path) -> AsyncIterator[ServerProcess]:
    """A real server process over the test database."""
    server = ServerProcess(database_url, tmp_path)
    server.start()
    try:
        await server.wait_until_healthy()
        yield server
    finally:
        server.stop()


@pytest.fixture
async def admin_cli(admin: Person, admin_server: ServerProcess, tmp_path: Path) -> Cli:
    """The CLI signed in as the admin on ``admin_server``."""
    cli = Cli(tmp_path / "cli")
    login = await cli(
        "login", "--server", admin_server.url, "--username", admin.user.username,
        "--password-stdin", input=PASSWORD + "\n",
    )  # fmt: skip
    assert login.exit_code == 0, login.output
    return cli


async def _summary(
    cli: Cli, *args: str, exit_code: int = 0, input: str | None = None
) -> dict[str, Any]:
    result = await cli(*args, "--json", input=input)
    assert result.exit_code == exit_code, result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def _counts(summary: dict[str, Any]) -> tuple[int, int, int, int]:
    return summary["created"], summary["updated"], summary["unchanged"], summary["rejected"]


def campus_files(directory: Path) -> dict[str, Path]:
    """One small file of every kind, in the formats the docs show."""
    monday = next_weekday(0)
    files = {
        "buildings": directory / "buildings.csv",
        "rooms": directory / "rooms.json",
        "users": directory / "users.csv",
        "terms": directory / "terms.jsonl",
        "timetable": directory / "timetable.csv",
        "bookings": directory / "bookings.jsonl",
    }
    files["buildings"].write_text(
        "code,name,kind,floors\nPB,Petroleum Building,academic,3\nENG,Engineering,,\n"
    )
    files["rooms"].write_text(json.dumps([
        {"building": "PB", "code": "101", "capacity": 40, "features": ["projector"]},
        {"building": "PB", "code": "102", "capacity": 60, "features": "projector, ac",
         "opening_hours": "mon-fri 07:00-21:00, sat 08:00-14:00"},
        {"building": "ENG", "code": "1", "kind": "lab", "capacity": 30,
         "max_duration_minutes": 240},
    ], indent=1))  # fmt: skip
    files["users"].write_text(
        "username,full_name,email,department,role,password\n"
        "ama,Ama Mensah,ama@example.edu,Physics,staff,\n"
        "kofi,Kofi Boateng,,Maths,class_rep,kofi-has-a-long-password\n"
    )
    first, last = monday - timedelta(days=7), monday + timedelta(days=30)
    holiday = f"Break {monday + timedelta(days=14)}..{monday + timedelta(days=18)}"
    term = {"name": "2026/2027 S1", "first_day": str(first), "last_day": str(last),
            "holidays": holiday}  # fmt: skip
    files["terms"].write_text(json.dumps(term) + "\n")
    files["timetable"].write_text(
        "course_code,course_name,department,year_group,weekday,start,end,building,room,attendees\n"
        "MATH101,Calculus,Maths,1,mon,08:00,10:00,PB,101,35\n"
        "PHYS101,Mechanics,Physics,1,tue,10:00,12:00,PB,102,20\n"
    )
    files["bookings"].write_text(
        "\n".join(json.dumps(row) for row in [
            {"room": "PB/101", "start": f"{monday} 13:00", "end": f"{monday} 15:00",
             "title": "Exam MATH101", "purpose": "exam", "attendees": 35},
            {"external_id": "talk-7", "room": "ENG/1", "start": at(monday, 9),
             "end": at(monday, 10), "title": "Guest talk", "private": True, "notes": "VIP"},
        ]) + "\n"
    )  # fmt: skip
    return files


async def import_campus(cli: Cli, files: dict[str, Path], passwords: Path) -> None:
    """Import every file of ``campus_files`` (users through standard input) and check each."""
    assert _counts(await _summary(cli, "import", "buildings", str(files["buildings"]))) == (
        2,
        0,
        0,
        0,
    )
    assert _counts(await _summary(cli, "import", "rooms", str(files["rooms"]))) == (3, 0, 0, 0)
    users = await _summary(
        cli, "import", "users", "-", "--format", "csv", "--passwords", str(passwords),
        input=files["users"].read_text(),
    )  # fmt: skip
    assert (_counts(users), users["passwords"]) == ((2, 0, 0, 0), 1)
    assert _counts(await _summary(cli, "import", "terms", str(files["terms"]))) == (1, 0, 0, 0)
    timetable = await _summary(
        cli, "import", "timetable", str(files["timetable"]), "--term", "2026/2027 S1"
    )
    assert _counts(timetable) == (2, 0, 0, 0)
    assert _counts(await _summary(cli, "import", "bookings", str(files["bookings"]))) == (
        2,
        0,
        0,
        0,
    )


@pytest.mark.slow
async def test_every_kind_imports_from_its_file_and_a_second_import_changes_nothing(
    client: TestClient,
    admin: Person,
    admin_server: ServerProcess,
    admin_cli: Cli,
    tmp_path: Path,
) -> None:
    files = campus_files(tmp_path)
    passwords = tmp_path / "passwords.csv"
    await import_campus(admin_cli, files, passwords)

    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
    [header, line] = passwords.read_text().splitlines()
    assert header == "username,password"
    username, password = line.split(",")
    signed_in = await client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}
    )
    assert (username, signed_in.status) == ("ama", 200)
    rooms = await (await client.get("/api/v1/rooms?building=PB", headers=admin.headers)).json()
    room_102 = next(r for r in rooms["items"] if r["code"] == "102")
    assert room_102["features"] == ["ac", "projector"]
    assert room_102["opening_hours"]["sat"] == {"open": "08:00:00", "close": "14:00:00"}
    bookings = await _bookings(client, admin)
    assert {b["title"] for b in bookings} >= {"Exam MATH101", "Guest talk", "MATH101 Calculus"}
    exam = next(b for b in bookings if b["title"] == "Exam MATH101")
    assert exam["start"].endswith("T13:00:00Z")  # campus local time (Accra is UTC+0)

    for kind, path in files.items():
        args = ["import", kind, str(path)]
        if kind == "timetable":
            args += ["--term", "2026/2027 S1"]
        if kind == "users":
            args += ["--passwords", str(passwords)]
        summary = await _summary(admin_cli, *args)
        assert _counts(summary) == (0, 0, summary["rows"], 0), kind
    assert len(passwords.read_text().splitlines()) == 2
    unused = tmp_path / "no-new-users.csv"
    summary = await _summary(admin_cli, "import", "users", str(files["users"]), "--passwords",
                             str(unused))  # fmt: skip
    assert (summary["unchanged"], summary["passwords_file"], unused.exists()) == (2, None, False)

    admin_server.stop()
    offline = await admin_cli("import", "buildings", str(files["buildings"]))
    assert offline.exit_code == UNREACHABLE
    assert offline.stderr.startswith("offline:")
    assert "run the same import again" in offline.stderr
    unfinished = await admin_cli("export", "rooms")
    assert (unfinished.exit_code, unfinished.stdout) == (UNREACHABLE, "")


@pytest.mark.slow
async def test_a_rejects_file_is_fixed_and_imported_and_a_dry_run_changes_nothing(
    client: TestClient, admin: Person, admin_cli: Cli, tmp_path: Path
) -> None:
    await make_campus(client, admin)
    rooms = tmp_path / "rooms.csv"
    rooms.write_text(
        "building,code,capacity,features\n"
        "PB,301,30,projector\n"
        "PB,302,-4,\n"
        "XX,1,20,\n"
        'PB,303,25,"white board, ac"\n'
    )
    rejects = tmp_path / "rooms-rejected.csv"
    summary = await _summary(
        admin_cli, "import", "rooms", str(rooms), "--rejects", str(rejects), exit_code=REFUSED
    )
    assert (_counts(summary), summary["rejects_file"]) == ((2, 0, 0, 2), str(rejects))
    with rejects.open(newline="") as written:
        rejected = list(csv.DictReader(written))
    assert [(r["_line"], r["_field"], r["code"]) for r in rejected] == [
        ("3", "capacity", "302"),
        ("4", "building", "1"),
    ]
    assert "greater than or equal to 0" in rejected[0]["_reason"]
    rejected[0]["capacity"], rejected[1]["building"] = "24", "PB"
    with rejects.open("w", newline="") as fixed:
        writer = csv.DictWriter(fixed, fieldnames=list(rejected[0]))
        writer.writeheader()
        writer.writerows(rejected)
    again = await _summary(admin_cli, "import", "rooms", str(rejects))
    assert _counts(again) == (2, 0, 0, 0)
    assert _counts(await _summary(admin_cli, "import", "rooms", str(rooms), exit_code=REFUSED)) == (
        0,
        0,
        2,
        2,
    )

    broken = tmp_path / "broken.json"
    broken.write_text('[\n{"code": "NEW", "name": "New"},\n{"code": }\n]\n')
    stopped = await admin_cli("import", "buildings", str(broken), "--batch-size", "1")
    assert stopped.exit_code == USAGE, stopped.output
    assert stopped.stderr == (
        "error: broken.json: line 3: not valid JSON (Expecting value); the 1 batch(es) before "
        "it (1 rows) were sent and stay in: fix the file and import it again (rows already in "
        "come back unchanged)\n"
    )
    for name, data, message in [
        ("latin.csv", b"code,name\nLAT1,One\nLAT2,Two\nLAT3,Caf\xe9\nLAT4,Four\n",
         "line 4: is not UTF-8 text (invalid continuation byte); the 2 batch(es)"),
        ("quote.csv", b'code,name\nLAT1,One\nLAT2,Two\nLAT3,"Three\nLAT4,Four\n',
         "line 4: a quote opened in this row is never closed; the 2 batch(es)"),
        ("short.csv", b"code,name\nLAT1,One\nLAT2,Two\nLAT3\nLAT4,Four\n",
         "line 4: has 1 cells; the header names 2; the 2 batch(es)"),
    ]:  # fmt: skip
        (tmp_path / name).write_bytes(data)
        stopped = await admin_cli("import", "buildings", str(tmp_path / name), "--batch-size", "1")
        assert stopped.exit_code == USAGE, stopped.output
        assert stopped.stderr.startswith(f"error: {name}: {message}"), stopped.stderr
        assert stopped.stderr.count("\n") == 1
    early = tmp_path / "early.csv"
    early.write_bytes(b"code,name\nLAT5,Five\nLAT6\n")
    stopped = await admin_cli("import", "buildings", str(early))
    assert stopped.stderr.endswith("the header names 2; nothing was changed\n"), stopped.stderr
    buildings = await (await client.get("/api/v1/buildings", headers=admin.headers)).json()
    codes = {b["code"] for b in buildings["items"]}
    assert {"NEW", "LAT1", "LAT2"} <= codes
    assert not {"LAT3", "LAT4", "LAT5"} & codes

    monday = next_weekday(0)
    exams = "\n".join(json.dumps(row) for row in [
        {"room": "PB/101", "start": at(monday, 9), "end": at(monday, 11), "title": "Exam A"},
        {"room": "PB/102", "start": at(monday, 9), "end": at(monday, 11), "title": "Exam B"},
        {"room": "PB/101", "start": at(monday, 10), "end": at(monday, 12), "title": "Exam C"},
        {"room": "PB/101", "start": at(monday, 9), "end": at(monday, 11), "title": "Exam A"},
    ]) + "\n"  # fmt: skip
    dry = await admin_cli(
        "import",
        "bookings",
        "-",
        "--format",
        "jsonl",
        "--dry-run",
        "--batch-size",
        "1",
        input=exams,
    )
    assert dry.exit_code == REFUSED, dry.output
    assert "would be rejected" in dry.stdout
    assert "line 3: room: clashes with line 1 of this file" in dry.stderr
    assert "Dry run: nothing was changed" in dry.stderr
    assert await _bookings(client, admin) == []
    real = await _summary(
        admin_cli, "import", "bookings", "-", "--format", "jsonl", "--batch-size", "1",
        input=exams, exit_code=REFUSED,
    )  # fmt: skip
    assert _counts(real) == (2, 0, 1, 1)
    assert sorted(b["title"] for b in await _bookings(client, admin)) == ["Exam A", "Exam B"]


async def test_usage_errors_are_one_line_with_exit_code_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked before anything is sent: no server needed, only a profile signed in."""
    cli = Cli(tmp_path / "cli")
    signed_in_offline(tmp_path / "cli", monkeypatch)
    rooms = tmp_path / "rooms.csv"
    rooms.write_text("building,code,capacity,colour\nPB,1,2,red\n")
    no_code = tmp_path / "rooms2.csv"
    no_code.write_text("building,capacity\nPB,1\n")
    cases = [
        (
            ["rooms", str(rooms)],
            "error: rooms.csv: unknown column 'colour': add --map colour= to leave it out; "
            "rooms have building,",
        ),
        (["rooms", str(no_code)], "error: rooms2.csv: missing column code"),
        (["rooms", "-"], "error: format: give --format for standard input"),
        (["rooms", str(tmp_path / "nope.csv")], "error: FILE: cannot read"),
        (["rooms", str(tmp_path / "rooms.txt")], "error: format: cannot tell the format"),
        (["rooms", str(rooms), "--rejects", str(rooms)], "error: rejects: must not be the file"),
        (["bookings", str(tmp_path / "b.ics")], "error: format: iCalendar files can be exported"),
    ]
    for args, message in cases:
        result = await cli("import", *args)
        assert result.exit_code == USAGE, (args, result.output)
        assert result.stderr.startswith(message), (args, result.stderr)
        assert result.stderr.count("\n") == 1, result.stderr
    missing_term = await cli("import", "timetable", str(rooms))
    assert missing_term.exit_code == USAGE
    good = tmp_path / "good.csv"
    good.write_text("code,name\nPB,Petroleum\n")
    not_signed_in = await cli("import", "buildings", str(good))
    assert not_signed_in.exit_code == SIGN_IN
