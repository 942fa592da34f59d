"""The ``compax`` Typer application: one group per noun, each a thin layer over ``sync/``.

Every command is imported only when it runs (``compax_cli.lazy``): ``compax tui`` draws its
first screen before the engine loads, and lookups (``compax rooms list``) never load it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from compax_cli.lazy import LazyCommand, LazySubcommands, lazy_group

#: Every command of ``compax``, in the order the help lists them.
COMMANDS: dict[str, LazyCommand | LazySubcommands] = {
    "demo": LazyCommand("compax_cli.demo:demo"),
    "tui": LazyCommand("compax_tui.command:tui"),
    "login": LazyCommand("compax_cli.session:login"),
    "logout": LazyCommand("compax_cli.session:logout"),
    "whoami": LazyCommand("compax_cli.session:whoami"),
    "status": LazyCommand("compax_cli.status:status"),
    "sync": LazyCommand("compax_cli.session:sync"),
    "book": LazyCommand(
        "compax_cli.bookings:create",
        help="Book a room: the same as `compax bookings create`.\n\n"
        'Example: compax book PB/101 --at "tomorrow 10:00" --for 2h --title "MATH 101"',
    ),
    "rooms": LazySubcommands(
        "Find rooms and free rooms (offline too); rate rooms; add and change rooms.",
        {
            "list": LazyCommand("compax_cli.room_lookups:list_rooms"),
            "show": LazyCommand("compax_cli.room_lookups:show"),
            "free": LazyCommand("compax_cli.rooms:free"),
            "add": LazyCommand("compax_cli.rooms:add"),
            "update": LazyCommand("compax_cli.rooms:update"),
            "rate": LazyCommand("compax_cli.ratings:rate"),
            "ratings": LazyCommand("compax_cli.ratings:ratings"),
        },
    ),
    "bookings": LazyCommand("compax_cli.bookings:app"),
    "checkin": LazyCommand("compax_cli.checkin:checkin"),
    "conflicts": LazyCommand("compax_cli.conflicts:app"),
    "users": LazyCommand("compax_cli.users:app"),
    "blackouts": LazyCommand("compax_cli.blackouts:app"),
    "managers": LazyCommand("compax_cli.managers:app"),
    "wait": LazyCommand("compax_cli.waiting:app"),
    "approvals": LazyCommand("compax_cli.approvals:app"),
    "issues": LazyCommand("compax_cli.issues:app"),
    "notifications": LazyCommand("compax_cli.notifications:app"),
    "quotas": LazyCommand("compax_cli.quotas:app"),
    "quota": LazyCommand("compax_cli.quotas:quota"),
    "audit": LazyCommand("compax_cli.audit:audit"),
    "import": LazyCommand("compax_cli.importing:app"),
    "export": LazyCommand("compax_cli.exporting:app"),
    "server": LazyCommand("compax_server.cli:server_app"),
    "worker": LazyCommand("compax_server.cli:worker"),
}


app = typer.Typer(
    name="compax",
    cls=lazy_group(COMMANDS),
    help="Compax books the rooms of a university campus, offline too.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _show_version(asked: bool) -> None:
    """Print Compax's version and stop (``--version``)."""
    if asked:
        from importlib.metadata import version

        typer.echo(f"compax {version('compax')}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    profile: Annotated[
        str | None,
        typer.Option(envvar="COMPAX_PROFILE", help="Named profile (server and user) to use."),
    ] = None,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_show_version, help="Print the version and stop."
        ),
    ] = False,
) -> None:
    """Compax books the rooms of a university campus, offline too."""
    ctx.obj = {"profile": profile}


def run() -> None:
    app()
