"""Every error, on every route, is the same RFC 9457 problem+json envelope."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp import hdrs
from aiohttp.test_utils import TestClient
from pydantic import ValidationError

from compax_server.keys import ENDPOINTS
from compax_server.settings import Settings
from sync.schemas import BookingCreate
from tests.conftest import MakePerson, Person, make_settings
from tests.support import error_fields, problem_of, sign_in, with_version

#: Methods no route registers, so each is a 405 wherever the path exists.
_UNUSED_METHODS = ("PUT", "PATCH", "DELETE", "POST", "GET")


def _concrete(path: str) -> str:
    return re.sub(r"{\w+}", "1", path)


async def test_every_protected_endpoint_answers_401_as_a_problem(client: TestClient) -> None:
    """No token on any non-public endpoint: 401 problem with a Bearer challenge."""
    assert client.app is not None
    protected = [e for e in client.app[ENDPOINTS] if not e.public]
    assert len(protected) > 30
    for endpoint in protected:
        body = {} if endpoint.body is not None else None
        response = await client.request(endpoint.method, _concrete(endpoint.path), json=body)
        problem = await problem_of(response, 401)
        assert problem["type"] == "unauthorized", endpoint.name
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), endpoint.name


async def test_every_path_answers_405_for_a_method_it_lacks(client: TestClient) -> None:
    """Each registered path refuses a method it does not serve, with ``Allow``."""
    assert client.app is not None
    methods: dict[str, set[str]] = {}
    for route in client.app.router.routes():
        if route.method not in (hdrs.METH_HEAD, hdrs.METH_OPTIONS, hdrs.METH_ANY):
            methods.setdefault(route.resource.canonical, set()).add(route.method)
    assert "/health" in methods
    for path, served in methods.items():
        method = next(m for m in _UNUSED_METHODS if m not in served)
        response = await client.request(method, _concrete(path))
        problem = await problem_of(response, 405)
        assert problem["type"] == "method-not-allowed", path
        assert set(response.headers["Allow"].split(",")) >= served, path


@pytest.mark.parametrize("path", ["/nowhere", "/api/v1/nowhere", "/api/v1/rooms/1/nowhere"])
async def test_unknown_path_is_404(client: TestClient, path: str) -> None:
    """Paths no route matches are a problem, not aiohttp's plain-text page."""
    problem = await problem_of(await client.get(path), 404)
    assert problem["type"] == "not-found"


@pytest.mark.parametrize("collection", ["buildings", "rooms", "terms", "users"])
@pytest.mark.parametrize(
    "record_id", ["999", "abc", "-1", "2147483648", "9999999999", "99999999999999999999999"]
)
async def test_unknown_id_is_404(
    client: TestClient, admin: Person, collection: str, record_id: str
) -> None:
    """A record that does not exist, or an id that cannot be one, is 404 for read and change."""
    path = f"/api/v1/{collection}/{record_id}"
    problem = await problem_of(await client.get(path, headers=admin.headers), 404)
    assert problem["type"] == "not-found"
    response = await client.patch(path, json={}, headers=with_version(admin.headers, 1))
    await problem_of(response, 404)
    await problem_of(await client.delete(path, headers=admin.headers), 404)


async def test_forbidden_is_a_problem(client: TestClient, make_person: MakePerson) -> None:
    """A role without the permission gets 403 naming its role."""
    student = await make_person("student")
    response = await client.post("/api/v1/buildings", json={}, headers=student.headers)
    problem = await problem_of(response, 403)
    assert problem["type"] == "forbidden"
    assert "student" in problem["detail"]


class TestBodyLimits:
    """Bodies over ``max_body_bytes`` are 413 on protected and public endpoints alike."""

    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path) -> Settings:
        return make_settings(database_url, tmp_path, max_body_bytes=2048)

    async def test_oversized_body_is_413(self, client: TestClient, admin: Person) -> None:
        """A building whose name pushes the body past the limit is refused and not stored."""
        body = {"code": "BIG", "name": "x" * 4096}
        response = await client.post("/api/v1/buildings", json=body, headers=admin.headers)
        problem = await problem_of(response, 413)
        assert problem["type"] == "payload-too-large"
        listed = await client.get("/api/v1/buildings", headers=admin.headers)
        assert (await listed.json())["items"] == []

    async def test_oversized_sign_in_is_413(self, client: TestClient) -> None:
        """The public sign-in endpoint has the same limit."""
        response = await sign_in(client, "someone", "p" * 4096)
        await problem_of(response, 413)

    async def test_body_under_the_limit_is_accepted(
        self, client: TestClient, admin: Person
    ) -> None:
        """The limit is not a blanket refusal: a body just under it goes through."""
        body = {"code": "OK", "name": "x" * 190}
        response = await client.post("/api/v1/buildings", json=body, headers=admin.headers)
        assert response.status == 201, await response.text()


