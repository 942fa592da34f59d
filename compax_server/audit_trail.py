"""The audit trail of every record written through the ORM, kept by one session event.

Every write session is a ``RecordingSession``; after each flush its ``after_flush`` event
writes one audit entry per audited row the flush created, changed or deleted (only the fields
that changed, before and after), and one ``override`` entry per rule override, in the same
transaction, and inside the savepoint the flush ran in, so that undoing a change undoes its
entry too. Services need not remember to audit; what they change is audited.

Rows written by Core statements are invisible to the event: those writes record their own
entries (``record_inserted`` and ``inserted_booking_audit`` for bookings, ``record_inserted``
for the timetable's series).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    Text,
    bindparam,
    cast,
    delete,
    event,
    func,
    insert,
    inspect,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, UOWTransaction
from sqlmodel import SQLModel

from compax_server import audit
from compax_server.changelog import RecordingSession
from compax_server.models import (
    Blackout,
    Booking,
    Building,
    Room,
    RoomIssue,
    RuleOverride,
    Series,
    Term,
    User,
)
from sync.vocabulary import AuditAction, BookingStatus

#: Audited table models and the record type their entries name.
AUDITED: dict[type[Any], str] = {
    Building: "buildings",
    Room: "rooms",
    Term: "terms",
    User: "users",
    Series: "series",
    Blackout: "blackouts",
    Booking: "bookings",
    RoomIssue: "issues",
}
#: Fields whose change alone is not worth an entry: the entry's own ``at`` says when.
_QUIET = frozenset({"updated_at"})
#: Where a session keeps the action and reason a booking's next change is audited with.
_DECIDED = "compax.audit_decided"
_AUDIT = SQLModel.metadata.tables["audit_entries"]
_ROOMS = SQLModel.metadata.tables["rooms"]
_BOOKINGS = SQLModel.metadata.tables["bookings"]
_SERIES = SQLModel.metadata.tables["series"]

#: An audit entry naming the building of the room given as the parameter ``audit_room``.
_INSERT_FROM_ROOM = insert(_AUDIT).values(
    building_id=select(_ROOMS.c.building_id)
    .where(_ROOMS.c.id == bindparam("audit_room"))
    .scalar_subquery()
)

#: What a booking's or series' new status says was done to it, unless the change names it.
_BY_STATUS = {
    BookingStatus.CANCELLED.value: AuditAction.CANCEL,
    BookingStatus.REJECTED.value: AuditAction.REJECT,
    BookingStatus.EXPIRED.value: AuditAction.EXPIRE,
}


def name_change(session: Any, booking_id: object, action: AuditAction | None, reason: str) -> None:
    """Audit the next flushed change of booking ``booking_id`` as ``action`` with ``reason``."""
    decided: dict[str, tuple[AuditAction | None, str]] = session.info.setdefault(_DECIDED, {})
    decided[str(booking_id)] = (action, reason)


def _before_and_after(obj: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``obj``'s fields as they were before this flush and as it leaves them."""
    state = inspect(obj)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for column in obj.__table__.columns:
        history = state.attrs[column.key].history
        now = getattr(obj, column.key)
        after[column.key] = now
        before[column.key] = history.deleted[0] if history.deleted else now
    return audit.snapshot(before), audit.snapshot(after)


def _user_action(obj: User, state: Any, before: Mapping[str, Any]) -> AuditAction:
    """What a change of a user is: a password reset, a deactivation, a role change or else an
    update (the most telling one when a change is several)."""
    if state.attrs["password_hash"].history.deleted:
        return AuditAction.PASSWORD_RESET
    if before.get("active") and not obj.active:
        return AuditAction.DEACTIVATE
    if "role" in before:
        return AuditAction.ROLE_CHANGE
    return AuditAction.UPDATE


def _changed(session: Session, obj: Any) -> dict[str, Any] | None:
    """The entry of ``obj``'s change in this flush, or ``None`` if nothing visible changed (a
    new version alone, as a grant gives its user, says nothing)."""
    state = inspect(obj)
    before, after = audit.changed_fields(*_before_and_after(obj))
    for key in _QUIET:
        before.pop(key, None)
        after.pop(key, None)
    password = isinstance(obj, User) and bool(state.attrs["password_hash"].history.deleted)
    if set(after) <= {"version"} and not password:
        return None
    reason = ""
    action: AuditAction
    if isinstance(obj, User):
        action = _user_action(obj, state, before)
    else:
        named = session.info.get(_DECIDED, {}).pop(str(obj.id), None)
        if named is not None and named[0] is not None:
            action, reason = named[0], named[1]
        else:
            reason = named[1] if named is not None else ""
            action = _BY_STATUS.get(str(after.get("status")), AuditAction.UPDATE)
    return audit.entry(
        action, AUDITED[type(obj)], obj.id, before=before, after=after, reason=reason
    )


def _building_of(obj: Any) -> tuple[str, Any] | int | None:
    """The building ``obj``'s entry names, or where to look it up (``("room", id)``)."""
    if isinstance(obj, Building):
        return obj.id
    if isinstance(obj, Room):
        return obj.building_id
    if isinstance(obj, Blackout):
        return obj.building_id if obj.building_id is not None else ("room", obj.room_id)
    if isinstance(obj, Booking | Series | RoomIssue):
        return ("room", obj.room_id)
    if isinstance(obj, RuleOverride):
        if obj.booking_id is not None:
            return ("booking", obj.booking_id)
        return ("series", obj.series_id)
    return None


