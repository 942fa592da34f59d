"""The OpenAPI document: valid 3.1, complete, built from the schemas the handlers validate with."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from aiohttp import hdrs
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from compax_server.api import Endpoint
from compax_server.keys import ENDPOINTS
from compax_server.openapi import DocumentSchemas
from tests.conftest import Person

REF_TEMPLATE = "#/components/schemas/{model}"


async def _spec(client: TestClient) -> dict[str, Any]:
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    spec: dict[str, Any] = await response.json()
    return spec


def _endpoints(client: TestClient) -> list[Endpoint]:
    assert client.app is not None
    return client.app[ENDPOINTS]


def _resolve(spec: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = spec
    for part in ref[2:].split("/"):
        assert isinstance(node, dict), f"{ref} does not resolve"
        assert part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _without_input_suffix(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: value.removesuffix("-Input") if key == "$ref" else _without_input_suffix(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_without_input_suffix(item) for item in node]
    return node


async def test_spec_is_valid_openapi_3_1(client: TestClient) -> None:
    """The served document passes the OpenAPI 3.1 validator."""
    spec = await _spec(client)
    assert spec["openapi"].startswith("3.1")
    validate(spec, cls=OpenAPIV31SpecValidator)


async def test_every_reference_resolves_inside_the_document(client: TestClient) -> None:
    """No ``$ref`` points at ``#/$defs`` of some nested schema or at a missing component."""
    spec = await _spec(client)
    refs = set(_refs(spec))
    assert "#/components/requestBodies/RoomCreate" in refs
    for ref in refs:
        assert ref.startswith(("#/components/schemas/", "#/components/requestBodies/")), ref
        _resolve(spec, ref)


async def test_every_route_is_in_the_spec_with_its_method(client: TestClient) -> None:
    """Each route the router serves (HEAD and OPTIONS aside) has an operation, and vice versa."""
    spec = await _spec(client)
    assert client.app is not None
    served = {
        (route.resource.canonical, route.method.lower())
        for route in client.app.router.routes()
        if route.method not in (hdrs.METH_HEAD, hdrs.METH_OPTIONS)
    }
    described = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert served == described
    assert ("/api/v1/rooms", "post") in described
    assert ("/api/v1/users/{id}", "patch") in described


async def test_operation_ids_are_the_endpoint_names(client: TestClient) -> None:
    """Operation ids are unique and equal to the endpoint names the role table uses."""
    spec = await _spec(client)
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(e.name for e in _endpoints(client))


async def test_request_bodies_are_the_handlers_schemas(client: TestClient) -> None:
    """Every request body is the JSON schema of the very model the endpoint validates with."""
    spec = await _spec(client)
    with_body = [e for e in _endpoints(client) if e.body is not None]
    assert len(with_body) > 15
    for endpoint in with_body:
        operation = spec["paths"][endpoint.path][endpoint.method.lower()]
        body = _resolve(spec, operation["requestBody"]["$ref"])
        assert body["required"] is True
        expected = endpoint.body.model_json_schema(
            ref_template=REF_TEMPLATE, schema_generator=DocumentSchemas
        )
        expected_defs = expected.pop("$defs", {})
        # A model whose input and output schemas differ is ``Name-Input`` in the document.
        actual = _without_input_suffix(body["content"]["application/json"]["schema"])
        assert actual == expected, endpoint.name
        schemas = spec["components"]["schemas"]
        for name, definition in expected_defs.items():
            component = schemas.get(f"{name}-Input", schemas.get(name))
            assert _without_input_suffix(component) == definition, (endpoint.name, name)


async def test_room_body_carries_its_constraints(client: TestClient) -> None:
    """The rooms POST body is ``RoomCreate`` with capacity 0 to 10,000 or null (unknown), and
    unknown fields refused."""
    spec = await _spec(client)
    body = _resolve(spec, spec["paths"]["/api/v1/rooms"]["post"]["requestBody"]["$ref"])
    schema = body["content"]["application/json"]["schema"]
    assert schema["title"] == "RoomCreate"
    seats, unknown = schema["properties"]["capacity"]["anyOf"]
    assert (seats["type"], seats["minimum"], seats["maximum"]) == ("integer", 0, 10_000)
    assert unknown == {"type": "null"}
    assert set(schema["required"]) == {"building", "code"}
    assert schema["additionalProperties"] is False


async def test_query_parameters_are_the_query_models_fields(client: TestClient) -> None:
    """List filters are documented as query parameters, one per field of the query model."""
    spec = await _spec(client)
    with_query = [e for e in _endpoints(client) if e.query is not None]
    assert any(e.name == "list_rooms" for e in with_query)
    for endpoint in with_query:
        parameters = spec["paths"][endpoint.path][endpoint.method.lower()]["parameters"]
        names = {p["name"] for p in parameters if p["in"] == "query"}
        fields = {f.alias or name for name, f in endpoint.query.model_fields.items()}
        assert names == fields, endpoint.name
    rooms = spec["paths"]["/api/v1/rooms"]["get"]["parameters"]
    capacity = next(p for p in rooms if p["name"] == "capacity")
    assert capacity["schema"]["type"] == "integer"
    assert (capacity["schema"]["minimum"], capacity["schema"]["maximum"]) == (0, 10000)


