"""The ``compax`` Typer application: one sub-app per noun, each a thin layer over ``sync/``."""

from __future__ import annotations

from typing import Annotated

import typer

from compax_cli import blackouts, bookings, conflicts, demo, rooms, session, users
from compax_server.cli import server_app

app = typer.Typer(
    name="compax",
    help="Compax books the rooms of a university campus, offline too.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    profile: Annotated[
        str | None,
        typer.Option(envvar="COMPAX_PROFILE", help="Named profile (server and user) to use."),
    ] = None,
) -> None:
    """Compax books the rooms of a university campus, offline too."""
    ctx.obj = {"profile": profile}


app.command()(demo.demo)
for command in (session.login, session.logout, session.whoami, session.status, session.sync):
    app.command()(command)
app.command(
    "book",
    help="Book a room: the same as `compax bookings create`.\n\n"
    'Example: compax book PB/101 --at "tomorrow 10:00" --for 2h --title "MATH 101"',
)(bookings.create)
app.add_typer(rooms.app, name="rooms")
app.add_typer(bookings.app, name="bookings")
app.add_typer(conflicts.app, name="conflicts")
app.add_typer(users.app, name="users")
app.add_typer(blackouts.app, name="blackouts")
app.add_typer(server_app, name="server")


def run() -> None:
    app()
