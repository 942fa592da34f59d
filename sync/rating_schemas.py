"""Room ratings as client and server exchange them: one person's 1 to 5 stars for a room with
an optional comment, and the averages rooms carry."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field, field_validator

from sync.rating_rules import MAX_COMMENT, MAX_STARS, MIN_STARS
from sync.schemas import Id, Schema


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class RatingSet(Schema):
    """The caller's rating of a room: it replaces any they gave before."""

    model_config = ConfigDict(extra="forbid")
    stars: int = Field(ge=MIN_STARS, le=MAX_STARS, description="1 (poor) to 5 (excellent).")
    comment: str = Field(default="", max_length=MAX_COMMENT)

    _comment = field_validator("comment", mode="before")(_strip)


class RateRoomArgs(RatingSet):
    """A rating made on a client, pushed as ``rate_room``: set it, or with ``delete`` take the
    caller's rating of the room back (``stars`` is then not needed)."""

    room_id: Id
    stars: int = Field(default=MIN_STARS, ge=MIN_STARS, le=MAX_STARS)
    delete: bool = False


class RatingPublic(Schema):
    """A rating as the API shows it: the author's username only to admins, ``mine`` to the
    author, and ``imported`` for one that came from another system (``external_id``)."""

    id: int
    room_id: int
    room: str = Field(description="Building and room code, e.g. PB/101.")
    stars: int
    comment: str
    mine: bool = False
    imported: bool = False
    user: str | None = Field(default=None, description="The author's username; admins only.")
    external_id: str | None = Field(default=None, description="Admins only.")
    version: int
    created_at: datetime
    updated_at: datetime
