"""The notifier never holds or fails a batch: publishing is queued, failures are counted."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.exceptions
from prometheus_client import CollectorRegistry, values

from core.contract import CREDIT_HISTORY, ViewContract
from core.events import UpdateEvent, new_event, topic_name
from core.live.messages import decode_batch
from stream_processor.metrics import ProcessorMetrics
from stream_processor.notify import QUEUE_BATCHES, RedisUpdateNotifier
from stream_processor.pipeline import BatchProcessor
from stream_processor.records import EventRouter, SourceRecord

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _in_memory_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-registry metric values (`import feast` may switch prometheus_client to files)."""
    monkeypatch.setattr(values, "ValueClass", values.MutexValue)


class FakeRedis:
    """publish() that records, fails, or hangs; returns the number of receivers."""

    def __init__(self, mode: str = "ok", receivers: int = 1) -> None:
        self.mode = mode
        self.receivers = receivers
        self.published: list[tuple[str, bytes]] = []

    async def publish(self, channel: str, payload: bytes) -> int:
        if self.mode == "fail":
            raise redis.exceptions.ConnectionError("Connection refused")
        if self.mode == "hang":
            await asyncio.sleep(3600)
        self.published.append((channel, payload))
        return self.receivers

    async def aclose(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _event(key: str, due: int) -> UpdateEvent:
    row = {"dob_ssn": key, **{c.name: due for c in CREDIT_HISTORY.features}}
    return new_event(CREDIT_HISTORY, row, event_timestamp=T0)


def _notifier(fake: FakeRedis, clock: Clock | None = None) -> RedisUpdateNotifier:
    return RedisUpdateNotifier(
        fake,
        "chan",
        "redis:6379",
        CollectorRegistry(),
        clock=clock or Clock(),  # type: ignore[arg-type]
    )


def _count(notifier: RedisUpdateNotifier, outcome: str) -> float:
    return notifier.outcomes.labels(outcome=outcome)._value.get()


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_publishes_one_decodable_message_per_notified_batch() -> None:
    fake = FakeRedis()
    notifier = _notifier(fake)
    notifier.start()
    events = [_event("19800101_0001", 5), _event("19800101_0002", 6)]
    notifier.notify(CREDIT_HISTORY, events, T0 + timedelta(milliseconds=40))
    await _settle()
    await notifier.close()
    ((channel, payload),) = fake.published
    assert channel == "chan"
    updates = decode_batch(payload)
    assert [u.key for u in updates] == ["19800101_0001", "19800101_0002"]
    assert updates[0].values["credit_card_due"] == 5
    assert updates[0].lag_ms == pytest.approx(40)
    assert _count(notifier, "published") == 1


async def test_failures_are_counted_and_logged_once_per_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeRedis("fail")
    notifier = _notifier(fake)
    notifier.start()
    with caplog.at_level(logging.WARNING, logger="stream_processor.notify"):
        for i in range(5):
            notifier.notify(CREDIT_HISTORY, [_event("19800101_0001", i)], T0)
            await _settle()
        fake.mode = "ok"
        notifier.notify(CREDIT_HISTORY, [_event("19800101_0001", 9)], T0)
        await _settle()
    await notifier.close()
    assert _count(notifier, "failed") == 5
    assert _count(notifier, "published") == 1
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "failing" in lines[0] and "again" in lines[1] and "5 batches" in lines[1]
    assert "19800101_0001" not in caplog.text


async def test_a_hung_redis_never_holds_notify_and_overflow_is_counted() -> None:
    notifier = _notifier(FakeRedis("hang"))
    notifier.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    for i in range(QUEUE_BATCHES + 10):
        notifier.notify(CREDIT_HISTORY, [_event("19800101_0001", i)], T0)
    assert loop.time() - started < 0.5
    await notifier.close()
    assert _count(notifier, "dropped") >= 10


async def test_without_subscribers_batches_are_skipped_for_a_while() -> None:
    fake, clock = FakeRedis(receivers=0), Clock()
    notifier = _notifier(fake, clock)
    notifier.start()
    notifier.notify(CREDIT_HISTORY, [_event("19800101_0001", 1)], T0)
    await _settle()
    notifier.notify(CREDIT_HISTORY, [_event("19800101_0001", 2)], T0)  # skipped, not encoded
    clock.now += 1.0
    notifier.notify(CREDIT_HISTORY, [_event("19800101_0001", 3)], T0)  # tried again
    await _settle()
    await notifier.close()
    assert len(fake.published) == 2
    assert _count(notifier, "no_subscriber") == 3


# -- in the pipeline ---------------------------------------------------------------------------


class _Online:
    address = "redis"

    async def write(self, view: ViewContract, events: Sequence[UpdateEvent]) -> None:
        pass


class _Offline:
    address = "postgres"

    async def write(self, groups: Mapping[str, Sequence[UpdateEvent]], created: datetime) -> int:
        return sum(len(g) for g in groups.values())


class _Letters:
    address = "kafka"
    transient: tuple[type[BaseException], ...] = ()

    @staticmethod
    def permanent(error: BaseException) -> bool:
        return False

    async def send(self, letters: Sequence[Any]) -> list[BaseException | None]:
        return [None] * len(letters)


async def test_a_batch_completes_while_redis_pubsub_is_down() -> None:
    notifier = _notifier(FakeRedis("hang"))
    notifier.start()
    router = EventRouter("", timedelta(minutes=5), clock=lambda: T0 + timedelta(seconds=1))
    processor = BatchProcessor(
        router, _Online(), _Offline(), _Letters(), ProcessorMetrics(), notifier=notifier
    )
    topic = topic_name(CREDIT_HISTORY)
    records = [
        SourceRecord(
            topic, 0, i, f"19800101_000{i}".encode(), _event(f"19800101_000{i}", i).encode()
        )
        for i in range(3)
    ]
    result = await asyncio.wait_for(processor.process(records), 1.0)
    await notifier.close()
    # Done within the second although the publish never returns.
    assert result.online_rows == 3 and result.offline_inserted == 3
