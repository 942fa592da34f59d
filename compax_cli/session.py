"""Signing in and out, syncing, and what state the local replica is in."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Annotated

import typer

from compax_cli.context import engine
from compax_cli.options import JSON
from compax_cli.output import REFUSED, USAGE, emit, err
from sync.http import server_url
from sync.managing import latest_user, managed_codes


def login(
    ctx: typer.Context,
    server: Annotated[
        str | None,
        typer.Option(help="Server URL, or HOST:PORT for plain HTTP; default: the profile's."),
    ] = None,
    username: Annotated[str | None, typer.Option(help="Your username.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Sign in to a Compax server and download what you may see.

    Example: compax login --server https://rooms.example.edu --username ama
    """
    with engine(ctx, signed_in=False) as compax:
        default = compax.profile.server or "http://127.0.0.1:8080"
        url = server_url(default if server is None else server)
        name = username or compax.profile.username or typer.prompt("Username")
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif sys.stdin.isatty():
            password = typer.prompt("Password", hide_input=True)
        else:
            err.print("[red]error:[/] standard input is not a terminal; pass --password-stdin")
            raise typer.Exit(USAGE)
        user = asyncio.run(compax.sign_in(url, name, password))
        report = asyncio.run(compax.sync())
        err.print(
            f"Signed in as [bold]{user['username']}[/] ({user['role']}) on {url}; "
            f"{report.pulled} records downloaded"
        )


def logout(ctx: typer.Context) -> None:
    """Forget your sign-in on this computer; queued changes stay until you sign in again.

    Example: compax logout
    """
    with engine(ctx, signed_in=False) as compax:
        compax.sign_out()
        err.print("Signed out")


def whoami(ctx: typer.Context, as_json: JSON = False) -> None:
    """Show who this profile signs in as, and where.

    Example: compax whoami --json
    """
    with engine(ctx, signed_in=False) as compax:
        user = latest_user(compax) or {}
        row = {
            "server": compax.profile.server,
            **user,
            "signed_in": compax.token is not None,
            "manages_buildings": ", ".join(managed_codes(compax)),
        }
        emit(
            row,
            [
                ("server", "server"),
                ("user", "username"),
                ("role", "role"),
                ("manages", "manages_buildings"),
                ("signed in", "signed_in"),
            ],
            as_json,
        )


def sync(
    ctx: typer.Context,
    watch: Annotated[bool, typer.Option(help="Keep syncing every --every seconds.")] = False,
    every: Annotated[int, typer.Option(min=5, help="Seconds between syncs with --watch.")] = 60,
    as_json: JSON = False,
) -> None:
    """Send your queued changes and download the server's; exit 1 if the server refused any
    (they wait in `compax conflicts list`).

    Example: compax sync --watch --every 120
    """
    with engine(ctx) as compax:
        while True:
            report = asyncio.run(compax.sync())
            row = {
                "pushed": report.pushed,
                "applied": report.applied,
                "rejected": report.rejected,
                "pulled": report.pulled,
                "reset": report.reset,
            }
            emit(
                row,
                [
                    ("sent", "pushed"),
                    ("applied", "applied"),
                    ("refused", "rejected"),
                    ("downloaded", "pulled"),
                ],
                as_json,
            )
            if report.rejected:
                err.print(f"{report.rejected} change(s) need attention: compax conflicts list")
            if not watch:
                break
            time.sleep(every)
    if report.rejected:
        raise typer.Exit(REFUSED)
