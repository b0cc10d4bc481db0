"""Dead letters onto their topic, whatever the topic does: retried through outages, a record
the topic refuses sent as a truncated copy, one refused even so skipped as a poison event."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from stream_processor.metrics import ProcessorMetrics
from stream_processor.records import MAX_REASON_LENGTH, DeadLetter
from stream_processor.retry import Backoff, OutageTracker, first_line, retry_until_done

log = logging.getLogger(__name__)


class DeadLetterSink(Protocol):
    """Publishes dead letters; per letter, None once the broker has it or the error."""

    address: str
    transient: tuple[type[BaseException], ...]

    def permanent(self, error: BaseException) -> bool:
        """Is `error` a refusal of the record itself (retrying cannot help)?"""
        ...

    async def send(self, letters: Sequence[DeadLetter]) -> list[BaseException | None]: ...


class DeadLetterSender:
    """Sends letters through a sink until each is on the topic or skipped as poison."""

    def __init__(
        self, sink: DeadLetterSink, metrics: ProcessorMetrics, backoff: Backoff | None = None
    ) -> None:
        self._sink = sink
        self._metrics = metrics
        self._backoff = backoff or Backoff()
        self.outage = OutageTracker(
            "dead-letter topic", sink.address, sink.transient, metrics.store_state("dead_letter")
        )

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        remaining = list(letters)
        if not remaining:
            return

        async def attempt() -> None:
            # Only the letters not yet acked are sent again; a timed-out send may still have
            # reached the broker, so a letter can be published twice (at-least-once).
            nonlocal remaining
            while remaining:
                outcomes = await self._sink.send(remaining)
                retry: list[DeadLetter] = []
                outage: BaseException | None = None
                for letter, error in zip(remaining, outcomes, strict=True):
                    if error is None:
                        self._metrics.observe_dead_lettered(letter.view)
                    elif not self._sink.permanent(error):
                        retry.append(letter)
                        outage = outage or error
                    elif not letter.truncated:
                        retry.append(self._refused(letter, error))
                    else:
                        self._poison(letter, error)
                remaining = retry
                if outage is not None:
                    raise outage  # an outage: the tracker logs it, the backoff paces retries

        await retry_until_done(attempt, self.outage, self._backoff)

    def _refused(self, letter: DeadLetter, error: BaseException) -> DeadLetter:
        """The topic refused the record itself: send a bounded copy instead."""
        detail = first_line(error)
        log.warning(
            "dead-letter topic refused the record at %s (%s); sending a truncated copy",
            letter.record.position,
            detail,
        )
        reason = f"{letter.reason}; the dead-letter topic refused the full record: {detail}"
        return letter.truncated_copy(reason[:MAX_REASON_LENGTH])

    def _poison(self, letter: DeadLetter, error: BaseException) -> None:
        """Not even a truncated copy is accepted: say where it is, count it, move on."""
        log.error(
            "poison event at %s skipped (%s): the dead-letter topic refused even a truncated "
            "copy: %s",
            letter.record.position,
            letter.reason,
            first_line(error),
        )
        self._metrics.observe_poison(letter.view)
