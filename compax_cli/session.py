"""Signing in and out, syncing, and what state the local replica is in."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from compax_cli.context import engine
from compax_cli.options import JSON
from compax_cli.output import INTERRUPTED, REFUSED, USAGE, emit, err
from sync.http import server_url
from sync.managing import latest_user, managed_codes

if TYPE_CHECKING:
    from sync.engine import Engine
    from sync.sso import BrowserStep


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
    sso: Annotated[
        bool,
        typer.Option(
            "--sso",
            help="Sign in with the campus sign-in (OpenID Connect) in a browser, on this "
            "computer or any other: you are given a link and a code to enter there.",
        ),
    ] = False,
    browser: Annotated[
        bool,
        typer.Option(
            "--browser",
            help="Campus sign-in in a browser on this computer, which comes back to Compax "
            "by itself (implies --sso; used anyway where the provider has no codes).",
        ),
    ] = False,
    port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="With --browser, the port on 127.0.0.1 the browser comes back to, for a "
            "provider that needs it registered (implies --browser); default: a free one.",
        ),
    ] = None,
) -> None:
    """Sign in to a Compax server and download what you may see.

    Example: compax login --server https://rooms.example.edu --username ama

    Example, with the campus sign-in: compax login --sso --server https://rooms.example.edu
    """
    with engine(ctx, signed_in=False) as compax:
        default = compax.profile.server or "http://127.0.0.1:8080"
        url = server_url(default if server is None else server)
        if sso or browser or port:
            if username or password_stdin:
                err.print("[red]error:[/] --sso signs in without --username or --password-stdin")
                raise typer.Exit(USAGE)
            user = _campus_sign_in(compax, url, browser or port is not None, port or 0)
        else:
            user = asyncio.run(compax.sign_in(url, *_credentials(compax, username, password_stdin)))
        report = asyncio.run(compax.sync())
        err.print(
            f"Signed in as [bold]{user['username']}[/] ({user['role']}) on {url}; "
            f"{report.pulled} records downloaded"
        )


def _credentials(compax: Engine, username: str | None, password_stdin: bool) -> tuple[str, str]:
    """The username and password to sign in with, asked for where not given."""
    name = username or compax.profile.username or typer.prompt("Username")
    if password_stdin:
        return name, sys.stdin.readline().rstrip("\r\n")
    if sys.stdin.isatty():
        return name, typer.prompt("Password", hide_input=True)
    err.print("[red]error:[/] standard input is not a terminal; pass --password-stdin")
    raise typer.Exit(USAGE)


def _campus_sign_in(compax: Engine, url: str, browser: bool, port: int) -> dict[str, Any]:
    """Sign in through the campus provider, telling the person on stderr what to do; Ctrl-C
    stops waiting."""
    try:
        return asyncio.run(compax.sign_in_sso(url, show=_show_step, browser=browser, port=port))
    except KeyboardInterrupt:
        err.print("Campus sign-in cancelled")
        raise typer.Exit(INTERRUPTED) from None


def _show_step(step: BrowserStep) -> None:
    """What to do in the browser, in words, and that the command waits meanwhile."""
    if step.user_code is not None:
        err.print(f"Open {step.url} and enter {step.user_code}", markup=False, highlight=False)
        if step.direct_url:
            err.print(f"(or open {step.direct_url})", markup=False, highlight=False)
    elif step.browser_opened:
        err.print("Your browser was asked to open the campus sign-in; if it did not, open:")
        err.print(step.url, markup=False, highlight=False)
    else:
        err.print("Open this address in a browser on this computer to sign in:")
        err.print(step.url, markup=False, highlight=False)
    err.print("Waiting for the sign-in to finish there (Ctrl-C to stop)…")


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