async def test_non_json_content_type_is_415(client: TestClient, admin: Person) -> None:
    """A body that is not ``application/json`` is 415."""
    response = await client.post(
        "/api/v1/buildings",
        data="code=PB&name=Petroleum",
        headers={**admin.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    problem = await problem_of(response, 415)
    assert problem["type"] == "unsupported-media-type"
    assert "application/json" in problem["detail"]


@pytest.mark.parametrize("raw", [b"{", b"{'code': 'PB'}", b"\xff\xfe", b"[1, 2"])
async def test_malformed_json_is_400(client: TestClient, admin: Person, raw: bytes) -> None:
    """Bytes that are not JSON are a 400 saying so."""
    response = await client.post(
        "/api/v1/buildings",
        data=raw,
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    problem = await problem_of(response, 400)
    assert problem["type"] == "bad-request"
    assert "not valid JSON" in problem["detail"]


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"3", b"null", b""])
async def test_json_that_is_not_an_object_is_422_naming_body(
    client: TestClient, admin: Person, raw: bytes
) -> None:
    """Valid JSON of the wrong kind names the field ``body``."""
    response = await client.post(
        "/api/v1/buildings",
        data=raw,
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    assert error_fields(await problem_of(response, 422)) == ["body"]


async def test_validation_problem_names_every_bad_field(client: TestClient, admin: Person) -> None:
    """Each bad field appears once in ``errors`` with a message; nothing is stored."""
    response = await client.post(
        "/api/v1/rooms",
        json={"building": "P B", "code": "!", "capacity": -1, "floor": "high", "colour": "red"},
        headers=admin.headers,
    )
    problem = await problem_of(response, 422)
    fields = error_fields(problem)
    assert sorted(fields) == ["building", "capacity", "code", "colour", "floor"]
    assert all(isinstance(e["message"], str) and e["message"] for e in problem["errors"])
    assert set(problem["detail"].removeprefix("Invalid value for ").split(", ")) == set(fields)
    colour = next(e for e in problem["errors"] if e["field"] == "colour")
    assert colour["message"] == "is not a field that can be set here"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/buildings", {"code": "PB", "name": "Petro\u0000leum"}, "name"),
        ("/api/v1/auth/token", {"username": "root\u0000", "password": "x"}, "username"),
        (
            "/api/v1/terms",
            {
                "name": "T1",
                "first_day": "2024-01-01",
                "last_day": "2024-02-01",
                "holidays": [
                    {"name": "\u0000", "first_day": "2024-01-02", "last_day": "2024-01-02"}
                ],
            },
            "holidays[0].name",
        ),
    ],
)
async def test_nul_characters_are_refused(
    client: TestClient, admin: Person, path: str, body: dict[str, object], field: str
) -> None:
    """NUL characters, which Postgres cannot store, are a 422 naming the field on every database."""
    response = await client.post(path, json=body, headers=admin.headers)
    assert error_fields(await problem_of(response, 422)) == [field]
    query = await client.get("/api/v1/users?department=a%00b", headers=admin.headers)
    assert error_fields(await problem_of(query, 422)) == ["department"]


def test_the_shared_schemas_refuse_nul_so_the_client_does_too() -> None:
    """The client validates with the same schemas, so a NUL is refused when the change is
    made offline, not when its push reaches the server."""
    with pytest.raises(ValidationError) as refused:
        BookingCreate.model_validate(
            {"room_id": 1, "start": "2027-01-11T10:00:00Z", "end": "2027-01-11T11:00:00Z",
             "title": "MATH\x00101"}
        )  # fmt: skip
    assert [(error["loc"], error["msg"]) for error in refused.value.errors()] == [
        (("title",), "Value error, must not contain NUL characters")
    ]


async def test_missing_required_fields_are_named(client: TestClient, admin: Person) -> None:
    """An empty room names the required fields it lacks (its capacity may be unknown)."""
    response = await client.post("/api/v1/rooms", json={}, headers=admin.headers)
    fields = error_fields(await problem_of(response, 422))
    assert sorted(fields) == ["building", "code"]


