"""Signed booking links: a page that shows, a button that acts, and nothing for a forged link
or a link of another action (SQLite and Postgres)."""

from __future__ import annotations

import uuid

import pytest
from aiohttp.test_utils import TestClient

from compax_server.jobs.queue import JobContext
from compax_server.keys import BOOKING_LINKS
from compax_server.links import LINK_ACTIONS, LinkAction, LinkWork
from sync.errors import BookingCancelled
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import Person


@pytest.fixture
def performed(monkeypatch: pytest.MonkeyPatch) -> list[uuid.UUID]:
    """The bookings a cancel link acted on, by a stand-in for the cancellation."""
    done: list[uuid.UUID] = []

    async def perform(context: JobContext, booking_id: uuid.UUID) -> str:
        done.append(booking_id)
        if len(done) > 1:
            raise BookingCancelled("The booking is cancelled already")
        return "Your booking is cancelled."

    monkeypatch.setitem(LINK_ACTIONS, LinkAction.CANCEL, LinkWork("Cancel this booking", perform))
    return done


async def _booking(client: TestClient, admin: Person) -> uuid.UUID:
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    made = await book(client, admin, campus.room_101, at(monday, 9), at(monday, 10))
    return uuid.UUID((await made.json())["id"])


async def test_opening_shows_the_booking_and_only_the_button_acts(
    client: TestClient, admin: Person, performed: list[uuid.UUID]
) -> None:
    booking_id = await _booking(client, admin)
    assert client.app is not None
    token = client.app[BOOKING_LINKS].token(LinkAction.CANCEL, booking_id)

    page = await client.get(f"/links/cancel/{token}")
    assert page.status == 200
    assert page.content_type == "text/html"
    text = await page.text()
    assert "Cancel this booking" in text and "<form method=post>" in text
    assert "09:00" in text, "the time is shown in campus local time"
    assert performed == []

    used = await client.post(f"/links/cancel/{token}")
    assert used.status == 200
    assert "Your booking is cancelled." in await used.text()
    assert performed == [booking_id]

    again = await client.post(f"/links/cancel/{token}")
    assert again.status == 409
    assert again.content_type == "text/html"
    assert "cancelled already" in await again.text()


async def test_a_forged_or_borrowed_link_is_not_found(
    client: TestClient, admin: Person, performed: list[uuid.UUID]
) -> None:
    booking_id = await _booking(client, admin)
    assert client.app is not None
    token = client.app[BOOKING_LINKS].token(LinkAction.CANCEL, booking_id)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for method, path in (
        ("GET", f"/links/cancel/{forged}"),
        ("POST", f"/links/cancel/{forged}"),
        ("POST", f"/links/checkin/{token}"),  # a cancel link is no check-in link
        ("GET", "/links/cancel/nonsense"),
    ):
        answer = await client.request(method, path)
        assert answer.status == 404, (method, path)
        assert answer.content_type == "text/html"
        assert "not valid" in await answer.text() or "does not carry out" in await answer.text()
    assert performed == []


async def test_a_link_to_a_booking_that_is_gone_is_not_found(
    client: TestClient, performed: list[uuid.UUID]
) -> None:
    assert client.app is not None
    token = client.app[BOOKING_LINKS].token(LinkAction.CANCEL, uuid.uuid4())
    answer = await client.get(f"/links/cancel/{token}")
    assert answer.status == 404
    assert performed == []
