"""``compax checkin``: check a booking in (offline too, counted if the server gets it within
the window), or print its door link, with a QR code for the room's door."""

from __future__ import annotations

from typing import Annotated

import typer

from compax_cli.bookings import COLUMNS, SYNC, _refused_exit, _rows, _send
from compax_cli.context import administer, engine
from compax_cli.lookup import booking_id
from compax_cli.options import JSON
from compax_cli.output import USAGE, emit, err, out


def checkin(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            metavar="BOOKING | link BOOKING",
            help="The booking id (or its first characters); `link BOOKING` prints its door link.",
        ),
    ],
    booking: Annotated[
        str | None,
        typer.Argument(metavar="", help="The booking, after `link`.", show_default=False),
    ] = None,
    qr: Annotated[bool, typer.Option("--qr", help="With `link`: print a QR code too.")] = False,
    send: SYNC = False,
    as_json: JSON = False,
) -> None:
    """Check a booking in, within the window around its start; or print its door link.

    Example: compax checkin 5f0c --sync

    Example: compax checkin link 5f0c --qr
    """
    if target == "link":
        _print_link(ctx, booking, qr)
        return
    if booking is not None:
        err.print("error: booking: give one booking (or `link BOOKING`)")
        raise typer.Exit(USAGE)
    with engine(ctx) as compax:
        checked = compax.check_in(booking_id(compax.reads, target))
        rows, refused = _send(compax, send, [checked])
        emit(_rows(compax, rows, as_json), [*COLUMNS, ("checked in", "checked_in_at")], as_json)
        _refused_exit(refused)


def _print_link(ctx: typer.Context, booking: str | None, qr: bool) -> None:
    """Print the booking's signed door link (needs the server), and its QR code if asked."""
    if booking is None:
        err.print("error: booking: name the booking: compax checkin link BOOKING")
        raise typer.Exit(USAGE)
    with engine(ctx) as compax:
        found = booking_id(compax.reads, booking)
        url = administer(compax, lambda admin: admin.checkin_link(found))
    out.print(url, markup=False, highlight=False)
    if qr:
        import segno

        segno.make(url, error="m").terminal(compact=True)
