"""Sign-in limits: every password guess reserves its place under each limit before it is checked.

A guess is counted when it starts, not when its verdict is known, so that a burst of
concurrent guesses cannot all pass the check before any of them is counted: whatever the
concurrency, a key gets at most its limit of verdicts per window. A guess that succeeds gives
its place back; one that fails keeps it.

The counts live in Redis when one is configured, so that a limit holds across all worker
processes; each process also keeps its own count, which decides whenever Redis cannot be
reached: a Redis outage weakens a limit to one process's view, never removes it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from compax_server.redis_link import RedisLink
from sync.errors import RateLimited

if TYPE_CHECKING:
    from compax_server.settings import Settings

#: Count one guess under every counter (KEYS), or none if any is full. ARGV holds each
#: counter's attempts and window seconds in turn. Answers 0, or the milliseconds until every
#: full counter has room again.
_RESERVE = """
local wait = 0
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[2 * i - 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then ttl = tonumber(ARGV[2 * i]) * 1000 end
    wait = math.max(wait, ttl, 1)
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ARGV[2 * i]) end
end
return 0
"""

#: Give one guess back under every counter (KEYS) that still holds one.
_RELEASE = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 and redis.call('DECR', key) <= 0 then
    redis.call('DEL', key)
  end
end
return 0
"""

#: How many counters a process keeps before it forgets those whose window has ended.
LOCAL_COUNTERS_KEPT = 100_000


@dataclass(frozen=True)
class Limit:
    """At most ``attempts`` guesses per key in each fixed window of ``window_seconds``."""

    name: str
    attempts: int
    window_seconds: int


#: One counter: a limit and the key it counts for (an account, an address, or both).
Counter = tuple[Limit, str]


class LocalWindows:
    """This process's counts: for each counter, when its window ends and the guesses in it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}

    def reserve(self, counters: Sequence[Counter]) -> int | None:
        """Count one guess under every counter and answer ``None``; or, if any is full, count
        nothing and answer the seconds until all of them have room."""
        now = self._clock()
        current = [self._current(limit, key, now) for limit, key in counters]
        waits = [
            ends - now
            for (limit, _), (ends, used) in zip(counters, current, strict=True)
            if used >= limit.attempts
        ]
        if waits:
            return max(1, math.ceil(max(waits)))
        for (limit, key), (ends, used) in zip(counters, current, strict=True):
            self._windows[(limit.name, key)] = (ends, used + 1)
        if len(self._windows) > LOCAL_COUNTERS_KEPT:
            self._windows = {k: v for k, v in self._windows.items() if v[0] > now}
        return None

    def release(self, counters: Sequence[Counter]) -> None:
        """Give one guess back under every counter whose window still holds one."""
        now = self._clock()
        for limit, key in counters:
            ends, used = self._current(limit, key, now)
            if used > 1:
                self._windows[(limit.name, key)] = (ends, used - 1)
            else:
                self._windows.pop((limit.name, key), None)

    def reset(self, limit: Limit, key: str) -> None:
        """Forget every guess counted for ``key`` under ``limit``."""
        self._windows.pop((limit.name, key), None)

    def _current(self, limit: Limit, key: str, now: float) -> tuple[float, int]:
        ends, used = self._windows.get((limit.name, key), (0.0, 0))
        if now >= ends:
            return now + limit.window_seconds, 0
        return ends, used


class AttemptCounters:
    """Counters of guesses, kept in this process and, if configured, in Redis.

    A reservation is taken here first and then in Redis; Redis refusing gives the local one
    back. While Redis answers, this process's counts are part of its counts, so they never
    refuse what Redis would allow; when Redis fails, they decide alone.
    """

    def __init__(
        self, redis: RedisLink | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.local = LocalWindows(clock)
        self._redis = redis

    async def reserve(self, counters: Sequence[Counter]) -> int | None:
        """Count one guess under every counter and answer ``None``; or, if any is full, count
        nothing and answer the seconds until all of them have room."""
        wait = self.local.reserve(counters)
        if wait is not None or self._redis is None:
            return wait
        keys = [self._key(limit, key) for limit, key in counters]
        sizes = [str(n) for limit, _ in counters for n in (limit.attempts, limit.window_seconds)]

        async def shared(client: Redis) -> int:
            return int(await client.eval(_RESERVE, len(keys), *keys, *sizes))

        wait_ms = await self._redis.run(shared, lambda: 0)
        if wait_ms == 0:
            return None
        self.local.release(counters)
        return max(1, math.ceil(wait_ms / 1000))

    async def release(self, counters: Sequence[Counter]) -> None:
        """Give one guess back under every counter, here and, if configured, in Redis."""
        self.local.release(counters)
        if self._redis is not None:
            keys = [self._key(limit, key) for limit, key in counters]

            async def shared(client: Redis) -> None:
                await client.eval(_RELEASE, len(keys), *keys)

            await self._redis.run(shared, lambda: None)

    async def reset(self, limit: Limit, key: str) -> None:
        """Forget ``key``'s guesses under ``limit``, here and, if configured, in Redis."""
        self.local.reset(limit, key)
        if self._redis is not None:
            redis_key = self._key(limit, key)

            async def shared(client: Redis) -> None:
                await client.delete(redis_key)

            await self._redis.run(shared, lambda: None)

    def _key(self, limit: Limit, key: str) -> str:
        assert self._redis is not None
        return self._redis.key("login", limit.name, key)


