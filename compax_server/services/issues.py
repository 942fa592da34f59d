"""Reports of problems with rooms: made by anyone signed in, seen to (assigned, started,
resolved, reopened) by those who hold ``issues:manage`` in the room's building.

A room keeps its count of unresolved reports (``rooms.open_issues``, ``count_unresolved``), moved
in the transaction that makes, resolves or reopens a report; the room is re-published in the
change log, so replicas pull the new count and cached room answers are computed afresh.

Who may see a report: its reporter, and whoever holds ``issues:manage`` in its building
(facilities staff and admins everywhere, managers in their buildings). Every change is audited
by the session's flush (record type ``issue``) and tells whom it concerns in its transaction.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, false, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from compax_server.changelog import note_written
from compax_server.models import Booking, Building, BuildingManager, Room, RoomIssue, User
from compax_server.services import issue_notices
from compax_server.services.common import check_version, utcnow
from sync.errors import Duplicate, Forbidden, NotFound, ValidationFailed
from sync.issue_schemas import (
    ME,
    IssueCreate,
    IssuePublic,
    IssueQuery,
    IssueUpdate,
    RoomIssueBrief,
)
from sync.permissions import Access, Permission
from sync.schemas import FIRST_YEAR, LAST_YEAR, Page
from sync.vocabulary import UNRESOLVED, IssueStatus

MANAGE = Permission.MANAGE_ISSUES
_REPORTER = aliased(User)
_ASSIGNEE = aliased(User)
#: Which status may follow which: start, resolve (from open or in progress), put back, reopen.
_NEXT: dict[IssueStatus, frozenset[IssueStatus]] = {
    IssueStatus.OPEN: frozenset({IssueStatus.IN_PROGRESS, IssueStatus.RESOLVED}),
    IssueStatus.IN_PROGRESS: frozenset({IssueStatus.OPEN, IssueStatus.RESOLVED}),
    IssueStatus.RESOLVED: frozenset({IssueStatus.OPEN}),
}
_UNRESOLVED = [status.value for status in UNRESOLVED]


def _public_select() -> Any:
    return (
        select(
            RoomIssue,
            col(Room.code),
            col(Room.building_id),
            col(Building.code),
            col(_REPORTER.username),
            col(_ASSIGNEE.username),
        )
        .join(Room, col(Room.id) == col(RoomIssue.room_id))
        .join(Building, col(Building.id) == col(Room.building_id))
        .outerjoin(_REPORTER, col(_REPORTER.id) == col(RoomIssue.reporter_id))
        .outerjoin(_ASSIGNEE, col(_ASSIGNEE.id) == col(RoomIssue.assignee_id))
    )


def _public(row: Any) -> IssuePublic:
    issue, room_code, _, building, reporter, assignee = row
    return IssuePublic.model_validate(
        {
            **issue.model_dump(),
            "room": f"{building}/{room_code}",
            "building": building,
            "reporter": reporter,
            "assignee": assignee,
        }
    )


async def issue_public(session: AsyncSession, issue_id: uuid.UUID) -> IssuePublic:
    """The report as the API shows it, in one statement."""
    row = (await session.execute(_public_select().where(col(RoomIssue.id) == issue_id))).first()
    if row is None:
        raise NotFound(f"No issue with id {issue_id}")
    return _public(row)


def _visible(user: User, access: Access) -> ColumnElement[bool] | None:
    """What the caller may see beyond nothing: ``None`` for every report."""
    buildings = access.buildings_for(MANAGE)
    if buildings is None:
        return None
    mine = col(RoomIssue.reporter_id) == user.id
    if not buildings:
        return mine
    return or_(mine, col(Room.building_id).in_(sorted(buildings)))


async def _room_by_label(session: AsyncSession, label: str) -> int:
    building, _, code = label.partition("/")
    found = await session.execute(
        select(col(Room.id))
        .join(Building, col(Building.id) == col(Room.building_id))
        .where(col(Building.code) == building, col(Room.code) == code)
    )
    room_id = found.scalar_one_or_none()
    if room_id is None:
        raise ValidationFailed.single("room", f"no room is called {label}")
    return room_id


async def _building_of_room(session: AsyncSession, room_id: int, field: str) -> tuple[int, str]:
    found = await session.execute(
        select(col(Building.id), col(Building.code))
        .join(Room, col(Room.building_id) == col(Building.id))
        .where(col(Room.id) == room_id)
    )
    row = found.first()
    if row is None:
        raise ValidationFailed.single(field, f"no room has id {room_id}")
    return cast(int, row[0]), str(row[1])


async def _check_booking(
    session: AsyncSession,
    user: User,
    access: Access,
    body: IssueCreate,
    room_id: int,
    building: int,
) -> None:
    """The booking a report names must be in its room and one the reporter may see: their
    own, or any there for those who see to the building's reports."""
    assert body.booking_id is not None
    booking = await session.get(Booking, body.booking_id)
    if booking is None or (booking.owner_id != user.id and not access.allows_in(MANAGE, building)):
        raise ValidationFailed.single("booking_id", "is not a booking of yours")
    if booking.room_id != room_id:
        raise ValidationFailed.single("booking_id", "is a booking in another room")


