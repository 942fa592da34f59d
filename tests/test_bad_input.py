"""Bad input never reaches a 500: each family of it is a 4xx problem that names the field at
fault and changes nothing, on both databases."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from compax_server.api import MAX_INT_DIGITS, MAX_JSON_DEPTH
from sync.protocol import SCHEMA_VERSION
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import Person
from tests.support import problem_of

#: Integers just past Postgres' ``integer`` and SQLite's (and Postgres') ``bigint``.
BEYOND_INT32, BEYOND_INT64 = 2**31, 2**63
#: An integer literal Python itself refuses to convert (over 4,300 digits).
HUGE = "9" * 5000
#: Instants written outside the years 1970 to 9000: offsets that overflow on conversion to
#: UTC, the first and last years Python has, the first instant past each end, and one whose
#: UTC year would be allowed.
BAD_INSTANTS = (
    "0001-01-01T00:30:00+01:00",
    "9999-12-31T23:30:00-01:00",
    "0001-06-01T10:00:00Z",
    "9999-06-01T10:00:00Z",
    "1969-12-31T23:59:59Z",
    "9001-01-01T00:00:00Z",
    "9001-01-01T00:30:00+01:00",
)


@dataclass(frozen=True)
class World:
    """A campus with one booking and one registered sync client, all the admin's."""

    admin: Person
    room: int
    booking: str
    client_id: str
    day: Any

    def at(self, hour: int) -> str:
        return at(self.day, hour)


@dataclass(frozen=True)
class Bad:
    """One bad request and the answer it must get: ``status``, and the field named in the
    problem's ``errors`` (``None`` for a path naming no record, a 404)."""

    method: str
    path: str
    status: int
    field: str | None
    json: Any = None
    data: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        sent = self.params or self.json or self.headers or (self.data or "")[:60]
        return f"{self.method} {self.path[:60]} {str(sent)[:160]}"


def get(path: str, field: str | None, params: dict[str, str] | None = None) -> Bad:
    return Bad("GET", path, 404 if field is None else 422, field, params=params or {})


def send(
    method: str,
    path: str,
    field: str | None,
    body: Any = None,
    *,
    raw: str | None = None,
    version: str | None = None,
    status: int = 422,
) -> Bad:
    """A request with a JSON body (``raw`` if given, sent as written) and ``If-Match``."""
    headers = {} if version is None else {"If-Match": version}
    return Bad(method, path, status, field, json=body, data=raw, headers=headers)


@pytest.fixture
async def world(client: TestClient, admin: Person) -> World:
    campus = await make_campus(client, admin)
    day = next_weekday(1)
    made = await book(client, admin, campus.room_101, at(day, 9), at(day, 10))
    assert made.status == 201, await made.text()
    client_id = str(uuid.uuid4())
    registered = await client.post(
        "/api/v1/sync/clients", json={"client_id": client_id}, headers=admin.headers
    )
    assert registered.status == 200, await registered.text()
    return World(admin, campus.room_101, (await made.json())["id"], client_id, day)


def _push(w: World, *mutations: dict[str, Any]) -> dict[str, Any]:
    return {"client_id": w.client_id, "schema_version": SCHEMA_VERSION, "mutations": mutations}


def _booking(w: World, **fields: Any) -> dict[str, Any]:
    return {"room_id": w.room, "start": w.at(11), "end": w.at(12), "title": "Seminar", **fields}


def _series(w: World, **fields: Any) -> dict[str, Any]:
    first = w.day.isoformat()
    return {
        "room_id": w.room,
        "title": "MATH 101",
        "weekdays": ["tue"],
        "first_day": first,
        "last_day": first,
        "start_time": "13:00",
        "end_time": "14:00",
        **fields,
    }


def _nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


def _raw_object(**members: str) -> str:
    """A JSON object whose members' values are written out as given, unparsed."""
    return "{" + ", ".join(f'"{name}": {value}' for name, value in members.items()) + "}"


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def nulls_in_a_patch(w: World) -> list[Bad]:
    patch = f"/api/v1/bookings/{w.booking}"
    return [
        send("PATCH", patch, name, {name: None}, version='"1"')
        for name in ("start", "end", "room_id")
    ]


