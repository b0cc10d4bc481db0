"""Two corrections to faust's aiokafka driver: a configurable fetch wait, and stale acks ignored."""

from __future__ import annotations

import logging
from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import Message
from faust.types.tuples import ack_lock

# faust's logger, not this module's, so the driver's chatter is filtered like the rest of faust.
_FAUST_LOGGER = logging.getLogger("faust.transport.credit")


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    logger = _FAUST_LOGGER

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # faust hard-codes fetch_max_wait_ms=1500. A broker that holds every fetch for its full
        # wait (Tansu) then adds 0.4-0.75 s to each event; aiokafka reads this attribute when
        # the consumer starts, which happens after this method returns.
        consumer._fetch_max_wait_ms = getattr(self.app, "fetch_max_wait_ms", 500)
        return consumer


class Consumer(faust_aiokafka.Consumer):
    """faust's aiokafka consumer with the two corrections."""

    logger = _FAUST_LOGGER

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

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
