"""The OpenAPI 3.1 document, generated from the same endpoint declarations and schemas
the handlers validate with.

Request schemas are in pydantic's validation mode (a field with a default may be left out)
and answers in serialization mode (every field is always sent); a model whose two schemas
differ gets two components, ``Name-Input`` and ``Name-Output``. Request bodies live in
``components/requestBodies`` with their schema inline, so that client generators which treat
a defaulted property of a shared schema as always present (openapi-typescript) still let a
client leave it out.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode
from pydantic_core import core_schema

from compax_server.api import VERSION_TAG, Endpoint
from compax_server.problems import PROBLEM_JSON
from sync.schemas import MAX_ID

REF_PREFIX = "#/components/schemas/"
_REF_TEMPLATE = REF_PREFIX + "{model}"
_BODY_PREFIX = "#/components/requestBodies/"
_PROBLEM_REF = {"$ref": REF_PREFIX + "Problem"}
JSON = "application/json"

_MEMBER = {"type": "object", "additionalProperties": True}
_PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details; a problem of a kind carries its own members.",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string", "examples": ["validation", "room-overlap"]},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "description": "validation: every bad field, with why.",
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "violations": {
            "description": "A booking rule's problem: every rule the request breaks.",
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "detail"],
                "properties": {"type": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
        "conflicting": {
            "description": "room-overlap: the bookings in the way (the title where you may see "
            "it); in a series date, the one booking in the way.",
            "anyOf": [{"type": "array", "items": _MEMBER}, _MEMBER],
        },
        "alternatives": {
            "description": "room-overlap: free rooms at the same time and free times in the "
            "same room, each one the booking judge accepts.",
            "type": "object",
            "properties": {
                "rooms": {"type": "array", "items": _MEMBER},
                "times": {"type": "array", "items": _MEMBER},
            },
        },
        "dates": {
            "description": "series-conflict: each clashing date with its problems.",
            "type": "array",
            "items": {
                "type": "object",
                "required": ["date", "problems"],
                "properties": {
                    "date": {"type": "string", "format": "date"},
                    "problems": {"type": "array", "items": _MEMBER},
                },
            },
        },
        "current": {
            "description": "stale-version: the record as it is now.",
            "type": "object",
            "additionalProperties": True,
        },
    },
    "additionalProperties": True,
}

HTML = "text/html"
_PATH_TYPES = {
    "id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    "booking_id": {"type": "string", "format": "uuid"},
    "series_id": {"type": "string", "format": "uuid"},
}

#: Visible ASCII, with inner spaces; header values carry no surrounding white space.
_IDEMPOTENCY_KEY = r"^[!-~]([ -~]{0,198}[!-~])?$"

_ERROR_TEXT = {
    400: "Malformed request: JSON, a header or a protocol version",
    401: "Missing, invalid, expired or revoked token",
    403: "The caller's role may not do this, or not to this record",
    404: "No such record",
    409: "Conflicts with existing data or bookings",
    412: "If-Match names an older version (current holds the record now)",
    413: "The body is larger than the server accepts",
    415: "The body is not application/json",
    422: "A field is invalid, fields disagree, or a booking rule refuses it",
    428: "If-Match is required",
    429: "Too many attempts (Retry-After)",
    503: "The database is down or busy (Retry-After)",
}


#: No string the server takes may hold NUL: Postgres cannot store it (``sync.schemas.Schema``).
NO_NUL = "^[^\\x00]*$"


class DocumentSchemas(GenerateJsonSchema):
    """Pydantic's JSON schemas, with every field of an answer required (the server always
    sends them all, defaulted or not) and no NUL in a string it takes."""

    def str_schema(self, schema: core_schema.StringSchema) -> dict[str, Any]:
        json_schema = super().str_schema(schema)
        if self.mode == "validation":
            json_schema.setdefault("pattern", NO_NUL)
        return json_schema

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,
    ) -> bool:
        if self.mode == "serialization":
            return True
        return super().field_is_required(field, total)


def build_openapi(endpoints: list[Endpoint], version: str) -> dict[str, Any]:
    """The whole document for ``endpoints``, as ``GET /api/v1/openapi.json`` serves it."""
    inputs: list[tuple[Any, JsonSchemaMode, TypeAdapter[Any]]] = []
    for endpoint in endpoints:
        for model in (endpoint.body, endpoint.query):
            if model is not None:
                inputs.append((model, "validation", TypeAdapter(model)))
        if endpoint.response is not None:
            key = _response_key(endpoint)
            inputs.append((key, "serialization", TypeAdapter(endpoint.response)))
    schemas, definitions = TypeAdapter.json_schemas(
        _unique(inputs), ref_template=_REF_TEMPLATE, schema_generator=DocumentSchemas
    )
    components: dict[str, Any] = dict(definitions.get("$defs", {}))
    components["Problem"] = _PROBLEM_SCHEMA
    bodies = _request_bodies(endpoints, schemas, components)

    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operation = _operation(endpoint, schemas, components)
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
            "requestBodies": bodies,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _response_key(endpoint: Endpoint) -> Any:
    """A hashable key for an endpoint's answer type (``dict[str, list[X]]`` is one too)."""
    return ("response", repr(endpoint.response))


