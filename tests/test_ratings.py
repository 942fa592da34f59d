"""Room ratings on both databases: each rule of rating (range, one per user and room, editing,
taking back, the room's totals), who sees whose, the audit trail, the pushed ``rate_room``,
and rooms and free rooms filtered and sorted by rating."""

from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update
from sqlmodel import col

from compax_server.keys import DATABASE
from compax_server.models import AuditEntry, Room, RoomRating
from sync.permissions import Role
from sync.protocol import SCHEMA_VERSION
from tests.booking_helpers import Campus, at, book, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.support import error_fields, problem_of


async def rate(
    client: TestClient, person: Person, room_id: int, stars: int, comment: str = ""
) -> Any:
    response = await client.put(
        f"/api/v1/rooms/{room_id}/rating",
        json={"stars": stars, "comment": comment},
        headers=person.headers,
    )
    assert response.status == 200, await response.text()
    return await response.json()


async def room(client: TestClient, person: Person, room_id: int) -> Any:
    response = await client.get(f"/api/v1/rooms/{room_id}", headers=person.headers)
    assert response.status == 200, await response.text()
    return await response.json()


async def rating_entries(client: TestClient) -> list[AuditEntry]:
    assert client.app is not None
    async with client.app[DATABASE].read() as session:
        found = await session.execute(
            select(AuditEntry)
            .where(col(AuditEntry.record_type) == "rating")
            .order_by(col(AuditEntry.id))
        )
        return list(found.scalars())


async def totals_and_rows(client: TestClient, room_id: int) -> tuple[tuple[int, int], list[int]]:
    """The room's running totals, and the stars of its rating rows."""
    assert client.app is not None
    async with client.app[DATABASE].read() as session:
        counted = (
            await session.execute(
                select(col(Room.rating_count), col(Room.rating_total)).where(
                    col(Room.id) == room_id
                )
            )
        ).one()
        stars = (
            await session.execute(
                select(col(RoomRating.stars)).where(col(RoomRating.room_id) == room_id)
            )
        ).scalars()
        return (counted[0], counted[1]), sorted(stars)


