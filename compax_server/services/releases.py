"""Releasing no-shows: a periodic sweep finds confirmed bookings that needed check-in, had
none, and whose window has closed, and releases each (status ``released``), freeing its slot
at once and telling its owner; a series released too many times in a row loses the rest.

Each booking is released in a transaction of its own that takes its rooms and reads it again
``FOR UPDATE``, so a sweep that runs twice, or on two workers at once, releases it once: the
second finds it released already and does nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.jobs.notices import notify
from compax_server.jobs.queue import JobContext, every, handler
from compax_server.models import Booking, Building, Room
from compax_server.services.bookings import room_with_label, rooms_touched
from compax_server.services.policy import BookingPolicy
from compax_server.store import store_for, writing
from sync.checkin import CheckinRules, series_lost
from sync.vocabulary import BookingStatus, NoticeKind, Scope
from sync.when import local_span

#: The job kind of the sweep, and how often it runs.
RELEASE_NO_SHOWS = "release_no_shows"
SWEEP_SECONDS = 60
#: How far back the sweep looks: windows close at most a day after their start, and a booking
#: missed while no worker ran for longer than this is left as it is.
LOOKBACK = timedelta(days=2)

CONFIRMED, RELEASED = BookingStatus.CONFIRMED.value, BookingStatus.RELEASED.value

_CANDIDATES = (
    select(
        col(Booking.id),
        col(Booking.start),
        col(Room.checkin_required),
        col(Building.checkin_required),
        col(Room.checkin_opens_minutes),
        col(Room.checkin_closes_minutes),
        col(Booking.updated_at),
        col(Room.updated_at),
        col(Building.updated_at),
    )
    .join(Room, col(Room.id) == col(Booking.room_id))
    .join(Building, col(Building.id) == col(Room.building_id))
    .where(
        col(Booking.status) == CONFIRMED,
        col(Booking.checked_in_at).is_(None),
        col(Booking.start) <= bindparam("now"),
        col(Booking.start) > bindparam("since"),
    )
    .order_by(col(Booking.start), col(Booking.id))
)


async def no_shows(ctx: JobContext, now: datetime) -> list[uuid.UUID]:
    """The bookings to release at ``now``, in start order (one statement, on the start index)."""
    rules = ctx.policy.checkin
    async with ctx.db.read() as session:
        rows = await session.execute(_CANDIDATES, {"now": now, "since": now - LOOKBACK})
    return [row[0] for row in rows if _no_show(rules, row, now)]


def _no_show(rules: CheckinRules, row: Sequence[Any], now: datetime) -> bool:
    """Whether a row of ``_CANDIDATES`` is a no-show at ``now``, under the rules its room had
    since the booking or the room and building last changed."""
    start, required, building_required, opens, closes, *changed = row[1:]
    room = rules.for_room(required, building_required, opens, closes)
    return bool(room.missed(start, False, now, since=max(changed)))


@handler(RELEASE_NO_SHOWS)
async def release_no_shows(ctx: JobContext, payload: dict[str, Any]) -> None:
    """One sweep at the policy's clock: release every no-show, each in its own transaction."""
    now = ctx.now()
    for booking_id in await no_shows(ctx, now):
        await writing(ctx.db, partial(release, booking_id=booking_id, policy=ctx.policy, now=now))


every(RELEASE_NO_SHOWS, SWEEP_SECONDS)


async def release(
    session: AsyncSession, booking_id: uuid.UUID, policy: BookingPolicy, now: datetime
) -> bool:
    """Release the booking if it is still a no-show at ``now``; whether it was released."""
    store = store_for(session)
    await store.take_rooms(session, await rooms_touched(session, [(booking_id, Scope.ALL)]))
    booking = await session.get(Booking, booking_id, with_for_update=True)
    if booking is None:
        return False
    one = _CANDIDATES.where(col(Booking.id) == booking_id)
    still = (await session.execute(one, {"now": now, "since": now - LOOKBACK})).first()
    if still is None or not _no_show(policy.checkin, still, now):
        return False
    await store.change_bookings(session, [(booking, {"status": RELEASED})])
    facts = await _facts(session, booking, policy)
    await notify(
        session,
        user_id=booking.owner_id,
        kind=NoticeKind.RELEASED,
        key=str(booking.id),
        data=facts,
        booking_id=booking.id,
    )
    if booking.series_id is not None:
        await _end_series_if_lost(session, booking, policy, facts)
    return True


async def _facts(session: AsyncSession, booking: Booking, policy: BookingPolicy) -> dict[str, Any]:
    """What a message about ``booking`` says, as JSON values."""
    _, label = await room_with_label(session, booking.room_id)
    return {
        "booking_id": str(booking.id),
        "title": booking.title,
        "room": label,
        "start": booking.start.isoformat(),
        "end": booking.end.isoformat(),
        "when": local_span(booking.start, booking.end, policy.zone),
    }


async def _end_series_if_lost(
    session: AsyncSession, booking: Booking, policy: BookingPolicy, facts: dict[str, Any]
) -> None:
    """Cancel the series' later occurrences if its latest ones were all released, and tell
    the owner; occurrences cancelled before count neither way."""
    allowed = policy.checkin.series_misses_allowed
    recent = await session.execute(
        select(col(Booking.status))
        .where(
            col(Booking.series_id) == booking.series_id,
            col(Booking.start) <= booking.start,
            col(Booking.status).in_([CONFIRMED, RELEASED]),
        )
        .order_by(col(Booking.start).desc())
        .limit(allowed)
    )
    if not series_lost(list(recent.scalars()), allowed):
        return
    rest = (
        await session.execute(
            select(Booking)
            .where(
                col(Booking.series_id) == booking.series_id,
                col(Booking.status) == CONFIRMED,
                col(Booking.start) > booking.start,
            )
            .with_for_update()
            .order_by(col(Booking.start))
        )
    ).scalars()
    cancelled = {"status": BookingStatus.CANCELLED.value}
    later = list(rest)
    await store_for(session).change_bookings(session, [(b, cancelled) for b in later])
    await notify(
        session,
        user_id=booking.owner_id,
        kind=NoticeKind.SERIES_RELEASED,
        key=str(booking.series_id),
        data={
            **facts,
            "series_id": str(booking.series_id),
            "misses": allowed,
            "cancelled": len(later),
        },
        booking_id=booking.id,
    )
