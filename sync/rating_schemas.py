"""Room ratings as client and server exchange them: one person's 1 to 5 stars for a room with
an optional comment, and the averages rooms carry."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field, field_validator

from sync.rating_rules import MAX_COMMENT, MAX_STARS, MIN_STARS
from sync.schemas import Id, Schema
from sync.vocabulary import normalised_code, normalised_room_code


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class RatingSet(Schema):
    """The caller's rating of a room: it replaces any they gave before."""

    model_config = ConfigDict(extra="forbid")
    stars: int = Field(ge=MIN_STARS, le=MAX_STARS, description="1 (poor) to 5 (excellent).")
    comment: str = Field(default="", max_length=MAX_COMMENT)

    _comment = field_validator("comment", mode="before")(_strip)


class RateRoomArgs(Schema):
    """A rating made on a client, pushed as ``rate_room``: set it (``stars`` needed), or with
    ``delete`` take the caller's rating of the room back."""

    model_config = ConfigDict(extra="forbid")
    room_id: Id
    stars: int | None = Field(default=None, ge=MIN_STARS, le=MAX_STARS)
    comment: str = Field(default="", max_length=MAX_COMMENT)
    delete: bool = False

    _comment = field_validator("comment", mode="before")(_strip)


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


class RatingImportRow(Schema):
    """A rating as a file gives it: with ``user``, that user's rating of the room; without,
    a rating from another system, keyed by ``external_id`` (or, when the file has none, by
    ``ImportedKeys``)."""

    model_config = ConfigDict(extra="forbid")
    room: str = Field(min_length=3, max_length=90, description="Building and room, e.g. PB/101.")
    rating: int = Field(ge=MIN_STARS, le=MAX_STARS)
    comment: str = Field(default="", max_length=MAX_COMMENT)
    user: str | None = Field(default=None, min_length=1, max_length=64)
    external_id: str | None = Field(default=None, min_length=1, max_length=255)

    _comment = field_validator("comment", mode="before")(_strip)

    @field_validator("room")
    @classmethod
    def _room(cls, value: str) -> str:
        building, slash, code = value.partition("/")
        if not slash or not building.strip() or not code.strip():
            raise ValueError("write it as BUILDING/ROOM, such as PB/101")
        return f"{normalised_code(building)}/{normalised_room_code(code)}"

    @field_validator("user")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        return None if value is None else value.strip().lower()


class RatingRecord(Schema):
    """A rating as the export writes it, the columns the import reads back."""

    id: int
    room: str
    rating: int
    comment: str
    user: str | None = None
    external_id: str | None = None
    created_at: datetime
    updated_at: datetime
