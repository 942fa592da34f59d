"""Timetable imports: every row judged as one series, together with the rows of its request,
and the database's last word when a concurrent writer gets in between."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlmodel import col

from compax_server.keys import BOOKING_POLICY, DATABASE
from compax_server.models import Booking
from compax_server.services import booking_batch, bookings, series
from sync.permissions import Role
from sync.schemas import BookingCreate
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.servers import running_servers
from tests.test_race import OVERLAPPING_PAIRS


def session(code: str, weekday: str, start: str, end: str, room: str = "101") -> dict[str, Any]:
    """One timetable row in building PB."""
    return {
        "course_code": code,
        "course_name": "Course",
        "weekday": weekday,
        "start": start,
        "end": end,
        "building": "PB",
        "room": room,
    }


async def three_week_term(client: TestClient, admin: Person) -> tuple[str, date]:
    """A term of three weeks from a Monday two weeks ahead: its timetable URL and that Monday."""
    monday = next_weekday(0)
    term = await client.post(
        "/api/v1/terms",
        json={"name": "T1", "first_day": str(monday), "last_day": str(monday + timedelta(20))},
        headers=admin.headers,
    )
    assert term.status == 201, await term.text()
    return f"/api/v1/terms/{(await term.json())['id']}/timetable", monday


async def post(client: TestClient, admin: Person, url: str, rows: list[dict[str, Any]]) -> Any:
    response = await client.post(url, json={"rows": rows}, headers=admin.headers)
    assert response.status == 200, await response.text()
    return await response.json()


async def held(client: TestClient) -> list[tuple[int, datetime, uuid.UUID | None]]:
    """The confirmed bookings as (room, start, series), after checking none overlap."""
    async with client.app[DATABASE].read() as db_session:
        assert (await db_session.execute(OVERLAPPING_PAIRS)).scalar_one() == 0
        rows = await db_session.execute(
            select(col(Booking.room_id), col(Booking.start), col(Booking.series_id))
            .where(col(Booking.status) == "confirmed")
            .order_by(col(Booking.room_id), col(Booking.start))
        )
        return [(room_id, start, series_id) for room_id, start, series_id in rows]


async def test_a_dry_run_answers_as_the_real_run_rows_of_the_upload_included(
    client: TestClient, admin: Person
) -> None:
    await make_campus(client, admin)
    url, _ = await three_week_term(client, admin)
    rows = [
        session("MATH101", "mon", "08:00", "10:00"),
        session("PHYS101", "mon", "09:00", "11:00"),  # clashes with row 0 every Monday
        session("MATH101", "mon", "08:00", "10:00"),  # row 0 again
        session("MATH101", "mon", "08:00", "09:00"),  # row 0's course with another end
        session("CHEM101", "tue", "09:00", "11:00"),
    ]
    dry = await post(client, admin, f"{url}?dry_run=true", rows)
    assert await held(client) == [], "a dry run changes nothing"
    real = await post(client, admin, url, rows)

    def without_ids(answer: dict[str, Any]) -> list[dict[str, Any]]:
        return [{**r, "series_id": None} for r in answer["results"]]

    assert [r["status"] for r in dry["results"]] == [
        "would_create",
        "rejected",
        "unchanged",
        "rejected",
        "would_create",
    ]
    assert [r["status"] for r in real["results"]] == [
        "created",
        "rejected",
        "unchanged",
        "rejected",
        "created",
    ]
    assert {r["series_id"] for r in dry["results"]} == {None}, "a dry run makes no series"
    for dry_row, real_row in zip(without_ids(dry), without_ids(real), strict=True):
        if dry_row["status"] == "would_create":
            dry_row["status"] = "created"
        assert dry_row == real_row
    clash = real["results"][1]
    assert clash["errors"] == [{"field": "room", "message": "3 dates clash"}]
    assert [p["row"] for c in clash["clashes"] for p in c["problems"]] == [0, 0, 0]
    assert real["results"][2]["series_id"] == real["results"][0]["series_id"]
    assert real["results"][3]["errors"][0]["field"] == "course_code"
    assert len(await held(client)) == 6
    again = await post(client, admin, url, rows)
    assert [r["status"] for r in again["results"]] == [
        "unchanged",
        "rejected",
        "unchanged",
        "rejected",
        "unchanged",
    ]


async def test_a_clashing_date_names_every_booking_and_rule_in_its_way(
    client: TestClient, admin: Person
) -> None:
    campus = await make_campus(client, admin)
    url, monday = await three_week_term(client, admin)
    week_two = monday + timedelta(7)
    first = await book(client, admin, campus.room_101, at(week_two, 8), at(week_two, 9))
    second = await book(client, admin, campus.room_101, at(week_two, 9), at(week_two, 9, 30))
    closed = await client.post(
        "/api/v1/blackouts",
        json={
            "room_id": campus.room_101,
            "start": at(monday + timedelta(14), 7),
            "end": at(monday + timedelta(14), 12),
            "reason": "Painting",
        },
        headers=admin.headers,
    )
    assert closed.status == 201, await closed.text()
    answer = await post(client, admin, url, [session("MATH101", "mon", "08:00", "10:00")])
    (result,) = answer["results"]
    assert result["status"] == "rejected"
    assert [c["date"] for c in result["clashes"]] == [str(week_two), str(monday + timedelta(14))]
    in_the_way = [p["conflicting"]["id"] for p in result["clashes"][0]["problems"]]
    assert in_the_way == [(await first.json())["id"], (await second.json())["id"]]
    assert [p["type"] for p in result["clashes"][1]["problems"]] == ["blackout"]
    assert len(await held(client)) == 2, "a row with a clash books none of its dates"


async def test_a_rejected_row_names_no_clash_with_the_rows_after_it(
    client: TestClient, admin: Person
) -> None:
    """Rows are judged in file order: a row refused for a booking in its way is not also
    reported as clashing with a later row, which was judged after it (and booked)."""
    campus = await make_campus(client, admin)
    url, monday = await three_week_term(client, admin)
    booked = await book(client, admin, campus.room_101, at(monday, 8), at(monday, 8, 15))
    assert booked.status == 201, await booked.text()

    answer = await post(
        client,
        admin,
        url,
        [session("MATH101", "mon", "08:00", "10:00"), session("CHEM101", "mon", "08:30", "10:30")],
    )

    first, second = answer["results"]
    assert (first["status"], second["status"]) == ("rejected", "created")
    assert [clash["date"] for clash in first["clashes"]] == [str(monday)]
    assert [p["type"] for p in first["clashes"][0]["problems"]] == ["room-overlap"]
    assert "row" not in first["clashes"][0]["problems"][0], "no clash with the later row 1"


async def test_a_clash_the_check_missed_is_caught_by_the_database_and_judged_again(
    client: TestClient, admin: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a concurrent writer's booking would be: the insert skips (Postgres) or the trigger
    refuses (SQLite), nothing of it stays, and the rows are judged again, seeing it."""
    campus = await make_campus(client, admin)
    url, monday = await three_week_term(client, admin)
    blocker = await book(
        client, admin, campus.room_101, at(monday + timedelta(7), 9), at(monday + timedelta(7), 10)
    )
    inserts = blind_until_first_insert(monkeypatch)
    answer = await post(
        client,
        admin,
        url,
        [session("MATH101", "mon", "08:00", "10:00"), session("CHEM101", "tue", "08:00", "10:00")],
    )
    assert inserts == [2, 1], "both rows went to the insert, then only the one that fits"
    math, chem = answer["results"]
    assert math["status"] == "rejected"
    assert [c["date"] for c in math["clashes"]] == [str(monday + timedelta(7))]
    conflicting = math["clashes"][0]["problems"][0]["conflicting"]
    assert conflicting["id"] == (await blocker.json())["id"]
    assert chem["status"] == "created"
    series_held = Counter(series_id for _, _, series_id in await held(client))
    assert series_held == {None: 1, uuid.UUID(chem["series_id"]): 3}


