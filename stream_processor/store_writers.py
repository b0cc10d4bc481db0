"""A worker's two writers: each store at its own pace, a batch acked once both hold it.

The intake task takes micro-batches in consumption order, validates each and hands it to the
offline writer (Postgres), then writes it online (Redis) itself. Neither store waits for the
other: the online write of batch N+1 does not wait for the Postgres commit of batch N, and a
Redis outage does not hold up the offline appends. The offline writer takes every batch waiting
for it in one transaction. Both go in batch order, so batches complete (and are acked) in
order. At most `max_in_flight` batches are taken and not yet in both stores; then the intake
waits, faust's buffer fills and the consumer stops fetching (back-pressure).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from stream_processor.overlap import BatchWriterTask, InFlightLimit
from stream_processor.pipeline import BatchProcessor, RoutedBatch
from stream_processor.records import SourceRecord

T = TypeVar("T")


@dataclass
class _InFlight(Generic[T]):
    """A batch on its way into both stores."""

    routed: RoutedBatch
    items: Sequence[T]
    stores_left: int = 2


class StoreWriters(Generic[T]):
    """Writes consumed items (faust events) to both stores; `ack` sees each batch once both
    stores hold it, in consumption order."""

    def __init__(
        self,
        processor: BatchProcessor,
        record_of: Callable[[T], SourceRecord],
        ack: Callable[[Sequence[T]], Awaitable[None]],
        batch_max_size: int,
        max_in_flight: int,
        on_in_flight: Callable[[int], None] = lambda n: None,
    ) -> None:
        self._processor = processor
        self._record_of = record_of
        self._ack = ack
        self._limit = InFlightLimit(max_in_flight, on_in_flight)
        self.intake: BatchWriterTask[T] = BatchWriterTask(
            self._write_online, batch_max_size, name="online-writer"
        )
        self.offline: BatchWriterTask[_InFlight[T]] = BatchWriterTask(
            self._write_offline, max_in_flight, name="offline-writer"
        )

    def start(self) -> None:
        self.offline.start()
        self.intake.start()

    async def submit(self, items: Sequence[T]) -> None:
        """Queue consumed items; waits while the next batch is full."""
        await self.intake.submit(items)

    def cancel(self) -> None:
        self.intake.cancel()
        self.offline.cancel()

    async def _write_online(self, items: list[T]) -> None:
        routed = self._processor.route([self._record_of(item) for item in items])
        # Waits while `max_in_flight` batches are not yet in both stores.
        await self.offline.while_alive(self._limit.enter())
        flight = _InFlight(routed, items)
        await self.offline.submit([flight])
        await self._processor.write_online(routed)
        await self._stored(flight)

    async def _write_offline(self, flights: list[_InFlight[T]]) -> None:
        await self._processor.write_offline([flight.routed for flight in flights])
        for flight in flights:
            await self._stored(flight)

    async def _stored(self, flight: _InFlight[T]) -> None:
        flight.stores_left -= 1
        if flight.stores_left:
            return
        self._processor.finish([flight.routed])
        await self._ack(flight.items)  # only now may the offsets be committed
        self._limit.leave(1)
