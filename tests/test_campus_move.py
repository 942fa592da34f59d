"""Moving a campus to a new server with real processes: ``compax export campus`` from server A
(a seeded campus with a timetable whose series has a moved and a cancelled occurrence, a
private booking and blackouts), ``compax import campus`` into an empty server B, and every
record compared; a new user signs in on B with the password the import generated."""

from __future__ import annotations

import csv
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from compax_server.app import create_app
from compax_server.keys import ACCESS_TOKENS, DATABASE, PASSWORDS
from compax_server.models import Booking
from compax_server.services.users import access_token, create_user
from sync.campus_move import _json_lines, _manifest
from sync.errors import ValidationFailed
from sync.permissions import Role
from sync.schemas import UserCreate
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import (
    PASSWORD,
    AiohttpClient,
    MakePerson,
    Person,
    make_settings,
    migrated_postgres_database,
)
from tests.servers import ServerProcess
from tests.support import sign_in, with_version
from tests.test_cli import Cli

pytestmark = pytest.mark.slow


@pytest.fixture
def second_database_url(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> Iterator[str]:
    """An empty, migrated database of the same kind as ``database_url``: server B's."""
    if database_url.startswith("sqlite"):
        path = tmp_path / "b.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server_url = request.getfixturevalue("postgres_server_url")
    with migrated_postgres_database(server_url, "compax_test_b") as url:
        yield url


@pytest.fixture
async def client_b(
    aiohttp_client: AiohttpClient, second_database_url: str, tmp_path: Path
) -> TestClient:
    return await aiohttp_client(create_app(make_settings(second_database_url, tmp_path / "b")))


async def _root_on(client: TestClient) -> Person:
    """The administrator ``root`` made directly in the database ``client``'s app serves."""
    app = client.app
    assert app is not None
    data = UserCreate(username="root", password=PASSWORD, role=Role.ADMIN)
    async with app[DATABASE].write() as session:
        user = await create_user(session, data, await app[PASSWORDS].hash(PASSWORD))
    return Person(user=user, token=access_token(app[ACCESS_TOKENS], user).token)


async def _seed(client: TestClient, admin: Person, make_person: MakePerson) -> dict[str, Any]:
    """A campus with a term and holiday, a timetable, a moved and a cancelled occurrence, a
    private booking, a cancelled single booking, and blackouts of a room and a building."""
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF, username="ama", full_name="Ama Mensah")
    first = next_weekday(0)
    last = next_weekday(4, weeks_ahead=5)
    term = await client.post(
        "/api/v1/terms",
        json={
            "name": "Term 1",
            "first_day": str(first),
            "last_day": str(last),
            "holidays": [{"name": "Break", "first_day": str(first), "last_day": str(first)}],
        },
        headers=admin.headers,
    )
    assert term.status == 201, await term.text()
    timetable = await client.post(
        f"/api/v1/terms/{(await term.json())['id']}/timetable",
        json={
            "rows": [
                {
                    "course_code": "MATH101",
                    "course_name": "Calculus",
                    "weekday": "tue",
                    "start": "08:00",
                    "end": "10:00",
                    "building": "PB",
                    "room": "101",
                },
            ]
        },
        headers=admin.headers,
    )
    assert timetable.status == 200, await timetable.text()
    [row] = (await timetable.json())["results"]
    series_id = row["series_id"]
    occurrences = await _items(client, admin, "bookings", series_id=series_id)
    assert len(occurrences) >= 3
    moved, cancelled = occurrences[1], occurrences[2]
    day = next_weekday(2, weeks_ahead=3)
    changed = await client.patch(
        f"/api/v1/bookings/{moved['id']}",
        json={"start": at(day, 14), "end": at(day, 16), "room_id": campus.room_102},
        headers=with_version(admin.headers, moved["version"]),
    )
    assert changed.status == 200, await changed.text()
    gone = await client.delete(
        f"/api/v1/bookings/{cancelled['id']}",
        headers=with_version(admin.headers, cancelled["version"]),
    )
    assert gone.status in (200, 204), await gone.text()
    secret = await book(
        client, staff, campus.room_201, at(day, 9), at(day, 10), private=True, notes="interviews"
    )
    assert secret.status == 201, await secret.text()
    await _into_the_past(client, (await secret.json())["id"])
    dropped = await book(client, staff, campus.room_201, at(day, 11), at(day, 12))
    dropped_view = await dropped.json()
    undone = await client.delete(
        f"/api/v1/bookings/{dropped_view['id']}",
        headers=with_version(staff.headers, dropped_view["version"]),
    )
    assert undone.status in (200, 204), await undone.text()
    for target in ({"room_id": campus.room_101}, {"building": "ENG"}):
        closed = await client.post(
            "/api/v1/blackouts",
            json={**target, "start": at(day, 18), "end": at(day, 20), "reason": "Wiring"},
            headers=admin.headers,
        )
        assert closed.status == 201, await closed.text()
    return {
        "series_id": series_id,
        "moved": moved["id"],
        "cancelled": cancelled["id"],
        "now": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


async def _into_the_past(client: TestClient, booking_id: str) -> None:
    """Move a booking a year back, as one made long ago (the API books no past times)."""
    app = client.app
    assert app is not None
    async with app[DATABASE].write() as session:
        booking = await session.get(Booking, uuid.UUID(booking_id))
        assert booking is not None
        booking.start -= timedelta(days=365)
        booking.end -= timedelta(days=365)


async def _items(client: TestClient, person: Person, plural: str, **params: Any) -> list[Any]:
    """Every item of a list endpoint, following its pages."""
    items: list[Any] = []
    query = {"limit": "500", **params}
    while True:
        response = await client.get(f"/api/v1/{plural}", params=query, headers=person.headers)
        assert response.status == 200, await response.text()
        page = await response.json()
        items.extend(page["items"])
        if not page["next_cursor"]:
            return items
        query["cursor"] = page["next_cursor"]


async def _everything(client: TestClient, admin: Person) -> dict[str, Any]:
    """Every record of the campus, without what differs between servers by design: database
    ids of campus records, versions and times of writing."""
    rooms = {r["id"]: f"{r['building']}/{r['code']}" for r in await _items(client, admin, "rooms")}
    buildings = {b["id"]: b["code"] for b in await _items(client, admin, "buildings")}
    owners = {u["id"]: u["username"] for u in await _items(client, admin, "users")}
    local = {"id", "version", "building_id", "created_at", "updated_at", "room_id", "owner_id"}

    def plain(item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if k not in local}

    def booking(item: dict[str, Any]) -> dict[str, Any]:
        return {**plain(item), "id": item["id"], "owner": owners[item["owner_id"]]}

    bookings = [
        *await _items(client, admin, "bookings", status="confirmed"),
        *await _items(client, admin, "bookings", status="cancelled"),
    ]
    return {
        "buildings": sorted(map(plain, await _items(client, admin, "buildings")), key=str),
        "rooms": sorted(map(plain, await _items(client, admin, "rooms")), key=str),
        "users": sorted(map(plain, await _items(client, admin, "users")), key=str),
        "terms": sorted(map(plain, await _items(client, admin, "terms")), key=str),
        "series": await _items(client, admin, "series"),
        "bookings": sorted(map(booking, bookings), key=lambda b: b["id"]),
        "blackouts": sorted(
            (
                str(rooms.get(b["room_id"])),
                str(buildings.get(b["building_id"])),
                b["start"],
                b["end"],
                b["reason"],
            )
            for b in await _items(client, admin, "blackouts")
        ),
    }


@pytest.fixture
async def servers(
    database_url: str, second_database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[ServerProcess, ServerProcess]]:
    pair = (
        ServerProcess(database_url, tmp_path / "a"),
        ServerProcess(second_database_url, tmp_path / "b"),
    )
    for server in pair:
        (tmp_path / ("a" if server is pair[0] else "b")).mkdir()
        server.start()
    try:
        for server in pair:
            await server.wait_until_healthy()
        yield pair
    finally:
        for server in pair:
            server.stop()


async def _login(cli: Cli, server: ServerProcess) -> None:
    result = await cli(
        "login",
        "--server",
        server.url,
        "--username",
        "root",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output


async def test_a_campus_moves_to_an_empty_server_with_nothing_lost(
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    client_b: TestClient,
    servers: tuple[ServerProcess, ServerProcess],
    tmp_path: Path,
) -> None:
    seeded = await _seed(client, admin, make_person)
    root_b = await _root_on(client_b)
    server_a, server_b = servers
    from_a, into_b = Cli(tmp_path / "cli-a"), Cli(tmp_path / "cli-b")
    await _login(from_a, server_a)
    await _login(into_b, server_b)
    folder, passwords = tmp_path / "campus", tmp_path / "passwords.csv"

    exported = await from_a("export", "campus", str(folder))
    assert exported.exit_code == 0, exported.output
    imported = await into_b("import", "campus", str(folder), "--passwords", str(passwords))
    assert imported.exit_code == 0, imported.output

    before, after = await _everything(client, admin), await _everything(client_b, root_b)
    for name in before:
        assert after[name] == before[name], name
    [series] = after["series"]
    assert series["id"] == seeded["series_id"]
    by_id = {b["id"]: b for b in after["bookings"]}
    assert by_id[seeded["moved"]]["series_id"] == seeded["series_id"]
    assert by_id[seeded["moved"]]["room"] == "PB/102"
    assert by_id[seeded["cancelled"]]["status"] == "cancelled"
    [secret] = [b for b in after["bookings"] if b["private"]]
    assert secret["notes"] == "interviews"
    assert secret["start"] < seeded["now"]

    with passwords.open() as listed:
        generated = {row["username"]: row["password"] for row in csv.DictReader(listed)}
    assert set(generated) == {"ama"}
    assert (await sign_in(client_b, "ama", generated["ama"])).status == 200
    assert (await sign_in(client_b, "ama", PASSWORD)).status == 401

    again = await into_b("import", "campus", str(folder), "--passwords", str(passwords))
    assert again.exit_code == 0, again.output
    assert await _everything(client_b, root_b) == after


async def test_an_import_into_a_server_of_another_time_zone_is_refused(
    client: TestClient, admin: Person, database_url: str, tmp_path: Path
) -> None:
    """Series are in campus local time, so a folder from another zone changes nothing."""
    folder = tmp_path / "campus"
    folder.mkdir()
    (folder / "campus.json").write_text('{"format": 1, "timezone": "Asia/Tokyo", "files": {}}')
    for name in (
        "buildings",
        "rooms",
        "users",
        "terms",
        "series",
        "bookings-cancelled",
        "bookings",
        "blackouts",
    ):
        (folder / f"{name}.jsonl").write_text('{"code": "PB", "name": "Petroleum"}\n')
    server = ServerProcess(database_url, tmp_path / "a")
    (tmp_path / "a").mkdir()
    server.start()
    try:
        await server.wait_until_healthy()
        cli = Cli(tmp_path / "cli")
        await _login(cli, server)
        refused = await cli("import", "campus", str(folder))
    finally:
        server.stop()
    assert refused.exit_code != 0, refused.output
    assert "timezone" in refused.stderr
    assert await _items(client, admin, "buildings") == []


async def test_a_booking_row_joins_a_series_only_for_an_administrator_and_one_that_exists(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """``series_id`` on a new booking row: an unknown series and a non-administrator are
    refused under ``series_id``, and nothing is booked."""
    seeded = await _seed(client, admin, make_person)
    staff = await make_person(Role.STAFF)
    day = next_weekday(3, weeks_ahead=4)
    row = {"room": "PB/201", "start": at(day, 9), "end": at(day, 10), "title": "Extra"}
    for person, series_id in ((admin, str(uuid.uuid4())), (staff, seeded["series_id"])):
        answer = await client.post(
            "/api/v1/bookings:bulk",
            json={"rows": [{**row, "series_id": series_id}]},
            headers=person.headers,
        )
        [result] = (await answer.json())["results"]
        assert result["status"] == "rejected"
        assert [e["field"] for e in result["errors"]] == ["series_id"]
    made = await client.post(
        "/api/v1/bookings:bulk",
        json={"rows": [{**row, "series_id": seeded["series_id"]}]},
        headers=admin.headers,
    )
    [result] = (await made.json())["results"]
    assert result["status"] == "created"
    view = await client.get(f"/api/v1/bookings/{result['id']}", headers=admin.headers)
    assert (await view.json())["series_id"] == seeded["series_id"]


def test_a_folder_that_is_no_campus_export_is_named_not_a_traceback(tmp_path: Path) -> None:
    """A ``campus.json`` that is no object, and a line that is no JSON object (or is nested
    past what the parser follows), stop the import with the file and line named."""
    (tmp_path / "campus.json").write_text("[]")
    with pytest.raises(ValidationFailed) as not_a_manifest:
        _manifest(tmp_path)
    assert not_a_manifest.value.errors[0].field == "DIR"
    rows = tmp_path / "blackouts.jsonl"
    rows.write_text('{"room": "PB/101"}\n\n' + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ValidationFailed) as deep:
        list(_json_lines(rows))
    assert deep.value.errors[0].message == "blackouts.jsonl, line 3: not one JSON object"
