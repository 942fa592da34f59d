"""The rules of room ratings that need no pydantic: the range of stars, a room's average, its
place in the rating order and the ``min_rating`` filter, so that commands which only look rooms
up in the replica stay fast. The server asks the same in SQL (``services/rating_order.py``)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

#: The fewest and most stars a rating gives.
MIN_STARS, MAX_STARS = 1, 5
#: The longest comment a rating may hold.
MAX_COMMENT = 1000


def rating_average(count: int, total: int) -> float | None:
    """A room's average stars to one decimal, or ``None`` while nobody has rated it."""
    return round(total / count, 1) if count > 0 else None


#: How finely the rating order tells averages apart: a millionth of a star.
RANK_SCALE = 1_000_000
#: The rank of a room nobody has rated: below every rated room's.
UNRATED_RANK = -1


def rating_rank(count: int, total: int) -> int:
    """A room's place in the rating order: its average scaled to an integer (``UNRATED_RANK``
    while unrated). The server computes the same in SQL (``services/rating_order.py``)."""
    return total * RANK_SCALE // count if count > 0 else UNRATED_RANK


def tenths(min_rating: float) -> int:
    """``min_rating`` (given to one decimal) in tenths of a star."""
    return round(min_rating * 10)


def rated_at_least(count: int, total: int, min_rating: float) -> bool:
    """Whether a room's exact average is at least ``min_rating``; an unrated room's never is.
    The server asks the same in SQL: ``total * 10 >= tenths * count``."""
    return count > 0 and total * 10 >= tenths(min_rating) * count


def by_rating(
    rooms: list[dict[str, Any]], *, min_rating: float | None = None, best_first: bool = False
) -> list[dict[str, Any]]:
    """Room records (with ``rating_count`` and ``rating_total``) at least ``min_rating``, and
    with ``best_first`` best rated first, unrated last, ties in their given order."""
    kept = [
        room
        for room in rooms
        if min_rating is None
        or rated_at_least(room.get("rating_count", 0), room.get("rating_total", 0), min_rating)
    ]
    if best_first:
        kept.sort(key=lambda r: -rating_rank(r.get("rating_count", 0), r.get("rating_total", 0)))
    return kept


def rating_label(count: int, total: int) -> str:
    """A room's rating for people: ``★ 4.2 (17)``, or ``unrated``."""
    average = rating_average(count, total)
    return "unrated" if average is None else f"★ {average:.1f} ({count})"


class ImportedKeys:
    """The keys of imported ratings that name neither a user nor an ``external_id``: a digest
    of the room, stars and comment, with the row's occurrence among equal rows of the file, so
    that importing the same file again finds every rating it made and makes no new one."""

    def __init__(self) -> None:
        self._seen: Counter[str] = Counter()

    def key(self, room: str, stars: int, comment: str) -> str:
        """The next key of a rating of ``room`` with ``stars`` and ``comment``."""
        text = json.dumps([room.strip().upper(), stars, comment.strip()], ensure_ascii=False)
        digest = hashlib.sha256(text.encode()).hexdigest()[:40]
        self._seen[digest] += 1
        return f"sha256:{digest}#{self._seen[digest]}"
