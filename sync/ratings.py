"""Room ratings on the client: a rating is queued like any offline change (the push op
``rate_room``) and the replica shows it as pending until the server has it; a room's
ratings are read from the server."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from sync.engine import Engine
from sync.errors import NotFound, ValidationFailed, field_errors
from sync.protocol import Op
from sync.rating_schemas import RateRoomArgs


class Ratings:
    """The signed-in user's ratings through one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def rate(
        self, room_id: int, stars: int | None, comment: str = "", *, remove: bool = False
    ) -> dict[str, Any]:
        """Queue the user's rating of the room (or, with ``remove``, taking it back); what is
        queued, marked pending. Bad stars or comment are refused here, naming the field."""
        self.engine._require_user()
        room = self.engine.reads.room(room_id)
        if room is None:
            raise NotFound(f"No room with id {room_id} here; sync to see new ones")
        if not remove and stars is None:
            raise ValidationFailed.single("stars", "give 1 to 5 stars, or take the rating back")
        if remove and stars is not None:
            raise ValidationFailed.single("stars", "give stars or take the rating back, not both")
        if remove and comment.strip():
            raise ValidationFailed.single("comment", "a rating taken back has no comment")
        values: dict[str, Any] = (
            {"room_id": room_id, "delete": True}
            if remove
            else {
                "room_id": room_id,
                "stars": stars,
                "comment": comment,
            }
        )
        try:
            args = RateRoomArgs.model_validate(values)
        except ValidationError as error:
            raise ValidationFailed(field_errors(error)) from None
        label = f"{room['building']}/{room['code']}"
        summary = f"Take back the rating of {label}" if remove else f"Rate {label} {args.stars}/5"
        sent: dict[str, Any] = (
            {"room_id": room_id, "delete": True}
            if remove
            else {"room_id": room_id, "stars": args.stars, "comment": args.comment}
        )
        mid = self.engine._queue(Op.RATE_ROOM, sent, summary, str(room_id), [])
        return {"mid": mid, "room": label, "pending": True, **sent}

    def pending(self) -> dict[int, dict[str, Any]]:
        """The user's ratings not yet sent, the last one per room, by room id."""
        with self.engine.replica.read() as db:
            rows = db.execute(
                "SELECT args FROM outbox WHERE op = ? AND status = 'pending' ORDER BY mid",
                [Op.RATE_ROOM.value],
            ).fetchall()
        last: dict[int, dict[str, Any]] = {}
        for (args,) in rows:
            rating = json.loads(args)
            last[int(rating["room_id"])] = rating
        return last

    async def room_ratings(
        self, room_id: int, *, limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        """One page of the room's ratings from the server, newest first."""
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        async with self.engine.http() as http:
            return dict(
                await http.request("GET", f"/api/v1/rooms/{room_id}/ratings", params=params)
            )
