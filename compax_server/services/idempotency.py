"""Idempotency keys: a retried request gets the stored answer instead of acting twice.

A success is stored in the same transaction as the change it reports, so a client that lost
the answer can never make the change twice. Refusals are stored too, so a retry hears the
same answer; transient failures (429, 5xx) are not, so a retry can still succeed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.db import Database
from compax_server.models import IdempotencyKey
from compax_server.problems import problem_body
from compax_server.services.common import utcnow
from sync.errors import CompaxError, IdempotencyKeyReused, ValidationFailed

RETENTION = timedelta(hours=24)


class KeyTaken(Exception):
    """A concurrent request with the same key stored its answer first."""


def fingerprint(method: str, path: str, body: Any) -> str:
    """What makes two requests the same request: method, path and the validated body."""
    canonical = json.dumps(to_jsonable_python(body), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{method} {path} {canonical}".encode()).hexdigest()


def check_key(key: str) -> str:
    if not 1 <= len(key) <= 200 or not key.isprintable():
        raise ValidationFailed.single("Idempotency-Key", "must be 1 to 200 printable characters")
    return key


async def stored_answer(
    db: Database, user_id: int, key: str, print_: str
) -> tuple[int, Any] | None:
    """The stored (status, body) for this key, ``None`` if new; another request's key is 422."""
    async with db.read() as session:
        row = await session.get(IdempotencyKey, (user_id, key))
    if row is None or row.created_at < utcnow() - RETENTION:
        return None
    if row.request_hash != print_:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used for a different request; use a new key per request"
        )
    return row.status, row.body


async def record(
    session: AsyncSession, user_id: int, key: str, print_: str, status: int, body: Any
) -> None:
    """Store the answer in ``session``'s transaction; raises ``KeyTaken`` if it lost a race."""
    await session.execute(
        delete(IdempotencyKey).where(
            col(IdempotencyKey.user_id) == user_id,
            col(IdempotencyKey.created_at) < utcnow() - RETENTION,
        )
    )
    try:
        async with session.begin_nested():
            session.add(
                IdempotencyKey(
                    user_id=user_id,
                    key=key,
                    request_hash=print_,
                    status=status,
                    body=to_jsonable_python(body),
                    created_at=utcnow(),
                )
            )
    except IntegrityError:
        raise KeyTaken from None


async def record_refusal(
    db: Database, user_id: int, key: str, print_: str, error: CompaxError, body: dict[str, Any]
) -> None:
    if error.status == 429 or error.status >= 500:
        return
    try:
        async with db.write() as session:
            await record(session, user_id, key, print_, error.status, body)
    except KeyTaken:
        pass


async def run_once(
    db: Database,
    user_id: int,
    key: str,
    print_: str,
    action: Callable[[AsyncSession], Awaitable[Any]],
    *,
    status: int,
    instance: str,
) -> tuple[int, Any, bool]:
    """Run ``action`` in a write transaction at most once per key: ``(status, body, replayed)``.

    A success is stored in the action's own transaction; a refusal is stored after it and
    raised; a request that lost a race for the same key gets the winner's answer.
    """
    stored = await stored_answer(db, user_id, key, print_)
    if stored is not None:
        return (*stored, True)
    try:
        async with db.write() as session:
            body = await action(session)
            await record(session, user_id, key, print_, status, body)
    except KeyTaken:
        stored = await stored_answer(db, user_id, key, print_)
        assert stored is not None
        return (*stored, True)
    except CompaxError as error:
        await record_refusal(db, user_id, key, print_, error, problem_body(error, instance))
        raise
    return status, body, False
