"""Endpoint declarations: each route states its permission and its schemas once.

The declaration drives routing, authentication, role checks, body and query validation, the
OpenAPI document and the role-walk test, so none of them can drift from the others.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, get_origin

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json

from compax_server.audit import acting, client_name
from compax_server.auth import authenticate, token_claims
from compax_server.db import Database
from compax_server.keys import DATABASE, SETTINGS
from compax_server.models import User
from compax_server.security import TokenClaims
from compax_server.services.access import managed_buildings
from compax_server.settings import Settings
from sync.errors import (
    BadRequest,
    FieldError,
    Forbidden,
    NotFound,
    PreconditionRequired,
    ValidationFailed,
    field_errors,
)
from sync.permissions import MANAGER_PERMISSIONS, Permission, allows
from sync.schemas import id_from_text

#: The deepest a JSON body may nest objects and arrays; no schema needs more than a few levels.
MAX_JSON_DEPTH = 32
#: The most digits an integer in a JSON body may have; every integer field fits in 19.
MAX_INT_DIGITS = 20
#: How much of a bad value an error message repeats.
_ECHOED = 40
#: A version as ``If-Match`` names it: the ETag (``"3"``, weak or not) or the bare number. A
#: version no record has (``"0"``) is well formed, and only ever stale.
VERSION_TAG = r'^(?:W/)?"([0-9]{1,9})"$|^([0-9]{1,9})$'

BodyT = TypeVar("BodyT")
QueryT = TypeVar("QueryT")
Handler = Callable[["Call[Any, Any]"], Awaitable[web.StreamResponse]]


@dataclass
class Call(Generic[BodyT, QueryT]):
    """One authenticated, validated request as a handler sees it."""

    request: web.Request
    body: BodyT
    query: QueryT
    user_or_none: User | None
    #: The token's claims; for a ``reads_caller`` endpoint, what its handler reads its user by.
    claims: TokenClaims | None = None

    @property
    def user(self) -> User:
        assert self.user_or_none is not None, "public and reads_caller endpoints have no user"
        return self.user_or_none

    @property
    def caller(self) -> TokenClaims:
        assert self.claims is not None, "public endpoints have no caller"
        return self.claims

    async def read_user(self) -> User:
        """The caller's current record: the one read on the way in or, for a ``reads_caller``
        endpoint, read now."""
        if self.user_or_none is None:
            self.user_or_none = await authenticate(self.request, self.caller)
        return self.user_or_none

    @property
    def db(self) -> Database:
        return self.request.app[DATABASE]

    @property
    def settings(self) -> Settings:
        return self.request.app[SETTINGS]

    def path_id(self, name: str = "id") -> int:
        """An integer path parameter; anything but an id is a 404, as no such record exists."""
        raw = self.request.match_info[name]
        record_id = id_from_text(raw)
        if record_id is None:
            raise NotFound(f"No record with {name} {raw[:_ECHOED]!r}")
        return record_id

    def if_match(self) -> int:
        """The version named by ``If-Match``: 428 when missing, 400 when not a version."""
        raw = self.request.headers.get("If-Match")
        if raw is None:
            raise PreconditionRequired("Send If-Match with the version you last read")
        tag = re.fullmatch(VERSION_TAG, raw)
        if tag is None:
            message = 'must be a record version such as "3" (at most 9 digits)'
            raise BadRequest(
                f"If-Match {message}, not {raw[:_ECHOED]!r}",
                errors=[FieldError("If-Match", message).as_dict()],
            )
        return int(tag.group(1) or tag.group(2))


@dataclass(frozen=True)
class Endpoint:
    """One route as declared: what it needs, what it takes and what it answers."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    permission: Permission | None
    public: bool
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: Any
    status: int
    conditional: bool
    reads_caller: bool
    #: Media types of an answer that is not JSON (a calendar, metrics).
    media_types: tuple[str, ...] = ()
    #: Honours ``Idempotency-Key``.
    idempotent: bool = False
    #: Problem statuses beyond those the rest of the declaration implies.
    errors: tuple[int, ...] = ()

    @property
    def name(self) -> str:
        return self.handler.__name__


@dataclass
class Api:
    """The registry of endpoints, filled by the route modules' decorators."""

    endpoints: list[Endpoint] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        permission: Permission | None = None,
        public: bool = False,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: Any = None,
        status: int = 200,
        conditional: bool = False,
        reads_caller: bool = False,
        media_types: tuple[str, ...] = (),
        idempotent: bool = False,
        errors: tuple[int, ...] = (),
    ) -> Callable[[Handler], Handler]:
        """Declare an endpoint. With ``reads_caller`` its handler reads the caller's user itself,
        in its own transaction, and checks it with ``auth.current_user`` (see ``auth``)."""

        def register(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(
                    method,
                    path,
                    handler,
                    summary,
                    tag,
                    permission,
                    public,
                    body,
                    query,
                    response,
                    status,
                    conditional,
                    reads_caller,
                    media_types,
                    idempotent,
                    errors,
                )
            )
            return handler

        return register

    def setup(self, app: web.Application) -> None:
        for endpoint in self.endpoints:
            app.router.add_route(
                endpoint.method, endpoint.path, _dispatcher(endpoint), name=endpoint.name
            )


