"""Reports of problems with rooms as client and server exchange them: a new report, a change
of status or assignee, the list's query, what the finder shows of a room's open reports, and
the per-building report."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from sync.schemas import (
    MAX_ID,
    BuildingFilter,
    Id,
    Instant,
    ListQuery,
    Schema,
    _building_filter,
)
from sync.vocabulary import (
    BulkStatus,
    IssueCategory,
    IssueStatus,
    normalised_code,
    normalised_room_code,
)

MAX_SUMMARY = 200
MAX_DETAILS = 2000
#: ``assignee`` or ``reporter`` naming the caller.
ME = "me"


def _stripped(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def room_label(value: str) -> str:
    """``PB/101`` as stored: building and room codes normalised; refused without the ``/``."""
    building, slash, code = value.partition("/")
    if not slash:
        raise ValueError("write the building and room code as PB/101")
    return f"{normalised_code(building)}/{normalised_room_code(code)}"


class IssueCreate(Schema):
    """A problem reported with a room, named by id or by label, perhaps with the booking it
    spoiled; a client-chosen ``id`` makes a report sent twice one report."""

    model_config = ConfigDict(extra="forbid")
    id: uuid.UUID | None = Field(default=None, description="A client-made id (UUID), optional.")
    room_id: Id | None = None
    room: str | None = Field(
        default=None, max_length=90, description="PB/101, or give room_id.", validate_default=True
    )
    category: IssueCategory = IssueCategory.OTHER
    summary: str = Field(min_length=1, max_length=MAX_SUMMARY)
    details: str = Field(default="", max_length=MAX_DETAILS)
    booking_id: uuid.UUID | None = None

    _summary = field_validator("summary", "details", mode="before")(_stripped)

    @field_validator("room")
    @classmethod
    def _label(cls, value: str | None, info: ValidationInfo) -> str | None:
        """The room as stored; one of ``room_id`` and ``room`` is given, and a 422 names
        ``room`` when it is both or neither (a bad ``room_id`` is named on its own)."""
        if "room_id" in info.data and (value is None) == (info.data["room_id"] is None):
            raise ValueError("give either room_id or room (PB/101), not both or neither")
        return None if value is None else room_label(value)


class IssueUpdate(Schema):
    """A change to a report: its status, who sees to it (a username or id; ``null`` for
    nobody), and the resolution a resolved report needs."""

    model_config = ConfigDict(extra="forbid")
    status: IssueStatus | None = None
    assignee: (
        Annotated[int, Field(ge=1, le=MAX_ID)]
        | Annotated[str, Field(min_length=1, max_length=64)]
        | None
    ) = Field(default=None, description="Username or user id.")
    resolution: str | None = Field(default=None, max_length=MAX_DETAILS)

    _resolution = field_validator("resolution", mode="before")(_stripped)

    @field_validator("assignee", mode="before")
    @classmethod
    def _someone(cls, value: object) -> object:
        if isinstance(value, bool) or (isinstance(value, int) and not 1 <= value <= MAX_ID):
            raise ValueError("is not a user id")
        if isinstance(value, str) and not 1 <= len(value) <= 64:
            raise ValueError("write a username (1 to 64 characters) or a user id")
        return value


class IssueQuery(ListQuery):
    """Reports the caller may see, newest first, filtered as given."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    status: IssueStatus | None = None
    category: IssueCategory | None = None
    building: BuildingFilter | None = _building_filter()
    room_id: Id | None = None
    assignee: str | None = Field(default=None, max_length=64, description="Username, or me.")
    reporter: str | None = Field(default=None, max_length=64, description="Username, or me.")
    start: Instant | None = Field(default=None, alias="from", description="Reported from.")
    end: Instant | None = Field(default=None, alias="to", description="Reported before.")

    @field_validator("end")
    @classmethod
    def _ordered(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("start")
        if value is not None and start is not None and value <= start:
            raise ValueError("must be after from")
        return value


class IssuePublic(Schema):
    """A report as those who may see it read it."""

    id: uuid.UUID
    room_id: int
    room: str = Field(description="PB/101")
    building: str
    category: IssueCategory
    summary: str
    details: str
    status: IssueStatus
    reporter: str | None = Field(description="The reporter's username; null once they are gone.")
    assignee: str | None
    booking_id: uuid.UUID | None
    resolution: str
    external_id: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None


class RoomIssueBrief(Schema):
    """An unresolved report as the finder and the grid show it: no reporter."""

    id: uuid.UUID
    category: IssueCategory
    summary: str
    status: IssueStatus
    since: datetime


class IssueReportQuery(Schema):
    """Reports made in ``[from, to)``, per building."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    start: Instant = Field(alias="from")
    end: Instant = Field(alias="to")
    building: BuildingFilter | None = _building_filter()

    @field_validator("end")
    @classmethod
    def _ordered(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and value <= start:
            raise ValueError("must be after from")
        return value


class BuildingIssues(Schema):
    """One building's figures for the range: reported (by category and status now), still
    unresolved of those, resolved in the range, and hours from report to resolution."""

    building_id: int
    building: str
    reported: int
    by_category: dict[str, int]
    by_status: dict[str, int]
    unresolved: int
    resolved: int
    median_hours_to_resolve: float | None
    mean_hours_to_resolve: float | None


class IssueReport(Schema):
    start: datetime
    end: datetime
    buildings: list[BuildingIssues]


class IssueImportRow(Schema):
    """A report as an import writes it, keyed on ``external_id`` or on the ``id`` an export
    wrote, so that importing the same file again changes nothing."""

    model_config = ConfigDict(extra="forbid")
    id: uuid.UUID | None = None
    external_id: str | None = Field(
        default=None, min_length=1, max_length=255, validate_default=True
    )
    room: str = Field(max_length=90, description="PB/101")
    category: IssueCategory = IssueCategory.OTHER
    summary: str = Field(min_length=1, max_length=MAX_SUMMARY)
    details: str = Field(default="", max_length=MAX_DETAILS)
    status: IssueStatus = IssueStatus.OPEN
    reporter: str | None = Field(default=None, max_length=64, description="Username.")
    assignee: str | None = Field(default=None, max_length=64, description="Username.")
    resolution: str = Field(default="", max_length=MAX_DETAILS, validate_default=True)
    created_at: Instant | None = None
    resolved_at: Instant | None = None

    _text = field_validator("summary", "details", "resolution", mode="before")(_stripped)

    @field_validator("room")
    @classmethod
    def _label(cls, value: str) -> str:
        return room_label(value)

    @field_validator("resolution")
    @classmethod
    def _resolved(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("status") is IssueStatus.RESOLVED and not value:
            raise ValueError("a resolved report needs its resolution")
        return value

    @field_validator("external_id")
    @classmethod
    def _keyed(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("id") is None:
            raise ValueError("give id or external_id, so that the row can be matched again")
        return value

    def key(self) -> str:
        return f"external:{self.external_id}" if self.external_id else f"id:{self.id}"


class IssueBulkRowResult(Schema):
    index: int
    status: BulkStatus
    id: uuid.UUID | None = None
    errors: list[dict[str, str]] = Field(default_factory=list)


class IssueBulkResponse(Schema):
    dry_run: bool = False
    results: list[IssueBulkRowResult]
    summary: dict[BulkStatus, int]
