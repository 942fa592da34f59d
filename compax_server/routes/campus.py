"""Buildings, rooms and terms: read by everyone signed in, managed by admins, and rooms and
their building's own fields also by the building's managers.

The three share one shape (list, create, read, change, delete, bulk import), declared once
from a ``Resource`` description so their behaviour cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from compax_server.api import Api, Call, etag, json_response
from compax_server.cache import cached_json
from compax_server.models import Building, Room, Term
from compax_server.services import campus, scope
from compax_server.services.bulk import BulkBatch
from compax_server.services.common import get_or_404
from compax_server.services.scope import Where
from sync.permissions import Permission
from sync.schemas import (
    BuildingCreate,
    BuildingPublic,
    BuildingQuery,
    BuildingUpdate,
    BulkQuery,
    BulkRequest,
    BulkResponse,
    ListQuery,
    Page,
    RoomCreate,
    RoomPublic,
    RoomQuery,
    RoomUpdate,
    TermCreate,
    TermPublic,
    TermUpdate,
)

api = Api()
READ, MANAGE = Permission.READ_CAMPUS, Permission.MANAGE_CAMPUS


async def _plain(public: Callable[[Any], BaseModel], _session: AsyncSession, row: Any) -> BaseModel:
    return public(row)


@dataclass(frozen=True)
class Resource:
    """How one campus resource is listed, read, changed and imported."""

    noun: str
    plural: str
    model: type[Any]
    create_schema: type[BaseModel]
    update_schema: type[BaseModel]
    public_schema: type[BaseModel]
    query_schema: type[ListQuery]
    list_rows: Callable[[AsyncSession, Any], Awaitable[Page[Any]]]
    to_public: Callable[[AsyncSession, Any], Awaitable[BaseModel]]
    create: Callable[[AsyncSession, Any], Awaitable[Any]]
    update: Callable[[AsyncSession, int, Any, int], Awaitable[Any]]
    delete: Callable[[AsyncSession, int], Awaitable[None]]
    natural_key: Callable[[Any], Hashable]
    load_by_key: Callable[[AsyncSession, list[Any]], Awaitable[dict[Any, Any]]]
    upsert: Callable[[AsyncSession, Any, Any], Awaitable[Any]]
    key_description: str
    #: The handlers (``create``, ``update``, ``delete``, ``bulk``) a building's managers may
    #: call for records in their buildings; the others are campus-wide.
    scoped: frozenset[str] = frozenset()
    #: The building of a stored record by id, and of a new record's data (``None``: none such).
    building_of: Callable[[AsyncSession, int], Awaitable[Where | None]] | None = None
    building_of_new: Callable[[AsyncSession, Any], Awaitable[Where | None]] | None = None

    @property
    def path(self) -> str:
        return f"/api/v1/{self.plural}"


def add_resource(resource: Resource) -> None:
    """Declare the six endpoints of ``resource`` on this module's ``api``."""
    noun, plural, path = resource.noun, resource.plural, resource.path

    async def check_stored(call: Call[Any, Any], session: AsyncSession, handler: str) -> None:
        """For a scoped handler: the record's building must be one the caller manages."""
        if handler in resource.scoped and resource.building_of is not None:
            where = await resource.building_of(session, call.path_id())
            if where is not None:  # no such record: 404 as for anyone
                call.require_in(MANAGE, where)

    async def check_new(call: Call[Any, Any], session: AsyncSession, data: Any) -> None:
        """For a scoped handler: the new record's building must be one the caller manages."""
        if resource.building_of_new is not None:
            where = await resource.building_of_new(session, data)
            if where is not None:  # no such building: the write refuses it, naming the field
                call.require_in(MANAGE, where)

    async def list_items(call: Call[None, ListQuery]) -> web.Response:
        async with call.db.read() as session:
            return await cached_json(call, session, lambda: resource.list_rows(session, call.query))

    async def create_item(call: Call[BaseModel, None]) -> web.Response:
        async with call.db.write() as session:
            if "create" in resource.scoped:
                await check_new(call, session, call.body)
            row = await resource.create(session, call.body)
            public = await resource.to_public(session, row)
        headers = {**etag(row.version), "Location": f"{path}/{row.id}"}
        return json_response(public, status=201, headers=headers)

    async def read_item(call: Call[None, None]) -> web.Response:
        async with call.db.read() as session:
            row = await get_or_404(session, resource.model, call.path_id(), noun)
            public = await resource.to_public(session, row)
        return json_response(public, headers=etag(row.version))

    async def update_item(call: Call[BaseModel, None]) -> web.Response:
        async with call.db.write() as session:
            await check_stored(call, session, "update")
            row = await resource.update(session, call.path_id(), call.body, call.if_match())
            public = await resource.to_public(session, row)
        return json_response(public, headers=etag(row.version))

    async def delete_item(call: Call[None, None]) -> web.Response:
        async with call.db.write() as session:
            await check_stored(call, session, "delete")
            await resource.delete(session, call.path_id())
        return web.Response(status=204)

    async def bulk_items(call: Call[BulkRequest, BulkQuery]) -> web.Response:
        batch = BulkBatch.validate(call.body.rows, resource.create_schema)

        async def upsert(session: AsyncSession, data: Any, existing: Any) -> Any:
            """A row outside the caller's buildings is rejected alone, naming its building."""
            if "bulk" in resource.scoped:
                await check_new(call, session, data)
            return await resource.upsert(session, data, existing)

        result = await batch.apply(
            call.db,
            key=resource.natural_key,
            load=resource.load_by_key,
            upsert=upsert,
            record_type=resource.plural,
            dry_run=call.query.dry_run,
        )
        return json_response(result)

    item = f"{path}/{{id}}"
    declarations: list[tuple[Callable[..., Any], dict[str, Any]]] = [
        (
            list_items,
            {
                "method": "GET",
                "path": path,
                "summary": f"List {plural}",
                "permission": READ,
                "query": resource.query_schema,
                # Pydantic parametrises Page at run time with the schema this resource holds;
                # mypy accepts only a type expression inside the brackets.
                "response": Page[resource.public_schema],  # type: ignore[name-defined]
            },
        ),
        (
            create_item,
            {
                "method": "POST",
                "path": path,
                "summary": f"Create a {noun}",
                "permission": MANAGE,
                "body": resource.create_schema,
                "response": resource.public_schema,
                "status": 201,
            },
        ),
        (
            read_item,
            {
                "method": "GET",
                "path": item,
                "summary": f"Read a {noun}",
                "permission": READ,
                "response": resource.public_schema,
            },
        ),
        (
            update_item,
            {
                "method": "PATCH",
                "path": item,
                "summary": f"Change a {noun}",
                "permission": MANAGE,
                "body": resource.update_schema,
                "response": resource.public_schema,
                "conditional": True,
            },
        ),
        (
            delete_item,
            {
                "method": "DELETE",
                "path": item,
                "summary": f"Delete a {noun}",
                "permission": MANAGE,
                "status": 204,
            },
        ),
        (
            bulk_items,
            {
                "method": "POST",
                "path": f"{path}:bulk",
                "summary": f"Import {plural}",
                "permission": MANAGE,
                "body": BulkRequest,
                "query": BulkQuery,
                "response": BulkResponse,
            },
        ),
    ]
    scoped: dict[Any, str] = {
        create_item: "create",
        update_item: "update",
        delete_item: "delete",
        bulk_items: "bulk",
    }
    for handler, options in declarations:
        options["scoped"] = scoped.get(handler) in resource.scoped
        handler.__name__ = f"{handler.__name__.replace('items', plural).replace('item', noun)}"
        handler.__doc__ = (
            f"Upsert up to 1,000 {plural} on {resource.key_description}; "
            "``dry_run=true`` changes nothing."
            if handler is bulk_items
            else None
        )
        method, route_path = options.pop("method"), options.pop("path")
        api.route(method, route_path, tag=plural, **options)(handler)


