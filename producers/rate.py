"""A token bucket that paces events by the clock and hands them out in batches."""

from __future__ import annotations

import time
from collections.abc import Callable

# Tokens kept through a late wake-up: a sleep that overshoots by less than this loses nothing,
# and after a longer stall at most this much is sent at once.
BURST_SECONDS = 0.1


class TokenBucket:
    """`rate` tokens per second; one sleep covers a whole batch, so high rates stay cheap."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        # Never below one token, or a rate under 1/s could never release an event.
        self.capacity = 1.0 + rate * BURST_SECONDS
        self._clock = clock
        self._tokens = 1.0  # the first event goes at once
        self._last = clock()

    def take(self, most: int) -> int:
        """How many events may go now (0..most); they are taken from the bucket."""
        self._refill()
        n = min(int(self._tokens), most)
        self._tokens -= n
        return n

    def delay(self) -> float:
        """Seconds until the next event may go."""
        self._refill()
        return max(0.0, (1.0 - self._tokens) / self.rate)

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now
