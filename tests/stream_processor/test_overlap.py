"""The background batch writer: order kept, next batch coalesced while one is written, bounded,
and a failing writer surfaces instead of stalling silently."""

from __future__ import annotations

import asyncio

import pytest

from stream_processor.overlap import BatchWriterTask, InFlightLimit


def test_items_are_written_in_order_and_coalesce_while_the_writer_is_busy() -> None:
    written: list[list[int]] = []
    release = asyncio.Event()

    async def write(batch: list[int]) -> None:
        written.append(batch)
        if len(written) == 1:
            await release.wait()  # a slow first write

    async def scenario() -> None:
        writer: BatchWriterTask[int] = BatchWriterTask(write, max_size=5)
        writer.start()
        await writer.submit([1, 2])
        await asyncio.sleep(0)  # the writer takes [1, 2] and blocks
        await writer.submit([3])
        await writer.submit([4, 5])  # coalesced with [3] while [1, 2] is written
        blocked = asyncio.ensure_future(writer.submit([6, 7, 8]))  # would exceed 5: waits
        await asyncio.sleep(0.01)
        assert not blocked.done()
        release.set()
        await blocked
        while not writer.idle:
            await asyncio.sleep(0.001)
        writer.cancel()

    asyncio.run(scenario())
    assert written == [[1, 2], [3, 4, 5], [6, 7, 8]]


def test_a_failing_writer_is_reported_to_the_submitter() -> None:
    async def write(batch: list[int]) -> None:
        raise ValueError("bug")

    async def scenario() -> None:
        writer: BatchWriterTask[int] = BatchWriterTask(write, max_size=1)
        writer.start()
        await writer.submit([1])
        await asyncio.sleep(0.01)
        await writer.submit([2])
        await writer.submit([3])  # the pending [2] can never be taken: the error surfaces

    with pytest.raises(ValueError, match="bug"):
        asyncio.run(scenario())


def test_the_intake_waits_once_the_limit_of_batches_is_in_flight() -> None:
    seen: list[int] = []

    async def scenario() -> None:
        limit = InFlightLimit(2, seen.append)
        await limit.enter()
        await limit.enter()
        third = asyncio.ensure_future(limit.enter())
        await asyncio.sleep(0.01)
        assert not third.done()  # two batches are not yet in both stores: the third waits
        limit.leave(1)
        await asyncio.wait_for(third, 1)
        assert limit.in_flight == 2
        limit.leave(2)
        assert limit.in_flight == 0

    asyncio.run(scenario())
    assert seen == [1, 2, 1, 2, 0]
