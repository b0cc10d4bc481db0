"""Corrections to faust's aiokafka driver: an adjustable fetch wait, stale acks ignored, and
no waiting for a group join on the way out.

Both reach into private attributes of aiokafka and faust (there is no public way); they live
here only, and tests/stream_processor/test_kafka_compat.py fails loudly when the locked
versions change under them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import Message
from faust.types.tuples import ack_lock

# faust's logger, not this module's, so the driver's chatter is filtered like the rest of faust.
_FAUST_LOGGER = logging.getLogger("faust.transport.credit")
log = logging.getLogger(__name__)


def set_fetch_max_wait(consumer: aiokafka.AIOKafkaConsumer, wait_ms: int) -> None:
    """Change how long the broker may hold a fetch, before or while the consumer runs.

    aiokafka reads the value into its fetcher when the consumer starts and then into every
    fetch request it builds; the fetcher's copy is what a running consumer uses.
    """
    consumer._fetch_max_wait_ms = wait_ms
    fetcher = consumer._fetcher
    if fetcher is not None:
        fetcher._fetch_max_wait_ms = wait_ms


async def abandon_join(consumer: aiokafka.AIOKafkaConsumer) -> bool:
    """Before stopping a consumer that holds no partitions: cancel its group coordination.

    aiokafka's stop lets the coordination task finish first, and a member that is joining the
    group then waits for the broker to answer the join and the sync before it can leave. On
    Tansu a member stopped as a rebalance began took 8-10 s to exit, and more on a loaded
    machine, past the shutdown deadline. Holding no partitions, it has no offsets to commit:
    nothing is lost by not finishing the join. True if a coordination task was cancelled.
    """
    if consumer.assignment():
        return False
    # Only a group member has the task (NoGroupCoordinator, of a consumer without a group, not).
    task = getattr(consumer._coordinator, "_coordination_task", None)
    if task is None or task.done():
        return False
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return True


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    logger = _FAUST_LOGGER
    # The aiokafka consumer this thread created (None until it starts).
    kafka_consumer: aiokafka.AIOKafkaConsumer | None = None

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # faust hard-codes fetch_max_wait_ms=1500. A broker that holds every fetch for its full
        # wait (Tansu) then adds 0.4-0.75 s to each event.
        set_fetch_max_wait(consumer, getattr(self.app, "fetch_max_wait_ms", 500))
        self.kafka_consumer = consumer
        return consumer

    async def on_thread_stop(self) -> None:
        consumer = self.kafka_consumer
        if consumer is not None and await abandon_join(consumer):
            log.info("stopping with no partitions assigned: not waiting to join the group")
        await super().on_thread_stop()


class Consumer(faust_aiokafka.Consumer):
    """faust's aiokafka consumer with the corrections."""

    logger = _FAUST_LOGGER
    _credit_thread: _ConsumerThread | None = None

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        self._credit_thread = _ConsumerThread(self, loop=self.loop, beacon=self.beacon)
        return self._credit_thread

    def set_fetch_max_wait(self, wait_ms: int) -> None:
        """Change the fetch wait of the running consumer (from the next fetch request on)."""
        thread = self._credit_thread
        if thread is not None and thread.kafka_consumer is not None:
            # An int attribute read by the consumer thread: one store, no lock needed.
            set_fetch_max_wait(thread.kafka_consumer, wait_ms)

    def ack(self, message: Message) -> bool:
        # faust skips *and acks* messages fetched before a rebalance (old generation). Recording
        # such an ack could commit offsets past events the new assignment has not written yet,
        # so it is dropped: after a rebalance faust seeks back to the committed offset anyway.
        if message.generation_id != self.app.consumer_generation_id:
            with ack_lock:
                message.acked = True
                self._unacked_messages.discard(message)
            return False
        return super().ack(message)


class Transport(faust_aiokafka.Transport):
    """The `kafka://` transport with the corrected consumer."""

    Consumer = Consumer