async def _sent_before(
    session: AsyncSession, user: User, issue_id: uuid.UUID
) -> IssuePublic | None:
    """The report with the client's ``issue_id`` when its reporter sends it again; another
    user's is a 409 naming ``id``."""
    existing = await session.get(RoomIssue, issue_id, populate_existing=True)
    if existing is None:
        return None
    if existing.reporter_id != user.id:
        raise Duplicate(f"An issue with id {issue_id} already exists", field="id")
    return await issue_public(session, issue_id)


async def report_issue(
    session: AsyncSession, user: User, access: Access, body: IssueCreate
) -> tuple[IssuePublic, bool]:
    """Record a report and tell who sees to the building's; whether it is new (a report with
    the client's ``id`` already made by the same reporter is answered as it is)."""
    if body.id is not None:
        existing = await _sent_before(session, user, body.id)
        if existing is not None:
            return existing, False
    field = "room_id" if body.room_id is not None else "room"
    room_id = body.room_id or await _room_by_label(session, body.room or "")
    building_id, _ = await _building_of_room(session, room_id, field)
    if body.booking_id is not None:
        await _check_booking(session, user, access, body, room_id, building_id)
    now = utcnow()
    issue = RoomIssue(
        id=body.id or uuid.uuid4(),
        room_id=room_id,
        reporter_id=user.id,
        booking_id=body.booking_id,
        category=body.category.value,
        summary=body.summary,
        details=body.details,
        status=IssueStatus.OPEN.value,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(issue)
            await session.flush()
    except IntegrityError:
        # The same id sent twice at once: the other request made it first.
        again = await _sent_before(session, user, issue.id)
        if again is None:
            raise
        return again, False
    await count_unresolved(session, room_id, 1)
    public = await issue_public(session, issue.id)
    await issue_notices.tell_of_report(session, user, building_id, public)
    return public, True


async def _user_named(
    session: AsyncSession, caller: User, name: str, field: str, *, quiet: bool
) -> int | None:
    """The id of the user ``name`` (``me``: the caller); a name of nobody is a 422 naming
    ``field``, or with ``quiet`` ``None``, so that those who see only their own reports cannot
    learn from the list which usernames exist."""
    if name == ME:
        return caller.id
    found = await session.execute(select(col(User.id)).where(col(User.username) == name))
    user_id = found.scalar_one_or_none()
    if user_id is None and not quiet:
        raise ValidationFailed.single(field, f"no user is called {name[:40]!r}")
    return user_id


def _cursor(issue: RoomIssue) -> str:
    text = f"issue:{issue.created_at.isoformat()}|{issue.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _after(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, rest = text.partition(":")
        moment, _, issue_id = rest.partition("|")
        after = datetime.fromisoformat(moment)
        # The server writes UTC instants of the years it keeps; any other could not even be
        # turned into a database value (a year past 9999 in UTC, say).
        in_range = FIRST_YEAR <= after.year <= LAST_YEAR
        if kind == "issue" and after.utcoffset() == timedelta(0) and in_range:
            return after, uuid.UUID(issue_id)
    except ValueError:
        pass
    raise ValidationFailed.single("cursor", "is not a cursor this server handed out")


async def list_issues(
    session: AsyncSession, user: User, access: Access, query: IssueQuery
) -> Page[IssuePublic]:
    """The reports the caller may see, newest first, a page after ``query.cursor``."""
    statement = _public_select()
    visible = _visible(user, access)
    if visible is not None:
        statement = statement.where(visible)
    if query.status is not None:
        statement = statement.where(col(RoomIssue.status) == query.status.value)
    if query.category is not None:
        statement = statement.where(col(RoomIssue.category) == query.category.value)
    if query.building is not None:
        statement = statement.where(col(Building.code) == query.building)
    if query.room_id is not None:
        statement = statement.where(col(RoomIssue.room_id) == query.room_id)
    own_only = access.buildings_for(MANAGE) == frozenset()
    for name, field, column in (
        (query.assignee, "assignee", RoomIssue.assignee_id),
        (query.reporter, "reporter", RoomIssue.reporter_id),
    ):
        if name is not None:
            named = await _user_named(session, user, name, field, quiet=own_only)
            statement = statement.where(false() if named is None else col(column) == named)
    if query.start is not None:
        statement = statement.where(col(RoomIssue.created_at) >= query.start)
    if query.end is not None:
        statement = statement.where(col(RoomIssue.created_at) < query.end)
    if query.cursor:
        statement = statement.where(
            tuple_(col(RoomIssue.created_at), col(RoomIssue.id)) < tuple_(*_after(query.cursor))
        )
    statement = statement.order_by(col(RoomIssue.created_at).desc(), col(RoomIssue.id).desc())
    rows = (await session.execute(statement.limit(query.limit + 1))).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return Page(
        items=[_public(row) for row in rows], next_cursor=_cursor(rows[-1][0]) if more else None
    )


async def read_issue(
    session: AsyncSession, user: User, access: Access, issue_id: uuid.UUID
) -> IssuePublic:
    """One report, for its reporter or those who see to its building's."""
    row = (await session.execute(_public_select().where(col(RoomIssue.id) == issue_id))).first()
    if row is None:
        raise NotFound(f"No issue with id {issue_id}")
    issue, building_id = row[0], row[2]
    if issue.reporter_id != user.id and not access.allows_in(MANAGE, building_id):
        raise Forbidden("You may see only your own reports and those of buildings you look after")
    return _public(row)


async def may_see_to(session: AsyncSession, user_id: int, building_id: int) -> bool:
    """Whether the user ``user_id`` is active and holds ``issues:manage`` in the building."""
    user = await session.get(User, user_id)
    if user is None or not user.active:
        return False
    if Access.of(user.role).allows(MANAGE):
        return True
    found = await session.execute(
        select(col(BuildingManager.user_id)).where(
            col(BuildingManager.user_id) == user_id, col(BuildingManager.building_id) == building_id
        )
    )
    return found.first() is not None


async def _assignee(
    session: AsyncSession, value: str | int | None, building: tuple[int, str]
) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        user_id: int | None = value
    else:
        found = await session.execute(select(col(User.id)).where(col(User.username) == value))
        user_id = found.scalar_one_or_none()
    if user_id is None or not await may_see_to(session, user_id, building[0]):
        raise ValidationFailed.single(
            "assignee",
            f"{str(value)[:40]!r} is not someone who sees to the reports of building "
            f"{building[1]} (facilities staff, an admin or one of its managers)",
        )
    return user_id


def _status_change(issue: RoomIssue, wanted: IssueStatus, resolution: str | None) -> None:
    current = IssueStatus(issue.status)
    if wanted not in _NEXT[current]:
        raise ValidationFailed.single(
            "status", f"a report that is {current.value} cannot become {wanted.value}"
        )
    issue.status = wanted.value
    if wanted is IssueStatus.RESOLVED:
        issue.resolution = resolution or issue.resolution
        if not issue.resolution:
            raise ValidationFailed.single("resolution", "say what was done to resolve it")
        issue.resolved_at = utcnow()
    else:
        issue.resolved_at = None
        if current is IssueStatus.RESOLVED:
            issue.resolution = ""


async def update_issue(
    session: AsyncSession,
    user: User,
    access: Access,
    issue_id: uuid.UUID,
    version: int,
    change: IssueUpdate,
) -> IssuePublic:
    """Change a report's status, assignee or resolution (those who see to its building), or
    reopen it (its reporter, once it is resolved); tells the assignee and the reporter."""
    issue = await session.get(RoomIssue, issue_id, with_for_update=True)
    if issue is None:
        raise NotFound(f"No issue with id {issue_id}")
    building = await _building_of_room(session, issue.room_id, "room_id")
    given = change.model_dump(exclude_unset=True)
    if not access.allows_in(MANAGE, building[0]):
        reopening = given == {"status": IssueStatus.OPEN}
        if issue.reporter_id != user.id or not reopening:
            raise Forbidden(
                f"Only those who see to the reports of building {building[1]} may change this "
                "one; its reporter may only reopen it",
                building=building[1],
            )
        if issue.status != IssueStatus.RESOLVED.value:
            raise ValidationFailed.single("status", "only a resolved report can be reopened")
    check_version(issue, version, await issue_public(session, issue_id))
    was_status, was_assignee = issue.status, issue.assignee_id
    if "assignee" in given:
        issue.assignee_id = await _assignee(session, change.assignee, building)
    if change.status is not None and change.status.value != issue.status:
        _status_change(issue, change.status, change.resolution)
    elif change.resolution is not None:
        # A status it already has is no move: the resolution sent with it is still a change.
        if issue.status == IssueStatus.RESOLVED.value and not change.resolution:
            raise ValidationFailed.single("resolution", "a resolved report keeps its resolution")
        issue.resolution = change.resolution
    if (was_status in _UNRESOLVED) != (issue.status in _UNRESOLVED):
        await count_unresolved(session, issue.room_id, 1 if issue.status in _UNRESOLVED else -1)
    if session.is_modified(issue):
        issue.version += 1
        issue.updated_at = utcnow()
        await session.flush()
    public = await issue_public(session, issue_id)
    await issue_notices.tell_of_change(
        session,
        user,
        issue,
        public,
        status_changed=issue.status != was_status,
        assigned=issue.assignee_id if issue.assignee_id != was_assignee else None,
    )
    return public


async def room_issues(session: AsyncSession, room_id: int) -> list[RoomIssueBrief]:
    """The room's unresolved reports, oldest first, with nobody's name."""
    if await session.get(Room, room_id) is None:
        raise NotFound(f"No room with id {room_id}")
    rows = await session.execute(
        select(RoomIssue)
        .where(col(RoomIssue.room_id) == room_id, col(RoomIssue.status).in_(_UNRESOLVED))
        .order_by(col(RoomIssue.created_at))
    )
    return [
        RoomIssueBrief(
            id=issue.id,
            category=issue.category,
            summary=issue.summary,
            status=issue.status,
            since=issue.created_at,
        )
        for issue in rows.scalars()
    ]


async def count_unresolved(session: AsyncSession, room_id: int, change: int) -> None:
    """Move the room's count of unresolved reports (``rooms.open_issues``) by ``change``, in
    the transaction that makes the report so, and only relative to itself, so that reports
    made at once each count; the room goes to the replicas, its ``version`` left alone."""
    await session.execute(
        update(Room)
        .where(col(Room.id) == room_id)
        .values(open_issues=col(Room.open_issues) + change)
        .execution_options(synchronize_session=False)
    )
    note_written(session, "rooms", [room_id])
