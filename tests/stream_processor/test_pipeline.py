"""A batch end to end with in-memory stores: what goes online, offline, and to the dead letters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.exceptions

from core.contract import CREDIT_HISTORY, ViewContract
from core.events import UpdateEvent, new_event, topic_name
from stream_processor.metrics import ProcessorMetrics
from stream_processor.pipeline import BatchProcessor
from stream_processor.records import DeadLetter, EventRouter, SourceRecord
from stream_processor.retry import Backoff

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOPIC = topic_name(CREDIT_HISTORY)


class FakeOnline:
    address = "redis:6379"

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.written: list[UpdateEvent] = []

    async def write(self, view: ViewContract, events: Sequence[UpdateEvent]) -> None:
        if self.failures:
            self.failures -= 1
            raise redis.exceptions.ConnectionError("Connection refused")
        self.written.extend(events)


class FakeOffline:
    address = "postgres"

    def __init__(self) -> None:
        self.written: list[UpdateEvent] = []

    async def write(self, groups: Mapping[str, Sequence[UpdateEvent]], created: datetime) -> int:
        for events in groups.values():
            self.written.extend(events)
        return sum(len(g) for g in groups.values())


class FakeDeadLetters:
    address = "kafka"
    transient: tuple[type[BaseException], ...] = (ConnectionError,)

    def __init__(self) -> None:
        self.sent: list[DeadLetter] = []

    @staticmethod
    def permanent(error: BaseException) -> bool:
        return False

    async def send(self, letters: Sequence[DeadLetter]) -> list[BaseException | None]:
        self.sent.extend(letters)
        return [None] * len(letters)


def _event(dob_ssn: str, due: int, at: datetime) -> UpdateEvent:
    row = {"dob_ssn": dob_ssn, **{c.name: due for c in CREDIT_HISTORY.features}}
    return new_event(CREDIT_HISTORY, row, event_timestamp=at)


def _key(value: bytes) -> bytes:
    """The entity of a valid event as its message key (as producers must send it)."""
    try:
        return str(json.loads(value)["dob_ssn"]).encode()
    except (ValueError, KeyError):
        return b"k"


def _records(values: list[bytes]) -> list[SourceRecord]:
    return [SourceRecord(TOPIC, 0, i, _key(v), v) for i, v in enumerate(values)]


def _processor(online: FakeOnline) -> tuple[BatchProcessor, FakeOffline, FakeDeadLetters]:
    offline, letters = FakeOffline(), FakeDeadLetters()
    router = EventRouter("", timedelta(minutes=5), clock=lambda: T0 + timedelta(seconds=1))
    processor = BatchProcessor(
        router,
        online,
        offline,
        letters,
        ProcessorMetrics(),
        backoff=Backoff(0.001, 2, 0.01),
        wall_clock=lambda: T0 + timedelta(seconds=2),
    )
    return processor, offline, letters


def test_a_batch_goes_newest_online_everything_offline_and_bad_records_to_dead_letters() -> None:
    newer = _event("19630621_4278", 2, T0)
    older = _event("19630621_4278", 1, T0 - timedelta(hours=1))
    other = _event("19700101_0001", 3, T0)
    bad = json.dumps({"schema_version": 1}).encode()
    online = FakeOnline()
    processor, offline, letters = _processor(online)
    result = asyncio.run(
        processor.process(_records([newer.encode(), bad, older.encode(), other.encode()]))
    )
    assert [e.event_id for e in online.written] == [newer.event_id, other.event_id]
    assert [e.event_id for e in offline.written] == [newer.event_id, older.event_id, other.event_id]
    assert [(d.record.offset, d.view) for d in letters.sent] == [(1, "credit_history")]
    assert (result.events, result.dead_letters, result.online_rows, result.offline_inserted) == (
        3,
        1,
        2,
        3,
    )
    value = processor.metrics.registry.get_sample_value
    assert value("credit_stream_events_processed_total", {"view": "credit_history"}) == 3
    assert value("credit_stream_events_dead_lettered_total", {"view": "credit_history"}) == 1
    # event at T0, written at T0 + 2 s
    assert value("credit_stream_freshness_ms_sum") == 2 * 2000


def test_an_online_outage_holds_the_batch_until_the_store_is_back() -> None:
    event = _event("19630621_4278", 2, T0)
    online = FakeOnline(failures=3)
    processor, offline, _ = _processor(online)
    asyncio.run(processor.process(_records([event.encode()])))
    assert [e.event_id for e in online.written] == [event.event_id]
    assert [e.event_id for e in offline.written] == [event.event_id]  # offline not repeated
    assert not processor.online_outage.down
    value = processor.metrics.registry.get_sample_value
    assert value("credit_stream_store_up", {"store": "online"}) == 1


class RefusingDeadLetters(FakeDeadLetters):
    """Refuses records over `limit` bytes for good, and fails the first `outages` sends."""

    def __init__(self, limit: int, outages: int = 0) -> None:
        super().__init__()
        self.limit = limit
        self.outages = outages

    @staticmethod
    def permanent(error: BaseException) -> bool:
        return isinstance(error, ValueError)

    async def send(self, letters: Sequence[DeadLetter]) -> list[BaseException | None]:
        if self.outages:
            self.outages -= 1
            return [ConnectionError("broker away")] * len(letters)
        outcomes: list[BaseException | None] = []
        for letter in letters:
            key, value, _ = letter.payload()
            if len(key or b"") + len(value or b"") > self.limit:
                outcomes.append(ValueError("MessageSizeTooLargeError"))
            else:
                self.sent.append(letter)
                outcomes.append(None)
        return outcomes


def _processor_with(letters: FakeDeadLetters) -> BatchProcessor:
    router = EventRouter("", timedelta(minutes=5), clock=lambda: T0 + timedelta(seconds=1))
    return BatchProcessor(
        router, FakeOnline(), FakeOffline(), letters, ProcessorMetrics(), Backoff(0.001, 2, 0.01)
    )


def test_a_letter_the_topic_refuses_goes_as_a_truncated_copy_and_the_rest_is_not_held() -> None:
    letters = RefusingDeadLetters(limit=5000, outages=2)
    processor = _processor_with(letters)
    # Under the processor's own size limit (64 KiB), over what the topic takes.
    small, huge = b"{not json", b"{" + b"x" * 20_000
    good = _event("19630621_4278", 2, T0)
    result = asyncio.run(processor.process(_records([small, huge, good.encode()])))
    assert result.events == 1 and result.dead_letters == 2
    sent = {letter.record.offset: letter for letter in letters.sent}
    assert set(sent) == {0, 1}  # each exactly once, after the two outages
    assert not sent[0].truncated
    assert sent[1].truncated and "refused the full record" in sent[1].reason
    value = processor.metrics.registry.get_sample_value
    assert value("credit_stream_events_dead_lettered_total", {"view": "credit_history"}) == 2
    assert not processor.dead_letters.outage.down


def test_a_letter_refused_even_truncated_is_counted_as_poison_and_skipped(caplog: Any) -> None:
    letters = RefusingDeadLetters(limit=0)  # refuses everything, for good
    processor = _processor_with(letters)
    good = _event("19630621_4278", 2, T0)
    result = asyncio.run(processor.process(_records([b"{not json", good.encode()])))
    assert result.events == 1 and letters.sent == []
    value = processor.metrics.registry.get_sample_value
    assert value("credit_stream_events_poison_total", {"view": "credit_history"}) == 1
    assert "poison event at credit-history[0]@0 skipped" in caplog.text
