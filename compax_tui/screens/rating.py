"""Rating a room from the TUI: a small form of stars and a comment, queued like any change
(so it works offline) until the next sync sends it."""

from __future__ import annotations

from typing import Any

from compax_tui.screens.base import CompaxScreen
from compax_tui.screens.dialogs import FormDialog, FormField
from sync.errors import CompaxError

#: The stars a rating may give, best first, as the form offers them.
STARS = [(f"{'★' * n}{'☆' * (5 - n)} {n}", str(n)) for n in range(5, 0, -1)]


def rate_room(screen: CompaxScreen, room: dict[str, Any]) -> None:
    """Ask for the user's stars and comment for ``room`` and queue them."""
    from sync.rating_schemas import RateRoomArgs
    from sync.ratings import Ratings

    ratings = Ratings(screen.compax.engine)
    label = f"{room['building']}/{room['code']}"
    before = ratings.pending().get(int(room["id"]), {})
    fields = [
        FormField("stars", "Stars", str(before.get("stars", 4)), "select", STARS),
        FormField("comment", "Comment", str(before.get("comment", "")), placeholder="optional"),
    ]

    def build(values: dict[str, str | bool]) -> RateRoomArgs:
        return RateRoomArgs.model_validate(
            {"room_id": room["id"], "stars": values["stars"], "comment": values["comment"]}
        )

    def chosen(args: RateRoomArgs | None) -> None:
        if args is None:
            return
        try:
            ratings.rate(args.room_id, args.stars, args.comment)
        except CompaxError as error:
            screen.compax.report(error)
            return
        screen.notify(f"Rated {label} {args.stars}/5: pending until the next sync", title="Rating")
        screen.compax.changed()

    screen.app.push_screen(FormDialog(f"Rate {label}", fields, build, "Rate"), chosen)
