"""The audit trail as server and clients both see it: one entry per change of a record (who,
when, from which client, the fields before and after), the filters it is read with, and the
call the CLI and the TUI make to read it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import ConfigDict, Field, StringConstraints, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from sync.errors import FieldError, ValidationFailed, field_errors
from sync.schemas import Id, Instant, ListQuery, Page, Schema
from sync.vocabulary import AuditAction
from sync.when import parse_when

if TYPE_CHECKING:
    from sync.engine import Engine

#: The kinds of record the trail names, as their tables are named.
RECORD_TYPES = (
    "bookings",
    "series",
    "blackouts",
    "rooms",
    "buildings",
    "terms",
    "users",
    "issues",
)
#: Entries are read this many at a time (the API's largest page).
PAGE = 500

RecordType = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=24, pattern=r"^[a-z_]+$")
]


class AuditActor(Schema):
    """Who made a change: a user (``None`` for a job), by id and username."""

    id: int
    username: str


class AuditEntryPublic(Schema):
    """One change of one record, as the trail keeps it; ``before`` and ``after`` hold only the
    fields that changed (all of them for a creation or a deletion), never a secret."""

    id: int
    at: datetime
    actor: AuditActor | None = Field(description="`null` when a job made the change.")
    client: str = Field(description="`api`, `cli`, `tui`, `web`, `sync:<client>`, `job`, `link`…")
    action: str
    record_type: str
    record_id: str
    building_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str


class AuditQuery(ListQuery):
    """Audit entries, newest first; every filter is read through an index."""

    model_config = ConfigDict(extra="forbid")
    record_type: RecordType | None = Field(default=None, description="bookings, rooms, users, …")
    record_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="Needs `record_type`."
    )
    actor: Id | None = Field(default=None, description="Only changes by this user id.")
    building: Id | None = Field(default=None, description="Only this building's part.")
    action: AuditAction | None = None
    since: Instant | None = Field(default=None, description="At or after this instant.")
    until: Instant | None = Field(default=None, description="Before this instant.")

    @model_validator(mode="after")
    def _consistent(self) -> AuditQuery:
        """A record id means nothing without its type; a window must not be empty."""
        errors: list[tuple[str, str, object]] = []
        if self.record_id is not None and self.record_type is None:
            errors.append(("record_id", "needs record_type", self.record_id))
        if self.since is not None and self.until is not None and self.until <= self.since:
            errors.append(("until", "must be after since", self.until))
        if errors:
            details = [
                InitErrorDetails(
                    type=PydanticCustomError("value_error", message), loc=(field,), input=given
                )
                for field, message, given in errors
            ]
            raise ValidationError.from_exception_data(type(self).__name__, details)
        return self


def record_filter(text: str) -> tuple[str, str]:
    """``bookings/<id>`` (as ``compax audit --record`` takes it) as a record type and id."""
    kind, _, key = text.strip().partition("/")
    if not kind or not key:
        raise ValidationFailed([FieldError("record", "must be <type>/<id>, e.g. rooms/12")])
    return kind, key


def audit_query(
    *,
    record: str | None = None,
    record_type: str | None = None,
    record_id: str | None = None,
    actor: int | None = None,
    building: int | None = None,
    action: AuditAction | None = None,
    since: str | None = None,
    until: str | None = None,
    zone: ZoneInfo,
    now: datetime,
) -> AuditQuery:
    """The query the CLI's options and the TUI's filters name: a record as ``type/id`` or as a
    type and an id, and times as people write them (``2026-11-01 08:00``, ``today 00:00``, ISO),
    in campus time; ``ValidationFailed`` naming the bad one."""
    if record:
        record_type, record_id = record_filter(record)
    fields: dict[str, Any] = {
        "record_type": record_type or None,
        "record_id": record_id or None,
        "actor": actor,
        "building": building,
        "action": action,
        "since": parse_when(since, zone, now, "since") if since else None,
        "until": parse_when(until, zone, now, "until") if until else None,
    }
    try:
        return AuditQuery.model_validate(fields)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc)) from None


class AuditTrail:
    """The audit trail on the profile's server, read over HTTP."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def entries(self, query: AuditQuery, limit: int | None) -> list[AuditEntryPublic]:
        """The newest entries ``query`` selects, at most ``limit`` of them (all with ``None``),
        reading page after page."""
        found: list[AuditEntryPublic] = []
        size = PAGE if limit is None else min(limit, PAGE)
        query = query.model_copy(update={"limit": size})
        async with self.engine.http() as http:
            while limit is None or len(found) < limit:
                params = query.model_dump(mode="json", exclude_none=True)
                answer = await http.request("GET", "/api/v1/audit", params=params)
                page = Page[AuditEntryPublic].model_validate(answer)
                found += page.items
                if page.next_cursor is None:
                    break
                query = query.model_copy(update={"cursor": page.next_cursor})
        return found if limit is None else found[:limit]
