"""The quota rules judged on the replica: the signed-in user's quota as the server last gave it
(``GET /api/v1/me/quota``, kept at sign-in and at every sync), their own bookings (pending
changes laid over) and the terms, asked of the same pure rules as the server (``sync.quotas``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sync import quotas
from sync.errors import RuleBroken
from sync.quota_schemas import MyQuota
from sync.reads import Reads, instant_of
from sync.rules import Interval
from sync.vocabulary import HOLDING

#: The ``sync_state`` key the user's quota is kept under.
QUOTA_STATE = "quota"
#: The most own bookings read to judge a quota (more than any limit worth setting).
MOST_OWN = 100_000


def stored_quota(reads: Reads) -> MyQuota | None:
    """The user's quota as last read from the server, if any was."""
    stored = reads.replica.state(QUOTA_STATE)
    return None if not stored else MyQuota.model_validate_json(stored)


def keep_quota(reads: Reads, quota: dict[str, object]) -> None:
    """Keep the user's quota as the server gave it."""
    reads.replica.set_state(**{QUOTA_STATE: json.dumps(quota)})


def quota_in_force(mine: MyQuota | None) -> quotas.Quota | None:
    """The quota the judge applies, from what the server said of it."""
    if mine is None or mine.source == "none":
        return None
    return quotas.Quota(mine.limits, "you" if mine.source == "user" else mine.role)


def terms(reads: Reads) -> list[quotas.TermDays]:
    """Every term of the replica, by its days."""
    with reads.replica.read() as db:
        rows = db.execute("SELECT row FROM terms").fetchall()
    found = []
    for (row,) in rows:
        term = json.loads(row)
        found.append(
            quotas.TermDays(
                term["name"],
                datetime.fromisoformat(term["first_day"]).date(),
                datetime.fromisoformat(term["last_day"]).date(),
            )
        )
    return sorted(found, key=lambda term: term.first_day)


def own_slots(
    reads: Reads, owner_id: int, since: datetime, moving: Sequence[str]
) -> list[Interval]:
    """The slots of the user's bookings holding a room that end after ``since``, pending
    changes included, without those being moved."""
    leaving = {str(booking_id) for booking_id in moving}
    return [
        (instant_of(row["start"]), instant_of(row["end"]))
        for row in reads.my_bookings(owner_id, start=since, limit=MOST_OWN)
        if row.get("status") in HOLDING and str(row["id"]) not in leaving
    ]


def problems(
    reads: Reads,
    owner_id: int,
    wanted: Sequence[Interval],
    now: datetime,
    *,
    moving: Sequence[str] = (),
) -> list[RuleBroken]:
    """The quota problems of booking ``wanted`` for the signed-in user, judged on the replica."""
    quota = quota_in_force(stored_quota(reads))
    if quota is None or not wanted:
        return []
    zone = reads.zone()
    known_terms = terms(reads)
    since, _ = quotas.window(wanted, zone, now, known_terms)
    mine = own_slots(reads, owner_id, since, moving)
    return quotas.problems(quota, mine, wanted, zone=zone, now=now, terms=known_terms)


def my_use(reads: Reads, owner_id: int, now: datetime) -> MyQuota | None:
    """The user's quota with its use now, as the replica knows it (offline ``compax quota``)."""
    stored = stored_quota(reads)
    quota = quota_in_force(stored)
    if stored is None:
        return None
    zone = reads.zone()
    known_terms = terms(reads)
    start, _ = quotas.window([(now, now)], zone, now, known_terms)
    mine = own_slots(reads, owner_id, start, ())
    return stored.model_copy(
        update={"use": quotas.use(quota, mine, zone=zone, now=now, terms=known_terms)}
    )


_UNITS = {"hours": "h", "bookings": "bookings"}


def summary(reads: Reads, owner_id: int, now: datetime) -> str:
    """One line of what is left of the user's quota, as the replica counts it ("" without
    one): e.g. "Quota (staff): 1 of 4 h left on Mon 7 Dec · 3 of 5 future bookings left"."""
    mine = my_use(reads, owner_id, now)
    if mine is None or mine.source == "none" or not mine.use:
        return ""
    parts = []
    for use in mine.use:
        measure, _, _ = use.limit.partition("-")
        unit = "future bookings" if use.limit == "future" else _UNITS[measure]
        where = "" if use.limit == "future" else f" {_in(use.period)}"
        parts.append(f"{use.left:g} of {use.maximum:g} {unit} left{where}")
    whose = "yours" if mine.source == "user" else mine.role
    return f"Quota ({whose}): " + " · ".join(parts)


def _in(period: str) -> str:
    if period.startswith("week of"):
        return f"in the {period}"
    if period[:3] in {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}:
        return f"on {period}"
    return f"in {period}"
