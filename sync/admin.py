"""Administration over the server's REST API: users, rooms and blackouts.

Unlike bookings, these changes are not queued offline: an administrator works online, and the
server answers each change at once (validation, duplicates, permissions) as a domain error.
The CLI and the TUI share this client; both pass schemas they validated already, so bad input
is refused before anything is sent. The changes reach the replica with the next
``Engine.sync()``.
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import BaseModel

from sync.engine import Engine
from sync.errors import NotFound, ValidationFailed
from sync.permissions import Role
from sync.schemas import (
    BlackoutCreate,
    BlackoutQuery,
    ListQuery,
    PasswordReset,
    RoomCreate,
    RoomQuery,
    RoomUpdate,
    UserCreate,
    UserQuery,
    UserUpdate,
)

#: Whole lists are read a page at a time, this many rows a page (the API's maximum).
PAGE = 500


def new_password() -> str:
    """A random password to hand to a user: 20 URL-safe characters (120 random bits)."""
    return secrets.token_urlsafe(15)


class Admin:
    """The administrative calls of the profile's signed-in user, each over HTTP at once."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- users ----------------------------------------------------------------------------

    async def users_page(self, query: UserQuery) -> dict[str, Any]:
        """One page of users: ``{"items": [...], "next_cursor": ...}``."""
        async with self.engine.http() as http:
            return dict(await http.request("GET", "/api/v1/users", params=_params(query)))

    async def list_users(self, query: UserQuery | None = None) -> list[dict[str, Any]]:
        """Every user matching ``query``, by username."""
        return await self._all("/api/v1/users", query or UserQuery())

    async def user_named(self, username: str) -> dict[str, Any]:
        """The user called ``username``; ``NotFound`` if there is none."""
        page = await self.users_page(UserQuery(username=username, limit=1))
        if not page["items"]:
            raise NotFound(f"There is no user {username}")
        return dict(page["items"][0])

    async def add_user(self, data: UserCreate) -> dict[str, Any]:
        """Create a user; ``Duplicate`` if the username is taken."""
        return await self._send("POST", "/api/v1/users", data)

    async def update_user(self, user_id: int, changes: UserUpdate) -> dict[str, Any]:
        """Change the fields set in ``changes`` on the user's current version."""
        return await self._patch(f"/api/v1/users/{user_id}", changes)

    async def set_role(self, user_id: int, role: Role) -> dict[str, Any]:
        """Give the user another role; the server signs them out everywhere."""
        return await self.update_user(user_id, UserUpdate(role=role))

    async def deactivate_user(self, user_id: int) -> dict[str, Any]:
        """Deactivate the user (kept for their bookings' history); their tokens stop working."""
        async with self.engine.http() as http:
            return dict(await http.request("DELETE", f"/api/v1/users/{user_id}"))

    async def reset_password(self, user_id: int, data: PasswordReset) -> None:
        """Set a new password; the server signs the user out everywhere."""
        await self._send("POST", f"/api/v1/users/{user_id}/password", data)

    # --- rooms ----------------------------------------------------------------------------

    async def list_rooms(self, query: RoomQuery | None = None) -> list[dict[str, Any]]:
        """Every room matching ``query``, by building and code."""
        return await self._all("/api/v1/rooms", query or RoomQuery())

    async def room_named(self, ref: str) -> dict[str, Any]:
        """The room named by its id or as ``BUILDING/CODE`` (``PB/101``), read from the server."""
        text = ref.strip()
        async with self.engine.http() as http:
            if text.isdigit():
                return dict(await http.request("GET", f"/api/v1/rooms/{text}"))
            building, _, code = text.partition("/")
            if not (building and code):
                raise ValidationFailed.single("room", f"{ref!r} is not a room; write PB/101")
            page = await http.request(
                "GET", "/api/v1/rooms", params={"building": building, "code": code, "limit": 1}
            )
        if not page["items"]:
            raise NotFound(f"There is no room {text.upper()} on the server")
        return dict(page["items"][0])

    async def add_room(self, data: RoomCreate) -> dict[str, Any]:
        """Create a room in a building; ``Duplicate`` if its code is taken there."""
        return await self._send("POST", "/api/v1/rooms", data)

    async def update_room(self, room_id: int, changes: RoomUpdate) -> dict[str, Any]:
        """Change the fields set in ``changes`` on the room's current version."""
        return await self._patch(f"/api/v1/rooms/{room_id}", changes)

    # --- blackouts ------------------------------------------------------------------------

    async def list_blackouts(self, query: BlackoutQuery | None = None) -> list[dict[str, Any]]:
        """Every blackout matching ``query``, soonest first."""
        return await self._all("/api/v1/blackouts", query or BlackoutQuery())

    async def add_blackout(self, data: BlackoutCreate) -> dict[str, Any]:
        """Close a room or a building: ``{"blackout": …, "covered_bookings": [...]}`` (the
        bookings inside are kept, not cancelled)."""
        return await self._send("POST", "/api/v1/blackouts", data)

    async def remove_blackout(self, blackout_id: int) -> None:
        """Remove a closure: the room or building is open again then."""
        async with self.engine.http() as http:
            await http.request("DELETE", f"/api/v1/blackouts/{blackout_id}")

    # --- bookings -------------------------------------------------------------------------

    async def checkin_link(self, booking_id: str) -> str:
        """The booking's signed door link, which checks it in without a sign-in (for its
        owner, or an admin or exams officer)."""
        async with self.engine.http() as http:
            answer = await http.request("GET", f"/api/v1/bookings/{booking_id}/checkin-link")
        return str(answer["url"])

    # --- plumbing -------------------------------------------------------------------------

    async def _all(self, path: str, query: ListQuery) -> list[dict[str, Any]]:
        params = _params(query.model_copy(update={"limit": PAGE}))
        items: list[dict[str, Any]] = []
        async with self.engine.http() as http:
            while True:
                page = await http.request("GET", path, params=params)
                items += page["items"]
                if not page.get("next_cursor"):
                    return items
                params["cursor"] = page["next_cursor"]

    async def _send(self, method: str, path: str, data: BaseModel) -> dict[str, Any]:
        async with self.engine.http() as http:
            answer = await http.request(method, path, json=data.model_dump(mode="json"))
        return {} if answer is None else dict(answer)

    async def _patch(self, path: str, changes: BaseModel) -> dict[str, Any]:
        """PATCH the fields set in ``changes``, with ``If-Match`` naming the version just read."""
        async with self.engine.http() as http:
            current = await http.request("GET", path)
            return dict(
                await http.request(
                    "PATCH",
                    path,
                    json=changes.model_dump(mode="json", exclude_unset=True),
                    headers={"If-Match": f'"{current["version"]}"'},
                )
            )


def _params(query: BaseModel) -> dict[str, Any]:
    """A query schema as URL parameters: aliases (``from``), lists comma separated."""
    values = query.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {
        key: ",".join(map(str, value)) if isinstance(value, list) else value
        for key, value in values.items()
        if value != []
    }