def ids_beyond_the_columns(w: World) -> list[Bad]:
    patch, cases = f"/api/v1/bookings/{w.booking}", []
    for big in (BEYOND_INT32, BEYOND_INT64):
        cancel = {"mid": big, "op": "cancel_booking", "args": {"id": w.booking}}
        closure = {"room_id": big, "start": w.at(18), "end": w.at(19), "reason": "Paint"}
        cases += [
            send("POST", "/api/v1/bookings", "room_id", _booking(w, room_id=big)),
            send("PATCH", patch, "room_id", {"room_id": big}, version='"1"'),
            send("POST", "/api/v1/series", "room_id", _series(w, room_id=big)),
            send("POST", "/api/v1/series", "term_id", _series(w, term_id=big)),
            send("POST", "/api/v1/blackouts", "room_id", closure),
            send("POST", "/api/v1/sync/push", "mutations[0].mid", _push(w, cancel)),
            get("/api/v1/bookings", "room_id", {"room_id": str(big)}),
            get("/api/v1/blackouts", "room_id", {"room_id": str(big)}),
        ]
    return [*cases, get("/api/v1/sync/pull", "cursor", {"cursor": str(BEYOND_INT64)})]


def path_ids(w: World) -> list[Bad]:
    window, cases = {"from": w.at(0), "to": w.at(23)}, []
    for raw in (str(BEYOND_INT32), str(BEYOND_INT64), HUGE, "²", "٣", "0", "-1"):
        cases += [
            get(f"/api/v1/rooms/{raw}", None),
            get(f"/api/v1/users/{raw}", None),
            get(f"/api/v1/rooms/{raw}/availability", None, window),
            get(f"/api/v1/rooms/{raw}/calendar.ics", None),
            get(f"/api/v1/terms/{raw}/timetable", None),
            send("PATCH", f"/api/v1/buildings/{raw}", None, {}, version='"1"', status=404),
            send("DELETE", f"/api/v1/blackouts/{raw}", None, status=404),
        ]
    return cases


def instants_out_of_range(w: World) -> list[Bad]:
    start, end, cases = w.at(11), w.at(12), []
    for bad in BAD_INSTANTS:
        closure = {"room_id": w.room, "start": start, "end": bad, "reason": "Paint"}
        cases += [
            send("POST", "/api/v1/bookings", "start", _booking(w, start=bad)),
            send("PATCH", f"/api/v1/bookings/{w.booking}", "start", {"start": bad}, version='"1"'),
            send("POST", "/api/v1/blackouts", "end", closure),
            get("/api/v1/bookings", "from", {"from": bad}),
            get("/api/v1/blackouts", "to", {"to": bad}),
            get(f"/api/v1/rooms/{w.room}/availability", "from", {"from": bad, "to": end}),
            get("/api/v1/buildings/PB/availability", "to", {"from": start, "to": bad}),
            get("/api/v1/rooms/free", "start", {"start": bad, "end": end}),
            get("/api/v1/reports/utilisation", "from", {"from": bad, "to": end}),
        ]
    return cases


def days_out_of_range(w: World) -> list[Bad]:
    return [
        send("POST", "/api/v1/series", name, _series(w, **{name.split("[")[0]: value}))
        for bad in ("0001-01-01", "1969-12-31", "9001-01-01", "9999-12-31")
        for name, value in (("first_day", bad), ("last_day", bad), ("exceptions[0]", [bad]))
    ]


def cursors_never_handed_out(w: World) -> list[Bad]:
    overflowing = _cursor(f"9999-12-31T23:59:59-14:00|{uuid.uuid4()}")
    naive = _cursor(f"2026-01-01T00:00:00|{uuid.uuid4()}")
    return [
        *(
            get(f"/api/v1/{kind}", "cursor", {"cursor": "é"})
            for kind in ("rooms", "users", "blackouts", "bookings")
        ),
        get("/api/v1/buildings", "cursor", {"cursor": _cursor("id:²")}),
        get("/api/v1/rooms", "cursor", {"cursor": _cursor("id:0")}),
        get("/api/v1/bookings", "cursor", {"cursor": overflowing}),
        get("/api/v1/bookings", "cursor", {"cursor": naive}),
    ]


