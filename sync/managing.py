"""Building managers: who manages which building, as the API answers it, and the client calls
that grant and revoke (online, as every administrative change)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sync.errors import NotFound
from sync.permissions import Access
from sync.schemas import Schema

if TYPE_CHECKING:
    from sync.engine import Engine


class BuildingManagerPublic(Schema):
    """One manager of one building."""

    building_id: int
    user_id: int
    username: str
    full_name: str
    active: bool
    created_at: datetime


def access_of_user(user: Mapping[str, Any] | None) -> Access:
    """What the user a profile signed in as may do where, from the record the server sent
    (``role`` and ``manages``); nobody signed in may do nothing."""
    if user is None:
        return Access.of("")
    return Access.of(user["role"], user.get("manages") or ())


class Managers:
    """Granting and revoking building managers over HTTP, as the profile's signed-in user."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def building_named(self, code: str) -> dict[str, Any]:
        """The building with ``code``, read from the server; ``NotFound`` if there is none."""
        wanted = code.strip().upper()
        params: dict[str, Any] = {"limit": 500}
        async with self.engine.http() as http:
            while True:
                page = await http.request("GET", "/api/v1/buildings", params=params)
                for building in page["items"]:
                    if building["code"] == wanted:
                        return dict(building)
                if not page.get("next_cursor"):
                    raise NotFound(f"There is no building {wanted}")
                params["cursor"] = page["next_cursor"]

    async def named(self, code: str, username: str) -> tuple[int, int]:
        """The ids of the building ``code`` and the user ``username``."""
        from sync.admin import Admin

        building = await self.building_named(code)
        user = await Admin(self.engine).user_named(username)
        return int(building["id"]), int(user["id"])

    async def list_named(self, code: str) -> list[dict[str, Any]]:
        """The managers of the building ``code``, by username."""
        return await self.list(int((await self.building_named(code))["id"]))

    async def add_named(self, code: str, username: str) -> dict[str, Any]:
        """Make ``username`` a manager of the building ``code``; again is harmless."""
        return await self.add(*await self.named(code, username))

    async def remove_named(self, code: str, username: str) -> None:
        """``username`` no longer manages the building ``code``; again is harmless."""
        await self.remove(*await self.named(code, username))

    async def every_grant(self) -> list[dict[str, Any]]:
        """Every grant on campus (administrators), by building code then username: one row
        (``id``, ``building_id``, ``building``, ``user_id``, ``username``, ``full_name``) per
        building a user manages, read from the users' records."""
        from sync.admin import Admin

        users = await Admin(self.engine).list_users()
        codes = {int(b["id"]): str(b["code"]) for b in self.engine.reads.buildings()}
        rows = [
            {
                "id": f"{building_id}:{user['id']}",
                "building_id": building_id,
                "building": codes.get(building_id, str(building_id)),
                "user_id": user["id"],
                "username": user["username"],
                "full_name": user["full_name"],
            }
            for user in users
            for building_id in user.get("manages") or ()
        ]
        return sorted(rows, key=lambda row: (row["building"], row["username"]))

    async def list(self, building_id: int) -> list[dict[str, Any]]:
        """The managers of the building, by username."""
        async with self.engine.http() as http:
            answer = await http.request("GET", f"/api/v1/buildings/{building_id}/managers")
        return [dict(item) for item in answer]

    async def add(self, building_id: int, user_id: int) -> dict[str, Any]:
        """Make the user a manager of the building; again is harmless."""
        async with self.engine.http() as http:
            path = f"/api/v1/buildings/{building_id}/managers/{user_id}"
            return dict(await http.request("PUT", path))

    async def remove(self, building_id: int, user_id: int) -> None:
        """The user no longer manages the building; again is harmless."""
        async with self.engine.http() as http:
            await http.request("DELETE", f"/api/v1/buildings/{building_id}/managers/{user_id}")


def latest_user(engine: Engine) -> dict[str, Any] | None:
    """The signed-in user's record as last seen: the pulled row once it is as new as the one
    sign-in answered, so that a grant made since reaches the client with its next sync."""
    user = engine.user
    if user is None:
        return None
    with engine.replica.read() as db:
        found = db.execute("SELECT row FROM users WHERE id = ?", [str(user["id"])]).fetchone()
    if found is not None:
        pulled = dict(json.loads(found[0]))
        if pulled.get("version", 0) >= user.get("version", 0):
            return pulled
    return user


def access_of_engine(engine: Engine) -> Access:
    """What the profile's signed-in user may do where, as far as the client knows."""
    return access_of_user(latest_user(engine))


def managed_codes(engine: Engine) -> list[str]:
    """The codes of the buildings the signed-in user manages, as far as the client knows."""
    user = latest_user(engine) or {}
    codes = {int(b["id"]): str(b["code"]) for b in engine.reads.buildings()}
    return sorted(codes.get(int(i), str(i)) for i in user.get("manages") or ())
