"""Write one batch while the next one fills: the next batch grows until the writer is free."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class BatchWriterTask(Generic[T]):
    """Writes submitted items in submission order, one batch at a time, in a background task.

    While a batch is being written, submitted items collect in one pending batch of at most
    `max_size` items, written as soon as the writer is free: slow stores get bigger batches
    (cheaper per item), fast ones small batches (fresher values). Writes never overlap, so
    per-partition order (and so the order of acks and commits) is the consumption order.
    """

    def __init__(
        self, write: Callable[[list[T]], Awaitable[None]], max_size: int, name: str = "batch-writer"
    ) -> None:
        self._write = write
        self._name = name
        self._max_size = max_size
        self._pending: list[T] = []
        self._writing = False
        self._changed = asyncio.Event()  # set when pending grows or the writer takes it
        self._task: asyncio.Task[None] | None = None
        self._busy_seconds = 0.0
        self._busy_since: float | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def _run(self) -> None:
        while True:
            while not self._pending:
                self._changed.clear()
                await self._changed.wait()
            batch, self._pending = self._pending, []
            self._writing = True
            self._busy_since = time.monotonic()
            self._changed.set()  # room for submitters
            try:
                await self._write(batch)
            finally:
                self._writing = False
                self._busy_seconds += time.monotonic() - self._busy_since
                self._busy_since = None

    def _check_alive(self) -> asyncio.Task[None]:
        assert self._task is not None, "start() first"
        if self._task.done():
            self._task.result()  # a bug in the writer: surface it, never swallow it
            raise RuntimeError(f"{self._name} stopped")
        return self._task

    async def while_alive(self, waiting: Awaitable[R]) -> R:
        """Await `waiting`, unless this writer dies first (then its error is raised)."""
        try:
            task = self._check_alive()
        except BaseException:
            if inspect.iscoroutine(waiting):
                waiting.close()  # never started: no "was never awaited" warning
            raise
        future = asyncio.ensure_future(waiting)
        await asyncio.wait({future, task}, return_when=asyncio.FIRST_COMPLETED)
        if not future.done():
            future.cancel()
            self._check_alive()
        return future.result()

    async def _wait_change(self) -> None:
        """Wait for the writer to take or finish something; re-raise if it died."""
        self._changed.clear()
        await self.while_alive(self._changed.wait())

    async def submit(self, items: Sequence[T]) -> None:
        """Add `items` to the pending batch; waits while that would exceed `max_size`."""
        self._check_alive()
        while self._pending and len(self._pending) + len(items) > self._max_size:
            await self._wait_change()
        self._pending.extend(items)
        self._changed.set()

    @property
    def idle(self) -> bool:
        return not self._pending and not self._writing

    @property
    def busy_seconds(self) -> float:
        """Time spent writing since the start, the write in progress included."""
        running = 0.0 if self._busy_since is None else time.monotonic() - self._busy_since
        return self._busy_seconds + running

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()


class InFlightLimit:
    """Bounds how many batches are taken and not yet in both stores (so how far one store can
    run ahead of the other).

    `enter` before a batch goes to the stores (waits while `limit` batches are in flight),
    `leave` once both hold it. `on_change` sees the count (a gauge).
    """

    def __init__(self, limit: int, on_change: Callable[[int], None] = lambda n: None) -> None:
        self._free = asyncio.Semaphore(limit)
        self._in_flight = 0
        self._on_change = on_change

    async def enter(self) -> None:
        await self._free.acquire()
        self._in_flight += 1
        self._on_change(self._in_flight)

    def leave(self, batches: int) -> None:
        for _ in range(batches):
            self._in_flight -= 1
            self._free.release()
        self._on_change(self._in_flight)

    @property
    def in_flight(self) -> int:
        return self._in_flight
