"""Retry of one batch write until it succeeds: exponential backoff, one log line per outage."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts: `initial` seconds, times `factor` each time, at most `cap`."""

    initial: float = 0.1
    factor: float = 2.0
    cap: float = 5.0

    def delays(self) -> Iterator[float]:
        delay = self.initial
        while True:
            yield delay
            delay = min(delay * self.factor, self.cap)


DEFAULT_BACKOFF = Backoff()


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (at most 300 characters), for one log line."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


@dataclass
class OutageTracker:
    """Logs one line when a store's outage starts and one when it ends, whatever the attempts."""

    store: str
    address: str
    # Exceptions that mean "cannot reach the store"; anything else is logged with its traceback.
    transient: tuple[type[BaseException], ...] = ()
    on_change: Callable[[bool], None] = field(default=lambda up: None)
    clock: Callable[[], float] = time.monotonic
    started: float | None = None
    attempts: int = 0

    @property
    def down(self) -> bool:
        return self.started is not None

    def failed(self, exc: BaseException) -> None:
        self.attempts += 1
        if self.started is not None:
            log.debug("%s still unreachable at %s: %s", self.store, self.address, first_line(exc))
            return
        self.started = self.clock()
        self.on_change(False)
        if isinstance(exc, self.transient):
            log.warning(
                "%s unreachable at %s: %s; retrying (batch held, offsets not committed)",
                self.store,
                self.address,
                first_line(exc),
            )
        else:
            # Not a connection problem: show the traceback once, then keep retrying the batch
            # (dropping it would lose events; an operator has to look).
            log.error(
                "%s write failed at %s: %s; retrying (batch held, offsets not committed)",
                self.store,
                self.address,
                first_line(exc),
                exc_info=exc,
            )

    def succeeded(self) -> None:
        if self.started is None:
            return
        duration = self.clock() - self.started
        log.warning(
            "%s reachable again at %s after %.1f s (%d failed attempts); batch written",
            self.store,
            self.address,
            duration,
            self.attempts,
        )
        self.started = None
        self.attempts = 0
        self.on_change(True)


async def retry_until_done(
    operation: Callable[[], Awaitable[T]],
    tracker: OutageTracker,
    backoff: Backoff = DEFAULT_BACKOFF,
    *,
    fatal: tuple[type[BaseException], ...] = (),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run `operation` until it returns; only cancellation or a `fatal` error stops retrying."""
    delays = backoff.delays()
    while True:
        try:
            result = await operation()
        except Exception as exc:  # noqa: BLE001 - every failure is retried, none is dropped
            if isinstance(exc, fatal):
                raise
            tracker.failed(exc)
            await sleep(next(delays))
        else:
            tracker.succeeded()
            return result
