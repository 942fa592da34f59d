"""``compax tui``: the command that starts the terminal UI (Textual loads only then)."""

from __future__ import annotations

from typing import Annotated

import typer


def tui(
    ctx: typer.Context,
    profile: Annotated[
        str | None, typer.Option(help="Named profile (server and user) to use.")
    ] = None,
) -> None:
    """Open the terminal UI: find rooms, see availability, book offline, resolve conflicts.

    Example: compax tui --profile demo
    """
    from compax_tui.app import CompaxApp
    from sync.errors import CompaxError

    try:
        app = CompaxApp(profile or (ctx.obj or {}).get("profile"))
    except CompaxError as error:
        typer.echo(f"error: {error.detail}", err=True)
        raise typer.Exit(2) from None
    app.run()
    if app.return_code:
        raise typer.Exit(app.return_code)
