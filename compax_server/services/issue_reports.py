"""Reports of problems per building over a time range: how many were made (by category, by
status now), how many of those are still unresolved, how many were resolved in the range and
how long resolving took."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from statistics import mean, median
from typing import cast

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.models import Building, Room, RoomIssue
from sync.issue_schemas import BuildingIssues, IssueReport, IssueReportQuery
from sync.vocabulary import UNRESOLVED, IssueCategory, IssueStatus


def _scope(query: IssueReportQuery, buildings: frozenset[int] | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if buildings is not None:
        where.append(col(Room.building_id).in_(sorted(buildings)))
    if query.building is not None:
        where.append(col(Building.code) == query.building)
    return where


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


async def issue_report(
    session: AsyncSession, query: IssueReportQuery, buildings: frozenset[int] | None
) -> IssueReport:
    """The figures of each building with reports made or resolved in ``[from, to)``, among
    ``buildings`` (``None``: every building); one statement for each of the two."""
    base = (
        select(
            col(Building.id),
            col(Building.code),
            col(RoomIssue.category),
            col(RoomIssue.status),
            col(RoomIssue.created_at),
            col(RoomIssue.resolved_at),
        )
        .join(Room, col(Room.id) == col(RoomIssue.room_id))
        .join(Building, col(Building.id) == col(Room.building_id))
        .where(*_scope(query, buildings))
    )
    made = await session.execute(
        base.where(col(RoomIssue.created_at) >= query.start, col(RoomIssue.created_at) < query.end)
    )
    resolved = await session.execute(
        base.where(
            col(RoomIssue.resolved_at) >= query.start, col(RoomIssue.resolved_at) < query.end
        )
    )
    codes: dict[int, str] = {}
    categories: dict[int, Counter[str]] = {}
    statuses: dict[int, Counter[str]] = {}
    took: dict[int, list[float]] = {}
    for found_id, code, category, status, _, _ in made:
        building_id = cast(int, found_id)
        codes[building_id] = code
        categories.setdefault(building_id, Counter())[category] += 1
        statuses.setdefault(building_id, Counter())[status] += 1
    for found_id, code, _, _, created_at, resolved_at in resolved:
        building_id = cast(int, found_id)
        codes[building_id] = code
        took.setdefault(building_id, []).append(_hours(created_at, resolved_at or created_at))
    figures = []
    for building_id in sorted(codes, key=codes.__getitem__):
        by_category = categories.get(building_id, Counter())
        by_status = statuses.get(building_id, Counter())
        hours = took.get(building_id, [])
        figures.append(
            BuildingIssues(
                building_id=building_id,
                building=codes[building_id],
                reported=sum(by_category.values()),
                by_category={c.value: by_category[c.value] for c in IssueCategory},
                by_status={s.value: by_status[s.value] for s in IssueStatus},
                unresolved=sum(by_status[s.value] for s in UNRESOLVED),
                resolved=len(hours),
                median_hours_to_resolve=round(median(hours), 2) if hours else None,
                mean_hours_to_resolve=round(mean(hours), 2) if hours else None,
            )
        )
    return IssueReport(start=query.start, end=query.end, buildings=figures)
