"""One micro-batch end to end: validate, dead-letter, write online and offline, with retries."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from core.contract import ViewContract
from core.events import UpdateEvent
from stream_processor.batching import Batch, newest_per_entity
from stream_processor.dead_letter_sender import DeadLetterSender, DeadLetterSink
from stream_processor.metrics import ProcessorMetrics
from stream_processor.notify import UpdateNotifier
from stream_processor.progress import WrittenOffsets
from stream_processor.records import EventRouter, SourceRecord
from stream_processor.retry import Backoff, OutageTracker, retry_until_done
from stream_processor.writers import (
    OFFLINE_TRANSIENT,
    ONLINE_TRANSIENT,
    OfflineWriter,
    OnlineWriter,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RoutedBatch:
    """A validated micro-batch and the records it came from (their offsets are acked)."""

    records: Sequence[SourceRecord]
    batch: Batch


@dataclass(frozen=True)
class BatchResult:
    """What one batch did."""

    events: int
    dead_letters: int
    online_rows: int
    offline_inserted: int


class BatchProcessor:
    """Writes micro-batches into both stores; a batch is `finish`ed (then acked) only once
    both hold it. The online and offline writes are separate steps, so the worker can write
    batch N+1 online while batch N is still being committed offline (faust_app)."""

    def __init__(
        self,
        router: EventRouter,
        online: OnlineWriter,
        offline: OfflineWriter,
        dead_letters: DeadLetterSink,
        metrics: ProcessorMetrics,
        backoff: Backoff | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        notifier: UpdateNotifier | None = None,
    ) -> None:
        self.router = router
        self.metrics = metrics
        self._online = online
        self._offline = offline
        self._backoff = backoff or Backoff()
        self._now = wall_clock
        self._notifier = notifier
        self.written = WrittenOffsets()
        self.online_outage = OutageTracker(
            "online store", online.address, ONLINE_TRANSIENT, metrics.store_state("online")
        )
        self.offline_outage = OutageTracker(
            "offline store", offline.address, OFFLINE_TRANSIENT, metrics.store_state("offline")
        )
        self.dead_letters = DeadLetterSender(dead_letters, metrics, self._backoff)

    def route(self, records: Sequence[SourceRecord]) -> RoutedBatch:
        """Validate a batch's records: events per view, dead letters (logged, masked)."""
        batch = Batch.from_routed(self.router.route_all(records))
        self.metrics.observe_batch(len(records))
        for letter in batch.dead_letters:
            # The reason is masked by the contract (never a dob_ssn); the key is not logged.
            log.warning("invalid event at %s: %s", letter.record.position, letter.reason)
            self.metrics.observe_invalid(letter.view)
        return RoutedBatch(records, batch)

    async def write_online(self, routed: RoutedBatch) -> int:
        """Online rows and dead letters of a batch, each retried until it holds; returns the
        rows written online (the newest event of each entity)."""
        rows, _ = await asyncio.gather(
            self._write_online(routed.batch), self.dead_letters.send(routed.batch.dead_letters)
        )
        return rows

    async def write_offline(self, batches: Sequence[RoutedBatch]) -> int:
        """Every event of `batches` appended offline in one transaction, retried until it
        holds; returns the rows that were new."""
        groups: dict[str, list[UpdateEvent]] = {}
        for routed in batches:
            for name, events in routed.batch.by_view().items():
                groups.setdefault(name, []).extend(events)
        return await self._write_offline(groups)

    def finish(self, batches: Sequence[RoutedBatch]) -> None:
        """Count batches that both stores hold as written (the caller acks them next)."""
        for routed in batches:
            for name, events in routed.batch.by_view().items():
                self.metrics.observe_events(name, len(events))
            self.written.record((r.topic, r.partition, r.offset) for r in routed.records)

    async def process(self, records: Sequence[SourceRecord]) -> BatchResult:
        """One batch into every store at once; returns once all hold it (then ack)."""
        routed = self.route(records)
        online_rows, inserted = await asyncio.gather(
            self.write_online(routed), self.write_offline([routed])
        )
        self.finish([routed])
        batch = routed.batch
        return BatchResult(len(batch.events), len(batch.dead_letters), online_rows, inserted)

    async def _timed(self, store: str, operation: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        result = await operation()
        self.metrics.observe_write(store, time.perf_counter() - started)
        return result

    async def _write_online(self, batch: Batch) -> int:
        views = batch.views()
        written = 0
        for name, events in batch.by_view().items():
            newest = newest_per_entity(events)
            await self._write_view_online(views[name], newest)
            written += len(newest)
        return written

    async def _write_view_online(self, view: ViewContract, events: list[UpdateEvent]) -> None:
        async def attempt() -> None:
            await self._timed("online", lambda: self._online.write(view, events))

        await retry_until_done(attempt, self.online_outage, self._backoff)
        now = self._now()
        self.metrics.observe_freshness(
            [(now - e.event_timestamp).total_seconds() * 1000 for e in events]
        )
        if self._notifier is not None:
            self._notifier.notify(view, events, now)  # queues only: never holds the batch

    async def _write_offline(self, groups: dict[str, list[UpdateEvent]]) -> int:
        if not groups:
            return 0
        created = self._now()
        return await retry_until_done(
            lambda: self._timed("offline", lambda: self._offline.write(groups, created)),
            self.offline_outage,
            self._backoff,
        )
