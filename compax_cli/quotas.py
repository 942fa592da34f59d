"""``compax quotas``: fair-use limits per role and per user (admins), and ``compax quota``: the
signed-in user's own limits and what is left of them."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from compax_cli.context import administer, engine, now, validated
from compax_cli.options import JSON
from compax_cli.output import emit, err
from sync import quota_client, quota_local
from sync.permissions import Role
from sync.quota_schemas import QuotaLimits

app = typer.Typer(
    help="Fair-use limits of hours and bookings per role or user: list, set, clear (admins).",
    no_args_is_help=True,
)
COLUMNS = [
    ("for", "subject"),
    ("h/day", "max_hours_day"),
    ("n/day", "max_bookings_day"),
    ("h/week", "max_hours_week"),
    ("n/week", "max_bookings_week"),
    ("h/term", "max_hours_term"),
    ("n/term", "max_bookings_term"),
    ("future", "max_future_bookings"),
]
USE_COLUMNS = [
    ("limit", "limit"),
    ("max", "maximum"),
    ("used", "used"),
    ("left", "left"),
    ("in", "period"),
]

ROLE = Annotated[Role | None, typer.Argument(help="The role: staff, class_rep, …")]
USER = Annotated[str | None, typer.Option("--user", help="A user's own quota instead of a role's.")]


def _subject(role: Role | None, user: str | None) -> dict[str, Any]:
    if (role is None) == (user is None):
        raise typer.BadParameter("name either a ROLE or --user USERNAME")
    return {"role": role, "username": user}


def _row(quota: dict[str, Any]) -> dict[str, Any]:
    subject = f"user {quota['username']}" if quota.get("user_id") else f"role {quota['role']}"
    return {**quota, "subject": subject}


@app.command("list")
def list_quotas(ctx: typer.Context, as_json: JSON = False) -> None:
    """List every role's quota and every user's exception (empty: no limit).

    Example: compax quotas list
    """
    with engine(ctx) as compax:
        found = administer(compax, quota_client.list_quotas)
        emit(found if as_json else [_row(q) for q in found], COLUMNS, as_json)


@app.command("set")
def set_quota(
    ctx: typer.Context,
    role: ROLE = None,
    user: USER = None,
    hours_day: Annotated[float | None, typer.Option(help="Hours a day at most.")] = None,
    bookings_day: Annotated[int | None, typer.Option(help="Bookings a day at most.")] = None,
    hours_week: Annotated[float | None, typer.Option(help="Hours an ISO week at most.")] = None,
    bookings_week: Annotated[int | None, typer.Option(help="Bookings a week at most.")] = None,
    hours_term: Annotated[float | None, typer.Option(help="Hours a term at most.")] = None,
    bookings_term: Annotated[int | None, typer.Option(help="Bookings a term at most.")] = None,
    future: Annotated[int | None, typer.Option(help="Bookings not yet ended at most.")] = None,
    as_json: JSON = False,
) -> None:
    """Set a role's quota or a user's own (which replaces their role's whole); every limit is
    replaced, and one not given is no limit.

    Example: compax quotas set staff --hours-day 4 --bookings-week 10 --future 20

    Example: compax quotas set --user ama --hours-day 8
    """
    subject = _subject(role, user)
    with engine(ctx) as compax:
        limits = validated(
            QuotaLimits,
            max_hours_day=hours_day,
            max_bookings_day=bookings_day,
            max_hours_week=hours_week,
            max_bookings_week=bookings_week,
            max_hours_term=hours_term,
            max_bookings_term=bookings_term,
            max_future_bookings=future,
        )
        made = administer(compax, lambda admin: quota_client.set_quota(admin, limits, **subject))
        emit(made if as_json else _row(made), COLUMNS, as_json)


@app.command("clear")
def clear_quota(ctx: typer.Context, role: ROLE = None, user: USER = None) -> None:
    """Drop a role's quota (its users book without limits) or a user's own (their role's
    applies again).

    Example: compax quotas clear --user ama
    """
    subject = _subject(role, user)
    with engine(ctx) as compax:
        administer(compax, lambda admin: quota_client.clear_quota(admin, **subject))
        err.print("quota cleared")


def quota(
    ctx: typer.Context,
    offline: Annotated[
        bool, typer.Option(help="Count on this device's copy instead of asking the server.")
    ] = False,
    as_json: JSON = False,
) -> None:
    """Show your quota: each limit, what you have used of it now and what is left.

    Example: compax quota
    """
    with engine(ctx) as compax:
        if offline:
            user = compax.user
            assert user is not None
            mine = quota_local.my_use(compax.reads, int(user["id"]), now())
            if mine is None:
                raise typer.BadParameter("sync once while online: your quota is not known yet")
        else:
            mine = administer(compax, quota_client.my_quota)
        if as_json:
            emit(mine.model_dump(mode="json"), USE_COLUMNS, as_json)
            return
        if mine.source == "none":
            err.print("no quota: you may book without limits")
            return
        whose = "your own" if mine.source == "user" else f"the {mine.role} role's"
        err.print(f"quota: {whose}")
        emit([use.model_dump() for use in mine.use], USE_COLUMNS, as_json)