def _room_key(data: RoomCreate) -> tuple[str, str]:
    return (data.building, data.code)


add_resource(
    Resource(
        noun="building",
        plural="buildings",
        model=Building,
        create_schema=BuildingCreate,
        update_schema=BuildingUpdate,
        public_schema=BuildingPublic,
        query_schema=BuildingQuery,
        list_rows=campus.list_buildings,
        to_public=lambda session, row: _plain(campus.building_public, session, row),
        create=campus.create_building,
        update=campus.update_building,
        delete=campus.delete_building,
        natural_key=lambda data: data.code,
        load_by_key=campus.buildings_by_code,
        upsert=campus.upsert_building,
        key_description="the building code",
        scoped=frozenset({"update"}),
        building_of=scope.building_where,
    )
)
add_resource(
    Resource(
        noun="room",
        plural="rooms",
        model=Room,
        create_schema=RoomCreate,
        update_schema=RoomUpdate,
        public_schema=RoomPublic,
        query_schema=RoomQuery,
        list_rows=campus.list_rooms,
        to_public=campus.room_public,
        create=campus.create_room,
        update=campus.update_room,
        delete=campus.delete_room,
        natural_key=_room_key,
        load_by_key=campus.rooms_by_key,
        upsert=campus.upsert_room,
        key_description="the building code and room code",
        scoped=frozenset({"create", "update", "delete", "bulk"}),
        building_of=scope.room_where,
        building_of_new=lambda session, data: scope.building_coded(session, data.building),
    )
)
add_resource(
    Resource(
        noun="term",
        plural="terms",
        model=Term,
        create_schema=TermCreate,
        update_schema=TermUpdate,
        public_schema=TermPublic,
        query_schema=ListQuery,
        list_rows=campus.list_terms,
        to_public=lambda session, row: _plain(campus.term_public, session, row),
        create=campus.create_term,
        update=campus.update_term,
        delete=campus.delete_term,
        natural_key=lambda data: data.name,
        load_by_key=campus.terms_by_name,
        upsert=campus.upsert_term,
        key_description="the term name",
    )
)
