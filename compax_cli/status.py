"""``compax status``: the profile's local state, read without loading the engine."""

from __future__ import annotations

import typer

from compax_cli.options import JSON
from compax_cli.output import emit, reported
from sync import local
from sync.profiles import Profile


def status(ctx: typer.Context, as_json: JSON = False) -> None:
    """Show the server, the user, the last sync, and changes pending or needing attention.

    Example: compax status
    """
    with reported():
        state = local.status(Profile.load((ctx.obj or {}).get("profile")))
    emit(
        state,
        [
            ("profile", "profile"),
            ("server", "server"),
            ("user", "user"),
            ("last sync", "last_sync"),
            ("pending", "pending"),
            ("needs attention", "needs_attention"),
        ],
        as_json,
    )
