"""Quota calls over the server's REST API, shared by the CLI and the TUI: administration (a
role's quota, a user's exception) and the signed-in user's own quota and its use."""

from __future__ import annotations

from typing import Any

from sync import quota_local
from sync.admin import PAGE, Admin
from sync.permissions import Role
from sync.quota_schemas import MyQuota, QuotaLimits


async def list_quotas(admin: Admin) -> list[dict[str, Any]]:
    """Every role's quota and every user's exception, read a page at a time."""
    params: dict[str, Any] = {"limit": PAGE}
    items: list[dict[str, Any]] = []
    async with admin.engine.http() as http:
        while True:
            page = await http.request("GET", "/api/v1/quotas", params=params)
            items += page["items"]
            if not page.get("next_cursor"):
                return items
            params["cursor"] = page["next_cursor"]


def _subject_path(role: Role | None, user_id: int | None) -> str:
    if user_id is not None:
        return f"/api/v1/users/{user_id}/quota"
    assert role is not None
    return f"/api/v1/quotas/roles/{role.value}"


async def _user_id(admin: Admin, username: str | None) -> int | None:
    return None if username is None else int((await admin.user_named(username))["id"])


async def set_quota(
    admin: Admin, limits: QuotaLimits, *, role: Role | None = None, username: str | None = None
) -> dict[str, Any]:
    """Set the quota of ``role``, or ``username``'s own (which replaces their role's whole):
    every limit is replaced, one not given is no limit."""
    path = _subject_path(role, await _user_id(admin, username))
    async with admin.engine.http() as http:
        return dict(await http.request("PUT", path, json=limits.model_dump(mode="json")))


async def clear_quota(
    admin: Admin, *, role: Role | None = None, username: str | None = None
) -> None:
    """Drop the quota of ``role``, or ``username``'s own (their role's applies again)."""
    path = _subject_path(role, await _user_id(admin, username))
    async with admin.engine.http() as http:
        await http.request("DELETE", path)


async def my_quota(admin: Admin) -> MyQuota:
    """The signed-in user's quota with its use now, as the server counts it; kept on the
    replica for offline checks."""
    async with admin.engine.http() as http:
        answer = await http.request("GET", "/api/v1/me/quota")
    quota_local.keep_quota(admin.engine.reads, answer)
    return MyQuota.model_validate(answer)
