"""The waitlist's schemas, shared by server and clients: a wish for a taken slot, in one room or
in any room of a building that has the seats and features asked for."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from sync.schemas import (
    Id,
    Instant,
    ListQuery,
    Schema,
    _code_field,
    _end_after_start,
    _feature_items,
    _strip,
)
from sync.vocabulary import Purpose, WaitState, normalised_code, normalised_features


class WaitCreate(Schema):
    """Wait for ``[start, end)`` in one room (``room_id``), or in any room of ``building`` with
    at least ``min_capacity`` seats and every feature of ``features``."""

    model_config = ConfigDict(extra="forbid", validate_default=True)
    room_id: Id | None = None
    building: str | None = _code_field(
        default=None, max_length=16, description="Any matching room of this building."
    )
    min_capacity: int = Field(default=0, ge=0, le=10_000, description="For any room: seats.")
    features: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="For any room: features it must have.",
        json_schema_extra=_feature_items,
    )
    start: Instant
    end: Instant
    title: str = Field(min_length=1, max_length=200)
    purpose: Purpose = Purpose.MEETING
    attendees: int = Field(default=0, ge=0, le=10_000)
    auto_book: bool = Field(
        default=False, description="Book the slot at once when it frees, without an offer."
    )

    _title = field_validator("title", mode="before")(_strip)
    _end = field_validator("end")(_end_after_start)
    _features = field_validator("features")(classmethod(lambda cls, v: normalised_features(v)))

    @field_validator("building")
    @classmethod
    def _one_place(cls, value: str | None, info: ValidationInfo) -> str | None:
        if (value is None) == (info.data.get("room_id") is None):
            raise ValueError("give either room_id or building, not both or neither")
        return None if value is None else normalised_code(value)


class WaitPublic(Schema):
    """A waitlist entry as its owner (and administrators) see it."""

    id: uuid.UUID
    user_id: int
    room_id: int | None
    building_id: int | None
    min_capacity: int
    features: list[str]
    start: datetime
    end: datetime
    title: str
    purpose: Purpose
    attendees: int
    auto_book: bool
    state: WaitState
    booking_id: uuid.UUID | None = Field(description="The booking made or held for it.")
    offer_expires_at: datetime | None = Field(description="When an open offer lapses.")
    version: int
    created_at: datetime
    updated_at: datetime


class WaitQuery(ListQuery):
    """Your entries, oldest first; administrators may name anyone's (``owner``) or everyone's
    (``owner=*``)."""

    owner: str | None = Field(
        default=None, max_length=64, description="Username, `me` (the default), or `*` for all."
    )
    state: WaitState | None = None
