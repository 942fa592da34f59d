"""Idempotency keys: a retried request gets the stored answer instead of acting twice.

The key's row is where requests with one key meet. A request first inserts it, in its own
write transaction, before it acts; a second request with the same key waits on that insert
until the first has committed (Postgres waits on the row's unique key, SQLite's writers take
turns), then finds the row and replays the answer stored in it. So concurrent requests, on
one server process or several, act once and all get the first one's answer. A success and a
refusal are stored in the transaction that claimed the key; a transient failure (429, 5xx)
stores nothing and gives the key up, so a retry can still succeed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from compax_server.db import Database
from compax_server.models import IdempotencyKey
from compax_server.problems import problem_body
from compax_server.services.common import utcnow
from sync.errors import CompaxError, IdempotencyKeyReused, Unavailable, ValidationFailed

RETENTION = timedelta(hours=24)
#: Visible ASCII, inner spaces allowed: the document's pattern for the header.
_KEY = re.compile(r"[!-~]([ -~]*[!-~])?")

_KEYS = SQLModel.metadata.tables["idempotency_keys"]
#: A new key's row, or nothing when the key is taken (after waiting for its claimer's commit).
_CLAIM = {
    "postgresql": postgres_insert(_KEYS).on_conflict_do_nothing().returning(_KEYS.c.key),
    "sqlite": sqlite_insert(_KEYS).on_conflict_do_nothing().returning(_KEYS.c.key),
}


def fingerprint(method: str, path: str, body: Any) -> str:
    """What makes two requests the same request: method, path and the validated body."""
    canonical = json.dumps(to_jsonable_python(body), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{method} {path} {canonical}".encode()).hexdigest()


def check_key(key: str) -> str:
    """The key if it is 1 to 200 visible ASCII characters (inner spaces allowed), as the
    document's pattern says; else a 422 naming the header."""
    if not 1 <= len(key) <= 200 or not _KEY.fullmatch(key):
        raise ValidationFailed.single(
            "Idempotency-Key", "must be 1 to 200 visible ASCII characters"
        )
    return key


def _answer(row: IdempotencyKey | None, print_: str, now: datetime) -> tuple[int, Any] | None:
    """The (status, body) ``row`` stores for a request with ``print_``, ``None`` if there is no
    row live at ``now``; the key of another request is 422."""
    if row is None or row.created_at < now - RETENTION:
        return None
    if row.request_hash != print_:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used for a different request; use a new key per request"
        )
    return row.status, row.body


async def stored_answer(
    db: Database, user_id: int, key: str, print_: str
) -> tuple[int, Any] | None:
    """The stored (status, body) for this key, ``None`` if new; another request's key is 422."""
    async with db.read() as session:
        return _answer(await session.get(IdempotencyKey, (user_id, key)), print_, utcnow())


async def _claim(session: AsyncSession, user_id: int, key: str, print_: str, now: datetime) -> bool:
    """Insert the key's row in ``session``'s transaction, first dropping the user's keys
    expired at ``now``; ``False`` if another request holds the key (committed by then)."""
    await session.execute(
        delete(IdempotencyKey).where(
            col(IdempotencyKey.user_id) == user_id,
            col(IdempotencyKey.created_at) < now - RETENTION,
        )
    )
    row = {
        "user_id": user_id,
        "key": key,
        "request_hash": print_,
        "status": 0,
        "body": {},
        "created_at": now,
    }
    claim = _CLAIM[session.get_bind().dialect.name]
    return (await session.execute(claim, row)).first() is not None


async def _store(session: AsyncSession, user_id: int, key: str, status: int, body: Any) -> None:
    """Write the answer into the key's row that this transaction claimed."""
    await session.execute(
        update(IdempotencyKey)
        .where(col(IdempotencyKey.user_id) == user_id, col(IdempotencyKey.key) == key)
        .values(status=status, body=to_jsonable_python(body))
    )


def _transient(error: CompaxError) -> bool:
    """Whether a retry may get another answer (rate limits, unavailability): not stored."""
    return error.status == 429 or error.status >= 500


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

    The transaction claims the key before ``action`` runs and stores its answer, a success or
    a refusal (then raised), before it commits; a request whose key is claimed waits for that
    commit and gets the stored answer.
    """
    stored = await stored_answer(db, user_id, key, print_)
    if stored is not None:
        return (*stored, True)
    refusal: CompaxError | None = None
    async with db.write() as session:
        now = utcnow()
        if not await _claim(session, user_id, key, print_, now):
            row = await session.get(IdempotencyKey, (user_id, key), populate_existing=True)
            stored = _answer(row, print_, now)
            if stored is None:  # the holder's key expired and was dropped meanwhile
                raise Unavailable("This Idempotency-Key changed hands just now; send it again")
            return (*stored, True)
        try:
            async with session.begin_nested():
                body = await action(session)
        except CompaxError as error:
            if _transient(error):
                raise
            refusal, status, body = error, error.status, problem_body(error, instance)
        await _store(session, user_id, key, status, body)
    if refusal is not None:
        raise refusal
    return status, body, False
