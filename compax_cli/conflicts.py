"""``compax conflicts``: changes the server refused, until you retry or discard them."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from compax_cli.context import engine, now
from compax_cli.lookup import room_id
from compax_cli.options import JSON
from compax_cli.output import REFUSED, emit, err, local, out
from sync.errors import ValidationFailed
from sync.reads import instant_of
from sync.vocabulary import counted
from sync.when import parse_duration, parse_when

app = typer.Typer(
    help="Changes the server refused: see why, retry or discard.", no_args_is_help=True
)


@app.command("list")
def list_conflicts(ctx: typer.Context, as_json: JSON = False) -> None:
    """Every refused change with the reason.

    Example: compax conflicts list
    """
    with engine(ctx) as compax:
        rows = [
            {"mid": c.mid, "change": c.summary, "reason": c.reason, "type": c.problem.get("type")}
            for c in compax.conflicts()
        ]
        emit(rows, [("#", "mid"), ("change", "change"), ("why", "reason")], as_json)


@app.command()
def show(
    ctx: typer.Context,
    mid: Annotated[int, typer.Argument(help="The change's number.")],
    as_json: JSON = False,
) -> None:
    """The reason, the bookings in the way, and the numbered alternatives.

    Example: compax conflicts show 3
    """
    with engine(ctx) as compax:
        conflict = compax.conflict(mid)
        zone = compax.reads.zone()
        options = conflict.alternatives(zone)
        if as_json:
            emit(
                {
                    "mid": mid,
                    "change": conflict.summary,
                    "problem": conflict.problem,
                    "alternatives": [vars(o) for o in options],
                },
                [],
                True,
            )
            return
        out.print(f"[bold]{conflict.summary}[/]\n{conflict.reason}")
        for booking in conflict.conflicting:
            title = booking.get("title") or "(private)"
            start, until = local(booking["start"], zone), local(booking["end"], zone)[-5:]
            out.print(f"  in the way: {title}, {start}–{until}")
        for option in options:
            out.print(f"  [{option.number}] {option.label}")
        if options:
            out.print(f"Retry with: compax conflicts retry {mid} --alternative N")


@app.command()
def retry(
    ctx: typer.Context,
    mid: Annotated[int, typer.Argument(help="The change's number.")],
    alternative: Annotated[
        int | None, typer.Option(help="An alternative's number from show.")
    ] = None,
    room: Annotated[str | None, typer.Option(help="Another room, PB/101 or an id.")] = None,
    at: Annotated[str | None, typer.Option(help="Another start, campus time.")] = None,
    for_: Annotated[
        str | None, typer.Option("--for", help="Its length (default: as before).")
    ] = None,
    send: Annotated[bool, typer.Option("--sync", help="Send it to the server at once.")] = False,
) -> None:
    """Send a refused change again, with an alternative or another room or time.

    Example: compax conflicts retry 3 --alternative 1 --sync
    """
    with engine(ctx) as compax:
        start = parse_when(at, compax.reads.zone(), now(), "at") if at else None
        end = None
        if start is not None:
            args = compax.conflict(mid).args
            if for_ is None and not {"start", "end"} <= args.keys():
                raise ValidationFailed.single("for", "give --for with --at for this change")
            length = (
                parse_duration(for_, "for")
                if for_
                else instant_of(args["end"]) - instant_of(args["start"])
            )
            end = start + length
        rows = compax.retry(
            mid,
            alternative=alternative,
            room_id=room_id(compax.reads, room) if room else None,
            start=start,
            end=end,
        )
        err.print(f"Queued again as {counted(len(rows), 'pending booking')}")
        if send:
            report = asyncio.run(compax.sync())
            if report.rejected:
                err.print("Refused again: compax conflicts list")
                raise typer.Exit(REFUSED)


@app.command()
def discard(
    ctx: typer.Context, mid: Annotated[int, typer.Argument(help="The change's number.")]
) -> None:
    """Drop a refused change; the server never applied it.

    Example: compax conflicts discard 3
    """
    with engine(ctx) as compax:
        compax.discard(mid)
        err.print(f"Discarded change {mid}")
