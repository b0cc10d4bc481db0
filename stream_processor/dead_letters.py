"""The dead-letter topic: invalid records, original bytes, reason and origin as headers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import faust
from aiokafka.errors import KafkaError
from faust.exceptions import ProducerSendError

from stream_processor.records import DeadLetter

SEND_TIMEOUT_SECONDS = 30.0


class FaustDeadLetterSink:
    """Publishes dead letters with the worker's own producer and waits for the broker's ack."""

    transient: tuple[type[BaseException], ...] = (
        ProducerSendError,
        KafkaError,
        OSError,
        TimeoutError,
    )

    def __init__(self, app: faust.App, topic: str, address: str) -> None:
        self.address = f"{address} (topic {topic})"
        self._app = app
        self._topic = topic

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        producer = await self._app.maybe_start_producer()
        pending = [
            await producer.send(
                self._topic, letter.record.key, letter.record.value, None, None, letter.headers()
            )
            for letter in letters
        ]
        await asyncio.wait_for(asyncio.gather(*pending), SEND_TIMEOUT_SECONDS)