def _buildings(session: Session, wanted: Iterable[tuple[str, Any]]) -> dict[tuple[str, str], int]:
    """The building of each room, booking and series named, in one query per kind."""
    by_kind: dict[str, set[Any]] = {}
    for kind, key in wanted:
        if key is not None:
            by_kind.setdefault(kind, set()).add(key)
    found: dict[tuple[str, str], int] = {}
    connection = session.connection()
    for kind, keys in by_kind.items():
        if kind == "room":
            query = select(_ROOMS.c.id, _ROOMS.c.building_id).where(_ROOMS.c.id.in_(keys))
        else:
            table = _BOOKINGS if kind == "booking" else _SERIES
            query = (
                select(table.c.id, _ROOMS.c.building_id)
                .join(_ROOMS, _ROOMS.c.id == table.c.room_id)
                .where(table.c.id.in_(keys))
            )
        for key, building_id in connection.execute(query):
            found[(kind, str(key))] = building_id
    return found


def _entries(session: Session) -> list[tuple[dict[str, Any], Any]]:
    """The entries of this flush, each with where its building is found."""
    made: list[tuple[dict[str, Any], Any]] = []
    for obj in session.new:
        record_type = AUDITED.get(type(obj))
        if record_type is not None:
            after = audit.snapshot(obj)
            made.append((audit.entry(AuditAction.CREATE, record_type, obj.id, after=after), obj))
        elif isinstance(obj, RuleOverride):
            record_type, record_id = (
                ("bookings", obj.booking_id) if obj.booking_id else ("series", obj.series_id)
            )
            after = {"rules": list(obj.rules)}
            override = audit.entry(
                AuditAction.OVERRIDE, record_type, record_id, after=after, reason=obj.reason
            )
            made.append((override, obj))
    for obj in session.dirty:
        if type(obj) in AUDITED and session.is_modified(obj, include_collections=False):
            changed = _changed(session, obj)
            if changed is not None:
                made.append((changed, obj))
    for obj in session.deleted:
        record_type = AUDITED.get(type(obj))
        if record_type is not None:
            before = audit.snapshot(obj)
            made.append((audit.entry(AuditAction.DELETE, record_type, obj.id, before=before), obj))
    return made


@event.listens_for(RecordingSession, "after_flush")
def _audit_flushed(session: Session, _flush: UOWTransaction) -> None:
    made = _entries(session)
    if not made:
        return
    places = [(row, _building_of(obj)) for row, obj in made]
    found = _buildings(session, [p for _, p in places if isinstance(p, tuple)])
    for row, place in places:
        if isinstance(place, tuple):
            row["building_id"] = found.get((place[0], str(place[1])))
        else:
            row["building_id"] = place
    session.connection().execute(insert(_AUDIT), [row for row, _ in made])


def inserted_entries(
    rows: Sequence[Mapping[str, Any]], inserted: set[Any], record_type: str
) -> list[dict[str, Any]]:
    """The ``create`` entries of the rows a Core insert made (``inserted`` names them), without
    their buildings: ``record_inserted`` looks those up."""
    return [
        audit.entry(AuditAction.CREATE, record_type, row["id"], after=row)
        for row in rows
        if row["id"] in inserted
    ]


async def record_inserted(
    session: AsyncSession, rows: Sequence[Mapping[str, Any]], inserted: set[Any], record_type: str
) -> None:
    """Audit the rows (each with an ``id`` and a ``room_id``) a Core insert made, ``inserted``
    naming them, as created, in one statement that finds each one's building from its room."""
    entries = inserted_entries(rows, inserted, record_type)
    if entries:
        rooms = {str(row["id"]): row["room_id"] for row in rows}
        for entry in entries:
            del entry["building_id"]
            entry["audit_room"] = rooms[entry["record_id"]]
        await session.execute(_INSERT_FROM_ROOM, entries)


def inserted_booking_audit(inserted: Any) -> Any:
    """On Postgres, the ``INSERT`` (as a CTE) of the ``create`` entries of the bookings the CTE
    ``inserted`` returns, from the same statement: the booking's row as ``after``, its room's
    building, and the actor given as the parameters ``audit_actor`` and ``audit_client``."""
    columns = [
        "at",
        "actor_id",
        "client",
        "action",
        "record_type",
        "record_id",
        "building_id",
        "after",
        "reason",
    ]
    rows = select(
        bindparam("changed_at", type_=_AUDIT.c.at.type),
        bindparam("audit_actor", type_=Integer),
        bindparam("audit_client", type_=String),
        literal(AuditAction.CREATE.value),
        literal("bookings"),
        cast(inserted.c.id, Text),
        _ROOMS.c.building_id,
        cast(func.row_to_json(inserted.table_valued()), _AUDIT.c.after.type),
        literal(""),
    ).select_from(inserted.join(_ROOMS, _ROOMS.c.id == inserted.c.room_id))
    return postgres_insert(_AUDIT).from_select(columns, rows).cte("audited")


def actor_parameters() -> dict[str, Any]:
    """The parameters ``inserted_booking_audit``'s statement names the current actor with."""
    actor = audit.current_actor()
    return {"audit_actor": actor.user_id, "audit_client": actor.client}


async def forget_created(session: AsyncSession, record_type: str, ids: Iterable[Any]) -> None:
    """Take back the ``create`` entries of rows this transaction made and then deleted again
    before anyone saw them (a batch that answers its requests one by one instead)."""
    keys = [str(key) for key in ids]
    if keys:
        await session.execute(
            delete(_AUDIT).where(
                _AUDIT.c.record_type == record_type,
                _AUDIT.c.record_id.in_(keys),
                _AUDIT.c.action == AuditAction.CREATE.value,
            )
        )
