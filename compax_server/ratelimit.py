"""Login rate limiting: failed attempts counted per key in fixed time windows."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class FailureLimiter:
    """Counts failures per key (a username, a client address) and refuses past ``limit``.

    Fixed windows keep the state to one counter per key, the same shape a shared store such
    as Redis holds with INCR and EXPIRE.
    """

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
        started, failures = self._current(key)
        self._windows[key] = (started, failures + 1)
        if len(self._windows) > 100_000:
            self._forget_expired()

    def reset(self, key: str) -> None:
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
