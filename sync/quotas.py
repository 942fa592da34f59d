"""The quota rules of the booking judge: how many hours and bookings a user may hold a day, an
ISO week and a term, and how many not yet ended, decided here for every path and offline.

Data in, problems out, no I/O, as in ``sync.judge``: the caller gathers the quota in force (the
user's own row, else their role's, else none: a user's row replaces the role's as a whole), the
user's bookings that hold a room (confirmed and pending, without those being moved), the terms
and the campus, and asks ``problems`` about the slots it wants. A booking counts whole on the
local day of its start, in that day's ISO week (Monday first) and in the term holding that day
(a day in no term counts toward no term limit). "Future" bookings are those not yet ended.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sync.errors import RuleBroken
from sync.quota_schemas import QuotaLimits, QuotaUse
from sync.rules import Interval

#: The problem types quotas raise, in the order they are checked.
QUOTA_TYPES = (
    "quota-hours-day",
    "quota-bookings-day",
    "quota-hours-week",
    "quota-bookings-week",
    "quota-hours-term",
    "quota-bookings-term",
    "quota-future",
)


@dataclass(frozen=True)
class Quota:
    """The limits in force for one user, and whose they are (``staff``, or ``you`` for a
    user's own exception), as problem details name them."""

    limits: QuotaLimits
    holder: str

    @classmethod
    def of(cls, own: QuotaLimits | None, of_role: QuotaLimits | None, role: str) -> Quota | None:
        """The quota in force: the user's own row if there is one, else their role's."""
        if own is not None:
            return cls(own, "you")
        if of_role is not None:
            return cls(of_role, role)
        return None


@dataclass(frozen=True)
class TermDays:
    """A term's name and days, which is all the term limits need of it."""

    name: str
    first_day: date
    last_day: date


@dataclass(frozen=True)
class _Period:
    """One day, week or term: how it is keyed and how a detail names it."""

    kind: str
    key: object
    text: str


def _periods(day: date, terms: Sequence[TermDays]) -> list[_Period]:
    monday = day - timedelta(days=day.weekday())
    found = [
        _Period("day", day, f"on {day:%a} {day.day} {day:%b}"),
        _Period("week", monday, f"in the week of {monday:%a} {monday.day} {monday:%b}"),
    ]
    for term in terms:
        if term.first_day <= day <= term.last_day:
            found.append(_Period("term", term.name, f"in {term.name}"))
            break
    return found


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def _hours_text(hours: float) -> str:
    return f"{hours:g} h"


def _tally(
    slots: Iterable[Interval], zone: ZoneInfo, terms: Sequence[TermDays]
) -> dict[tuple[str, object], tuple[float, int]]:
    """Hours and bookings of ``slots`` in each period they fall in."""
    totals: dict[tuple[str, object], tuple[float, int]] = {}
    for start, end in slots:
        for period in _periods(start.astimezone(zone).date(), terms):
            hours, count = totals.get((period.kind, period.key), (0.0, 0))
            totals[(period.kind, period.key)] = (hours + _hours(start, end), count + 1)
    return totals


def problems(
    quota: Quota | None,
    mine: Sequence[Interval],
    wanted: Sequence[Interval],
    *,
    zone: ZoneInfo,
    now: datetime,
    terms: Sequence[TermDays] = (),
) -> list[RuleBroken]:
    """Every quota limit that booking all of ``wanted`` breaks, on top of ``mine`` (the user's
    bookings holding a room, those being moved left out): at most one problem per limit,
    naming the first period (by the wanted slots' order) that goes over."""
    if quota is None or not wanted:
        return []
    limits = quota.limits
    have = _tally(mine, zone, terms)
    adds = _tally(wanted, zone, terms)
    order: list[_Period] = []
    seen: set[tuple[str, object]] = set()
    for start, _ in sorted(wanted):
        for period in _periods(start.astimezone(zone).date(), terms):
            if (period.kind, period.key) not in seen:
                seen.add((period.kind, period.key))
                order.append(period)
    broken: list[RuleBroken] = []
    for kind in ("day", "week", "term"):
        max_hours = getattr(limits, f"max_hours_{kind}")
        max_count = getattr(limits, f"max_bookings_{kind}")
        for maximum, measure in ((max_hours, "hours"), (max_count, "bookings")):
            if maximum is None:
                continue
            for period in (p for p in order if p.kind == kind):
                key = (kind, period.key)
                had, added = have.get(key, (0.0, 0)), adds[key]
                index = 0 if measure == "hours" else 1
                if had[index] + added[index] > maximum + (1e-9 if index == 0 else 0):
                    broken.append(
                        _over(quota, kind, measure, maximum, had[index], added[index], period)
                    )
                    break
    future_max = limits.max_future_bookings
    if future_max is not None:
        had_future = sum(1 for _, end in mine if end > now)
        added_future = sum(1 for _, end in wanted if end > now)
        if added_future and had_future + added_future > future_max:
            broken.append(
                RuleBroken(
                    "quota-future",
                    "Too many future bookings",
                    f"At most {future_max} future bookings for {quota.holder}; you have "
                    f"{had_future} and this adds {added_future}",
                )
            )
    return broken


_TITLES = {
    ("day", "hours"): "Daily hours quota reached",
    ("day", "bookings"): "Daily bookings quota reached",
    ("week", "hours"): "Weekly hours quota reached",
    ("week", "bookings"): "Weekly bookings quota reached",
    ("term", "hours"): "Term hours quota reached",
    ("term", "bookings"): "Term bookings quota reached",
}
_EACH = {"day": "a day", "week": "a week", "term": "a term"}


def _over(
    quota: Quota,
    kind: str,
    measure: str,
    maximum: float,
    had: float,
    added: float,
    period: _Period,
) -> RuleBroken:
    if measure == "hours":
        limit, have, adds = _hours_text(maximum), _hours_text(had), _hours_text(added)
    else:
        limit, have, adds = f"{maximum:g} bookings", f"{had:g}", f"{added:g}"
    return RuleBroken(
        f"quota-{measure}-{kind}",
        _TITLES[(kind, measure)],
        f"At most {limit} {_EACH[kind]} for {quota.holder}; you have {have} {period.text} "
        f"and this adds {adds}",
    )


def use(
    quota: Quota | None,
    mine: Sequence[Interval],
    *,
    zone: ZoneInfo,
    now: datetime,
    terms: Sequence[TermDays] = (),
) -> list[QuotaUse]:
    """Each limit of ``quota`` with its use now: today, this ISO week, the term holding today
    (a term limit is left out when today is in no term) and the bookings not yet ended."""
    if quota is None:
        return []
    limits = quota.limits
    have = _tally(mine, zone, terms)
    found: list[QuotaUse] = []
    for period in _periods(now.astimezone(zone).date(), terms):
        used_hours, used_count = have.get((period.kind, period.key), (0.0, 0))
        label = period.text.removeprefix("on ").removeprefix("in ")
        for measure, used in (("hours", used_hours), ("bookings", float(used_count))):
            maximum = getattr(limits, f"max_{measure}_{period.kind}")
            if maximum is not None:
                found.append(
                    QuotaUse(
                        limit=f"{measure}-{period.kind}",
                        maximum=maximum,
                        used=round(used, 2),
                        left=round(max(0.0, maximum - used), 2),
                        period=label,
                    )
                )
    if limits.max_future_bookings is not None:
        future = sum(1 for _, end in mine if end > now)
        found.append(
            QuotaUse(
                limit="future",
                maximum=limits.max_future_bookings,
                used=future,
                left=max(0, limits.max_future_bookings - future),
                period="now",
            )
        )
    return found


def window(
    wanted: Sequence[Interval], zone: ZoneInfo, now: datetime, terms: Sequence[TermDays]
) -> Interval:
    """The instants the user's own bookings must be read over to judge ``wanted`` (and the
    use now): from the earliest start of a period they touch (or now) to the latest end."""
    days = [start.astimezone(zone).date() for start, _ in wanted]
    days.append(now.astimezone(zone).date())
    first, last = min(days), max(days)
    first -= timedelta(days=first.weekday())
    last += timedelta(days=6 - last.weekday())
    for term in terms:
        if term.first_day <= max(days) and term.last_day >= min(days):
            first, last = min(first, term.first_day), max(last, term.last_day)
    start = datetime.combine(first, datetime.min.time(), zone)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone)
    return min(start, now), max(end, now)
