"""Importing problem reports (``POST /api/v1/issues:bulk``): each row matched on its
``external_id`` or on the ``id`` an export wrote, made or brought up to date in a savepoint of
its own, so a bad row is answered alone; importing the same rows again changes nothing.
Imports tell nobody: they carry history, not news."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.audit import record_import
from compax_server.db import Database
from compax_server.models import Building, Room, RoomIssue, User
from compax_server.services.common import utcnow
from compax_server.services.issues import count_unresolved, may_see_to
from sync.errors import FieldError, ValidationFailed, field_errors
from sync.issue_schemas import IssueBulkResponse, IssueBulkRowResult, IssueImportRow
from sync.schemas import IMPORT_NAMESPACE
from sync.vocabulary import UNRESOLVED, BulkStatus, IssueStatus

#: The fields an import row sets, compared with the stored report to tell a change.
_FIELDS = ("room_id", "category", "summary", "details", "status", "reporter_id", "assignee_id")
_UNRESOLVED = {status.value for status in UNRESOLVED}


def _rejected(index: int, errors: list[FieldError]) -> IssueBulkRowResult:
    return IssueBulkRowResult(
        index=index, status=BulkStatus.REJECTED, errors=[e.as_dict() for e in errors]
    )


def issue_id_of(row: IssueImportRow) -> uuid.UUID:
    """The report's id: the one given, or one derived from ``external_id``."""
    if row.id is not None:
        return row.id
    return uuid.uuid5(IMPORT_NAMESPACE, f"issue:{row.external_id}")


async def _rooms(
    session: AsyncSession, rows: Sequence[IssueImportRow]
) -> dict[str, tuple[int, int]]:
    """Each room the rows name, by label: its id and its building's."""
    labels = {tuple(row.room.split("/", 1)) for row in rows}
    found = await session.execute(
        select(col(Building.code), col(Room.code), col(Room.id), col(Room.building_id))
        .join(Building, col(Building.id) == col(Room.building_id))
        .where(tuple_(col(Building.code), col(Room.code)).in_(sorted(labels)))
    )
    return {f"{b}/{code}": (cast(int, room_id), building) for b, code, room_id, building in found}


async def _users(session: AsyncSession, rows: Sequence[IssueImportRow]) -> dict[str, int]:
    names = {name for row in rows for name in (row.reporter, row.assignee) if name}
    if not names:
        return {}
    found = await session.execute(
        select(col(User.username), col(User.id)).where(col(User.username).in_(sorted(names)))
    )
    return {name: cast(int, user_id) for name, user_id in found}


async def _stored(session: AsyncSession, rows: Sequence[IssueImportRow]) -> dict[str, RoomIssue]:
    ids = [issue_id_of(row) for row in rows]
    externals = [row.external_id for row in rows if row.external_id]
    found = await session.execute(
        select(RoomIssue).where(
            or_(col(RoomIssue.id).in_(ids), col(RoomIssue.external_id).in_(externals))
        )
    )
    stored: dict[str, RoomIssue] = {}
    for issue in found.scalars():
        stored[f"id:{issue.id}"] = issue
        if issue.external_id:
            stored[f"external:{issue.external_id}"] = issue
    return stored


async def _values(
    session: AsyncSession,
    row: IssueImportRow,
    rooms: dict[str, tuple[int, int]],
    users: dict[str, int],
) -> dict[str, Any]:
    if row.room not in rooms:
        raise ValidationFailed.single("room", f"no room is called {row.room}")
    room_id, building = rooms[row.room]
    named: dict[str, int | None] = {}
    for field in ("reporter", "assignee"):
        name = getattr(row, field)
        named[field] = None if name is None else users.get(name)
        if name is not None and named[field] is None:
            raise ValidationFailed.single(field, f"no user is called {name[:40]!r}")
    assignee = named["assignee"]
    if assignee is not None and not await may_see_to(session, assignee, building):
        raise ValidationFailed.single(
            "assignee", f"{row.assignee} does not see to the reports of that building"
        )
    return {
        "room_id": room_id,
        "category": row.category.value,
        "summary": row.summary,
        "details": row.details,
        "status": row.status.value,
        "reporter_id": named["reporter"],
        "assignee_id": assignee,
        "resolution": row.resolution,
    }