async def test_path_parameters_and_if_match_are_declared(client: TestClient) -> None:
    """Every ``{name}`` in a path is a required parameter; conditional updates require If-Match."""
    spec = await _spec(client)
    for endpoint in _endpoints(client):
        operation = spec["paths"][endpoint.path][endpoint.method.lower()]
        declared = {(p["in"], p["name"]) for p in operation["parameters"] if p["required"]}
        for name in re.findall(r"{(\w+)}", endpoint.path):
            assert ("path", name) in declared, endpoint.name
        assert (("header", "If-Match") in declared) == endpoint.conditional, endpoint.name
        if endpoint.conditional:
            assert {"412", "428"} <= operation["responses"].keys(), endpoint.name


async def test_security_and_error_responses_follow_the_declaration(client: TestClient) -> None:
    """Protected operations need a bearer token and document 401 as a problem; public ones don't."""
    spec = await _spec(client)
    for endpoint in _endpoints(client):
        operation = spec["paths"][endpoint.path][endpoint.method.lower()]
        if endpoint.public:
            assert operation["security"] == [], endpoint.name
        else:
            assert operation["security"] == [{"bearer": []}], endpoint.name
            unauthorized = operation["responses"]["401"]["content"]
            assert unauthorized["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"
            }
        if endpoint.permission is not None:
            assert "403" in operation["responses"], endpoint.name
        assert str(endpoint.status) in operation["responses"], endpoint.name


async def test_a_generated_client_may_leave_out_every_defaulted_field(client: TestClient) -> None:
    """openapi-typescript makes a defaulted property of a shared schema always present; so
    every body is inline in ``requestBodies`` and no shared schema a body reaches has a
    defaulted property that is not required: a client must send exactly the required fields."""
    spec = await _spec(client)
    schemas = spec["components"]["schemas"]
    bodies = spec["components"]["requestBodies"]
    create = bodies["BookingCreate"]["content"]["application/json"]["schema"]
    assert set(create["required"]) == {"room_id", "start", "end", "title"}
    assert {"override", "purpose", "attendees", "private", "notes", "id", "owner"} <= set(
        create["properties"]
    )
    reached = {ref.rsplit("/", 1)[-1] for ref in _refs(bodies)}
    assert "OpeningHours" in reached
    while True:
        more = {ref.rsplit("/", 1)[-1] for name in reached for ref in _refs(schemas[name])}
        if more <= reached:
            break
        reached |= more
    for name in reached:
        required = set(schemas[name].get("required", []))
        defaulted = {k for k, v in schemas[name].get("properties", {}).items() if "default" in v}
        assert defaulted <= required, name


async def test_answers_require_every_field_the_server_always_sends(client: TestClient) -> None:
    """Answers are in serialization mode: ``next_cursor`` and ``token_type`` are always there."""
    spec = await _spec(client)
    schemas = spec["components"]["schemas"]
    assert set(schemas["Page_FreeRoom_"]["required"]) == {"items", "next_cursor"}
    assert "token_type" in schemas["TokenResponse"]["required"]
    free = spec["paths"]["/api/v1/rooms/free"]["get"]
    assert free["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Page_FreeRoom_"
    }
    features = next(p for p in free["parameters"] if p["name"] == "features")
    assert (features["style"], features["explode"]) == ("form", True)


async def test_problem_headers_and_media_types_are_declared(client: TestClient) -> None:
    """The problem schema names every member a problem may carry; Idempotency-Key is a
    header of booking; calendars answer text/calendar; every operation that reads the
    database may answer 503."""
    spec = await _spec(client)
    members = spec["components"]["schemas"]["Problem"]["properties"]
    assert {"errors", "violations", "conflicting", "alternatives", "dates", "current"} <= set(
        members
    )
    book = spec["paths"]["/api/v1/bookings"]["post"]
    assert ("header", "Idempotency-Key") in {(p["in"], p["name"]) for p in book["parameters"]}
    for path in ("/api/v1/me/calendar.ics", "/api/v1/calendar/{token}.ics"):
        assert set(spec["paths"][path]["get"]["responses"]["200"]["content"]) == {"text/calendar"}
    for path, item in spec["paths"].items():
        for operation in item.values():
            if path != "/api/v1/openapi.json":
                assert "503" in operation["responses"], path


async def test_campus_answer_validates_against_its_schema(
    client: TestClient, admin: Person
) -> None:
    """The campus rules, opening times included, pass the document's schema with formats."""
    spec = await _spec(client)
    answer = await client.get("/api/v1/campus", headers=admin.headers)
    assert answer.status == 200
    root = {"$ref": "#/components/schemas/CampusInfo", "components": spec["components"]}
    validator = Draft202012Validator(root, format_checker=FormatChecker())
    assert list(validator.iter_errors(await answer.json())) == []
