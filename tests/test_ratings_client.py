"""The client side of ratings, on a replica written by the test (no server): a rating is
checked before it is queued, the last one per room is the pending one, and a refused one can
be sent again or dropped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.engine import Engine
from sync.errors import NotFound, ValidationFailed
from sync.profiles import Profile
from sync.ratings import Ratings
from tests.tui_campus import fixed_clock, offline_campus


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "client"))
    offline_campus("rate")
    opened = Engine(Profile.load("rate"), fixed_clock)
    yield opened
    opened.close()


def _queued(engine: Engine) -> list[tuple[dict[str, object], str]]:
    with engine.replica.read() as db:
        rows = db.execute(
            "SELECT args, status FROM outbox WHERE op = 'rate_room' ORDER BY mid"
        ).fetchall()
    return [(json.loads(args), status) for args, status in rows]


def test_a_rating_is_checked_then_queued_and_the_last_one_is_pending(engine: Engine) -> None:
    ratings = Ratings(engine)
    for stars, comment, field in [(0, "", "stars"), (6, "", "stars"), (3, "x" * 1001, "comment")]:
        with pytest.raises(ValidationFailed) as refused:
            ratings.rate(1, stars, comment)
        assert [e.field for e in refused.value.errors] == [field]
    with pytest.raises(ValidationFailed):
        ratings.rate(1, None)
    with pytest.raises(NotFound):
        ratings.rate(99, 3)
    assert _queued(engine) == []
    ratings.rate(1, 2, " Cold ")
    ratings.rate(1, 4, "Warmer now")
    made = ratings.rate(2, None, remove=True)
    assert made["room"] == "PB/102"
    assert ratings.pending() == {
        1: {"room_id": 1, "stars": 4, "comment": "Warmer now"},
        2: {"room_id": 2, "delete": True},
    }
    assert _queued(engine)[0] == ({"room_id": 1, "stars": 2, "comment": "Cold"}, "pending")


def test_a_refused_rating_is_sent_again_or_dropped(engine: Engine) -> None:
    ratings = Ratings(engine)
    first = ratings.rate(1, 5)
    second = ratings.rate(2, 1)
    problem = {"type": "not-found", "title": "Not found", "status": 404, "detail": "No room"}
    with engine.replica.write() as db:
        db.execute(
            "UPDATE outbox SET status = 'rejected', problem = ? WHERE mid IN (?, ?)",
            [json.dumps(problem), first["mid"], second["mid"]],
        )
    refused = [c.summary for c in engine.conflicts() if c.op == "rate_room"]
    assert refused == ["Rate PB/101 5/5", "Rate PB/102 1/5"]
    with pytest.raises(ValidationFailed) as elsewhere:
        engine.retry(first["mid"], room_id=2)
    assert [e.field for e in elsewhere.value.errors] == ["room"]
    assert len([c for c in engine.conflicts() if c.op == "rate_room"]) == 2, "still refused"
    engine.retry(first["mid"])
    engine.discard(second["mid"])
    assert [c for c in engine.conflicts() if c.op == "rate_room"] == []
    assert _queued(engine) == [({"room_id": 1, "stars": 5, "comment": ""}, "pending")]


def test_taking_a_rating_back_with_stars_or_a_comment_is_refused(engine: Engine) -> None:
    """``rate PB/101 3 --remove`` is two wishes at once: refused naming the field, nothing
    queued, rather than the stars dropped without a word."""
    ratings = Ratings(engine)
    for stars, comment, field in [(3, "", "stars"), (None, "Cold", "comment")]:
        with pytest.raises(ValidationFailed) as refused:
            ratings.rate(1, stars, comment, remove=True)
        assert [e.field for e in refused.value.errors] == [field]
    assert _queued(engine) == []