def codes_that_name_no_building(w: World) -> list[Bad]:
    """Every filter by building takes a building code or names ``building``."""
    window = {"start": w.at(11), "end": w.at(12)}
    span = {"from": w.at(11), "to": w.at(12)}
    return [
        get(path, "building", {**params, "building": code})
        for code in ("_", "-", "é", "P B")
        for path, params in (
            ("/api/v1/rooms/free", window),
            ("/api/v1/bookings", {}),
            ("/api/v1/blackouts", {}),
            ("/api/v1/reports/utilisation", span),
        )
    ]


def deep_json(w: World) -> list[Bad]:
    push = json.dumps(_push(w, {"mid": 1, "op": "create_booking", "args": {}}))
    deep_push = push.replace('"args": {}', f'"args": {_raw_object(title=_nested(300))}')
    deep_objects = '{"a": ' * 300 + "1" + "}" * 300
    return [
        send("POST", "/api/v1/bookings", "title", raw=_raw_object(title=_nested(300))),
        send("POST", "/api/v1/bookings", "title", raw=_raw_object(title=deep_objects)),
        send(
            "POST", "/api/v1/bookings", "body", raw=_raw_object(title=_nested(100_000)), status=400
        ),
        send("POST", "/api/v1/sync/push", "mutations[0].args.title", raw=deep_push),
        send(
            "POST",
            "/api/v1/rooms:bulk",
            "rows[0].code",
            raw=_raw_object(rows=f"[{_raw_object(code=_nested(300))}]"),
        ),
    ]


def long_numbers(w: World) -> list[Bad]:
    body, patch = json.dumps(_booking(w)), f"/api/v1/bookings/{w.booking}"
    push = json.dumps(_push(w, {"mid": 1, "op": "cancel_booking", "args": {}}))
    return [
        send(
            "POST",
            "/api/v1/bookings",
            "room_id",
            raw=body.replace(f'"room_id": {w.room}', f'"room_id": {HUGE}'),
        ),
        send("POST", "/api/v1/bookings", "attendees", raw=body[:-1] + f', "attendees": -{HUGE}}}'),
        send(
            "POST",
            "/api/v1/sync/push",
            "mutations[0].mid",
            raw=push.replace('"mid": 1', f'"mid": {HUGE}'),
        ),
        get("/api/v1/bookings", "room_id", {"room_id": HUGE}),
        get("/api/v1/sync/pull", "cursor", {"cursor": HUGE}),
        *(
            send("PATCH", patch, "If-Match", {"title": "X"}, version=version, status=400)
            for version in (HUGE, f'"{HUGE}"', f'"{BEYOND_INT32}"', '"²"', '"1234567890"')
        ),
    ]


FAMILIES: dict[str, Callable[[World], list[Bad]]] = {
    family.__name__: family
    for family in (
        nulls_in_a_patch,
        ids_beyond_the_columns,
        path_ids,
        instants_out_of_range,
        days_out_of_range,
        cursors_never_handed_out,
        codes_that_name_no_building,
        deep_json,
        long_numbers,
    )
}


async def _state(client: TestClient, w: World) -> tuple[int, int]:
    """The change log's cursor and the sync client's last mutation: any write moves one."""
    response = await client.get(
        "/api/v1/sync/pull",
        params={"cursor": "0", "limit": "5000", "client_id": w.client_id},
        headers=w.admin.headers,
    )
    assert response.status == 200, await response.text()
    page = await response.json()
    assert not page["has_more"]
    return page["cursor"], page["last_mutation_id"]


def _named(problem: dict[str, Any]) -> list[str]:
    return [error["field"] for error in problem.get("errors", [])]


def _names(named: list[str], expected: str) -> bool:
    """Whether ``expected`` is among the fields named, or holds one (``title[0][0]…``)."""
    return any(
        name == expected or name.startswith((f"{expected}[", f"{expected}.")) for name in named
    )


