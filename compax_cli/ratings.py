"""``compax rooms rate`` and ``compax rooms ratings``: your rating of a room, queued like any
change (offline too) until a sync sends it, and a room's ratings as the server lists them."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from compax_cli.context import engine
from compax_cli.lookup import room_id
from compax_cli.options import JSON
from compax_cli.output import REFUSED, emit, err, local, more_than_shown, online
from sync.ratings import Ratings

RATING_COLUMNS = [
    ("when", "when"),
    ("stars", "stars"),
    ("comment", "comment"),
    ("yours", "yours"),
]


def rate(
    ctx: typer.Context,
    room: Annotated[str, typer.Argument(help="PB/101 or a room id.")],
    stars: Annotated[
        int | None, typer.Argument(min=1, max=5, help="1 (poor) to 5 (excellent).")
    ] = None,
    comment: Annotated[str, typer.Option(help="What you would tell others (optional).")] = "",
    remove: Annotated[bool, typer.Option("--remove", help="Take your rating back.")] = False,
    send: Annotated[bool, typer.Option("--sync", help="Send it to the server at once.")] = False,
    as_json: JSON = False,
) -> None:
    """Rate a room 1 to 5 stars (students too), or take your rating back; works offline.

    Example: compax rooms rate PB/101 4 --comment "Good projector, cold in the morning"

    Example: compax rooms rate PB/101 --remove --sync
    """
    with engine(ctx) as compax:
        queued = Ratings(compax).rate(room_id(compax.reads, room), stars, comment, remove=remove)
        if send:
            report = asyncio.run(compax.sync())
            if report.rejected:
                err.print("The server refused it: compax conflicts list")
                emit(queued, [("room", "room"), ("stars", "stars")], as_json)
                raise typer.Exit(REFUSED)
            queued = {**queued, "pending": False}
        else:
            err.print("Saved here; it is pending until you sync (compax sync)")
        emit(queued, [("room", "room"), ("stars", "stars"), ("comment", "comment")], as_json)


def ratings(
    ctx: typer.Context,
    room: Annotated[str, typer.Argument(help="PB/101 or a room id.")],
    limit: Annotated[int, typer.Option(min=1, max=500, help="Ratings per page.")] = 50,
    cursor: Annotated[
        str | None, typer.Option(help="The next page's cursor, as the last page gave it.")
    ] = None,
    as_json: JSON = False,
) -> None:
    """A room's ratings from the server, newest first (authors are not named, except to
    admins); your rating not yet sent is shown first.

    Example: compax rooms ratings PB/101 --limit 20 --json
    """
    with engine(ctx) as compax:
        client = Ratings(compax)
        chosen = room_id(compax.reads, room)
        with online("the ratings are read from the server"):
            page = asyncio.run(client.room_ratings(chosen, limit=limit, cursor=cursor))
        items: list[dict[str, Any]] = list(page["items"])
        pending = client.pending().get(chosen)
        if pending is not None:
            mine = {**pending, "pending": True, "mine": True, "updated_at": "not synced"}
            items = [mine, *(i for i in items if not i.get("mine"))]
        if as_json:
            emit({"items": items, "next_cursor": page.get("next_cursor")}, [], True)
            return
        zone = compax.reads.zone()
        shown = [
            {
                **i,
                "yours": "yes" if i.get("mine") else "",
                "stars": _stars(i),
                "when": i["updated_at"] if i.get("pending") else local(i["updated_at"], zone),
            }
            for i in items
        ]
        # The server names the authors to admins only: a column for them where it has.
        by = [("by", "user")] if any(i.get("user") for i in items) else []
        emit(shown, [*RATING_COLUMNS[:1], *by, *RATING_COLUMNS[1:]], False)
        if page.get("next_cursor"):
            more_than_shown("ratings", f"add --cursor {page['next_cursor']}")


def _stars(rating: dict[str, Any]) -> str:
    if rating.get("delete"):
        return "taken back"
    return "★" * int(rating["stars"])
