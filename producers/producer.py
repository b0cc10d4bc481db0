"""`EventProducer`: update events to their view's topic, keyed by entity, deliveries counted."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from core.contract import VIEWS
from core.events import UpdateEvent, topic_name
from core.settings import Settings
from producers.config import PRODUCER_DEFAULTS, client_config
from producers.errors import ProducerError

log = logging.getLogger(__name__)

MAX_FAILURES_KEPT = 20  # enough to see the pattern; the count covers the rest
_POLL_EVERY = 1_000  # serve delivery callbacks regularly without paying a poll per event
_FULL_QUEUE_WAIT_S = 0.05


@dataclass(frozen=True)
class DeliveryFailure:
    """One event the broker did not take; `key` is masked when the entity key is sensitive."""

    topic: str
    key: str
    error: str

    def __str__(self) -> str:
        return f"{self.topic} key {self.key}: {self.error}"


@dataclass(frozen=True)
class DeliveryReport:
    """Counts of one producer's events; `errors` holds the first failures."""

    sent: int
    delivered: int
    failed: int
    errors: tuple[DeliveryFailure, ...] = ()

    @property
    def pending(self) -> int:
        """Sent but neither delivered nor failed yet (a flush that timed out)."""
        return self.sent - self.delivered - self.failed

    @property
    def ok(self) -> bool:
        return self.delivered == self.sent

    def summary(self) -> str:
        text = f"{self.sent:,} sent, {self.delivered:,} delivered, {self.failed:,} failed"
        if self.pending:
            text += f", {self.pending:,} still unconfirmed"
        return text


class EventProducer:
    """One confluent Producer for the process; `send` never drops an event on a full queue."""

    def __init__(self, settings: Settings, *, config: Mapping[str, Any] | None = None) -> None:
        self._topics = {view.name: topic_name(view, settings.topic_prefix) for view in VIEWS}
        self._views = {topic_name(view, settings.topic_prefix): view for view in VIEWS}
        conf = {**client_config(settings, "producer"), **PRODUCER_DEFAULTS, **(config or {})}
        conf["on_delivery"] = self._on_delivery
        self._producer = Producer(conf)
        self._sent = 0
        self._delivered = 0
        self._failed = 0
        self._failures: list[DeliveryFailure] = []

    def send(self, event: UpdateEvent) -> None:
        """Queue one event, keyed by its entity so that entity's events stay in one partition."""
        topic = self._topics[event.view.name]
        value = event.encode()
        while True:
            try:
                self._producer.produce(topic, value, event.key)
                break
            except BufferError:
                # The local queue is full: wait for deliveries to make room, then retry.
                self._producer.poll(_FULL_QUEUE_WAIT_S)
            except KafkaException as exc:
                raise ProducerError(f"cannot produce to {topic}: {exc.args[0].str()}") from exc
        self._sent += 1
        if self._sent % _POLL_EVERY == 0:
            self._producer.poll(0)

    def poll(self, timeout: float = 0) -> None:
        """Serve delivery callbacks (and log lines) that are ready."""
        self._producer.poll(timeout)

    def flush(self, timeout: float = 30.0) -> DeliveryReport:
        """Wait up to `timeout` s for every queued event's outcome; return the counts."""
        self._producer.flush(timeout)
        return self.report()

    def report(self) -> DeliveryReport:
        return DeliveryReport(self._sent, self._delivered, self._failed, tuple(self._failures))

    def close(self) -> None:
        """Release the client; events still unconfirmed are dropped and counted as failed."""
        # Producer.close() would otherwise wait up to message.timeout.ms for them.
        self._producer.purge()
        self._producer.flush(0)  # deliver the purge callbacks, so the counts stay exact
        self._producer.close()

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self._delivered += 1
            return
        self._failed += 1
        if len(self._failures) < MAX_FAILURES_KEPT:
            failure = DeliveryFailure(msg.topic() or "?", self._masked_key(msg), err.str())
            self._failures.append(failure)
            log.warning("event not delivered: %s", failure)

    def _masked_key(self, msg: Message) -> str:
        raw = msg.key()
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        view = self._views.get(msg.topic() or "")
        # A key on an unknown topic cannot be judged safe, so it is hidden whole.
        return view.entity_key.mask(text) if view is not None else "****"