async def test_rows_are_refused_when_every_attempt_meets_a_clash_the_check_missed(
    client: TestClient, admin: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    campus = await make_campus(client, admin)
    url, monday = await three_week_term(client, admin)
    await book(client, admin, campus.room_101, at(monday, 9), at(monday, 10))
    monkeypatch.setattr(booking_batch.Busy, "clashes", lambda self, start, end: False)
    answer = await post(
        client,
        admin,
        url,
        [session("MATH101", "mon", "08:00", "10:00"), session("CHEM101", "tue", "08:00", "10:00")],
    )
    assert [r["status"] for r in answer["results"]] == ["rejected", "rejected"]
    assert {r["errors"][0]["message"] for r in answer["results"]} == {series.TAKEN_MEANWHILE}
    assert len(await held(client)) == 1, "nothing of the raced inserts stays"


#: SQLite writers take turns (``BEGIN IMMEDIATE``): no writer can come in between a check and
#: its insert there, so the races below exist on Postgres only.
ON_POSTGRES_ONLY = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@ON_POSTGRES_ONLY
async def test_a_booking_made_between_the_check_and_the_insert_is_seen_on_the_retry(
    client: TestClient, admin: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real concurrent writer, in its own transaction, between this request's check and its
    insert: the row that meets it is refused naming it, the other row is booked."""
    campus = await make_campus(client, admin)
    url, monday = await three_week_term(client, admin)
    app = client.app
    wednesday = monday + timedelta(9)
    made: list[str] = []

    async def book_meanwhile() -> None:
        data = BookingCreate.model_validate(
            {
                "room_id": campus.room_101,
                "start": at(wednesday, 9),
                "end": at(wednesday, 10),
                "title": "Quick",
            }
        )
        async with app[DATABASE].write() as other:
            view = await bookings.create_booking(other, admin.user, data, app[BOOKING_POLICY])
        made.append(str(view.id))

    inserts = before_first_insert(monkeypatch, book_meanwhile)
    answer = await post(
        client,
        admin,
        url,
        [session("MATH101", "wed", "08:00", "10:00"), session("CHEM101", "thu", "08:00", "10:00")],
    )
    assert inserts == [2, 1]
    math, chem = answer["results"]
    assert math["status"] == "rejected"
    assert [p["conflicting"]["id"] for c in math["clashes"] for p in c["problems"]] == made
    assert chem["status"] == "created"
    assert len(await held(client)) == 4


async def test_two_imports_of_one_course_at_once_take_turns_and_the_later_finds_it(
    client: TestClient, admin: Person
) -> None:
    """Two imports of one timetable at once: they take turns in its rooms (``store``), and
    the later finds the earlier's series, so its row is unchanged, not a clash with itself."""
    await make_campus(client, admin)
    url, _ = await three_week_term(client, admin)
    math, chem = (
        session("MATH101", "wed", "08:00", "10:00"),
        session("CHEM101", "thu", "08:00", "10:00"),
    )

    both, alone = await asyncio.gather(
        post(client, admin, url, [math, chem]), post(client, admin, url, [math])
    )

    maths = sorted([both["results"][0], alone["results"][0]], key=lambda r: r["status"])
    assert [r["status"] for r in maths] == ["created", "unchanged"]
    assert maths[0]["series_id"] == maths[1]["series_id"]
    assert both["results"][1]["status"] == "created"
    assert len(await held(client)) == 6


async def test_a_course_name_too_long_for_a_title_is_refused_by_its_column(
    client: TestClient, admin: Person
) -> None:
    await make_campus(client, admin)
    url, _ = await three_week_term(client, admin)
    row = {**session("MATH101", "mon", "08:00", "10:00"), "course_name": "n" * 200}
    answer = await post(client, admin, url, [row])
    (result,) = answer["results"]
    assert result["status"] == "rejected"
    assert [e["field"] for e in result["errors"]] == ["course_name"]
    assert await held(client) == []


@pytest.mark.slow
async def test_a_timetable_racing_single_bookings_never_double_books(
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    database_url: str,
    tmp_path: Path,
) -> None:
    """Real server processes: a timetable import while people book the same weekly times one
    by one. Every answer is a success or a clash (the timetable's after a retry on 503, as the
    CLI does), each timetable row is all or nothing, and no two confirmed bookings overlap."""
    campus = await make_campus(client, admin)
    url, monday = await three_week_term(client, admin)
    people = [await make_person(Role.STAFF) for _ in range(24)]
    rooms = [("101", campus.room_101), ("102", campus.room_102), ("201", campus.room_201)]
    days = ["mon", "tue", "wed", "thu"]
    rows = [
        session(f"C{index:03d}", days[index % 4], f"{8 + 2 * (index // 12):02d}:00",
                f"{10 + 2 * (index // 12):02d}:00", rooms[index // 4 % 3][0])
        for index in range(24)
    ]  # fmt: skip
    wanted = [
        (rooms[index // 4 % 3][1], monday + timedelta(days=index % 4 + 7 * (index % 3)))
        for index in range(24)
    ]
    processes = 1 if database_url.startswith("sqlite") else 2
    async with (
        running_servers(database_url, tmp_path, count=processes) as urls,
        aiohttp.ClientSession() as http,
    ):

        async def import_timetable() -> dict[str, Any]:
            for _ in range(10):
                async with http.post(
                    f"{urls[0]}{url}", json={"rows": rows}, headers=admin.headers
                ) as response:
                    if response.status != 503:
                        assert response.status == 200, await response.text()
                        return dict(await response.json())
                await asyncio.sleep(0.1)
            raise AssertionError("the timetable import never got through")

        async def attempt(index: int) -> int:
            room_id, day = wanted[index]
            hour = 8 + 2 * (index // 12)
            await asyncio.sleep(0.01 * (index % 8))  # some before the import, some during it
            async with http.post(
                f"{urls[index % len(urls)]}/api/v1/bookings",
                json={
                    "room_id": room_id,
                    "start": at(day, hour, 30),
                    "end": at(day, hour + 1),
                    "title": f"Race {index}",
                },
                headers=people[index].headers,
            ) as response:
                return response.status

        for server in urls:  # warm up: each server's first requests are slow
            async with http.post(
                f"{server}{url}?dry_run=true", json={"rows": rows}, headers=admin.headers
            ) as response:
                assert response.status == 200, await response.text()
            async with http.post(
                f"{server}/api/v1/bookings",
                json={
                    "room_id": campus.eng_1,
                    "start": at(monday, 8 + 2 * urls.index(server)),
                    "end": at(monday, 9 + 2 * urls.index(server)),
                    "title": "Warm-up",
                },
                headers=admin.headers,
            ) as response:
                assert response.status == 201, await response.text()
        answer, *statuses = await asyncio.gather(
            import_timetable(), *(attempt(i) for i in range(24))
        )
    assert set(statuses) <= {201, 409}, statuses
    by_series = Counter(series_id for _, _, series_id in await held(client))
    single = by_series.pop(None, 0)
    assert single == len(urls) + statuses.count(201), "every booking granted is held"
    created = {r["series_id"] for r in answer["results"] if r["status"] == "created"}
    assert {str(s): n for s, n in by_series.items()} == dict.fromkeys(created, 3)
    for result in answer["results"]:
        if result["status"] != "created":
            assert result["status"] == "rejected", result
            assert result["clashes"] or result["errors"][0]["message"] == series.TAKEN_MEANWHILE


def blind_until_first_insert(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the in-memory check miss every booking in the way until the first insert of a
    timetable's rows; the sizes of the inserts are recorded in the list returned."""
    inserts = counting_inserts(monkeypatch)
    sees = booking_batch.Busy.clashes

    def clashes(self: booking_batch.Busy, start: datetime, end: datetime) -> bool:
        return bool(inserts) and sees(self, start, end)

    monkeypatch.setattr(booking_batch.Busy, "clashes", clashes)
    return inserts


def before_first_insert(
    monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[], Awaitable[None]]
) -> list[int]:
    """Run ``meanwhile`` (another writer) just before the first insert of a timetable's rows;
    the sizes of this request's inserts are recorded in the list returned."""
    return counting_inserts(monkeypatch, meanwhile)


def counting_inserts(
    monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[], Awaitable[None]] | None = None
) -> list[int]:
    """Record how many rows each timetable insert carries; before the first, run
    ``meanwhile``, whose own inserts are not recorded."""
    inserts: list[int] = []
    insert = series._Timetable._insert
    aside = False  # while the other writer runs

    async def counted(self: series._Timetable, bookable: Sequence[Any]) -> bool:
        nonlocal aside
        if aside:
            return await insert(self, bookable)
        inserts.append(len(bookable))
        if meanwhile is not None and len(inserts) == 1:
            aside = True
            try:
                await meanwhile()
            finally:
                aside = False
        return await insert(self, bookable)

    monkeypatch.setattr(series._Timetable, "_insert", counted)
    return inserts


async def test_course_and_room_codes_with_spaces_key_the_timetable_and_round_trip(
    client: TestClient, admin: Person
) -> None:
    """``math  101`` is course ``MATH 101``; its room ``PB/LECTURE THEATRE 1, EAST WING``. The
    timetable lists them as written, the same rows again are unchanged, and the series records
    a campus export writes restore as they were."""
    await make_campus(client, admin)
    room = {"building": "PB", "code": "Lecture Theatre 1, East Wing"}
    created = await client.post("/api/v1/rooms", json=room, headers=admin.headers)
    assert created.status == 201, await created.text()
    url, _ = await three_week_term(client, admin)
    rows = [session("math  101", "mon", "08:00", "10:00", room="lecture theatre 1,  east wing")]

    first = await post(client, admin, url, rows)
    assert [r["status"] for r in first["results"]] == ["created"], first
    listed = await (await client.get(url, headers=admin.headers)).json()
    assert [(r["course_code"], r["room"]) for r in listed["items"]] == [
        ("MATH 101", "LECTURE THEATRE 1, EAST WING")
    ]
    again = await post(client, admin, url, [{**rows[0], "course_code": "MATH 101"}])
    assert [r["status"] for r in again["results"]] == ["unchanged"]

    records = (await (await client.get("/api/v1/series", headers=admin.headers)).json())["items"]
    assert [(r["course_code"], r["room"]) for r in records] == [
        ("MATH 101", "PB/LECTURE THEATRE 1, EAST WING")
    ]
    spaced = {**records[0], "room": "pb/lecture  theatre 1, east wing"}
    restored = await client.post(
        "/api/v1/series:bulk", json={"rows": [spaced]}, headers=admin.headers
    )
    assert restored.status == 200, await restored.text()
    assert [r["status"] for r in (await restored.json())["results"]] == ["unchanged"]
