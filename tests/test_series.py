"""Recurring series and term timetables over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient

from sync.permissions import Role
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import MakePerson, Person


def weekly(
    room_id: int, first_day: object, last_day: object, **fields: object
) -> dict[str, object]:
    return {
        "room_id": room_id,
        "title": "MATH 101",
        "weekdays": ["mon", "wed"],
        "first_day": str(first_day),
        "last_day": str(last_day),
        "start_time": "10:00",
        "end_time": "11:00",
        **fields,
    }


async def test_a_weekly_series_books_each_date_and_fails_whole_on_a_clash(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    rep = await make_person(Role.CLASS_REP)
    monday = next_weekday(0)
    blocker = await book(
        client,
        admin,
        campus.room_101,
        at(monday + timedelta(days=9), 10, 30),
        at(monday + timedelta(days=9), 12),
    )
    assert blocker.status == 201

    refused = await client.post(
        "/api/v1/series",
        json=weekly(campus.room_101, monday, monday + timedelta(days=20)),
        headers=rep.headers,
    )
    assert refused.status == 409
    problem = await refused.json()
    assert problem["type"] == "series-conflict"
    assert [d["date"] for d in problem["dates"]] == [str(monday + timedelta(days=9))]
    listed = await client.get(f"/api/v1/bookings?room_id={campus.room_101}", headers=rep.headers)
    assert len((await listed.json())["items"]) == 1, "nothing was booked"

    skipped = await client.post(
        "/api/v1/series",
        json=weekly(campus.room_101, monday, monday + timedelta(days=20), on_conflict="skip"),
        headers=rep.headers,
    )
    assert skipped.status == 201, await skipped.text()
    result = await skipped.json()
    assert len(result["created"]) == 5
    assert [d["date"] for d in result["skipped"]] == [str(monday + timedelta(days=9))]
    assert {b["series_id"] for b in result["created"]} == {result["series"]["id"]}


async def test_a_series_skips_term_holidays_and_exceptions(
    client: TestClient, admin: Person
) -> None:
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    term = await client.post(
        "/api/v1/terms",
        json={
            "name": "2026/2027 S1",
            "first_day": str(monday),
            "last_day": str(monday + timedelta(days=27)),
            "holidays": [
                {
                    "name": "Break",
                    "first_day": str(monday + timedelta(days=7)),
                    "last_day": str(monday + timedelta(days=13)),
                }
            ],
        },
        headers=admin.headers,
    )
    term_id = (await term.json())["id"]
    response = await client.post(
        "/api/v1/series",
        json=weekly(
            campus.room_101,
            monday,
            monday + timedelta(days=27),
            weekdays=["mon"],
            term_id=term_id,
            exceptions=[str(monday + timedelta(days=21))],
        ),
        headers=admin.headers,
    )
    assert response.status == 201, await response.text()
    starts = [b["start"][:10] for b in (await response.json())["created"]]
    assert starts == [str(monday), str(monday + timedelta(days=14))]


async def test_cancel_and_move_with_series_scopes(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)
    created = await client.post(
        "/api/v1/series",
        json=weekly(campus.room_101, monday, monday + timedelta(days=20)),
        headers=staff.headers,
    )
    occurrences = (await created.json())["created"]
    assert len(occurrences) == 6
    second, fourth = occurrences[1], occurrences[3]

    one = await client.delete(
        f"/api/v1/bookings/{second['id']}?scope=this", headers={**staff.headers, "If-Match": '"1"'}
    )
    assert [b["id"] for b in (await one.json())["cancelled"]] == [second["id"]]

    moved = await client.patch(
        f"/api/v1/bookings/{fourth['id']}?scope=following",
        json={
            "start": fourth["start"].replace("T10:00", "T14:00"),
            "end": fourth["end"].replace("T11:00", "T15:30"),
        },
        headers={**staff.headers, "If-Match": '"1"'},
    )
    assert moved.status == 200, await moved.text()
    series_id = (await created.json())["series"]["id"]
    listed = await client.get(f"/api/v1/bookings?series_id={series_id}", headers=staff.headers)
    times = [(b["start"][11:16], b["end"][11:16]) for b in (await listed.json())["items"]]
    assert times == [
        ("10:00", "11:00"),
        ("10:00", "11:00"),
        ("14:00", "15:30"),
        ("14:00", "15:30"),
        ("14:00", "15:30"),
    ]

    rest = await client.delete(
        f"/api/v1/bookings/{occurrences[0]['id']}?scope=all",
        headers={**staff.headers, "If-Match": '"1"'},
    )
    assert len((await rest.json())["cancelled"]) == 5
    confirmed = await client.get(f"/api/v1/bookings?series_id={series_id}", headers=staff.headers)
    assert (await confirmed.json())["items"] == []


async def test_moving_a_series_onto_a_taken_time_changes_nothing(
    client: TestClient, admin: Person
) -> None:
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    created = await client.post(
        "/api/v1/series",
        json=weekly(campus.room_101, monday, monday + timedelta(days=13)),
        headers=admin.headers,
    )
    first = (await created.json())["created"][0]
    await book(
        client,
        admin,
        campus.room_101,
        at(monday + timedelta(days=7), 14),
        at(monday + timedelta(days=7), 15),
    )
    moved = await client.patch(
        f"/api/v1/bookings/{first['id']}?scope=all",
        json={"start": at(monday, 14), "end": at(monday, 15)},
        headers={**admin.headers, "If-Match": '"1"'},
    )
    assert moved.status == 409
    problem = await moved.json()
    assert problem["type"] == "series-conflict"
    assert [d["date"] for d in problem["dates"]] == [str(monday + timedelta(days=7))]
    unchanged = await client.get(f"/api/v1/bookings/{first['id']}", headers=admin.headers)
    assert (await unchanged.json())["start"].startswith(f"{monday}T10:00")


async def test_a_timetable_import_dry_runs_creates_and_is_idempotent(
    client: TestClient, admin: Person
) -> None:
    await make_campus(client, admin)
    monday = next_weekday(0)
    term = await client.post(
        "/api/v1/terms",
        json={
            "name": "T1",
            "first_day": str(monday),
            "last_day": str(monday + timedelta(days=13)),
        },
        headers=admin.headers,
    )
    url = f"/api/v1/terms/{(await term.json())['id']}/timetable"
    rows = [
        {
            "course_code": "MATH101",
            "course_name": "Calculus",
            "weekday": "mon",
            "start": "08:00",
            "end": "10:00",
            "building": "PB",
            "room": "101",
        },
        {
            "course_code": "PHYS101",
            "weekday": "mon",
            "start": "09:00",
            "end": "11:00",
            "building": "PB",
            "room": "101",
        },
        {
            "course_code": "CHEM101",
            "weekday": "tue",
            "start": "09:00",
            "end": "11:00",
            "building": "PB",
            "room": "999",
        },
        {
            "course_code": "BIO101",
            "weekday": "wed",
            "start": "11:00",
            "end": "10:00",
            "building": "PB",
            "room": "101",
        },
    ]
    dry = await client.post(f"{url}?dry_run=true", json={"rows": rows}, headers=admin.headers)
    assert dry.status == 200, await dry.text()
    results = (await dry.json())["results"]
    assert [r["status"] for r in results] == ["would_create", "rejected", "rejected", "rejected"]
    assert results[1]["clashes"][0]["problems"][0]["row"] == 0
    assert results[2]["errors"][0]["field"] == "room"
    assert results[3]["errors"][0]["field"] == "end"
    listed = await client.get("/api/v1/bookings", headers=admin.headers)
    assert (await listed.json())["items"] == [], "a dry run changes nothing"

    real = await (await client.post(url, json={"rows": rows[:1]}, headers=admin.headers)).json()
    assert real["results"][0]["status"] == "created"
    assert real["results"][0]["occurrences"] == 2
    again = await (await client.post(url, json={"rows": rows[:1]}, headers=admin.headers)).json()
    assert again["results"][0]["status"] == "unchanged"
    listed = await client.get("/api/v1/bookings", headers=admin.headers)
    assert len((await listed.json())["items"]) == 2


async def test_a_term_that_ends_before_it_starts_is_refused(
    client: TestClient, admin: Person
) -> None:
    response = await client.post(
        "/api/v1/terms",
        json={
            "name": "Backwards",
            "first_day": "2027-02-01",
            "last_day": "2027-01-01",
        },
        headers=admin.headers,
    )
    assert response.status == 422
    assert [e["field"] for e in (await response.json())["errors"]] == ["last_day"]


async def test_a_timetable_for_a_term_under_way_books_from_now_on(
    client: TestClient, admin: Person
) -> None:
    await make_campus(client, admin)
    monday = next_weekday(0, weeks_ahead=-2)
    term = await client.post(
        "/api/v1/terms",
        json={
            "name": "Under way",
            "first_day": str(monday),
            "last_day": str(monday + timedelta(days=34)),
        },
        headers=admin.headers,
    )
    row = {
        "course_code": "HIST101",
        "weekday": "wed",
        "start": "10:00",
        "end": "12:00",
        "building": "PB",
        "room": "102",
    }
    result = await (
        await client.post(
            f"/api/v1/terms/{(await term.json())['id']}/timetable",
            json={"rows": [row]},
            headers=admin.headers,
        )
    ).json()
    assert result["results"][0]["status"] == "created", result
    listed = await (await client.get("/api/v1/bookings?limit=100", headers=admin.headers)).json()
    starts = [b["start"][:10] for b in listed["items"]]
    assert len(starts) == result["results"][0]["occurrences"] >= 2
    assert min(starts) >= str(datetime.now(UTC).date()), "no dates in the past"
    assert len(starts) < 5, "the term's first Wednesdays are past"
