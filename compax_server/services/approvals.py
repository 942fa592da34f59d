"""Deciding approval requests: the queue an approver sees, approving and rejecting a request
or a whole series, and expiring the requests nobody decided in time.

Every decision goes through the booking store (the rooms taken first, the change audited as
the decision) and is told to the requester in the same transaction. A pending request holds
its slot already, so approving it can never double-book.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.models import Booking, Building, Room, Series, User
from compax_server.services.access import access_of
from compax_server.services.approval_notices import tell_requester
from compax_server.services.booking_views import labelled_bookings, views_of
from compax_server.services.bookings import booking_page, read_booking, rooms_touched
from compax_server.services.common import check_version, get_or_404, id_of, utcnow
from compax_server.services.notice_events import room_labels
from compax_server.store import store_for
from sync.approvals import ApprovalQuery, SeriesDecision
from sync.errors import Forbidden, NotPending
from sync.permissions import Access, Permission
from sync.schemas import BookingPublic, Page
from sync.vocabulary import AuditAction, BookingStatus, NoticeKind, Scope

PENDING = BookingStatus.PENDING.value
APPROVE = Permission.APPROVE_BOOKINGS


def ensure_approver(access: Access) -> None:
    """Refuse a caller who may approve requests nowhere."""
    if not access.allows_somewhere(APPROVE):
        raise Forbidden(f"Your role ({access.role}) may not approve booking requests")


async def approval_queue(
    session: AsyncSession, actor: User, query: ApprovalQuery
) -> Page[BookingPublic]:
    """The pending requests ``actor`` may decide (every one for admins, their buildings' for
    managers), soonest start first, filtered as ``query`` asks."""
    access = await access_of(session, actor)
    ensure_approver(access)
    statement = labelled_bookings().where(col(Booking.status) == PENDING)
    buildings = access.buildings_for(APPROVE)
    if buildings is not None:
        statement = statement.where(col(Room.building_id).in_(sorted(buildings)))
    if query.building:
        await _ensure_approves_in(session, access, query.building)
        statement = statement.where(col(Building.code) == query.building)
    if query.room_id is not None:
        statement = statement.where(col(Booking.room_id) == query.room_id)
    if query.requester:
        statement = statement.where(col(User.username) == query.requester.lower())
    return await booking_page(session, statement, query, actor)


async def _ensure_approves_in(session: AsyncSession, access: Access, code: str) -> None:
    """Refuse (403 naming it) a queue asked for a building the caller does not approve for."""
    if access.allows(APPROVE):
        return
    found = await session.execute(select(col(Building.id)).where(col(Building.code) == code))
    building_id = found.scalar_one_or_none()
    if building_id is None or not access.allows_in(APPROVE, building_id):
        raise Forbidden(
            f"You may see the requests only of the buildings you manage, not {code}",
            field="building",
            building=code,
        )


def _verdict(approve: bool) -> tuple[str, AuditAction, NoticeKind]:
    if approve:
        return BookingStatus.CONFIRMED.value, AuditAction.APPROVE, NoticeKind.APPROVED
    return BookingStatus.REJECTED.value, AuditAction.REJECT, NoticeKind.REJECTED


async def _buildings_of(
    session: AsyncSession, room_ids: Sequence[int]
) -> dict[int, tuple[int, str]]:
    """The building (id and code) of each of ``room_ids``."""
    rows = await session.execute(
        select(col(Room.id), col(Room.building_id), col(Building.code))
        .join(Building, col(Building.id) == col(Room.building_id))
        .where(col(Room.id).in_(sorted(set(room_ids))))
    )
    return {
        room_id: (building_id, code) for room_id, building_id, code in rows if room_id is not None
    }


async def _decide(
    session: AsyncSession,
    actor: User,
    bookings: Sequence[Booking],
    *,
    approve: bool,
    reason: str,
) -> None:
    """Approve or reject ``bookings`` (pending, their rooms taken) as ``actor``, and tell
    their requesters."""
    status, action, kind = _verdict(approve)
    now = utcnow()
    change = {
        "status": status,
        "decided_by": id_of(actor),
        "decided_at": now,
        "decision_reason": reason,
    }
    await store_for(session).change_bookings(
        session, [(booking, change) for booking in bookings], action=action, reason=reason
    )
    labels = await room_labels(session, [booking.room_id for booking in bookings])
    by = actor.full_name or actor.username
    await tell_requester(session, kind, bookings, labels, reason=reason, by=by)


async def _ensure_may_decide(
    session: AsyncSession, actor: User, bookings: Sequence[Booking | Series]
) -> None:
    access = await access_of(session, actor)
    ensure_approver(access)
    buildings = await _buildings_of(session, [booking.room_id for booking in bookings])
    for booking in bookings:
        building_id, code = buildings[booking.room_id]
        if not access.allows_in(APPROVE, building_id):
            raise Forbidden(
                f"You may decide requests only for the buildings you manage, not {code}",
                field="id",
                building=code,
            )


async def decide_booking(
    session: AsyncSession,
    actor: User,
    booking_id: uuid.UUID,
    expected_version: int,
    *,
    approve: bool,
    reason: str,
) -> BookingPublic:
    """Approve or reject one pending request: 403 outside the caller's buildings, 412 on a
    stale version, 409 ``not-pending`` when it waits for nothing."""
    store = store_for(session)
    await store.take_rooms(session, await rooms_touched(session, [(booking_id, Scope.THIS)]))
    booking = await get_or_404(session, Booking, booking_id, "booking", for_update=True)
    await _ensure_may_decide(session, actor, [booking])
    check_version(booking, expected_version, await read_booking(session, booking.id, actor))
    if booking.status != PENDING:
        raise NotPending(
            f"The booking is {booking.status}, not waiting for approval", current=booking.status
        )
    await _decide(session, actor, [booking], approve=approve, reason=reason)
    return await read_booking(session, booking.id, actor)


async def decide_series(
    session: AsyncSession, actor: User, series_id: uuid.UUID, *, approve: bool, reason: str
) -> SeriesDecision:
    """Approve or reject every pending occurrence of a series at once: 403 if any lies outside
    the caller's buildings, 409 ``not-pending`` when none waits."""
    series = await get_or_404(session, Series, series_id, "series")
    rooms = await session.execute(
        select(col(Booking.room_id))
        .where(col(Booking.series_id) == series_id, col(Booking.status) == PENDING)
        .distinct()
    )
    await store_for(session).take_rooms(session, {series.room_id, *rooms.scalars()})
    await _ensure_may_decide(session, actor, [series])
    pending = list(
        (
            await session.execute(
                select(Booking)
                .where(col(Booking.series_id) == series_id, col(Booking.status) == PENDING)
                .order_by(col(Booking.start))
                .with_for_update()
            )
        ).scalars()
    )
    # An occurrence moved into another room meanwhile: start again, taking that room too.
    await store_for(session).take_rooms(session, {booking.room_id for booking in pending})
    if not pending:
        raise NotPending("No occurrence of this series waits for approval")
    await _ensure_may_decide(session, actor, pending)
    await _decide(session, actor, pending, approve=approve, reason=reason)
    return SeriesDecision(decided=await views_of(session, [b.id for b in pending], actor))


