"""Approval requests and decisions as client and server exchange them: the queue's query,
the decision bodies, and what deciding a series answers."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from sync.approval_rule import request_status, roles_in_force, status_after_move
from sync.permissions import Access
from sync.schemas import (
    BookingPublic,
    BuildingFilter,
    Id,
    Instant,
    ListQuery,
    Schema,
    _building_filter,
)

if TYPE_CHECKING:
    from sync.engine import Engine

#: How long an approver's reason may be (the ``bookings.decision_reason`` column).
MAX_REASON = 500


def _stripped(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class ApprovalQuery(ListQuery):
    """The queue of pending requests the caller may decide, soonest start first (the order
    they expire in), filtered as given."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    building: BuildingFilter | None = _building_filter()
    room_id: Id | None = None
    requester: str | None = Field(default=None, max_length=64, description="Username.")
    start: Instant | None = Field(default=None, alias="from", description="Ends after this.")
    end: Instant | None = Field(default=None, alias="to", description="Starts before this.")

    @field_validator("end")
    @classmethod
    def _ordered(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("start")
        if value is not None and start is not None and value <= start:
            raise ValueError("must be after from")
        return value


class Approve(Schema):
    """Approving a request: a reason is optional."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=MAX_REASON)

    _reason = field_validator("reason", mode="before")(_stripped)


class Reject(Schema):
    """Rejecting a request: the requester is told why."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=MAX_REASON)

    _reason = field_validator("reason", mode="before")(_stripped)


class SeriesDecision(Schema):
    """The occurrences of a series a decision decided, as the caller sees them."""

    decided: list[BookingPublic]


def decision_body(reason: str, *, approve: bool) -> dict[str, Any]:
    """The body of a decision, validated as the server will validate it."""
    model = Approve if approve else Reject
    return model(reason=reason).model_dump()


class _Buildings(Protocol):
    def buildings(self) -> list[dict[str, Any]]: ...


def _roles_in_force(lookups: _Buildings, room: dict[str, Any]) -> frozenset[str]:
    building_roles = next(
        (b.get("approval_roles") for b in lookups.buildings() if b["id"] == room["building_id"]),
        None,
    )
    return roles_in_force(room.get("approval_roles"), building_roles)


def offline_status(lookups: _Buildings, room: dict[str, Any], access: Access) -> str:
    """The status a booking made offline in ``room`` (a replica record) by ``access`` shows
    until the server's row arrives: ``pending`` where the approval rule makes it wait."""
    return request_status(_roles_in_force(lookups, room), access, int(room["building_id"])).value


def offline_status_after_move(
    lookups: _Buildings,
    room: dict[str, Any],
    current: str,
    owner: Access | None,
    mover: Access,
) -> str:
    """The status a booking moved offline into ``room`` shows until the server's row arrives
    (``approval_rule.status_after_move``); one whose owner the client cannot judge (another
    user's) keeps its status."""
    if owner is None:
        return current
    roles = _roles_in_force(lookups, room)
    return status_after_move(current, roles, owner, mover, int(room["building_id"])).value


class Approvals:
    """The approval calls of the profile's signed-in approver: they talk to the server at
    once (a decision is worth something only when the server has it), then sync."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def queue(
        self, *, limit: int = 50, cursor: str | None = None, **filters: Any
    ) -> dict[str, Any]:
        """One page of the requests waiting for the caller's decision, soonest first;
        ``filters`` are ``ApprovalQuery``'s (``building``, ``room_id``, ``requester``,
        ``from``, ``to``)."""
        params = {"limit": limit, **{k: v for k, v in filters.items() if v is not None}}
        if cursor:
            params["cursor"] = cursor
        async with self.engine.http() as http:
            return dict(await http.request("GET", "/api/v1/approvals", params=params))

    async def decide(self, booking_id: str, *, approve: bool, reason: str = "") -> dict[str, Any]:
        """Approve or reject one request, on its current version."""
        body = decision_body(reason, approve=approve)
        path = f"/api/v1/bookings/{booking_id}"
        async with self.engine.http() as http:
            current = await http.request("GET", path)
            answer = await http.request(
                "POST",
                f"{path}/{'approve' if approve else 'reject'}",
                json=body,
                headers={"If-Match": f'"{current["version"]}"'},
            )
        await self.engine.sync()
        return dict(answer)

    async def decide_series(
        self, series_id: str, *, approve: bool, reason: str = ""
    ) -> list[dict[str, Any]]:
        """Approve or reject every pending occurrence of a series at once."""
        body = decision_body(reason, approve=approve)
        verb = "approve" if approve else "reject"
        async with self.engine.http() as http:
            answer = await http.request("POST", f"/api/v1/series/{series_id}/{verb}", json=body)
        await self.engine.sync()
        return list(answer["decided"])
