"""Who is told of reports of problems with rooms: a new report tells those who see to its
building's (never its reporter), an assignment tells the assignee, a change of status tells the
reporter; each in the transaction of the change, once per report version."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.jobs.notices import notify
from compax_server.models import BuildingManager, RoomIssue, User
from sync.issue_schemas import IssuePublic
from sync.permissions import Role
from sync.vocabulary import NoticeKind


def issue_facts(public: IssuePublic, actor: User) -> dict[str, Any]:
    """What every notice about a report says."""
    return {
        "issue_id": str(public.id),
        "room": public.room,
        "category": public.category.value,
        "summary": public.summary,
        "status": public.status.value,
        "resolution": public.resolution,
        "by": actor.full_name or actor.username,
    }


async def tell_of_report(
    session: AsyncSession, reporter: User, building_id: int, public: IssuePublic
) -> None:
    """Tell the building's facilities staff and managers (admins when it has none) of a new
    report."""
    data = {**issue_facts(public, reporter), "details": public.details}
    for user_id in await seers_of(session, building_id):
        if user_id != reporter.id:
            await notify(
                session,
                user_id=user_id,
                kind=NoticeKind.ISSUE_REPORTED,
                key=str(public.id),
                data=data,
            )


async def tell_of_change(
    session: AsyncSession,
    actor: User,
    issue: RoomIssue,
    public: IssuePublic,
    *,
    status_changed: bool,
    assigned: int | None,
) -> None:
    """Tell a new assignee they have it, and the reporter that its status moved; nobody is
    told of what they did themselves."""
    data = issue_facts(public, actor)
    key = f"{public.id}:v{public.version}"
    if assigned is not None and assigned != actor.id:
        await notify(session, user_id=assigned, kind=NoticeKind.ISSUE_ASSIGNED, key=key, data=data)
    reporter = issue.reporter_id
    if status_changed and reporter is not None and reporter != actor.id:
        await notify(session, user_id=reporter, kind=NoticeKind.ISSUE_UPDATED, key=key, data=data)


async def seers_of(session: AsyncSession, building_id: int) -> list[int]:
    """Who sees to a building's reports and is told of new ones: active facilities staff and
    the building's active managers; every active admin when there is nobody else."""
    managers = select(col(BuildingManager.user_id)).where(
        col(BuildingManager.building_id) == building_id
    )
    rows = await session.execute(
        select(col(User.id))
        .where(
            col(User.active),
            or_(col(User.role) == Role.FACILITIES.value, col(User.id).in_(managers)),
        )
        .order_by(col(User.id))
    )
    found = [user_id for user_id in rows.scalars() if user_id is not None]
    if found:
        return found
    admins = await session.execute(
        select(col(User.id))
        .where(and_(col(User.active), col(User.role) == Role.ADMIN.value))
        .order_by(col(User.id))
    )
    return [user_id for user_id in admins.scalars() if user_id is not None]