async def test_nested_field_errors_have_dotted_paths(client: TestClient, admin: Person) -> None:
    """A bad holiday inside a term is named by its position."""
    response = await client.post(
        "/api/v1/terms",
        json={
            "name": "2024/2025 S1",
            "first_day": "2024-09-01",
            "last_day": "2024-12-20",
            "holidays": [{"name": "Break", "first_day": "2024-10-01", "last_day": "soon"}],
        },
        headers=admin.headers,
    )
    assert error_fields(await problem_of(response, 422)) == ["holidays[0].last_day"]


async def test_bodies_take_json_types_as_the_document_gives_them(
    client: TestClient, admin: Person
) -> None:
    """A whole number written ``40.0`` is an integer (JSON Schema says so); ``0`` is not
    ``false``, a number is not a text, and ``40.5`` is not an integer."""
    building = {"code": "PB", "name": "Petroleum"}
    made = await client.post("/api/v1/buildings", json=building, headers=admin.headers)
    assert made.status == 201, await made.text()
    room = {"building": "PB", "code": "101", "kind": "classroom", "capacity": 40.0}
    made = await client.post("/api/v1/rooms", json=room, headers=admin.headers)
    assert made.status == 201, await made.text()
    assert (await made.json())["capacity"] == 40
    for field, value in (("capacity", 40.5), ("bookable", 0), ("name", 7), ("capacity", "40")):
        refused = await client.post(
            "/api/v1/rooms", json={**room, "code": "102", field: value}, headers=admin.headers
        )
        assert error_fields(await problem_of(refused, 422)) == [field], (field, value)


async def test_bad_query_parameters_are_422(client: TestClient, admin: Person) -> None:
    """Query strings are validated like bodies, naming each bad parameter."""
    response = await client.get(
        "/api/v1/rooms?capacity=-1&limit=0&colour=red", headers=admin.headers
    )
    fields = error_fields(await problem_of(response, 422))
    assert sorted(fields) == ["capacity", "colour", "limit"]


async def test_patch_without_if_match_is_428_and_stale_is_412(
    client: TestClient, admin: Person
) -> None:
    """Conditional updates: 428 when If-Match is missing, 412 with the current row when stale."""
    created = await client.post(
        "/api/v1/buildings", json={"code": "PB", "name": "Petroleum"}, headers=admin.headers
    )
    building = await created.json()
    path = f"/api/v1/buildings/{building['id']}"
    missing = await client.patch(path, json={"name": "New"}, headers=admin.headers)
    assert (await problem_of(missing, 428))["type"] == "precondition-required"
    garbled = await client.patch(
        path, json={"name": "New"}, headers={**admin.headers, "If-Match": "latest"}
    )
    await problem_of(garbled, 400)
    stale = await client.patch(path, json={"name": "New"}, headers=with_version(admin.headers, 7))
    problem = await problem_of(stale, 412)
    assert problem["type"] == "stale-version"
    assert problem["current"]["version"] == 1
    assert problem["current"]["name"] == "Petroleum"
    unchanged = await client.get(path, headers=admin.headers)
    assert (await unchanged.json())["name"] == "Petroleum"


async def test_duplicate_is_409(client: TestClient, admin: Person) -> None:
    """A taken natural key is a 409 problem naming the field."""
    body = {"code": "PB", "name": "Petroleum"}
    assert (await client.post("/api/v1/buildings", json=body, headers=admin.headers)).status == 201
    again = await client.post("/api/v1/buildings", json=body, headers=admin.headers)
    problem = await problem_of(again, 409)
    assert problem["type"] == "duplicate"
    assert problem["field"] == "code"


class TestRateLimitShape:
    """The 429 of the sign-in limit has the same envelope plus Retry-After."""

    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path) -> Settings:
        return make_settings(database_url, tmp_path, login_attempts_per_username=1)

    async def test_rate_limited_is_429(self, client: TestClient) -> None:
        """Over the limit: a problem with ``Retry-After``."""
        assert (await sign_in(client, "kwame", "wrong-password")).status == 401
        response = await sign_in(client, "kwame", "wrong-password")
        problem = await problem_of(response, 429)
        assert problem["type"] == "rate-limited"
        assert int(response.headers["Retry-After"]) > 0


async def test_public_endpoint_validation_is_422(client: TestClient) -> None:
    """Sign-in with missing fields names them, like every other endpoint."""
    response = await client.post("/api/v1/auth/token", json={"username": ""})
    assert sorted(error_fields(await problem_of(response, 422))) == ["password", "username"]
