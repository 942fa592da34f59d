"""Quotas judged by the offline client on its replica, with the quota the server last gave."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient

from sync import quota_local
from sync.engine import Engine
from sync.errors import RuleBroken
from sync.permissions import Role
from tests.booking_helpers import at, make_campus, next_weekday
from tests.conftest import PASSWORD, MakePerson, Person


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_the_replica_refuses_what_the_server_would_and_keeps_the_quota_fresh(
    client: TestClient, admin: Person, make_person: MakePerson, engines: Callable[[str], Engine]
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    limit = await client.put(
        "/api/v1/quotas/roles/staff", json={"max_hours_day": 2}, headers=admin.headers
    )
    assert limit.status == 200
    engine = engines(staff.user.username)
    await engine.sign_in(str(client.make_url("")), staff.user.username, PASSWORD)
    await engine.sync()
    monday = next_weekday(0)
    tuesday = monday + timedelta(days=1)

    first = engine.book(campus.room_101, when(at(monday, 9)), when(at(monday, 11)), "Mine")
    assert first["pending"] is True
    with pytest.raises(RuleBroken) as refused:
        engine.book(campus.room_102, when(at(monday, 13)), when(at(monday, 14)), "More")
    assert refused.value.type == "quota-hours-day"
    assert refused.value.detail.startswith("At most 2 h a day for staff; you have 2 h on ")
    with pytest.raises(RuleBroken):
        engine.check_booking(campus.room_102, when(at(monday, 13)), when(at(monday, 14)))
    assert engine.status()["pending"] == 1, "a refused booking is not queued"

    engine.book(campus.room_102, when(at(tuesday, 9)), when(at(tuesday, 11)), "Tuesday")
    with pytest.raises(RuleBroken) as moved:
        engine.move(first["id"], start=when(at(tuesday, 13)), end=when(at(tuesday, 14)))
    assert moved.value.type == "quota-hours-day"
    engine.move(first["id"], start=when(at(monday, 10)), end=when(at(monday, 12)))

    raised = await client.put(
        "/api/v1/quotas/roles/staff", json={"max_hours_day": 5}, headers=admin.headers
    )
    assert raised.status == 200
    report = await engine.sync()
    assert report.rejected == 0
    kept = quota_local.stored_quota(engine.reads)
    assert kept is not None and kept.limits.max_hours_day == 5
    engine.book(campus.room_102, when(at(monday, 13)), when(at(monday, 14)), "More")
    use = quota_local.my_use(engine.reads, staff.id, engine.clock())
    assert use is not None and use.source == "role"
