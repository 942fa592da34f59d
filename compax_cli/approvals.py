"""``compax approvals``: the requests waiting for your decision, and approving or rejecting
them (one booking, or with ``--series`` every pending occurrence of its series).

These talk to the server at once: a decision counts only when the server has it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer

from compax_cli.context import engine, validated
from compax_cli.options import JSON
from compax_cli.output import emit, err, local, online
from sync.approvals import ApprovalQuery, Approvals, Approve, Reject
from sync.engine import Engine

T = TypeVar("T")
app = typer.Typer(
    help="Requests waiting for approval: list them, approve or reject them.",
    no_args_is_help=True,
)
BOOKING = Annotated[
    str, typer.Argument(help="The booking id (with --series: the id of its series).")
]
SERIES = Annotated[
    bool, typer.Option("--series", help="Decide every pending occurrence of the series.")
]
COLUMNS = [
    ("id", "id"),
    ("room", "room"),
    ("from", "when"),
    ("until", "until"),
    ("title", "title"),
    ("requester", "owner"),
    ("status", "status"),
]


def _rows(compax: Engine, items: list[dict[str, Any]], as_json: bool) -> list[dict[str, Any]]:
    if as_json:
        return items
    zone = compax.reads.zone()
    return [
        {**item, "when": local(item["start"], zone), "until": local(item["end"], zone)[-5:]}
        for item in items
    ]


def _call(compax: Engine, call: Callable[[Approvals], Coroutine[Any, Any, T]]) -> T:
    with online("nothing was decided; approvals need the server"):
        return asyncio.run(call(Approvals(compax)))


@app.command("list")
def list_requests(
    ctx: typer.Context,
    building: Annotated[str | None, typer.Option(help="Only this building (code).")] = None,
    room_id: Annotated[int | None, typer.Option("--room-id", help="Only this room.")] = None,
    requester: Annotated[str | None, typer.Option(help="Only this user's requests.")] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Ending after this instant (ISO 8601).")
    ] = None,
    to: Annotated[str | None, typer.Option(help="Starting before this instant (ISO 8601).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 50,
    cursor: Annotated[
        str | None, typer.Option(help="The next page: the cursor the last page ended with.")
    ] = None,
    as_json: JSON = False,
) -> None:
    """The requests waiting for your decision, soonest start first (the order they expire in).

    Example: compax approvals list --building PB
    Example: compax approvals list --requester jdoe --json
    """
    with engine(ctx) as compax:
        query = validated(
            ApprovalQuery,
            building=building,
            room_id=room_id,
            requester=requester,
            limit=limit,
            cursor=cursor,
            **{"from": from_, "to": to},
        )
        filters = query.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude={"limit", "cursor"}
        )
        page = _call(
            compax,
            lambda approvals: approvals.queue(limit=query.limit, cursor=query.cursor, **filters),
        )
        emit(_rows(compax, page["items"], as_json), COLUMNS, as_json)
        if page.get("next_cursor"):
            err.print(f"More: compax approvals list --cursor {page['next_cursor']}")


@app.command()
def approve(
    ctx: typer.Context,
    booking: BOOKING,
    reason: Annotated[str, typer.Option(help="A word for the requester (optional).")] = "",
    series: SERIES = False,
    as_json: JSON = False,
) -> None:
    """Approve a request: it becomes confirmed and its requester is told.

    Example: compax approvals approve 5f0c1e2a-…
    Example: compax approvals approve 9a1b… --series --reason "Term timetable"
    """
    with engine(ctx) as compax:
        checked = validated(Approve, reason=reason)
        _decide(compax, booking, checked.reason, approve=True, series=series, as_json=as_json)


@app.command()
def reject(
    ctx: typer.Context,
    booking: BOOKING,
    reason: Annotated[str, typer.Option(help="Why (required): the requester is told.")] = "",
    series: SERIES = False,
    as_json: JSON = False,
) -> None:
    """Reject a request with a reason: its slot is free again and its requester is told.

    Example: compax approvals reject 5f0c1e2a-… --reason "Exams in PB that week"
    """
    with engine(ctx) as compax:
        checked = validated(Reject, reason=reason)
        _decide(compax, booking, checked.reason, approve=False, series=series, as_json=as_json)


def _decide(
    compax: Engine, ref: str, reason: str, *, approve: bool, series: bool, as_json: bool
) -> None:
    if series:
        decided = _call(
            compax, lambda approvals: approvals.decide_series(ref, approve=approve, reason=reason)
        )
    else:
        decided = [
            _call(compax, lambda approvals: approvals.decide(ref, approve=approve, reason=reason))
        ]
    emit(_rows(compax, decided, as_json), COLUMNS, as_json)