def _unique(
    inputs: list[tuple[Any, JsonSchemaMode, TypeAdapter[Any]]],
) -> list[tuple[Any, JsonSchemaMode, TypeAdapter[Any]]]:
    seen: dict[tuple[Any, JsonSchemaMode], tuple[Any, JsonSchemaMode, TypeAdapter[Any]]] = {}
    for item in inputs:
        seen.setdefault((item[0], item[1]), item)
    return list(seen.values())


def _component_name(ref: dict[str, Any]) -> str:
    return str(ref["$ref"]).removeprefix(REF_PREFIX)


def _request_bodies(
    endpoints: list[Endpoint], schemas: dict[Any, Any], components: dict[str, Any]
) -> dict[str, Any]:
    """Each body model as a request body whose schema is inline (moved out of the shared
    schemas unless another schema refers to it)."""
    bodies: dict[str, Any] = {}
    for endpoint in endpoints:
        if endpoint.body is None:
            continue
        name = _component_name(schemas[(endpoint.body, "validation")])
        if name in bodies:
            continue
        schema = components[name]
        if not _referenced(REF_PREFIX + name, components):
            del components[name]
        bodies[name] = {"required": True, "content": {JSON: {"schema": schema}}}
    return bodies


def _referenced(ref: str, node: Any) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == ref or any(_referenced(ref, v) for v in node.values())
    if isinstance(node, list):
        return any(_referenced(ref, item) for item in node)
    return False


def _operation(
    endpoint: Endpoint, schemas: dict[Any, Any], components: dict[str, Any]
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.name,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "security": [] if endpoint.public else [{"bearer": []}],
        "parameters": _parameters(endpoint, schemas, components),
    }
    if endpoint.handler.__doc__:
        operation["description"] = endpoint.handler.__doc__.strip()
    if endpoint.body is not None:
        name = _component_name(schemas[(endpoint.body, "validation")])
        operation["requestBody"] = {"$ref": _BODY_PREFIX + name}
    responses: dict[str, Any] = {str(endpoint.status): _success(endpoint, schemas)}
    for status in error_statuses(endpoint):
        content: dict[str, Any] = {PROBLEM_JSON: {"schema": _PROBLEM_REF}}
        if HTML in endpoint.media_types:  # a page for people says what went wrong as a page
            content[HTML] = {"schema": {"type": "string"}}
        responses[str(status)] = {"description": _ERROR_TEXT[status], "content": content}
    operation["responses"] = responses
    return operation


def _success(endpoint: Endpoint, schemas: dict[Any, Any]) -> dict[str, Any]:
    if endpoint.status == 204:
        return {"description": "Done"}
    answer: dict[str, Any] = {"description": "OK"}
    if endpoint.response is not None:
        schema = schemas[(_response_key(endpoint), "serialization")]
        answer["content"] = {JSON: {"schema": schema}}
    elif endpoint.media_types:
        answer["content"] = {
            media: {"schema": {"type": "string"}} for media in endpoint.media_types
        }
    else:
        answer["content"] = {JSON: {"schema": {"type": "object"}}}
    if endpoint.idempotent:
        answer["headers"] = {
            "Idempotent-Replayed": {
                "description": "true when this is the stored answer to an earlier request.",
                "schema": {"type": "string", "enum": ["true"]},
            }
        }
    return answer


def _parameters(
    endpoint: Endpoint, schemas: dict[Any, Any], components: dict[str, Any]
) -> list[dict[str, Any]]:
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
        schema = components[_component_name(schemas[(endpoint.query, "validation")])]
        required = set(schema.get("required", []))
        for name, prop in schema["properties"].items():
            prop = _without_null(prop)
            parameter = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if prop.get("type") == "array":
                parameter |= {"style": "form", "explode": True}
            if "description" in prop:
                parameter["description"] = prop["description"]
            parameters.append(parameter)
    if endpoint.conditional:
        parameters.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": True,
                "description": 'The version you last read, as its ETag ("3").',
                "schema": {"type": "string", "pattern": VERSION_TAG},
            }
        )
    if endpoint.idempotent:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Makes retries safe: a repeat with the same body gets the first "
                "answer; with another body it is 422. Kept for 24 hours.",
                "schema": {"type": "string", "pattern": _IDEMPOTENCY_KEY},
            }
        )
    return parameters


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema less ``null``: a query string has no way to send one."""
    options = schema.get("anyOf", [])
    if not any(option.get("type") == "null" for option in options):
        return schema
    kept = [option for option in options if option.get("type") != "null"]
    rest = {k: v for k, v in schema.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**rest, **kept[0]} if len(kept) == 1 else {**rest, "anyOf": kept}


def error_statuses(endpoint: Endpoint) -> list[int]:
    """The problem statuses an endpoint may answer, from what its declaration says it does."""
    statuses = set(endpoint.errors)
    if endpoint.path != "/api/v1/openapi.json":
        statuses |= {503}
    if not endpoint.public:
        statuses |= {401}
    if endpoint.permission is not None:
        statuses |= {403}
    if endpoint.body is not None:
        statuses |= {400, 413, 415, 422}
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
