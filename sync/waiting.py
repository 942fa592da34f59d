"""The waitlist from a client: joining, withdrawing, accepting and declining talk to the server
at once (a place in line is worth something only when the server has it); the entries are
read from the replica, where each sync brings the user's own.

The CLI and the TUI share this client and pass schemas they validated already.
"""

from __future__ import annotations

import json
from typing import Any

from sync.engine import Engine
from sync.vocabulary import WaitState
from sync.waitlist import WaitCreate

#: States in which an entry still waits or holds an offer.
OPEN = (WaitState.WAITING.value, WaitState.OFFERED.value)


class Waitlist:
    """The waitlist calls of the profile's signed-in user."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def join(self, data: WaitCreate) -> dict[str, Any]:
        """Wait for the slot ``data`` names; ``SlotFree`` if it can be booked now."""
        async with self.engine.http() as http:
            answer = await http.request(
                "POST", "/api/v1/waitlist", json=data.model_dump(mode="json")
            )
        await self.engine.sync()
        return dict(answer)

    async def server_entries(self, *, owner: str | None = None) -> list[dict[str, Any]]:
        """Entries as the server has them now, oldest first: yours, or (administrators) the
        user ``owner`` names, or everyone's (``*``)."""
        params: dict[str, Any] = {"limit": 500, **({"owner": owner} if owner else {})}
        items: list[dict[str, Any]] = []
        async with self.engine.http() as http:
            while True:
                page = await http.request("GET", "/api/v1/waitlist", params=params)
                items += page["items"]
                if not page.get("next_cursor"):
                    return items
                params["cursor"] = page["next_cursor"]

    async def withdraw(self, entry_id: str) -> dict[str, Any]:
        """Leave the line (an offer held is given up), on the entry's current version."""
        path = f"/api/v1/waitlist/{entry_id}"
        async with self.engine.http() as http:
            current = await http.request("GET", path)
            answer = await http.request(
                "DELETE", path, headers={"If-Match": f'"{current["version"]}"'}
            )
        await self.engine.sync()
        return dict(answer)

    async def accept(self, entry_id: str) -> dict[str, Any]:
        """Keep the booking held for the entry; a ``not-offered`` problem if none is open."""
        return await self._answer(entry_id, "accept")

    async def decline(self, entry_id: str) -> dict[str, Any]:
        """Give the held booking up, to the next in line."""
        return await self._answer(entry_id, "decline")

    async def _answer(self, entry_id: str, verb: str) -> dict[str, Any]:
        async with self.engine.http() as http:
            answer = await http.request("POST", f"/api/v1/waitlist/{entry_id}/{verb}")
        await self.engine.sync()
        return dict(answer)


def entries(engine: Engine, *, open_only: bool = False) -> list[dict[str, Any]]:
    """The user's entries in the replica, soonest slot first (only those still waiting or
    holding an offer, with ``open_only``)."""
    sql = "SELECT row FROM waitlist_entries"
    if open_only:
        sql += f" WHERE state IN ({', '.join('?' for _ in OPEN)})"
    with engine.replica.read() as db:
        rows = db.execute(sql + " ORDER BY start, id", OPEN if open_only else ()).fetchall()
    return [json.loads(row) for (row,) in rows]


def entry_id_from(engine: Engine, ref: str) -> str:
    """The full id of the user's entry that ``ref`` names (its id, or the start of it, as the
    lists show); ``ref`` as given if the replica knows no such entry."""
    text = ref.strip().lower()
    matches = [e["id"] for e in entries(engine) if str(e["id"]).startswith(text)]
    return matches[0] if len(matches) == 1 else text