async def _upsert(
    session: AsyncSession,
    row: IssueImportRow,
    stored: RoomIssue | None,
    values: dict[str, Any],
) -> tuple[BulkStatus, RoomIssue]:
    now = utcnow()
    resolved = row.status is IssueStatus.RESOLVED
    created = row.created_at or (stored.created_at if stored is not None else now)
    if resolved and row.resolved_at is not None and row.resolved_at < created:
        # Resolved before it was made: every figure of time to resolve would go negative.
        raise ValidationFailed.single(
            "resolved_at", f"is before the report was made ({created.isoformat()})"
        )
    if stored is None:
        issue = RoomIssue(
            id=issue_id_of(row),
            external_id=row.external_id,
            created_at=created,
            updated_at=now,
            resolved_at=(row.resolved_at or now) if resolved else None,
            **values,
        )
        session.add(issue)
        if issue.status in _UNRESOLVED:
            await count_unresolved(session, issue.room_id, 1)
        return BulkStatus.CREATED, issue
    wanted = {
        **values,
        "resolved_at": (row.resolved_at or stored.resolved_at or now) if resolved else None,
    }
    if row.created_at is not None:
        wanted["created_at"] = row.created_at
    if all(getattr(stored, name) == value for name, value in wanted.items()):
        return BulkStatus.UNCHANGED, stored
    was, will = stored.status in _UNRESOLVED, wanted["status"] in _UNRESOLVED
    if (was, stored.room_id) != (will, wanted["room_id"]):
        if was:
            await count_unresolved(session, stored.room_id, -1)
        if will:
            await count_unresolved(session, wanted["room_id"], 1)
    for name, value in wanted.items():
        setattr(stored, name, value)
    stored.version += 1
    stored.updated_at = now
    return BulkStatus.UPDATED, stored


async def import_issues(
    db: Database, rows: Sequence[dict[str, Any]], *, dry_run: bool = False
) -> IssueBulkResponse:
    """Make or bring up to date each row's report, in order, audited as one import of
    ``issues``; a dry run does the same and then rolls it all back."""
    results: dict[int, IssueBulkRowResult] = {}
    valid: list[tuple[int, IssueImportRow]] = []
    for index, raw in enumerate(rows):
        try:
            valid.append((index, IssueImportRow.model_validate(raw)))
        except ValidationError as exc:
            results[index] = _rejected(index, field_errors(exc))
    if valid:
        async with db.write() as session:
            checked = [row for _, row in valid]
            rooms, users = await _rooms(session, checked), await _users(session, checked)
            stored = await _stored(session, checked)
            for index, row in valid:
                try:
                    async with session.begin_nested():
                        values = await _values(session, row, rooms, users)
                        status, issue = await _upsert(session, row, stored.get(row.key()), values)
                        await session.flush()
                except ValidationFailed as exc:
                    results[index] = _rejected(index, exc.errors)
                    continue
                except IntegrityError:
                    results[index] = _rejected(index, [FieldError("id", "is another report's")])
                    continue
                stored[row.key()] = stored[f"id:{issue.id}"] = issue
                results[index] = IssueBulkRowResult(index=index, status=status, id=issue.id)
            record_import(session, "issues", results.values())
            if dry_run:
                await session.rollback()
    ordered = [results[i] for i in sorted(results)]
    counts = Counter(result.status for result in ordered)
    summary = {status: counts[status] for status in BulkStatus}
    return IssueBulkResponse(dry_run=dry_run, results=ordered, summary=summary)
