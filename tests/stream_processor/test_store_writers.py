"""A worker's two writers: neither store waits for the other, a batch is acked only once both
hold it, acks come in consumption order, and at most N batches are in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from stream_processor.batching import Batch
from stream_processor.pipeline import BatchProcessor, RoutedBatch
from stream_processor.records import SourceRecord
from stream_processor.store_writers import StoreWriters


class Stores:
    """Stands in for BatchProcessor: records what each store got; a store can be held."""

    def __init__(self) -> None:
        self.online: list[list[int]] = []
        self.offline: list[list[int]] = []
        self.finished: list[list[int]] = []
        self.online_open = asyncio.Event()
        self.offline_open = asyncio.Event()
        self.online_open.set()
        self.offline_open.set()

    @staticmethod
    def _ids(routed: RoutedBatch) -> list[int]:
        return [r.offset for r in routed.records]

    def route(self, records: Sequence[SourceRecord]) -> RoutedBatch:
        return RoutedBatch(records, Batch())

    async def write_online(self, routed: RoutedBatch) -> int:
        await self.online_open.wait()
        self.online.append(self._ids(routed))
        return 0

    async def write_offline(self, batches: Sequence[RoutedBatch]) -> int:
        await self.offline_open.wait()
        self.offline.append([i for routed in batches for i in self._ids(routed)])
        return 0

    def finish(self, batches: Sequence[RoutedBatch]) -> None:
        self.finished.extend(self._ids(routed) for routed in batches)


def _record(offset: int) -> SourceRecord:
    return SourceRecord("t", 0, offset, b"k", b"v", (), None)


def _writers(stores: Stores, acked: list[list[int]], limit: int) -> StoreWriters[int]:
    async def ack(items: Sequence[int]) -> None:
        acked.append(list(items))

    return StoreWriters(cast(BatchProcessor, stores), _record, ack, 1, limit)


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_online_goes_on_while_postgres_is_held_and_acks_wait_for_both() -> None:
    stores, acked = Stores(), []  # type: ignore[var-annotated]

    async def scenario() -> None:
        writers = _writers(stores, acked, limit=3)
        writers.start()
        stores.offline_open.clear()
        for i in range(3):
            await asyncio.wait_for(writers.submit([i]), 0.5)
            await _settle()
        assert stores.online == [[0], [1], [2]]  # online ran ahead of the held offline store
        assert acked == []  # nothing is acked before Postgres holds it
        await writers.submit([3])  # taken by the intake, which waits at the limit
        await _settle()
        await writers.submit([4])  # the intake's next batch
        blocked = asyncio.ensure_future(writers.submit([5]))  # which is full: waits
        await _settle()
        assert stores.online == [[0], [1], [2]]  # the limit: 3 batches in flight
        assert not blocked.done()
        stores.offline_open.set()
        await asyncio.wait_for(blocked, 1)
        await _settle()
        await _settle()
        assert acked == [[0], [1], [2], [3], [4], [5]]
        assert stores.finished == acked
        assert [i for batch in stores.offline for i in batch] == [0, 1, 2, 3, 4, 5]
        assert len(stores.offline) < 6  # the held batches went to Postgres together
        writers.cancel()

    asyncio.run(scenario())


def test_offline_goes_on_while_redis_is_held() -> None:
    stores, acked = Stores(), []  # type: ignore[var-annotated]

    async def scenario() -> None:
        writers = _writers(stores, acked, limit=4)
        writers.start()
        stores.online_open.clear()
        await writers.submit([0])
        await _settle()
        assert stores.offline == [[0]] and stores.online == [] and acked == []
        stores.online_open.set()
        await writers.submit([1])
        await _settle()
        assert acked == [[0], [1]]
        writers.cancel()

    asyncio.run(scenario())


def test_a_failing_offline_writer_surfaces_in_the_intake() -> None:
    stores, acked = Stores(), []  # type: ignore[var-annotated]

    async def broken(batches: Sequence[RoutedBatch]) -> int:
        raise ValueError("a bug")

    stores.write_offline = broken  # type: ignore[method-assign]

    async def scenario() -> Any:
        writers = _writers(stores, acked, limit=1)
        writers.start()
        await writers.submit([0])
        await _settle()
        try:
            await asyncio.wait_for(writers.submit([1]), 1)
            await asyncio.wait_for(writers.submit([2]), 1)
        except Exception as exc:  # noqa: BLE001 - the surfaced error is the assertion
            return exc
        finally:
            writers.cancel()
        return None

    error = asyncio.run(scenario())
    assert isinstance(error, (ValueError, RuntimeError)), error
