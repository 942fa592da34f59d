"""The quota rules of the judge (``sync.quotas``), alone: each limit, the periods, the wording,
and a property test against a brute-force count."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from sync import quotas
from sync.quota_schemas import QuotaLimits

ZONE = ZoneInfo("Africa/Accra")
#: A Monday, so that weeks are easy to read in the tests.
MONDAY = date(2026, 12, 7)
NOW = datetime(2026, 12, 1, 8, tzinfo=UTC)
TERM = quotas.TermDays("2026/2027 S1", date(2026, 11, 30), date(2026, 12, 18))


def slot(day: date, hour: int, hours: float = 1) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    return start, start + timedelta(hours=hours)


def types_of(quota: quotas.Quota, mine: list, wanted: list, now: datetime = NOW) -> list[str]:
    found = quotas.problems(quota, mine, wanted, zone=ZONE, now=now, terms=[TERM])
    return [problem.type for problem in found]


def staff(**limits: float) -> quotas.Quota:
    return quotas.Quota(QuotaLimits.model_validate(limits), "staff")


def test_no_quota_breaks_nothing() -> None:
    assert quotas.problems(None, [], [slot(MONDAY, 9, 20)], zone=ZONE, now=NOW) == []


def test_hours_a_day_counts_the_day_of_the_start_and_names_it() -> None:
    quota = staff(max_hours_day=4)
    mine = [slot(MONDAY, 9, 3)]
    [problem] = quotas.problems(quota, mine, [slot(MONDAY, 13, 2)], zone=ZONE, now=NOW)
    assert problem.type == "quota-hours-day"
    assert problem.detail == (
        "At most 4 h a day for staff; you have 3 h on Mon 7 Dec and this adds 2 h"
    )
    assert types_of(quota, mine, [slot(MONDAY, 13, 1)]) == []
    assert types_of(quota, mine, [slot(MONDAY + timedelta(days=1), 9, 4)]) == []


def test_bookings_a_day_week_and_term() -> None:
    mine = [slot(MONDAY, 9), slot(MONDAY + timedelta(days=2), 9)]
    assert types_of(staff(max_bookings_day=1), mine, [slot(MONDAY, 14)]) == ["quota-bookings-day"]
    assert types_of(staff(max_bookings_week=2), mine, [slot(MONDAY + timedelta(days=4), 9)]) == [
        "quota-bookings-week"
    ]
    next_week = MONDAY + timedelta(days=7)
    assert types_of(staff(max_bookings_week=2), mine, [slot(next_week, 9)]) == []
    assert types_of(staff(max_bookings_term=2), mine, [slot(next_week, 9)]) == [
        "quota-bookings-term"
    ]


def test_term_limits_do_not_apply_outside_every_term() -> None:
    after_term = TERM.last_day + timedelta(days=3)
    mine = [slot(MONDAY, 9, 5)]
    assert types_of(staff(max_hours_term=5), mine, [slot(after_term, 9)]) == []
    assert types_of(staff(max_hours_term=5), mine, [slot(MONDAY + timedelta(days=1), 9)]) == [
        "quota-hours-term"
    ]


def test_weeks_are_iso_weeks_starting_on_monday() -> None:
    sunday = MONDAY - timedelta(days=1)
    quota = staff(max_hours_week=2)
    assert types_of(quota, [slot(sunday, 9, 2)], [slot(MONDAY, 9, 2)]) == []
    assert types_of(quota, [slot(MONDAY, 9, 2)], [slot(MONDAY + timedelta(days=6), 9, 1)]) == [
        "quota-hours-week"
    ]


def test_future_counts_bookings_not_yet_ended() -> None:
    quota = staff(max_future_bookings=2)
    past = slot(NOW.date() - timedelta(days=1), 9)
    assert types_of(quota, [past, slot(MONDAY, 9)], [slot(MONDAY, 11)]) == []
    [problem] = quotas.problems(
        quota, [slot(MONDAY, 9), slot(MONDAY, 10)], [slot(MONDAY, 11)], zone=ZONE, now=NOW
    )
    assert problem.type == "quota-future"
    assert problem.detail == "At most 2 future bookings for staff; you have 2 and this adds 1"


def test_a_series_names_the_first_period_over() -> None:
    quota = quotas.Quota(QuotaLimits(max_bookings_week=1), "you")
    wanted = [slot(MONDAY + timedelta(days=7 * n), 9) for n in range(3)]
    mine = [slot(MONDAY + timedelta(days=8), 9)]
    [problem] = quotas.problems(quota, mine, wanted, zone=ZONE, now=NOW)
    assert "for you" in problem.detail
    assert "in the week of Mon 14 Dec" in problem.detail


def test_a_user_row_replaces_the_role_row_as_a_whole() -> None:
    own = QuotaLimits(max_hours_day=10)
    of_role = QuotaLimits(max_hours_day=1, max_bookings_day=1)
    quota = quotas.Quota.of(own, of_role, "staff")
    assert quota is not None and quota.limits == own and quota.holder == "you"
    assert types_of(quota, [slot(MONDAY, 9)], [slot(MONDAY, 11)]) == []
    assert quotas.Quota.of(None, of_role, "staff") == quotas.Quota(of_role, "staff")
    assert quotas.Quota.of(None, None, "staff") is None


def test_use_reports_each_limit_now() -> None:
    quota = staff(max_hours_day=4, max_bookings_week=3, max_hours_term=10, max_future_bookings=5)
    now = datetime(2026, 12, 7, 6, tzinfo=UTC)
    mine = [slot(MONDAY, 9, 2), slot(MONDAY + timedelta(days=1), 9, 1)]
    use = {u.limit: u for u in quotas.use(quota, mine, zone=ZONE, now=now, terms=[TERM])}
    assert use["hours-day"].used == 2 and use["hours-day"].left == 2
    assert use["hours-day"].period == "Mon 7 Dec"
    assert use["bookings-week"].used == 2 and use["bookings-week"].left == 1
    assert use["hours-term"].used == 3 and use["hours-term"].period == TERM.name
    assert use["future"].used == 2 and use["future"].left == 3


# --- Property: the verdict is a brute-force count --------------------------------------------

DAYS = [MONDAY + timedelta(days=n) for n in range(-3, 18)]
slots = st.builds(
    slot,
    st.sampled_from(DAYS),
    st.integers(min_value=7, max_value=18),
    st.sampled_from([0.5, 1, 2]),
)
limit = st.one_of(st.none(), st.integers(min_value=0, max_value=6))


def _brute(limits: QuotaLimits, mine: list, wanted: list, terms: list[quotas.TermDays]) -> set[str]:
    """The limits broken, counted the slow way: for every day of the calendar, every week,
    every term, sum what falls in it, and compare."""
    broken: set[str] = set()
    everything = mine + wanted

    def in_period(s: datetime, first: date, last: date) -> bool:
        return first <= s.astimezone(ZONE).date() <= last

    periods: list[tuple[str, date, date]] = []
    for day in DAYS:
        periods.append(("day", day, day))
        monday = day - timedelta(days=day.weekday())
        periods.append(("week", monday, monday + timedelta(days=6)))
    periods += [("term", t.first_day, t.last_day) for t in terms]
    for kind, first, last in set(periods):
        if not any(in_period(s, first, last) for s, _ in wanted):
            continue
        hours = sum(
            (e - s).total_seconds() / 3600 for s, e in everything if in_period(s, first, last)
        )
        count = sum(1 for s, _ in everything if in_period(s, first, last))
        max_hours = getattr(limits, f"max_hours_{kind}")
        max_count = getattr(limits, f"max_bookings_{kind}")
        if max_hours is not None and hours > max_hours:
            broken.add(f"quota-hours-{kind}")
        if max_count is not None and count > max_count:
            broken.add(f"quota-bookings-{kind}")
    future = [e for _, e in everything if e > NOW]
    added = [e for _, e in wanted if e > NOW]
    if (
        limits.max_future_bookings is not None
        and added
        and len(future) > limits.max_future_bookings
    ):
        broken.add("quota-future")
    return broken


@settings(max_examples=300, deadline=None)
@given(
    mine=st.lists(slots, max_size=8),
    wanted=st.lists(slots, min_size=1, max_size=4),
    hours_day=limit,
    count_day=limit,
    hours_week=limit,
    count_week=limit,
    hours_term=limit,
    count_term=limit,
    future=limit,
)
def test_verdict_matches_a_brute_force_count(
    mine: list,
    wanted: list,
    hours_day: int | None,
    count_day: int | None,
    hours_week: int | None,
    count_week: int | None,
    hours_term: int | None,
    count_term: int | None,
    future: int | None,
) -> None:
    limits = QuotaLimits(
        max_hours_day=hours_day,
        max_bookings_day=count_day,
        max_hours_week=hours_week,
        max_bookings_week=count_week,
        max_hours_term=hours_term,
        max_bookings_term=count_term,
        max_future_bookings=future,
    )
    found = quotas.problems(
        quotas.Quota(limits, "staff"), mine, wanted, zone=ZONE, now=NOW, terms=[TERM]
    )
    assert {problem.type for problem in found} == _brute(limits, mine, wanted, [TERM])
    assert len(found) == len({problem.type for problem in found})


@given(wanted=st.lists(slots, min_size=1, max_size=4))
def test_the_window_covers_every_period_the_wanted_slots_touch(wanted: list) -> None:
    """What the server and the replica read of the user's own bookings is enough."""
    since, until = quotas.window(wanted, ZONE, NOW, [TERM])
    for start, _ in wanted:
        day = start.astimezone(ZONE).date()
        monday = day - timedelta(days=day.weekday())
        assert since <= datetime.combine(monday, datetime.min.time(), ZONE)
        if TERM.first_day <= day <= TERM.last_day:
            assert since <= datetime.combine(TERM.first_day, datetime.min.time(), ZONE)
        assert until >= start
    assert since <= NOW
