"""Helpers the server test modules share: reading problem responses and signing in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import event

from compax_server.keys import DATABASE

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}
#: Text that must never reach a client: stack traces, SQL, driver and ORM names.
LEAKS = ("Traceback", 'File "', "SELECT ", "INSERT ", "UPDATE ", "sqlalchemy", "asyncpg", "sqlite3")


async def problem_of(response: ClientResponse, status: int) -> dict[str, Any]:
    """The problem object of ``response``, after checking its status, media type and envelope."""
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == "application/problem+json", text
    for leak in LEAKS:
        assert leak not in text, f"{leak!r} leaked to the client: {text}"
    body: dict[str, Any] = await response.json(content_type=None)
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert all(isinstance(body[key], str) and body[key] for key in PROBLEM_KEYS - {"status"})
    assert body["instance"] == response.url.path
    return body


def error_fields(problem: dict[str, Any]) -> list[str]:
    """The fields a validation problem names, in order."""
    assert problem["type"] == "validation", problem
    return [error["field"] for error in problem["errors"]]


@contextmanager
def statements_sent(client: TestClient) -> Iterator[list[str]]:
    """The SQL statements the app sends to its database while the block runs, in order."""
    assert client.app is not None
    engine = client.app[DATABASE].engine.sync_engine
    sent: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", note)


async def sign_in(
    client: TestClient, username: str, password: str, **headers: str
) -> ClientResponse:
    return await client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}, headers=headers
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def with_version(headers: dict[str, str], version: int | str) -> dict[str, str]:
    """``headers`` plus ``If-Match`` naming ``version`` as an ETag."""
    return {**headers, "If-Match": f'"{version}"'}
