"""The ``compax`` Typer application: one sub-app per noun."""

from __future__ import annotations

import typer

from compax_server.cli import server_app

app = typer.Typer(
    name="compax",
    help="Compax books the rooms of a university campus.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(server_app, name="server")


def run() -> None:
    app()
