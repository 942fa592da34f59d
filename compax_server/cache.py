"""The read cache: answers of hot reads (campus lists, free rooms, availability grids).

An answer is stored under the change log's sequence number that was committed when it was
computed, read by ``committed_sequence`` just before. Every committed write to a replicated
table takes a higher number, so the next read after it looks under a new key and computes
afresh: no worker serves an answer older than the newest change committed before the
request started, and nothing needs to be invalidated by hand. While a committed change still
waits for its number (Postgres numbers changes after their writers commit), a read numbers
them first, as a pull does (unless another numbering is under way: it never waits for one),
and bypasses the cache if changes still wait. Answers live in this process's memory (a byte
budget, least recently used first out) and, with ``COMPAX_REDIS_URL``, also in Redis, where
every worker finds them; Redis keys expire after ``COMPAX_READ_CACHE_TTL_SECONDS``.

A cached answer must depend only on the database and on what its key names: the endpoint,
its path and query parameters, and the viewer's scope where the answer hides things from
some viewers (``viewer_scope``).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from typing import Any

from aiohttp import web
from pydantic_core import to_json
from redis.asyncio import Redis
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from compax_server.api import Call
from compax_server.keys import READ_CACHE
from compax_server.metrics import Metrics
from compax_server.models import Change, ChangeCounter, User
from compax_server.redis_link import RedisLink
from compax_server.services.sync import number_changes
from sync.permissions import Permission, allows

#: The newest number given to a committed change, and whether committed changes still wait
#: for a number. A number is given to committed changes only, in commit order, so everything
#: numbered up to the counter is committed and visible to a query that starts now.
COMMITTED_SEQUENCE = select(
    col(ChangeCounter.value), exists().where(col(Change.seq).is_(None))
).where(col(ChangeCounter.id) == 1)


async def committed_sequence(session: AsyncSession) -> int | None:
    """The number of the newest committed change, or ``None`` while one waits for its number.

    This is the cache's only view of writes: an answer stored under a number is valid until
    a change with a higher one, or one without a number yet, is committed.
    """
    row = (await session.execute(COMMITTED_SEQUENCE)).one_or_none()
    if row is None or row[1]:
        return None
    return int(row[0])


def viewer_scope(user: User) -> str:
    """What distinguishes one viewer's answer from another's where answers hide details.

    Booking officers see every booking whole, so they share answers; anyone else sees their
    own bookings whole and others' private ones masked, so their answers are their own.
    """
    if allows(user.role, Permission.MANAGE_ANY_BOOKING):
        return "officers"
    return f"user-{user.id}"


class MemoryAnswers:
    """Answers of one sequence number, in this process, within a byte budget."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self.sequence = -1
        self.size = 0
        self._answers: OrderedDict[str, bytes] = OrderedDict()

    def get(self, sequence: int, key: str) -> bytes | None:
        """The answer stored for ``key`` under ``sequence``, if it is still here."""
        if sequence != self.sequence:
            return None
        body = self._answers.get(key)
        if body is not None:
            self._answers.move_to_end(key)
        return body

    def put(self, sequence: int, key: str, body: bytes) -> None:
        """Keep ``body``; a newer sequence drops every older answer, an older one is ignored."""
        if sequence < self.sequence or len(body) > self.budget // 4:
            return
        if sequence > self.sequence:
            self._answers.clear()
            self.size = 0
            self.sequence = sequence
        old = self._answers.pop(key, None)
        self.size += len(body) - (len(old) if old is not None else 0)
        self._answers[key] = body
        while self.size > self.budget:
            _, dropped = self._answers.popitem(last=False)
            self.size -= len(dropped)


class ReadCache:
    """Cached JSON answers keyed by the committed sequence, in memory and optionally Redis."""

    def __init__(
        self,
        budget_bytes: int,
        ttl_seconds: int,
        metrics: Metrics,
        redis: RedisLink | None = None,
    ) -> None:
        self.enabled = budget_bytes > 0
        self.ttl = ttl_seconds
        self.memory = MemoryAnswers(budget_bytes)
        self._metrics = metrics
        self._redis = redis
        # Workers of two releases may share Redis during an upgrade; each reads its own shapes.
        self._release = version("compax")

    async def answer(
        self,
        session: AsyncSession,
        key: str,
        compute: Callable[[], Awaitable[Any]],
        number_waiting: Callable[[], Awaitable[object]],
    ) -> bytes:
        """The JSON of ``compute()``'s result, from the cache when nothing has changed since.

        When committed changes wait for their numbers, ``number_waiting`` numbers them (as a
        pull would, but never waiting behind another numbering) and the counter is read
        again; if changes still wait, the cache is bypassed.
        """
        if not self.enabled:
            return to_json(await compute())
        sequence = await committed_sequence(session)
        if sequence is None:
            await number_waiting()
            sequence = await committed_sequence(session)
        if sequence is None:
            self._metrics.read_cache.labels("bypass").inc()
            return to_json(await compute())
        body = self.memory.get(sequence, key)
        if body is not None:
            self._metrics.read_cache.labels("memory_hit").inc()
            return body
        if self._redis is not None:
            body = await self._from_redis(sequence, key)
            if body is not None:
                self._metrics.read_cache.labels("redis_hit").inc()
                self.memory.put(sequence, key, body)
                return body
        self._metrics.read_cache.labels("miss").inc()
        body = to_json(await compute())
        self.memory.put(sequence, key, body)
        if self._redis is not None:
            await self._to_redis(sequence, key, body)
        return body

    async def _from_redis(self, sequence: int, key: str) -> bytes | None:
        assert self._redis is not None
        redis_key = self._redis.key("read", self._release, str(sequence), key)

        async def get(client: Redis) -> bytes | None:
            body = await client.get(redis_key)
            return body if isinstance(body, bytes) else None

        return await self._redis.run(get, lambda: None)

    async def _to_redis(self, sequence: int, key: str, body: bytes) -> None:
        assert self._redis is not None
        redis_key = self._redis.key("read", self._release, str(sequence), key)

        async def put(client: Redis) -> None:
            await client.set(redis_key, body, ex=self.ttl)

        await self._redis.run(put, lambda: None)


async def cached_json(
    call: Call[Any, Any],
    session: AsyncSession,
    compute: Callable[[], Awaitable[Any]],
    *,
    viewer: str = "",
) -> web.Response:
    """The JSON answer of ``compute()`` for this request, through the app's read cache.

    The key names the route, its path parameters, its validated query and ``viewer``.
    """
    request = call.request
    parts = [
        request.match_info.route.name or request.path,
        to_json(dict(sorted(request.match_info.items()))).decode(),
        call.query.model_dump_json() if call.query is not None else "",
        viewer,
    ]
    key = hashlib.blake2b("\n".join(parts).encode(), digest_size=16).hexdigest()
    body = await request.app[READ_CACHE].answer(
        session, key, compute, lambda: number_changes(call.db, wait=False)
    )
    return web.Response(body=body, content_type="application/json")
