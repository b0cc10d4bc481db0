"""Fixtures of the producer tests: a unique topic prefix per test, and a consumer to read back."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Message

from core.settings import Settings
from core.topics import topic_names

ConsumeFn = Callable[[Settings, int], list[Message]]


@pytest.fixture
def kafka_settings(stack_settings: Settings) -> Settings:
    """The session stack with topics of this test's own (unique prefix)."""
    return stack_settings.model_copy(update={"topic_prefix": f"t{uuid.uuid4().hex[:8]}-"})


@pytest.fixture
def consume() -> ConsumeFn:
    """Reads `count` messages from the settings' update topics (fails after 30 s)."""

    def read(settings: Settings, count: int) -> list[Message]:
        consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka_bootstrap_servers,
                "group.id": f"test-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                # Tansu: joins wait half the session timeout; fetches wait their full max wait.
                "session.timeout.ms": 6000,
                "fetch.wait.max.ms": 10,
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe(topic_names(settings)[:-2])  # the view topics only
        messages: list[Message] = []
        deadline = time.monotonic() + 30
        try:
            while len(messages) < count and time.monotonic() < deadline:
                for msg in consumer.consume(num_messages=10_000, timeout=0.5):
                    assert msg.error() is None, msg.error()
                    messages.append(msg)
            # A short extra read: more messages than expected would be a bug too.
            messages.extend(m for m in consumer.consume(num_messages=10_000, timeout=0.5))
        finally:
            consumer.close()
        return messages

    return read
