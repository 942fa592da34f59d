"""``compax notifications``: what you were told (bookings changed or cancelled by others,
closures, reminders, releases, waitlist offers), and which kinds are mailed to you. These
talk to the server at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer

from compax_cli.context import engine
from compax_cli.options import JSON
from compax_cli.output import emit, err, local, online, out
from sync.engine import Engine
from sync.notices import Notices, NotificationSettings
from sync.vocabulary import NoticeKind

T = TypeVar("T")

app = typer.Typer(
    help="Your notifications: list, read, and choose which kinds are mailed (settings, mute, "
    "unmute).",
    no_args_is_help=True,
)
COLUMNS = [
    ("id", "id"),
    ("when", "when"),
    ("kind", "kind"),
    ("subject", "subject"),
    ("mail", "state"),
    ("read", "read"),
]
KIND = Annotated[
    NoticeKind, typer.Argument(help="A kind: " + ", ".join(kind.value for kind in NoticeKind))
]


def _ask(compax: Engine, call: Callable[[Notices], Coroutine[Any, Any, T]]) -> T:
    with online("this needs the server"):
        return asyncio.run(call(Notices(compax)))


def _settings_rows(settings: NotificationSettings) -> list[dict[str, Any]]:
    return [
        {"kind": s.kind.value, "mail": "mailed" if s.mail else "muted"} for s in settings.settings
    ]


@app.command("list")
def list_notifications(
    ctx: typer.Context,
    unread: Annotated[bool, typer.Option("--unread", help="Only those not read yet.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 20,
    as_json: JSON = False,
) -> None:
    """List your notifications, newest first; `mail` says whether each was mailed.

    Example: compax notifications list --unread
    """
    with engine(ctx) as compax:
        zone = compax.reads.zone()
        found = _ask(compax, lambda notices: notices.latest(limit, unread=unread))
        rows = [notice.model_dump(mode="json") for notice in found]
        if not as_json:
            rows = [
                {
                    **row,
                    "when": local(row["created_at"], zone),
                    "read": "yes" if row["read_at"] else "",
                }
                for row in rows
            ]
        emit(rows, COLUMNS, as_json)


@app.command()
def read(
    ctx: typer.Context,
    notification: Annotated[int, typer.Argument(min=1, help="The notification's id.")],
    as_json: JSON = False,
) -> None:
    """Show a notification in full and mark it read.

    Example: compax notifications read 42
    """
    with engine(ctx) as compax:
        notice = _ask(compax, lambda notices: notices.mark_read(notification))
        if as_json:
            emit(notice.model_dump(mode="json"), COLUMNS, as_json)
            return
        out.print(notice.subject, style="bold", markup=False, highlight=False)
        out.print(notice.text, markup=False, highlight=False)


@app.command()
def settings(ctx: typer.Context, as_json: JSON = False) -> None:
    """Show which kinds of notification are mailed to you.

    Example: compax notifications settings
    """
    with engine(ctx) as compax:
        chosen = _ask(compax, lambda notices: notices.settings())
        emit(
            chosen.model_dump(mode="json")["settings"] if as_json else _settings_rows(chosen),
            [("kind", "kind"), ("mail", "mail")],
            as_json,
        )


def _choose(ctx: typer.Context, kind: NoticeKind, mail: bool) -> None:
    with engine(ctx) as compax:
        _ask(compax, lambda notices: notices.choose(kind, mail))
        said = "mailed to you" if mail else "kept here, not mailed"
        err.print(f"Notifications of kind {kind.value} are {said}")


@app.command()
def mute(ctx: typer.Context, kind: KIND) -> None:
    """Stop mailing you one kind of notification (they are still listed here).

    Example: compax notifications mute reminder
    """
    _choose(ctx, kind, mail=False)


@app.command()
def unmute(ctx: typer.Context, kind: KIND) -> None:
    """Mail you one kind of notification again.

    Example: compax notifications unmute reminder
    """
    _choose(ctx, kind, mail=True)
