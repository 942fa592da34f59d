"""Free-room search, availability grids, utilisation and calendar feeds."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from icalendar import Calendar

from sync.permissions import Role
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.support import error_fields, problem_of


def window(start: str, end: str) -> str:
    return f"from={quote(start)}&to={quote(end)}"


async def test_free_rooms_leave_out_booked_closed_and_unfit_rooms(
    client: TestClient, admin: Person
) -> None:
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    await book(client, admin, campus.room_101, at(monday, 10), at(monday, 11))
    await client.post(
        "/api/v1/blackouts",
        json={
            "room_id": campus.eng_1,
            "start": at(monday, 8),
            "end": at(monday, 12),
            "reason": "Paint",
        },
        headers=admin.headers,
    )
    query = f"start={quote(at(monday, 10, 30))}&end={quote(at(monday, 11, 30))}"

    found = await client.get(f"/api/v1/rooms/free?{query}", headers=admin.headers)
    assert found.status == 200, await found.text()
    assert [r["room"] for r in (await found.json())["items"]] == ["PB/201", "PB/102"]

    fitting = await client.get(
        f"/api/v1/rooms/free?{query}&capacity=30&features=projector", headers=admin.headers
    )
    assert [r["room"] for r in (await fitting.json())["items"]] == ["PB/102"]
    sunday = next_weekday(6)
    closed = await client.get(
        f"/api/v1/rooms/free?start={quote(at(sunday, 10))}&end={quote(at(sunday, 11))}",
        headers=admin.headers,
    )
    assert (await closed.json())["items"] == [], "nothing is open on Sunday"


async def test_a_room_grid_shows_busy_free_and_open_time(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)
    await book(client, staff, campus.room_101, at(monday, 10), at(monday, 11), title="Seminar")
    response = await client.get(
        f"/api/v1/rooms/{campus.room_101}/availability?"
        f"{window(at(monday, 0), at(monday + timedelta(days=1), 0))}",
        headers=staff.headers,
    )
    assert response.status == 200, await response.text()
    grid = await response.json()
    assert [(b["kind"], b["booking"]["title"]) for b in grid["busy"]] == [("booking", "Seminar")]
    assert [(f["start"][11:16], f["end"][11:16]) for f in grid["free"]] == [
        ("07:00", "10:00"),
        ("11:00", "22:00"),
    ]
    assert [(o["start"][11:16], o["end"][11:16]) for o in grid["open"]] == [("07:00", "22:00")]


async def test_a_building_grid_covers_every_room_and_its_blackouts(
    client: TestClient, admin: Person
) -> None:
    await make_campus(client, admin)
    monday = next_weekday(0)
    await client.post(
        "/api/v1/blackouts",
        json={
            "building": "ENG",
            "start": at(monday, 8),
            "end": at(monday, 9),
            "reason": "Drill",
        },
        headers=admin.headers,
    )
    response = await client.get(
        f"/api/v1/buildings/eng/availability?{window(at(monday, 0), at(monday, 23))}",
        headers=admin.headers,
    )
    grid = await response.json()
    assert [room["room"] for room in grid["rooms"]] == ["ENG/1", "ENG/2"]
    assert all(room["busy"][0]["blackout"]["reason"] == "Drill" for room in grid["rooms"])
    missing = await client.get(
        f"/api/v1/buildings/NOPE/availability?{window(at(monday, 0), at(monday, 23))}",
        headers=admin.headers,
    )
    assert missing.status == 404
    too_long = await client.get(
        f"/api/v1/buildings/ENG/availability?"
        f"{window(at(monday, 0), at(monday + timedelta(days=40), 0))}",
        headers=admin.headers,
    )
    assert too_long.status == 422
    assert (await too_long.json())["errors"][0]["field"] == "to"


async def test_utilisation_is_booked_over_open_hours(client: TestClient, admin: Person) -> None:
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    await book(client, admin, campus.room_101, at(monday, 9), at(monday, 12))
    response = await client.get(
        f"/api/v1/reports/utilisation?"
        f"{window(at(monday, 0), at(monday + timedelta(days=1), 0))}&building=PB",
        headers=admin.headers,
    )
    report = await response.json()
    rooms = {row["room"]: row for row in report["rooms"]}
    assert rooms["PB/101"]["booked_hours"] == 3.0
    assert rooms["PB/101"]["open_hours"] == 15.0
    assert rooms["PB/101"]["utilisation"] == 0.2
    assert report["buildings"] == [
        {
            "room_id": None,
            "room": None,
            "building": "PB",
            "booked_hours": 3.0,
            "open_hours": 45.0,
            "utilisation": round(3 / 45, 4),
            "released_hours": 0.0,
            "no_show_rate": None,
            "capacity": 120,
            "capacity_unknown": 0,
            "seat_occupancy": 0.0,
        }
    ]


async def test_calendar_feeds_parse_and_a_private_feed_can_be_revoked(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)
    kept = await (
        await book(client, staff, campus.room_101, at(monday, 9), at(monday, 10), title="Tutorial")
    ).json()
    gone = await (await book(client, staff, campus.room_102, at(monday, 9), at(monday, 10))).json()
    await client.delete(
        f"/api/v1/bookings/{gone['id']}", headers={**staff.headers, "If-Match": '"1"'}
    )

    room_feed = await client.get(
        f"/api/v1/rooms/{campus.room_101}/calendar.ics", headers=staff.headers
    )
    assert room_feed.content_type == "text/calendar"
    events = Calendar.from_ical(await room_feed.read()).walk("VEVENT")
    assert [(str(e["summary"]), str(e["uid"])) for e in events] == [
        ("Tutorial", f"{kept['id']}@compax")
    ]

    made = await client.post("/api/v1/me/calendar-feed", headers=staff.headers)
    path = (await made.json())["path"]
    feed = await client.get(path)
    assert feed.status == 200
    statuses = sorted(
        str(e["status"]) for e in Calendar.from_ical(await feed.read()).walk("VEVENT")
    )
    assert statuses == ["CANCELLED", "CONFIRMED"]

    assert (await client.delete("/api/v1/me/calendar-feed", headers=staff.headers)).status == 204
    revoked = await client.get(path)
    assert revoked.status == 404
    assert (await client.get(path.replace(".ics", "x.ics"))).status == 404


async def test_the_free_room_probe_sees_the_booking_that_matters(
    client: TestClient, admin: Person
) -> None:
    """Bookings before the window, after it and cancelled ones leave a room free; one that
    starts inside it, or runs across it, makes it busy."""
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    await book(client, admin, campus.room_201, at(monday, 8), at(monday, 10))
    await book(client, admin, campus.room_201, at(monday, 12), at(monday, 13))
    cancelled = await (
        await book(client, admin, campus.room_201, at(monday, 10), at(monday, 12))
    ).json()
    await client.delete(
        f"/api/v1/bookings/{cancelled['id']}", headers={**admin.headers, "If-Match": '"1"'}
    )
    await book(client, admin, campus.room_102, at(monday, 9), at(monday, 14))
    await book(client, admin, campus.room_101, at(monday, 11, 30), at(monday, 11, 45))

    found = await client.get(
        f"/api/v1/rooms/free?start={quote(at(monday, 10))}&end={quote(at(monday, 12))}&building=PB",
        headers=admin.headers,
    )
    assert [r["room"] for r in (await found.json())["items"]] == ["PB/201"]


async def test_free_rooms_page_with_a_cursor_in_the_same_order(
    client: TestClient, admin: Person
) -> None:
    """Pages of one room each, followed by ``next_cursor``, list the rooms the unpaged search
    lists, in its order, and the last page has no cursor."""
    await make_campus(client, admin)
    monday = next_weekday(0)
    query = f"start={quote(at(monday, 10))}&end={quote(at(monday, 11))}"
    whole = await client.get(f"/api/v1/rooms/free?{query}", headers=admin.headers)
    body = await whole.json()
    assert body["next_cursor"] is None
    expected = [room["room"] for room in body["items"]]
    assert expected == ["PB/201", "PB/101", "ENG/1", "PB/102"]

    seen: list[str] = []
    cursor = ""
    for _ in expected:
        page = await client.get(
            f"/api/v1/rooms/free?{query}&limit=1{cursor}", headers=admin.headers
        )
        assert page.status == 200, await page.text()
        body = await page.json()
        seen += [room["room"] for room in body["items"]]
        cursor = f"&cursor={body['next_cursor']}" if body["next_cursor"] else ""
    assert seen == expected
    assert cursor == "", "the last page has no next_cursor"

    forged = await client.get(f"/api/v1/rooms/free?{query}&cursor=abc", headers=admin.headers)
    assert error_fields(await problem_of(forged, 422)) == ["cursor"]


async def test_repeated_list_parameters_all_count(client: TestClient, admin: Person) -> None:
    """``features=a&features=b`` asks for both, as the document's exploded arrays say; a
    parameter that takes one value, given twice, is refused."""
    campus = await make_campus(client, admin)
    await client.patch(
        f"/api/v1/rooms/{campus.room_102}",
        json={"features": ["projector", "ac"]},
        headers={**admin.headers, "If-Match": '"1"'},
    )
    monday = next_weekday(0)
    query = f"start={quote(at(monday, 10))}&end={quote(at(monday, 11))}"
    for features in ("features=projector&features=ac", "features=projector,ac"):
        free = await client.get(f"/api/v1/rooms/free?{query}&{features}", headers=admin.headers)
        assert [r["room"] for r in (await free.json())["items"]] == ["PB/102"], features
        rooms = await client.get(f"/api/v1/rooms?{features}", headers=admin.headers)
        assert [r["code"] for r in (await rooms.json())["items"]] == ["102"], features

    twice = await client.get(f"/api/v1/rooms/free?{query}&limit=1&limit=2", headers=admin.headers)
    assert error_fields(await problem_of(twice, 422)) == ["limit"]
