"""The sync protocol's messages: push of numbered mutations, pull of numbered changes."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

from sync.schemas import BookingUpdate, Id
from sync.vocabulary import Scope

#: Bumped when a message changes incompatibly; the server refuses other versions.
SCHEMA_VERSION = 1
#: The largest change cursor: sequence numbers are 64-bit integers on both databases.
MAX_CURSOR = 2**63 - 1
#: Tables a replica holds, in the order a first pull fills them.
TABLES = (
    "buildings",
    "rooms",
    "terms",
    "users",
    "series",
    "blackouts",
    "bookings",
    "waitlist_entries",
)


class Op(StrEnum):
    CREATE_BOOKING = "create_booking"
    UPDATE_BOOKING = "update_booking"
    CANCEL_BOOKING = "cancel_booking"
    CREATE_SERIES = "create_series"
    CHECK_IN_BOOKING = "check_in_booking"
    RATE_ROOM = "rate_room"
    REPORT_ISSUE = "report_issue"


class Mutation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mid: Id = Field(description="The client's mutation number: 1, 2, 3, …")
    op: Op
    args: dict[str, Any]


class PushRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: uuid.UUID
    schema_version: int
    mutations: list[Mutation] = Field(max_length=500)


class MutationStatus(StrEnum):
    APPLIED = "applied"
    REJECTED = "rejected"


class MutationResult(BaseModel):
    mid: int
    status: MutationStatus
    id: str | None = Field(default=None, description="The record the mutation made or changed.")
    version: int | None = None
    problem: dict[str, Any] | None = Field(default=None, description="Why it was rejected.")


class Gap(BaseModel):
    expected: int
    received: int


class PushResponse(BaseModel):
    last_mutation_id: int
    results: list[MutationResult]
    gap: Gap | None = Field(default=None, description="Set when the batch stopped at a gap.")


class UpdateBookingArgs(BookingUpdate):
    id: uuid.UUID
    base_version: Id
    scope: Scope = Scope.THIS


class CancelBookingArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: uuid.UUID
    base_version: Id
    scope: Scope = Scope.THIS


class CheckInBookingArgs(BaseModel):
    """A check-in made on a client; it counts only if the server receives it within the
    window, whatever ``at`` (the client's clock) says."""

    model_config = ConfigDict(extra="forbid")
    id: uuid.UUID
    at: AwareDatetime = Field(description="When the client checked in, by its own clock.")


class RegisterClient(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: uuid.UUID


class ClientState(BaseModel):
    client_id: uuid.UUID
    last_mutation_id: int


class PullQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cursor: int = Field(default=0, ge=0, le=MAX_CURSOR)
    limit: int = Field(default=1000, ge=1, le=5000)
    client_id: uuid.UUID | None = None


class ChangeOp(StrEnum):
    PUT = "put"
    DELETE = "delete"


class ChangeItem(TypedDict):
    """One change of a pull: a plain dict, so that a page of thousands costs no model each."""

    op: ChangeOp
    table: str
    row: dict[str, Any]


class PullResponse(BaseModel):
    cursor: int
    has_more: bool
    last_mutation_id: int | None = None
    reset: bool = Field(
        default=False, description="The cursor was too old: drop every server row, then apply."
    )
    changes: list[ChangeItem]
