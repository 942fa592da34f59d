"""Problem reports as the CLI and the TUI use them: a report is queued like any change (so it
works offline) and shown as pending until the server has it; reading the list and seeing to
a report talk to the server at once, as their answers are only worth something from it."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from sync.errors import ValidationFailed
from sync.issue_schemas import IssueCreate, IssueReportQuery, IssueUpdate
from sync.protocol import Op

if TYPE_CHECKING:
    from sync.engine import Engine
    from sync.http import Http

#: The fewest leading characters of a report's id that name it (as for a booking's).
SHORTEST_PREFIX = 4


class Issues:
    """The profile's problem reports and, for those who see to them, the changes they make."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def report(self, data: IssueCreate) -> dict[str, Any]:
        """Queue a report; ``Engine.sync`` sends it."""
        return self.engine.report_issue(data)

    def pending(self, **filters: Any) -> list[dict[str, Any]]:
        """Reports made here that the server has not confirmed yet, oldest first; with
        ``filters`` (``page``'s), only those the same filters let the server list."""
        with self.engine.replica.read() as db:
            rows = db.execute(
                "SELECT args, status FROM outbox WHERE op = ? AND status != 'applied' ORDER BY mid",
                [Op.REPORT_ISSUE.value],
            ).fetchall()
        made = [
            {**json.loads(args), "status": "open", "pending": True, "refused": state == "rejected"}
            for args, state in rows
        ]
        return [item for item in made if self._passes(item, filters)]

    def _passes(self, item: dict[str, Any], filters: dict[str, Any]) -> bool:
        """Whether a report not yet sent passes ``filters``: it is open, the caller's own and
        assigned to nobody; its building is that of its room."""
        if filters.get("assignee") or filters.get("status") not in (None, "open"):
            return False
        if filters.get("category") not in (None, item.get("category")):
            return False
        if filters.get("room_id") not in (None, item.get("room_id")):
            return False
        building = filters.get("building")
        if not building:
            return True
        if item.get("room"):
            return str(item["room"]).split("/", 1)[0].upper() == str(building).upper()
        room = self.engine.reads.room(int(item["room_id"])) or {}
        return str(room.get("building", "")).upper() == str(building).upper()

    async def page(self, *, limit: int = 50, cursor: str | None = None, **filters: Any) -> Any:
        """One page of the reports the caller may see, newest first; ``filters`` are
        ``IssueQuery``'s (``status``, ``category``, ``building``, ``room_id``, ``assignee``,
        ``reporter``, ``from``, ``to``)."""
        params = {"limit": limit, **{k: v for k, v in filters.items() if v is not None}}
        if cursor:
            params["cursor"] = cursor
        async with self.engine.http() as http:
            return dict(await http.request("GET", "/api/v1/issues", params=params))

    async def _id(self, http: Http, ref: str) -> str:
        """The id of the report ``ref`` names: its whole id, or its first characters (at least
        ``SHORTEST_PREFIX``, as a table shows them) among the reports the caller may see."""
        ref = ref.strip().lower()
        try:
            return str(uuid.UUID(ref))
        except ValueError:
            pass
        if len(ref) < SHORTEST_PREFIX:
            raise ValidationFailed.single(
                "issue", f"give the report's id, or at least its first {SHORTEST_PREFIX} characters"
            )
        found: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            page = await http.request("GET", "/api/v1/issues", params=params)
            found += [str(i["id"]) for i in page["items"] if str(i["id"]).startswith(ref)]
            cursor = page.get("next_cursor")
            if not cursor or len(found) > 1:
                break
        if len(found) == 1:
            return found[0]
        if found:
            raise ValidationFailed.single("issue", f"several reports start with {ref}; give more")
        raise ValidationFailed.single("issue", f"no report {ref!r} that you may see")

    async def show(self, issue_id: str) -> dict[str, Any]:
        """One report, named by its id or the first characters of it."""
        async with self.engine.http() as http:
            issue_id = await self._id(http, issue_id)
            return dict(await http.request("GET", f"/api/v1/issues/{issue_id}"))

    async def change(self, issue_id: str, change: IssueUpdate) -> dict[str, Any]:
        """Apply ``change`` to the report (named by its id or the first characters of it) as
        it is now on the server."""
        body = change.model_dump(mode="json", exclude_unset=True)
        async with self.engine.http() as http:
            path = f"/api/v1/issues/{await self._id(http, issue_id)}"
            current = await http.request("GET", path)
            answer = await http.request(
                "PATCH", path, json=body, headers={"If-Match": f'"{current["version"]}"'}
            )
        return dict(answer)

    async def of_room(self, room_id: int) -> list[dict[str, Any]]:
        """A room's unresolved reports, as the finder shows them."""
        async with self.engine.http() as http:
            return list(await http.request("GET", f"/api/v1/rooms/{room_id}/issues"))

    async def summary(self, query: IssueReportQuery) -> dict[str, Any]:
        """The per-building figures of ``query``'s range."""
        params = query.model_dump(mode="json", by_alias=True, exclude_none=True)
        async with self.engine.http() as http:
            return dict(await http.request("GET", "/api/v1/reports/issues", params=params))
