"""The OpenAPI 3.1 document, generated from the same endpoint declarations and schemas
the handlers validate with."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from compax_server.api import Endpoint
from sync.schemas import MAX_ID

_PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details; validation problems list every bad field.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "examples": ["validation", "room-overlap"]},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}

_REF_TEMPLATE = "#/components/schemas/{model}"
#: ``(model, mode)`` to the ``$ref`` of its schema, as ``models_json_schema`` returns them.
Refs = dict[Any, Any]
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

_PATH_TYPES = {
    "id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    "booking_id": {"type": "string", "format": "uuid"},
    "series_id": {"type": "string", "format": "uuid"},
}

_ERROR_TEXT = {
    400: "Malformed request",
    401: "Missing, invalid, expired or revoked token",
    403: "The caller's role may not do this",
    404: "No such record",
    409: "Conflicts with existing data",
    412: "If-Match names an older version",
    415: "The body is not application/json",
    422: "A field is invalid",
    428: "If-Match is required",
    429: "Too many attempts",
}


def build_openapi(endpoints: list[Endpoint], version: str) -> dict[str, Any]:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for endpoint in endpoints:
        if endpoint.body is not None:
            models.append((endpoint.body, "validation"))
        if endpoint.query is not None:
            models.append((endpoint.query, "validation"))
        if isinstance(endpoint.response, type) and issubclass(endpoint.response, BaseModel):
            models.append((endpoint.response, "serialization"))
    refs, schemas = models_json_schema(models, ref_template=_REF_TEMPLATE)
    components = dict(schemas.get("$defs", {}))
    components["Problem"] = _PROBLEM_SCHEMA

    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operation = _operation(endpoint, refs, components)
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Compax",
            "version": version,
            "description": "Room booking for a university campus.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(endpoint: Endpoint, refs: Refs, components: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.name,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "security": [] if endpoint.public else [{"bearer": []}],
        "parameters": _parameters(endpoint, refs, components),
    }
    if endpoint.handler.__doc__:
        operation["description"] = endpoint.handler.__doc__.strip()
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(endpoint.body, "validation")]}},
        }
    responses: dict[str, Any] = {}
    if endpoint.response is None or endpoint.status == 204:
        responses[str(endpoint.status)] = {"description": "Done"}
    else:
        responses[str(endpoint.status)] = {
            "description": "OK",
            "content": {
                "application/json": {"schema": _response_schema(endpoint, refs, components)}
            },
        }
    for status in _error_statuses(endpoint):
        responses[str(status)] = {
            "description": _ERROR_TEXT[status],
            "content": {"application/problem+json": {"schema": _PROBLEM_REF}},
        }
    operation["responses"] = responses
    return operation


def _response_schema(endpoint: Endpoint, refs: Refs, components: dict[str, Any]) -> Any:
    key = (endpoint.response, "serialization")
    if key in refs:
        return refs[key]
    # Models nested in a plain type (``dict[str, list[BookingPublic]]``) become components too:
    # a ``#/$defs/...`` reference would point at the document root, where nothing is.
    schema = TypeAdapter(endpoint.response).json_schema(
        mode="serialization", ref_template=_REF_TEMPLATE
    )
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    return schema


def _parameters(endpoint: Endpoint, refs: Refs, components: dict[str, Any]) -> list[dict[str, Any]]:
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": _PATH_TYPES.get(name, {"type": "string"}),
        }
        for name in re.findall(r"{(\w+)}", endpoint.path)
    ]
    if endpoint.query is not None:
        # The query model's schema from the components, whose references resolve there.
        schema = components[refs[(endpoint.query, "validation")]["$ref"].rsplit("/", 1)[-1]]
        required = set(schema.get("required", []))
        for name, prop in schema["properties"].items():
            parameter = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if "description" in prop:
                parameter["description"] = prop["description"]
            parameters.append(parameter)
    if endpoint.conditional:
        parameters.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": True,
                "description": "The version you last read, as its ETag.",
                "schema": {"type": "string"},
            }
        )
    return parameters


def _error_statuses(endpoint: Endpoint) -> list[int]:
    statuses = set()
    if not endpoint.public:
        statuses |= {401}
    if endpoint.permission is not None:
        statuses |= {403}
    if endpoint.body is not None:
        statuses |= {400, 415, 422}
    if endpoint.query is not None:
        statuses |= {422}
    if "{" in endpoint.path:
        statuses |= {404}
    if endpoint.conditional:
        statuses |= {400, 412, 428}
    if endpoint.method in ("POST", "PATCH", "DELETE") and not endpoint.public:
        statuses |= {409}
    if endpoint.public and endpoint.body is not None:
        statuses |= {401, 429}
    return sorted(statuses)