def expires_at(start: datetime, created_at: datetime, lead: timedelta) -> datetime:
    """When a request nobody decides expires: ``lead`` before its start, or at its start when
    it was made later than that, so that a late request gets its chance."""
    return start - lead if created_at < start - lead else start


async def expire_due(session: AsyncSession, now: datetime, lead: timedelta, limit: int) -> int:
    """Expire up to ``limit`` pending requests that are due (``expires_at``; all start within
    ``lead`` of ``now``, found by the index of pending requests by start) through the store,
    rooms taken first, and tell their requesters; how many expired. Idempotent: a request
    another worker expired first is no longer pending when read under its lock."""
    near = await session.execute(
        select(col(Booking.id), col(Booking.room_id), col(Booking.start), col(Booking.created_at))
        .where(col(Booking.status) == PENDING, col(Booking.start) < now + lead)
        .order_by(col(Booking.start), col(Booking.id))
    )
    due = [
        (booking_id, room_id)
        for booking_id, room_id, start, created_at in near
        if expires_at(start, created_at, lead) <= now
    ][:limit]
    if not due:
        return 0
    await store_for(session).take_rooms(session, {room_id for _, room_id in due})
    expiring = list(
        (
            await session.execute(
                select(Booking)
                .where(
                    col(Booking.id).in_([booking_id for booking_id, _ in due]),
                    col(Booking.status) == PENDING,
                )
                .order_by(col(Booking.start), col(Booking.id))
                .with_for_update()
            )
        ).scalars()
    )
    if not expiring:
        return 0
    change = {"status": BookingStatus.EXPIRED.value, "decided_at": now}
    await store_for(session).change_bookings(
        session,
        [(booking, change) for booking in expiring],
        action=AuditAction.EXPIRE,
        reason="nobody decided in time",
    )
    labels = await room_labels(session, [booking.room_id for booking in expiring])
    await tell_requester(session, NoticeKind.APPROVAL_EXPIRED, expiring, labels)
    return len(expiring)
