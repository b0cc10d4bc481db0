"""The dead-letter topic: invalid records, original bytes, reason and origin as headers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import faust
from aiokafka import errors as kafka_errors
from aiokafka.errors import KafkaError
from faust.exceptions import ProducerSendError

from stream_processor.records import DeadLetter

DEFAULT_SEND_TIMEOUT_SECONDS = 10.0

# The broker (or the client, before sending) refuses this record itself: sending it again
# cannot succeed, so it is not an outage to wait out.
PERMANENT: tuple[type[BaseException], ...] = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordTooLargeError,
    kafka_errors.RecordListTooLargeError,
    kafka_errors.CorruptRecordException,
    kafka_errors.InvalidTimestampError,
    kafka_errors.InvalidTopicError,
    kafka_errors.UnsupportedForMessageFormatError,
    kafka_errors.PolicyViolationError,
)


def is_permanent(error: BaseException) -> bool:
    """Does `error` (or what faust wrapped in it) say the record itself is refused?"""
    return isinstance(error, PERMANENT) or isinstance(error.__cause__, PERMANENT)


class FaustDeadLetterSink:
    """Publishes dead letters with the worker's own producer and waits for the broker's ack."""

    transient: tuple[type[BaseException], ...] = (
        ProducerSendError,
        KafkaError,
        OSError,
        TimeoutError,
    )

    def __init__(
        self,
        app: faust.App,
        topic: str,
        address: str,
        timeout: float = DEFAULT_SEND_TIMEOUT_SECONDS,
    ) -> None:
        self.address = f"{address} (topic {topic})"
        self._app = app
        self._topic = topic
        self._timeout = timeout

    @staticmethod
    def permanent(error: BaseException) -> bool:
        return is_permanent(error)

    async def send(self, letters: Sequence[DeadLetter]) -> list[BaseException | None]:
        """Send every letter; per letter, None once the broker has it, or why it has not."""
        producer = await self._app.maybe_start_producer()
        outcomes: list[BaseException | None] = [None] * len(letters)
        pending: dict[asyncio.Future[object], int] = {}
        for index, letter in enumerate(letters):
            key, value, headers = letter.payload()
            try:
                sent = await producer.send(self._topic, key, value, None, None, headers)
            except Exception as exc:  # noqa: BLE001 - recorded per letter, classified by the caller
                outcomes[index] = exc
            else:
                pending[asyncio.ensure_future(sent)] = index
        if pending:
            done, late = await asyncio.wait(pending, timeout=self._timeout)
            for future in done:
                outcomes[pending[future]] = future.exception()
            for future in late:
                future.cancel()
                outcomes[pending[future]] = TimeoutError(f"no ack within {self._timeout:g} s")
        return outcomes
