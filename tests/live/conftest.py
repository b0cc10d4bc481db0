"""Fixtures of the live-feed tests: own topics and channel, a processor subprocess, publishing."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from core.contract import CREDIT_HISTORY, VIEWS
from core.events import UpdateEvent, new_event, topic_name
from core.settings import Settings, settings_env


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
    return result


def credit_event(dob_ssn: str, due: int) -> UpdateEvent:
    """A credit-history update whose every feature is `due`."""
    row = {"dob_ssn": dob_ssn, **{c.name: due for c in CREDIT_HISTORY.features}}
    return new_event(CREDIT_HISTORY, row, event_timestamp=datetime.now(UTC))


def fresh_dob_ssn() -> str:
    """A key no other test uses (the stores are shared by the session)."""
    n = uuid.uuid4().int
    return f"19{n % 90 + 10:02d}0{n % 9 + 1}1{n % 9 + 1}_{n % 10_000:04d}"


def child_env(settings: Settings) -> dict[str, str]:
    """The environment of a child process that rebuilds exactly `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_")}
    env.update(settings_env(settings))
    return env


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """asyncio only: the processor and the API run on it (trio is installed, for selenium)."""
    return "asyncio"


@pytest.fixture(scope="session")
def live_stack(stack_settings: Settings) -> Settings:
    """The session stack with the offline tables and the Feast registry in place."""
    from core.feast_store import apply_definitions, open_store
    from core.offline_store import PostgresOfflineWriter

    with PostgresOfflineWriter(stack_settings) as writer:
        writer.create_tables()
    apply_definitions(open_store(stack_settings))
    return stack_settings


@pytest.fixture
def live_settings(live_stack: Settings) -> Settings:
    """Own topics, consumer group and (through the prefix) announcement channel."""
    tag = uuid.uuid4().hex[:10]
    settings = live_stack.model_copy(
        update={"topic_prefix": f"live{tag}-", "consumer_group": f"live{tag}", "metrics_port": 0}
    )
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    names = [topic_name(v, settings.topic_prefix) for v in VIEWS] + [settings.dead_letter_topic]
    new = [NewTopic(n, num_partitions=settings.topic_partitions) for n in names]
    for future in admin.create_topics(new, operation_timeout=10).values():
        future.result()
    return settings


@pytest.fixture
def processor(
    live_settings: Settings, tmp_path: Path, start_processor: Callable[..., Any]
) -> Iterator[Any]:
    """A ready stream-processor worker; stopped at teardown (SIGTERM, SIGKILL after 30 s)."""
    worker = start_processor(live_settings, tmp_path / "processor.log")
    try:
        worker.wait_for(
            lambda: "stream processor ready" in worker.log and "assigned" in worker.log,
            120,
            "the processor to be ready",
        )
        yield worker
    finally:
        worker.stop(30)


@dataclass
class LiveKit:
    """What a live test does: make events for fresh keys, publish them, wait."""

    settings: Settings
    credit = staticmethod(credit_event)
    fresh_dob_ssn = staticmethod(fresh_dob_ssn)
    wait_until = staticmethod(wait_until)
    child_env = staticmethod(child_env)

    def publish(self, events: Sequence[UpdateEvent]) -> None:
        """Send events to their view topics and wait until the broker has them."""
        producer = Producer(
            {"bootstrap.servers": self.settings.kafka_bootstrap_servers, "acks": "all"}
        )
        for event in events:
            topic = topic_name(event.view, self.settings.topic_prefix)
            producer.produce(topic, event.encode(), event.key)
        assert producer.flush(30) == 0


@pytest.fixture
def kit(live_settings: Settings) -> LiveKit:
    return LiveKit(live_settings)