class KnownAddresses:
    """The addresses each account has signed in from lately, here and, if configured, in Redis.

    Someone guessing from elsewhere should not lock the account's owner out of the machine
    they sign in from: ``SignInLimits`` lets a known address past the account's own limit,
    never past the other two.
    """

    def __init__(
        self,
        lifetime_seconds: int,
        redis: RedisLink | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lifetime = lifetime_seconds
        self._redis = redis
        self._clock = clock
        self._until: dict[str, float] = {}

    async def remember(self, pair: str) -> None:
        """Note that the account and address of ``pair`` just signed in together."""
        now = self._clock()
        self._until.pop(pair, None)
        self._until[pair] = now + self.lifetime
        if len(self._until) > LOCAL_COUNTERS_KEPT:
            # Oldest first: the pairs that signed in longest ago are forgotten first.
            latest = list(self._until.items())[-LOCAL_COUNTERS_KEPT // 2 :]
            self._until = {k: until for k, until in latest if until > now}
        if self._redis is not None:
            redis_key = self._key(pair)

            async def shared(client: Redis) -> None:
                await client.set(redis_key, b"1", ex=self.lifetime)

            await self._redis.run(shared, lambda: None)

    async def knows(self, pair: str) -> bool:
        """Whether the account and address of ``pair`` signed in together lately."""
        local = self._until.get(pair, 0.0) > self._clock()
        if self._redis is None or local:
            return local
        redis_key = self._key(pair)

        async def shared(client: Redis) -> bool:
            return bool(await client.exists(redis_key))

        return await self._redis.run(shared, lambda: local)

    def _key(self, pair: str) -> str:
        assert self._redis is not None
        return self._redis.key("login", "known", pair)


class SignInLimits:
    """The limits on guessing a password: per account and address, per account, per address.

    The first slows a guesser at one address long before the account's owner notices; the
    second, higher, caps guesses spread over many addresses, and does not apply to an address
    the account signed in from lately; the third, highest, caps one address trying many
    accounts, high enough that the typing mistakes of a campus behind one NAT never reach it.
    """

    def __init__(
        self,
        per_account_and_address: Limit,
        per_account: Limit,
        per_address: Limit,
        counters: AttemptCounters,
        known: KnownAddresses,
    ) -> None:
        self.per_account_and_address = per_account_and_address
        self.per_account = per_account
        self.per_address = per_address
        self.counters = counters
        self.known = known

    async def reserve(self, account: str, address: str) -> Attempt:
        """One guess at ``account``'s password from ``address``, counted under every limit
        that applies; ``RateLimited`` (with the seconds to wait) if any of them is full."""
        pair = f"{account}@{address}"
        counters: list[Counter] = [(self.per_account_and_address, pair)]
        if not await self.known.knows(pair):
            counters.append((self.per_account, account))
        counters.append((self.per_address, address))
        wait = await self.counters.reserve(counters)
        if wait is not None:
            raise RateLimited(f"Too many wrong passwords; try again in {wait} s", retry_after=wait)
        return Attempt(self, pair, counters)


@dataclass(frozen=True)
class Attempt:
    """A reserved guess: kept as a failure unless ``succeeded`` gives it back."""

    limits: SignInLimits
    pair: str
    counters: list[Counter]

    async def succeeded(self) -> None:
        """The password was right: give the guess back, clear the address's failures for this
        account, and remember the address as one the account signs in from."""
        await self.limits.counters.release(self.counters)
        await self.limits.counters.reset(self.limits.per_account_and_address, self.pair)
        await self.limits.known.remember(self.pair)

    async def undecided(self) -> None:
        """No verdict was reached (the server failed): give the guess back, so that an outage
        counts against nobody."""
        await self.limits.counters.release(self.counters)


def sign_in_limits(settings: Settings, redis: RedisLink | None) -> SignInLimits:
    """The sign-in limits ``settings`` ask for, shared through ``redis`` when there is one."""
    window = settings.login_window_seconds
    return SignInLimits(
        per_account_and_address=Limit(
            "account-address", settings.login_attempts_per_username_and_address, window
        ),
        per_account=Limit("account", settings.login_attempts_per_username, window),
        per_address=Limit("address", settings.login_attempts_per_address, window),
        counters=AttemptCounters(redis),
        known=KnownAddresses(settings.login_known_address_days * 24 * 3600, redis),
    )
