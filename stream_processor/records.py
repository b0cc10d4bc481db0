"""Validation and routing of one consumed Kafka record: a valid update event or a dead letter."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property

from core.contract import VIEWS, ViewContract
from core.events import InvalidEvent, UpdateEvent, parse_event, topic_name

HEADER_PREFIX = "x-dead-letter-"
HEADER_REASON = HEADER_PREFIX + "reason"
HEADER_TOPIC = HEADER_PREFIX + "topic"
HEADER_PARTITION = HEADER_PREFIX + "partition"
HEADER_OFFSET = HEADER_PREFIX + "offset"
HEADER_TIMESTAMP = HEADER_PREFIX + "timestamp"
HEADER_VIEW = HEADER_PREFIX + "view"
# The same facts as one JSON document, for tools that read a single header.
HEADER_JSON = HEADER_PREFIX + "json"
HEADER_ORIGINAL_SIZE = HEADER_PREFIX + "original-size"
# Reasons are short by construction; the cap keeps a hostile value from bloating headers.
MAX_REASON_LENGTH = 500
# What a truncated dead letter keeps of the original record (enough to recognise it).
TRUNCATED_KEY_BYTES = 256
TRUNCATED_VALUE_BYTES = 1024
DEFAULT_MAX_EVENT_BYTES = 65_536

Header = tuple[str, bytes]


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record as the broker delivered it: position, raw key and value, headers."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()
    timestamp_ms: int | None = None

    @property
    def position(self) -> str:
        """`topic[partition]@offset`, the form logs use to point at a record."""
        return f"{self.topic}[{self.partition}]@{self.offset}"

    @property
    def size(self) -> int:
        """Bytes of key, value and headers: what the broker counts against its limits."""
        headers = sum(len(k) + len(v or b"") for k, v in self.headers)
        return len(self.key or b"") + len(self.value or b"") + headers


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that broke the contract, with the (masked) reason."""

    record: SourceRecord
    reason: str
    view: str | None = None
    # Only a bounded prefix of key and value is carried, the original headers are dropped.
    truncated: bool = False

    def truncated_copy(self, reason: str | None = None) -> DeadLetter:
        """The same letter carrying a bounded copy of the record (for one too large to send)."""
        return DeadLetter(self.record, reason or self.reason, self.view, truncated=True)

    def payload(self) -> tuple[bytes | None, bytes | None, list[Header]]:
        """Key, value and headers of the dead-letter record."""
        rec = self.record
        if not self.truncated:
            return rec.key, rec.value, self.headers()
        key = None if rec.key is None else rec.key[:TRUNCATED_KEY_BYTES]
        value = None if rec.value is None else rec.value[:TRUNCATED_VALUE_BYTES]
        return key, value, self.headers()

    def headers(self) -> list[Header]:
        """The original headers followed by where the record came from and why it failed."""
        rec = self.record
        facts: dict[str, str] = {
            HEADER_REASON: self.reason,
            HEADER_TOPIC: rec.topic,
            HEADER_PARTITION: str(rec.partition),
            HEADER_OFFSET: str(rec.offset),
        }
        if rec.timestamp_ms is not None:
            facts[HEADER_TIMESTAMP] = str(rec.timestamp_ms)
        if self.view is not None:
            facts[HEADER_VIEW] = self.view
        document = {
            "reason": self.reason,
            "topic": rec.topic,
            "partition": rec.partition,
            "offset": rec.offset,
            "timestamp_ms": rec.timestamp_ms,
            "view": self.view,
        }
        if self.truncated:
            facts[HEADER_ORIGINAL_SIZE] = str(rec.size)
            document["original_size"] = rec.size
        own = [(name, value.encode()) for name, value in facts.items()]
        own.append((HEADER_JSON, json.dumps(document, separators=(",", ":")).encode()))
        if self.truncated:
            return own
        # A record dead-lettered twice keeps only the newest x-dead-letter-* facts.
        kept = [(k, v) for k, v in rec.headers if not k.startswith(HEADER_PREFIX)]
        return kept + own


Routed = UpdateEvent | DeadLetter


@dataclass(frozen=True)
class EventRouter:
    """Maps a record of a view topic to its validated event, or to a dead letter."""

    topic_prefix: str = ""
    max_future: timedelta = timedelta(minutes=5)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    views: Sequence[ViewContract] = VIEWS
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES

    @cached_property
    def topics(self) -> dict[str, ViewContract]:
        return {topic_name(v, self.topic_prefix): v for v in self.views}

    def route(self, record: SourceRecord, *, now: datetime | None = None) -> Routed:
        """Validate `record` against the contract of its topic's view."""
        view = self.topics.get(record.topic)
        if view is None:
            return DeadLetter(record, f"topic {record.topic!r} carries no feature view")
        if record.size > self.max_event_bytes:
            reason = (
                f"too large: {record.size} bytes (limit {self.max_event_bytes}); the dead "
                f"letter carries the first {TRUNCATED_VALUE_BYTES} bytes of its value"
            )
            return DeadLetter(record, reason, view.name, truncated=True)
        try:
            event = parse_event(
                view, record.value, now=now or self.clock(), max_future=self.max_future
            )
        except InvalidEvent as exc:
            return DeadLetter(record, str(exc)[:MAX_REASON_LENGTH], view.name)
        entity = view.entity.name
        # The key decides the partition, hence the order of one entity's events: a key that
        # is not the entity would let an older event overtake a newer one.
        if record.key is None:
            return DeadLetter(record, f"message key is missing; it must be the {entity}", view.name)
        if record.key != event.key:
            return DeadLetter(
                record, f"message key is not the event's {entity} (they must be equal)", view.name
            )
        return event

    def route_all(self, records: Sequence[SourceRecord]) -> list[tuple[SourceRecord, Routed]]:
        """Route a batch against one clock reading (one `now` per batch is enough)."""
        now = self.clock()
        return [(r, self.route(r, now=now)) for r in records]