async def test_a_student_rates_a_room_but_may_not_book_it(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    student = await make_person(Role.STUDENT)
    made = await rate(client, student, campus.room_101, 4, "  Good light  ")
    assert (made["stars"], made["comment"], made["room"], made["mine"]) == (
        4,
        "Good light",
        "PB/101",
        True,
    )
    assert (made["version"], made["user"]) == (1, None)
    monday = next_weekday(0)
    refused = await book(client, student, campus.room_101, at(monday, 9), at(monday, 10))
    assert refused.status == 403
    shown = await room(client, student, campus.room_101)
    assert (shown["rating_average"], shown["rating_count"]) == (4.0, 1)


async def test_stars_and_comment_are_checked_and_a_bad_one_changes_nothing(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    path = f"/api/v1/rooms/{campus.room_101}/rating"
    for body, field in [
        ({"stars": 0}, "stars"),
        ({"stars": 6}, "stars"),
        ({"stars": "four"}, "stars"),
        ({}, "stars"),
        ({"stars": 3, "comment": "x" * 1001}, "comment"),
        ({"stars": 3, "who": "me"}, "who"),
    ]:
        response = await client.put(path, json=body, headers=staff.headers)
        assert field in error_fields(await problem_of(response, 422)), body
    missing = await client.put(
        "/api/v1/rooms/999999/rating", json={"stars": 3}, headers=staff.headers
    )
    assert (await problem_of(missing, 404))["type"].endswith("not-found")
    assert await totals_and_rows(client, campus.room_101) == ((0, 0), [])
    assert await rating_entries(client) == []


async def test_one_rating_per_user_and_room_edited_in_place_and_the_same_again_is_quiet(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF, username="kofi")
    first = await rate(client, staff, campus.room_101, 2, "Cold")
    again = await rate(client, staff, campus.room_101, 2, "Cold")
    assert (again["id"], again["version"]) == (first["id"], 1)
    assert len(await rating_entries(client)) == 1, "the same rating again is no change"
    edited = await rate(client, staff, campus.room_101, 5, "Fixed the heating")
    assert (edited["id"], edited["version"], edited["stars"]) == (first["id"], 2, 5)
    assert await totals_and_rows(client, campus.room_101) == ((1, 5), [5])
    entries = await rating_entries(client)
    assert [(e.action, e.actor_id, e.client) for e in entries] == [
        ("create", staff.id, "api"),
        ("update", staff.id, "api"),
    ]
    before = entries[1].before or {}
    assert {k: before[k] for k in ("stars", "comment", "version")} == {
        "stars": 2,
        "comment": "Cold",
        "version": 1,
    }
    assert entries[0].building_id is not None


async def test_taking_a_rating_back_updates_the_room_and_a_second_time_is_404(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    one, two = await make_person(Role.STAFF), await make_person(Role.STUDENT)
    await rate(client, one, campus.room_101, 5)
    await rate(client, two, campus.room_101, 2)
    assert (await room(client, one, campus.room_101))["rating_average"] == 3.5
    path = f"/api/v1/rooms/{campus.room_101}/rating"
    taken = await client.delete(path, headers=one.headers)
    assert taken.status == 204
    assert await totals_and_rows(client, campus.room_101) == ((1, 2), [2])
    again = await client.delete(path, headers=one.headers)
    await problem_of(again, 404)
    assert [e.action for e in await rating_entries(client)] == ["create", "create", "delete"]


async def test_others_see_comments_but_not_names_and_admins_see_names(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    ama = await make_person(Role.STUDENT, username="ama")
    yaw = await make_person(Role.STAFF, username="yaw")
    await rate(client, ama, campus.room_101, 3, "Noisy")
    await rate(client, yaw, campus.room_101, 4, "Fine")
    path = f"/api/v1/rooms/{campus.room_101}/ratings"
    seen = (await (await client.get(path, headers=ama.headers)).json())["items"]
    assert [(r["comment"], r["mine"], r["user"]) for r in seen] == [
        ("Fine", False, None),
        ("Noisy", True, None),
    ], "newest first, nobody named"
    by_admin = (await (await client.get(path, headers=admin.headers)).json())["items"]
    assert [r["user"] for r in by_admin] == ["yaw", "ama"]
    mine = await (await client.get("/api/v1/me/ratings", headers=yaw.headers)).json()
    assert [(r["room"], r["stars"]) for r in mine["items"]] == [("PB/101", 4)]


async def test_a_buildings_manager_reads_its_audit_trail_without_who_rated(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """Only admins see who rated a room: the rating entries, whose actor is the rater, are
    left out of a building manager's audit trail, filters or not."""
    campus = await make_campus(client, admin)
    manager = await make_person(Role.STAFF, username="pbman")
    room = await (
        await client.get(f"/api/v1/rooms/{campus.room_101}", headers=admin.headers)
    ).json()
    building = room["building_id"]
    granted = await client.put(
        f"/api/v1/buildings/{building}/managers/{manager.id}", headers=admin.headers
    )
    assert granted.status == 200, await granted.text()
    ama = await make_person(Role.STUDENT, username="ama")
    await rate(client, ama, campus.room_101, 2, "Cold")

    async def entries(person: Person, **query: Any) -> list[Any]:
        response = await client.get("/api/v1/audit", params=query, headers=person.headers)
        assert response.status == 200, await response.text()
        return list((await response.json())["items"])

    by_admin = await entries(admin, record_type="rating")
    assert [(e["actor"]["username"], e["building_id"]) for e in by_admin] == [("ama", building)]
    assert await entries(manager, record_type="rating") == []
    assert await entries(manager, actor=ama.id) == []
    assert all(e["record_type"] != "rating" for e in await entries(manager))


async def test_lists_are_paged(client: TestClient, admin: Person, make_person: MakePerson) -> None:
    campus = await make_campus(client, admin)
    people = [await make_person(Role.STUDENT) for _ in range(3)]
    for stars, person in enumerate(people, start=1):
        await rate(client, person, campus.room_101, stars)
    await rate(client, people[0], campus.room_201, 5)
    seen: list[int] = []
    cursor = ""
    for _ in range(4):
        page = await (
            await client.get(
                f"/api/v1/rooms/{campus.room_101}/ratings?limit=2{cursor}", headers=admin.headers
            )
        ).json()
        seen += [r["stars"] for r in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == [3, 2, 1]
    exported = await (await client.get("/api/v1/ratings?limit=3", headers=admin.headers)).json()
    assert [r["rating"] for r in exported["items"]] == [1, 2, 3]
    rest = await client.get(
        f"/api/v1/ratings?cursor={exported['next_cursor']}", headers=admin.headers
    )
    assert [(r["room"], r["user"]) for r in (await rest.json())["items"]] == [
        ("PB/201", people[0].user.username)
    ]
    forged = base64.urlsafe_b64encode(b"at:1:99999999999999").decode()
    for cursor in ("nonsense", forged):
        bad = await client.get(
            f"/api/v1/rooms/{campus.room_101}/ratings?cursor={cursor}", headers=admin.headers
        )
        assert error_fields(await problem_of(bad, 422)) == ["cursor"]


async def test_a_room_not_bookable_may_be_rated(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    made = await rate(client, await make_person(Role.STAFF), campus.closed, 1)
    assert made["room"] == "ENG/2"


async def _rated_campus(client: TestClient, admin: Person, make_person: MakePerson) -> Campus:
    """PB/101 averages 3.5, PB/102 4.5, ENG/1 5.0, PB/201 is unrated."""
    campus = await make_campus(client, admin)
    one, two = await make_person(Role.STUDENT), await make_person(Role.STAFF)
    for room_id, stars in [(campus.room_101, (3, 4)), (campus.room_102, (4, 5))]:
        await rate(client, one, room_id, stars[0])
        await rate(client, two, room_id, stars[1])
    await rate(client, one, campus.eng_1, 5)
    return campus


async def test_the_room_list_filters_and_sorts_by_rating(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    await _rated_campus(client, admin, make_person)

    async def rooms(query: str) -> list[tuple[str, Any]]:
        response = await client.get(f"/api/v1/rooms?{query}", headers=admin.headers)
        assert response.status == 200, await response.text()
        body = await response.json()
        return [(f"{r['building']}/{r['code']}", r["rating_average"]) for r in body["items"]]

    assert await rooms("min_rating=4.5") == [("PB/102", 4.5), ("ENG/1", 5.0)]
    assert await rooms("sort=rating") == [
        ("ENG/1", 5.0),
        ("PB/102", 4.5),
        ("PB/101", 3.5),
        ("PB/201", None),
        ("ENG/2", None),
    ]
    first = await (
        await client.get("/api/v1/rooms?sort=rating&limit=3", headers=admin.headers)
    ).json()
    rest = await client.get(
        f"/api/v1/rooms?sort=rating&limit=3&cursor={first['next_cursor']}", headers=admin.headers
    )
    assert [r["code"] for r in (await rest.json())["items"]] == ["201", "2"]
    forged = base64.urlsafe_b64encode(b"rating:1:99999999999").decode()
    for bad, field in [
        ("min_rating=6", "min_rating"),
        ("min_rating=4.25", "min_rating"),
        ("sort=capacity", "sort"),
        (f"sort=rating&cursor={forged}", "cursor"),
    ]:
        response = await client.get(f"/api/v1/rooms?{bad}", headers=admin.headers)
        assert error_fields(await problem_of(response, 422)) == [field]


async def test_a_much_rated_room_sorts_without_overflow(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """Thousands of ratings: the scaled average passes 32 bits, on Postgres too."""
    campus = await make_campus(client, admin)
    assert client.app is not None
    async with client.app[DATABASE].write() as session:
        for room_id, count, total in [
            (campus.room_101, 5000, 24_000),
            (campus.room_102, 900, 4500),
        ]:
            await session.execute(
                update(Room)
                .where(col(Room.id) == room_id)
                .values(rating_count=count, rating_total=total)
            )
    response = await client.get("/api/v1/rooms?sort=rating&limit=2", headers=admin.headers)
    assert response.status == 200, await response.text()
    page = await response.json()
    assert [(r["code"], r["rating_average"]) for r in page["items"]] == [("102", 5.0), ("101", 4.8)]
    rest = await client.get(
        f"/api/v1/rooms?sort=rating&cursor={page['next_cursor']}", headers=admin.headers
    )
    assert rest.status == 200, await rest.text()


async def test_free_rooms_filter_and_sort_by_rating(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await _rated_campus(client, admin, make_person)
    monday = next_weekday(0)
    await book(client, admin, campus.eng_1, at(monday, 10), at(monday, 11))
    window = f"start={quote(at(monday, 10))}&end={quote(at(monday, 11))}"

    async def free(query: str) -> list[tuple[str, Any, int]]:
        response = await client.get(f"/api/v1/rooms/free?{window}&{query}", headers=admin.headers)
        assert response.status == 200, await response.text()
        return [
            (r["room"], r["rating_average"], r["rating_count"])
            for r in (await response.json())["items"]
        ]

    assert await free("sort=rating") == [
        ("PB/102", 4.5, 2),
        ("PB/101", 3.5, 2),
        ("PB/201", None, 0),
    ]
    assert await free("min_rating=4") == [("PB/102", 4.5, 2)]
    first = await client.get(
        f"/api/v1/rooms/free?{window}&sort=rating&limit=1", headers=admin.headers
    )
    cursor = (await first.json())["next_cursor"]
    second = await free(f"sort=rating&limit=1&cursor={cursor}")
    assert second == [("PB/101", 3.5, 2)]
    # Sorted by rating, free rooms still carry their count of unresolved reports.
    reported = await client.post(
        "/api/v1/issues",
        json={"room_id": campus.room_101, "summary": "The projector is dead"},
        headers=admin.headers,
    )
    assert reported.status == 201, await reported.text()
    response = await client.get(f"/api/v1/rooms/free?{window}&sort=rating", headers=admin.headers)
    assert response.status == 200, await response.text()
    counts = {r["room"]: r["open_issues"] for r in (await response.json())["items"]}
    assert counts == {"PB/102": 0, "PB/101": 1, "PB/201": 0}


async def test_a_rating_reaches_the_replicas_without_bumping_the_room_version(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    pulled = await (await client.get("/api/v1/sync/pull", headers=admin.headers)).json()
    await rate(client, await make_person(Role.STUDENT), campus.room_101, 4)
    changes = await (
        await client.get(f"/api/v1/sync/pull?cursor={pulled['cursor']}", headers=admin.headers)
    ).json()
    rooms = [c["row"] for c in changes["changes"] if c["table"] == "rooms"]
    assert [(r["id"], r["rating_average"], r["rating_count"], r["version"]) for r in rooms] == [
        (campus.room_101, 4.0, 1, 1)
    ]
    edited = await client.patch(
        f"/api/v1/rooms/{campus.room_101}",
        json={"name": "Seminar"},
        headers={**admin.headers, "If-Match": '"1"'},
    )
    assert edited.status == 200, "an admin's edit does not conflict with the raters"


async def _push(client: TestClient, person: Person, client_id: str, mutations: list[Any]) -> Any:
    body = {"client_id": client_id, "schema_version": SCHEMA_VERSION, "mutations": mutations}
    response = await client.post("/api/v1/sync/push", json=body, headers=person.headers)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_a_pushed_rating_is_applied_once_and_can_be_taken_back(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    student = await make_person(Role.STUDENT)
    client_id = str(uuid.uuid4())
    registered = await client.post(
        "/api/v1/sync/clients", json={"client_id": client_id}, headers=student.headers
    )
    assert registered.status == 200
    rated = {"mid": 1, "op": "rate_room", "args": {"room_id": campus.room_101, "stars": 3}}
    first = await _push(client, student, client_id, [rated])
    assert first["results"][0]["status"] == "applied", first
    replay = await _push(client, student, client_id, [rated])
    assert replay["results"] == first["results"]
    assert await totals_and_rows(client, campus.room_101) == ((1, 3), [3])
    bad = {"mid": 2, "op": "rate_room", "args": {"room_id": campus.room_101, "stars": 9}}
    starless = {"mid": 3, "op": "rate_room", "args": {"room_id": campus.room_101}}
    taken = {"mid": 4, "op": "rate_room", "args": {"room_id": campus.room_101, "delete": True}}
    answer = await _push(client, student, client_id, [bad, starless, taken])
    assert [r["status"] for r in answer["results"]] == ["rejected", "rejected", "applied"]
    for refused in answer["results"][:2]:
        assert "args.stars" in error_fields(refused["problem"])
    assert await totals_and_rows(client, campus.room_101) == ((0, 0), [])
    clients = {e.client for e in await rating_entries(client)}
    assert clients == {"sync:api"}


async def _import(client: TestClient, admin: Person, rows: list[Any], dry_run: bool = False) -> Any:
    response = await client.post(
        f"/api/v1/ratings:bulk?dry_run={str(dry_run).lower()}",
        json={"rows": rows},
        headers=admin.headers,
    )
    assert response.status == 200, await response.text()
    return await response.json()


async def test_an_import_twice_changes_nothing_and_an_export_imports_unchanged(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    await make_person(Role.STUDENT, username="esi")
    rows = [
        {"room": "pb/101", "rating": 4, "comment": "Good"},
        {"room": "PB/101", "rating": 4, "comment": "Good"},
        {"room": "PB/101", "rating": 2, "external_id": "finder-17"},
        {"room": "PB/101", "rating": 5, "user": "esi"},
        {"room": "PB/999", "rating": 3},
        {"room": "PB/101", "rating": 6},
        {"room": "PB/101", "rating": 3, "user": "nobody"},
    ]
    dry = await _import(client, admin, rows, dry_run=True)
    assert dry["summary"]["created"] == 4
    assert await totals_and_rows(client, campus.room_101) == ((0, 0), [])
    first = await _import(client, admin, rows)
    assert [r["status"] for r in first["results"]] == ["created"] * 4 + ["rejected"] * 3
    assert [r["errors"][0]["field"] for r in first["results"][4:]] == ["room", "rating", "user"]
    assert await totals_and_rows(client, campus.room_101) == ((4, 15), [2, 4, 4, 5])
    again = await _import(client, admin, rows[:4])
    assert [r["status"] for r in again["results"]] == ["unchanged"] * 4

    exported = await (await client.get("/api/v1/ratings", headers=admin.headers)).json()
    back = [
        {k: r[k] for k in ("room", "rating", "comment", "user", "external_id") if r[k] is not None}
        for r in exported["items"]
    ]
    assert [r.get("user") for r in back] == [None, None, None, "esi"]
    reimported = await _import(client, admin, back)
    assert [r["status"] for r in reimported["results"]] == ["unchanged"] * 4
    assert await totals_and_rows(client, campus.room_101) == ((4, 15), [2, 4, 4, 5])
    imports = [e for e in await rating_entries(client) if e.action == "import"]
    assert len(imports) == 3, "one import entry per request; the dry run's is rolled back"