@pytest.mark.parametrize("family", FAMILIES)
async def test_bad_input_is_a_problem_naming_the_field(
    client: TestClient, world: World, family: str
) -> None:
    """Every request of the family answers its 4xx problem, names its field (a bad path id:
    no such record), carries no ``Server`` header, and leaves the data as it was."""
    before = await _state(client, world)
    for bad in FAMILIES[family](world):
        headers = {**world.admin.headers, **bad.headers}
        if bad.data is not None:
            headers["Content-Type"] = "application/json"
        response = await client.request(
            bad.method, bad.path, json=bad.json, data=bad.data, params=bad.params, headers=headers
        )
        try:
            problem = await problem_of(response, bad.status)
        except AssertionError as failed:
            raise AssertionError(f"{bad.label}: {failed}") from None
        if bad.field is None:
            assert problem["type"] == "not-found", (bad.label, problem)
        else:
            assert _names(_named(problem), bad.field), (bad.label, problem)
        assert "Server" not in response.headers, bad.label
        assert await _state(client, world) == before, f"{bad.label} changed something"


async def test_the_limits_take_their_edges(client: TestClient, world: World) -> None:
    """The last values inside each limit pass the edge: what answers them is the record or
    rule they meet, not a refusal of the value."""
    headers = world.admin.headers
    span = {"from": "1970-01-01T00:00:00Z", "to": "9000-12-31T23:59:59.999999Z"}
    listed = await client.get("/api/v1/bookings", params=span, headers=headers)
    assert [b["id"] for b in (await listed.json())["items"]] == [world.booking]
    missing = await client.get(f"/api/v1/rooms/{BEYOND_INT32 - 1}", headers=headers)
    assert (await problem_of(missing, 404))["detail"] == f"No room with id {BEYOND_INT32 - 1}"
    for version in ('"999999999"', '"0"', 'W/"0"', "0"):
        stale = await client.patch(
            f"/api/v1/bookings/{world.booking}",
            json={"title": "X"},
            headers={**headers, "If-Match": version},
        )
        await problem_of(stale, 412)
    first = await client.post(
        "/api/v1/series",
        json=_series(world, first_day="1970-01-01", last_day="1970-01-01", weekdays=["thu"]),
        headers=headers,
    )
    assert (await problem_of(first, 409))["type"] == "series-conflict"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_raw_object(title=_nested(MAX_JSON_DEPTH - 1)), "Input should be a valid string"),
        (_raw_object(title=_nested(MAX_JSON_DEPTH)), f"more than {MAX_JSON_DEPTH} levels"),
        (_raw_object(room_id="9" * MAX_INT_DIGITS), "less than or equal to 2147483647"),
        (_raw_object(room_id="9" * (MAX_INT_DIGITS + 1)), f"at most {MAX_INT_DIGITS} digits"),
    ],
)
async def test_body_limits_fall_between_depths_and_digits(
    client: TestClient, admin: Person, raw: str, message: str
) -> None:
    """A body nested ``MAX_JSON_DEPTH`` levels, or holding an integer of ``MAX_INT_DIGITS``
    digits, reaches the schema; one more level or digit is refused before it."""
    response = await client.post(
        "/api/v1/bookings",
        data=raw,
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    problem = await problem_of(response, 422)
    field = "title" if "title" in raw else "room_id"
    messages = [e["message"] for e in problem["errors"] if e["field"].split("[")[0] == field]
    assert len(messages) == 1, problem
    assert message in messages[0], problem


async def test_the_openapi_document_states_the_limits(client: TestClient) -> None:
    """Ids (path ids too), instants and days carry their limits in the document, and a
    conditional request lists the 400 a bad ``If-Match`` gets, so clients can keep inside."""
    spec = await (await client.get("/api/v1/openapi.json")).json()
    room = spec["paths"]["/api/v1/rooms/{id}"]["get"]["parameters"][0]["schema"]
    assert room == {"type": "integer", "minimum": 1, "maximum": BEYOND_INT32 - 1}
    assert "400" in spec["paths"]["/api/v1/bookings/{booking_id}"]["delete"]["responses"]
    bodies = spec["components"]["requestBodies"]
    booking = bodies["BookingCreate"]["content"]["application/json"]["schema"]["properties"]
    assert (booking["room_id"]["minimum"], booking["room_id"]["maximum"]) == (1, BEYOND_INT32 - 1)
    series = bodies["SeriesCreate"]["content"]["application/json"]["schema"]["properties"]
    for schema in (booking["start"], series["first_day"]):
        years = re.compile(schema["pattern"])
        assert years.match("1970-01-01") and years.match("9000-12-31T23:00:00-02:00")
        assert not years.match("1969-12-31") and not years.match("9001-01-01")
        assert not years.match("0001-01-01") and not years.match("99999-01-01")
