"""Approval requests and decisions as client and server exchange them: the queue's query,
the decision bodies, and what deciding a series answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from sync.schemas import (
    BookingPublic,
    BuildingFilter,
    Id,
    Instant,
    ListQuery,
    Schema,
    _building_filter,
)

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
