"""Rooms by rating: the filter ``min_rating`` and the order ``sort=rating`` (best first,
unrated last), with the keyset cursor of that order, the same SQL on both databases.

A room's average is ``rating_total / rating_count``. Both are integers, so the order compares
an integer rank (the average scaled by a million, rounded down, in 64 bits; ``-1`` for a room
nobody has rated, which puts it last explicitly rather than by a dialect's NULL ordering), and
the filter compares ``total * 10 >= tenths * count`` with no division at all.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, and_, case, cast, literal, or_
from sqlmodel import col

from compax_server.models import Room
from sync.errors import ValidationFailed
from sync.rating_rules import RANK_SCALE, UNRATED_RANK, tenths
from sync.schemas import MAX_ID

_PREFIX = "rating"


def rank_column() -> Any:
    """The room's average stars scaled to an integer, or ``UNRATED_RANK`` while unrated: the
    SQL of ``sync.rating_schemas.rating_rank``."""
    return case(
        (
            col(Room.rating_count) > 0,
            cast(col(Room.rating_total), BigInteger) * RANK_SCALE // col(Room.rating_count),
        ),
        else_=literal(UNRATED_RANK),
    )


def rated_at_least_where(min_rating: float) -> Any:
    """Rooms whose exact average is at least ``min_rating`` (given to one decimal); unrated
    rooms never are: the SQL of ``sync.rating_schemas.rated_at_least``."""
    return and_(
        col(Room.rating_count) > 0,
        col(Room.rating_total) * 10 >= tenths(min_rating) * col(Room.rating_count),
    )


def by_rating(statement: Any, ties: Sequence[Any], cursor: str | None) -> Any:
    """``statement`` ordered best rated first, then by the integer expressions ``ties``
    ascending (ending with a unique one), after ``cursor`` (from ``rating_cursor``)."""
    keys = [rank_column(), *ties]
    if cursor:
        values = _decode(cursor, len(keys))
        beyond = []
        for i, key in enumerate(keys):
            equal = [keys[j] == values[j] for j in range(i)]
            step = key < values[i] if i == 0 else key > values[i]
            beyond.append(and_(*equal, step))
        statement = statement.where(or_(*beyond))
    return statement.order_by(keys[0].desc(), *ties)


def rating_cursor(rank: int, ties: Sequence[int]) -> str:
    """The place of a row in the rating order, as ``by_rating`` reads it back."""
    text = ":".join([_PREFIX, str(rank), *(str(value) for value in ties)])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str, size: int) -> list[int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:
        text = ""
    parts = text.split(":")
    numbers = parts[1:]
    if parts[0] == _PREFIX and len(numbers) == size and all(_integer(part) for part in numbers):
        return [int(part) for part in numbers]
    raise ValidationFailed.single("cursor", "is not a cursor this server handed out")


def _integer(text: str) -> bool:
    """Whether ``text`` is a number a cursor may hold: the unrated rank, or 0 up to the
    largest 32-bit id (ranks, capacities and ids all fit)."""
    if text == str(UNRATED_RANK):
        return True
    return text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= MAX_ID
