"""Login rate limiting: failed attempts counted per key in fixed time windows.

The counts live in Redis when one is configured, so that a limit holds across all worker
processes; each process also keeps its own count, which decides whenever Redis cannot be
reached: a Redis outage weakens a limit to one process's view, never removes it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from redis.asyncio import Redis

from compax_server.redis_link import RedisLink

#: INCR that starts the window's expiry with the first failure, atomically.
_COUNT_FAILURE = """
local failures = redis.call('INCR', KEYS[1])
if failures == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return failures
"""


class LocalWindows:
    """Failure counts of this process alone, one fixed window per key."""

    def __init__(
        self, limit: int, window_seconds: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}

    def retry_after(self, key: str) -> int | None:
        """Seconds until ``key`` may try again, or ``None`` if it may try now."""
        started, failures = self._current(key)
        if failures < self.limit:
            return None
        return max(1, math.ceil(started + self.window - self._clock()))

    def record_failure(self, key: str) -> None:
        """Count one failure of ``key`` in its current window."""
        started, failures = self._current(key)
        self._windows[key] = (started, failures + 1)
        if len(self._windows) > 100_000:
            self._forget_expired()

    def reset(self, key: str) -> None:
        """Forget ``key``'s failures (after a success)."""
        self._windows.pop(key, None)

    def _current(self, key: str) -> tuple[float, int]:
        now = self._clock()
        started, failures = self._windows.get(key, (now, 0))
        if now - started >= self.window:
            return now, 0
        return started, failures

    def _forget_expired(self) -> None:
        now = self._clock()
        self._windows = {
            key: value for key, value in self._windows.items() if now - value[0] < self.window
        }


class FailureLimiter:
    """Counts failures per key (a username, a client address) and refuses past ``limit``.

    Fixed windows keep the state to one counter per key: in Redis an ``INCR`` whose key
    expires with the window. ``name`` keeps the counters of different limiters apart.
    """

    def __init__(
        self,
        name: str,
        limit: int,
        window_seconds: int,
        redis: RedisLink | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.limit = limit
        self.window = window_seconds
        self.local = LocalWindows(limit, window_seconds, clock)
        self._redis = redis

    async def retry_after(self, key: str) -> int | None:
        """Seconds until ``key`` may try again, or ``None`` if it may try now."""
        local = self.local.retry_after(key)
        if self._redis is None:
            return local
        redis_key = self._key(key)

        async def shared(client: Redis) -> int | None:
            async with client.pipeline(transaction=False) as pipe:
                pipe.get(redis_key)
                pipe.pttl(redis_key)
                failures, ttl_ms = await pipe.execute()
            if failures is None or int(failures) < self.limit:
                return None
            return max(1, math.ceil(ttl_ms / 1000)) if ttl_ms > 0 else self.window

        return await self._redis.run(shared, lambda: local)

    async def record_failure(self, key: str) -> None:
        """Count one failure of ``key``, here and, if configured, in Redis."""
        self.local.record_failure(key)
        if self._redis is not None:
            redis_key = self._key(key)

            async def shared(client: Redis) -> None:
                await client.eval(_COUNT_FAILURE, 1, redis_key, str(self.window))

            await self._redis.run(shared, lambda: None)

    async def reset(self, key: str) -> None:
        """Forget ``key``'s failures, here and, if configured, in Redis."""
        self.local.reset(key)
        if self._redis is not None:
            redis_key = self._key(key)

            async def shared(client: Redis) -> None:
                await client.delete(redis_key)

            await self._redis.run(shared, lambda: None)

    def _key(self, key: str) -> str:
        assert self._redis is not None
        return self._redis.key("login", self.name, key)
