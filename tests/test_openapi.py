"""The OpenAPI document: valid 3.1, complete, built from the schemas the handlers validate with."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from aiohttp import hdrs
from aiohttp.test_utils import TestClient
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from compax_server.api import Endpoint
from compax_server.keys import ENDPOINTS

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


async def test_spec_is_valid_openapi_3_1(client: TestClient) -> None:
    """The served document passes the OpenAPI 3.1 validator."""
    spec = await _spec(client)
    assert spec["openapi"].startswith("3.1")
    validate(spec, cls=OpenAPIV31SpecValidator)


async def test_every_reference_resolves_inside_the_document(client: TestClient) -> None:
    """No ``$ref`` points at ``#/$defs`` of some nested schema or at a missing component."""
    spec = await _spec(client)
    refs = set(_refs(spec))
    assert "#/components/schemas/RoomCreate" in refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
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
        assert operation["requestBody"]["required"] is True
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        expected = endpoint.body.model_json_schema(ref_template=REF_TEMPLATE)
        expected_defs = expected.pop("$defs", {})
        assert _resolve(spec, ref) == expected, endpoint.name
        for name, definition in expected_defs.items():
            assert spec["components"]["schemas"][name] == definition, (endpoint.name, name)


async def test_room_body_carries_its_constraints(client: TestClient) -> None:
    """The rooms POST body is ``RoomCreate`` with capacity at least 0 and unknown fields refused."""
    spec = await _spec(client)
    body = spec["paths"]["/api/v1/rooms"]["post"]["requestBody"]["content"]["application/json"]
    schema = _resolve(spec, body["schema"]["$ref"])
    assert schema["title"] == "RoomCreate"
    assert schema["properties"]["capacity"]["minimum"] == 0
    assert schema["properties"]["capacity"]["maximum"] == 10_000
    assert set(schema["required"]) == {"building", "code", "capacity"}
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
    assert {"type": "integer", "minimum": 0, "maximum": 10000} in capacity["schema"]["anyOf"]


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