def _dispatcher(endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def dispatch(request: web.Request) -> web.StreamResponse:
        user = claims = None
        if not endpoint.public:
            claims = token_claims(request)
            role: str
            if endpoint.reads_caller and claims.role is not None:
                role = claims.role
            else:
                user = await authenticate(request, claims)
                role = user.role
            if (
                endpoint.permission
                and not allows(role, endpoint.permission)
                and not await _manages_for(request, user, endpoint.permission)
            ):
                raise Forbidden(f"Your role ({role}) may not {endpoint.summary.lower()}")
        query = (
            validate(endpoint.query, query_values(request, endpoint.query))
            if endpoint.query
            else None
        )
        body = await _read_body(request, endpoint.body) if endpoint.body else None
        user_id = claims.user_id if claims is not None else None
        with acting(user_id, client_name(request.headers.get("X-Compax-Client"))):
            return await endpoint.handler(Call(request, body, query, user, claims))

    dispatch.__name__ = endpoint.name
    return dispatch


#: The permissions whose endpoints check each record's building themselves, so that they
#: admit a building's manager who holds the permission there (``MANAGER_PERMISSIONS``).
SCOPED_PERMISSIONS = frozenset({Permission.APPROVE_BOOKINGS}) & MANAGER_PERMISSIONS


async def _manages_for(request: web.Request, user: User | None, permission: Permission) -> bool:
    """Whether ``user`` holds the scoped ``permission`` in some building they manage: such an
    endpoint admits them, and its service checks each record's building."""
    if user is None or user.id is None or permission not in SCOPED_PERMISSIONS:
        return False
    async with request.app[DATABASE].read() as session:
        return bool(await managed_buildings(session, user.id))


ModelT = TypeVar("ModelT", bound=BaseModel)


def query_values(request: web.Request, model: type[BaseModel]) -> dict[str, Any]:
    """The query string as ``model`` reads it: every value of a list parameter (given as
    ``features=a&features=b``, as the document's exploded arrays say), one of any other;
    a scalar parameter given twice is refused, as nobody can tell which value was meant."""
    lists = {
        field.alias or name
        for name, field in model.model_fields.items()
        if get_origin(field.annotation) is list
    }
    values: dict[str, Any] = {}
    repeated = []
    for name in dict.fromkeys(request.query):
        given = request.query.getall(name)
        if name in lists:
            values[name] = given
        elif len(given) > 1:
            repeated.append(FieldError(name, "must be given once"))
        else:
            values[name] = given[0]
    if repeated:
        raise ValidationFailed(repeated)
    return values


def validate(model: type[ModelT], data: Any, prefix: str = "") -> ModelT:
    """``model`` validated from ``data``, or ``ValidationFailed`` naming every bad field."""
    refused = _refused_values(data, prefix)
    if refused:
        raise ValidationFailed(refused)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc, prefix)) from None


class _LongNumber:
    """Where a JSON body held an integer longer than ``MAX_INT_DIGITS``: kept in its place so
    that the refusal names its field, and never converted (Python refuses past 4,300 digits)."""


_LONG_NUMBER = _LongNumber()


def _json_int(literal: str) -> int | _LongNumber:
    return int(literal) if len(literal.lstrip("-")) <= MAX_INT_DIGITS else _LONG_NUMBER


def _refused_values(data: Any, path: str, depth: int = 1) -> list[FieldError]:
    """Values no schema takes, refused before any looks: integers too long for any field, and
    objects or arrays nested deeper than ``MAX_JSON_DEPTH``. (Strings holding NUL are refused
    by the schemas themselves, ``sync.schemas.Schema``, so that a pushed change or an imported
    row holding one is refused alone.)"""
    field = path or "body"
    if data is _LONG_NUMBER:
        return [FieldError(field, f"must be a number of at most {MAX_INT_DIGITS} digits")]
    if isinstance(data, dict | list) and depth > MAX_JSON_DEPTH:
        return [FieldError(field, f"must not nest more than {MAX_JSON_DEPTH} levels deep")]
    if isinstance(data, dict):
        return [
            error
            for key, value in data.items()
            for error in _refused_values(value, f"{path}.{key}" if path else str(key), depth + 1)
        ]
    if isinstance(data, list):
        return [
            error
            for i, value in enumerate(data)
            for error in _refused_values(value, f"{path}[{i}]", depth + 1)
        ]
    return []


async def _read_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="Send the body as application/json")
    try:
        raw = await request.read()
    except ConnectionResetError:  # the client hung up mid-body: its fault, not the database's
        raise BadRequest("The connection closed before the body was read") from None
    wholes = _WholeNumbers()
    try:
        data = json.loads(raw, parse_int=_json_int, parse_float=wholes) if raw else None
    except RecursionError:  # nested past what the parser itself can follow
        message = f"must not nest more than {MAX_JSON_DEPTH} levels deep"
        raise BadRequest(
            f"The body {message}", errors=[FieldError("body", message).as_dict()]
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationFailed.single("body", "must be a JSON object")
    refused = _refused_values(data, "")
    if refused:
        raise ValidationFailed(refused)
    text = json.dumps(data) if wholes.seen else raw
    try:  # strict: JSON types as the document gives them (no 0 for false, no 0 for a date)
        return model.model_validate_json(text, strict=True)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc)) from None


class _WholeNumbers:
    """``json.loads``'s reader of numbers with a fraction or an exponent: a whole one becomes
    an integer (JSON Schema counts ``2.0`` an integer), and ``seen`` says one did, so that only
    such a body is written again for the strict validation."""

    def __init__(self) -> None:
        self.seen = False

    def __call__(self, literal: str) -> int | float:
        value = float(literal)
        if value.is_integer() and abs(value) < 2**63:
            self.seen = True
            return int(value)
        return value


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response for models, lists and plain values alike."""
    return web.Response(
        body=to_json(data), status=status, content_type="application/json", headers=headers
    )


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}
