"""The Redis that all worker processes share, and what happens when it does not answer.

Login limits and the read cache keep their state in Redis when ``COMPAX_REDIS_URL`` is set,
so every worker sees the same counts and the same cached answers. Redis is an aid, never a
single point of failure: an operation that fails (refused, timed out, any Redis error) falls
back to the caller's in-process state, one warning is logged for the outage, and Redis is
left alone for a few seconds before it is tried again, so that an outage costs no request
more than one short timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("compax.redis")

T = TypeVar("T")

#: Seconds one Redis command may take before the worker falls back to its own state.
COMMAND_TIMEOUT_SECONDS = 0.5
#: Seconds Redis is left alone after a failure before it is tried again.
RETRY_AFTER_FAILURE_SECONDS = 5.0


class RedisLink:
    """A Redis client with a prefix for keys and a fallback for every operation."""

    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        retry_seconds: float = RETRY_AFTER_FAILURE_SECONDS,
    ) -> None:
        self.client: Redis = Redis.from_url(
            url,
            socket_timeout=COMMAND_TIMEOUT_SECONDS,
            socket_connect_timeout=COMMAND_TIMEOUT_SECONDS,
        )
        self.prefix = prefix
        parts = urlsplit(url)  # host, port and database only: a password stays out of the logs
        self.where = f"{parts.hostname}:{parts.port or 6379}{parts.path}" if parts.hostname else url
        self._clock = clock
        self._retry_seconds = retry_seconds
        self._down_until: float | None = None

    def key(self, *parts: str) -> str:
        """A key under this server's prefix."""
        return self.prefix + ":".join(parts)

    @property
    def is_down(self) -> bool:
        """True while the last failure is recent enough that Redis is not being asked."""
        return self._down_until is not None and self._clock() < self._down_until

    async def run(self, operation: Callable[[Redis], Awaitable[T]], fallback: Callable[[], T]) -> T:
        """``operation`` on Redis, or ``fallback()`` if Redis is down or fails now."""
        if self.is_down:
            return fallback()
        try:
            result = await operation(self.client)
        except (RedisError, OSError, TimeoutError) as error:
            if self._down_until is None:
                log.warning(
                    "Redis at %s failed (%s: %s); login limits and the read cache use this "
                    "process's own state until it answers again",
                    self.where,
                    type(error).__name__,
                    error,
                )
            self._down_until = self._clock() + self._retry_seconds
            return fallback()
        if self._down_until is not None:
            log.warning("Redis at %s answers again; sharing state through it", self.where)
            self._down_until = None
        return result

    async def close(self) -> None:
        """Close the client's connections (the app's cleanup does, after the last request)."""
        await self.client.aclose()
